"""The one training loop behind the torch ``train_*`` functions of the course and the benchmarks
(``latent.train_linear_autoencoder`` is the exception: a closed-form numpy gradient descent for
Saxe et al.'s analysis).

Adam on a loss computed by the caller, optionally with a cosine learning-rate decay to zero
(Loshchilov & Hutter 2017; it plays the role of the weight averaging of large models),
gradient-norm clipping, a time budget and a callback after every step.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

import torch
from torch import nn

from .checks import check_count, check_positive
from .notebook import progress

__all__ = ["minimize"]


def minimize(
    loss: Callable[[int], torch.Tensor],
    parameters: Iterable[nn.Parameter],
    n_steps: int,
    *,
    lr: float = 1e-3,
    weight_decay: float = 0.0,
    cosine: bool = True,
    clip: float | None = None,
    time_budget: float | None = None,
    callback: Callable[[int], bool | None] | None = None,
    desc: str = "training",
    show_progress: bool = True,
) -> list[float]:
    """Run ``n_steps`` Adam steps on ``loss(step)`` (step = 1, 2, ...); return the losses.

    ``callback(step)`` runs after each step; the loop stops early when it returns True or once
    ``time_budget`` seconds have passed."""
    if not callable(loss):
        raise TypeError(f"loss must be a function of the step number, got {type(loss).__name__}")
    n_steps, lr = check_count(n_steps, "n_steps"), check_positive(lr, "lr")
    weight_decay = check_positive(weight_decay, "weight_decay", allow_zero=True)
    clip = None if clip is None else check_positive(clip, "clip")
    time_budget = None if time_budget is None else check_positive(time_budget, "time_budget")
    parameters = list(parameters)
    if not parameters:
        raise ValueError("parameters is empty: there is nothing to train")
    optimizer = torch.optim.Adam(parameters, lr=lr, weight_decay=weight_decay, foreach=True)
    decay = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, n_steps) if cosine else None
    losses, start = [], time.perf_counter()
    quiet = not show_progress or None  # None: tqdm decides (COURSE_QUIET=1 silences it)
    for step in progress(range(1, n_steps + 1), desc=desc, disable=quiet):
        if time_budget is not None and time.perf_counter() - start > time_budget:
            break
        value = loss(step)
        if not torch.isfinite(value):
            raise FloatingPointError(f"the {desc} loss became {value.item()} at step {step}")
        optimizer.zero_grad()
        value.backward()
        if clip is not None:
            nn.utils.clip_grad_norm_(parameters, clip)
        optimizer.step()
        if decay is not None:
            decay.step()
        losses.append(value.item())
        if callback is not None and callback(step):
            break
    return losses
