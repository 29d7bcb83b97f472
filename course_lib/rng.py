"""Randomness, one way everywhere.

Every stochastic function of ``course_lib`` takes ``generator=``: a ``torch.Generator`` (or a
``numpy.random.Generator`` for the numpy code), an integer seed turned into one by the
helpers below, or ``None`` for the library's default stream. No function reseeds global state,
and the same generator gives the same result (scikit-learn's ``check_random_state`` is the model).

Draws are made on the generator's device and then moved to the device of the tensor they go
with, so a CPU generator gives the same numbers whatever device the model lives on.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TypeVar

import numpy as np
import torch
from torch import nn

__all__ = [
    "Seed",
    "NumpySeed",
    "torch_generator",
    "numpy_generator",
    "randn",
    "rand",
    "randint",
    "randperm",
    "multinomial",
    "init_parameters",
    "build",
]

Seed = torch.Generator | int | None
NumpySeed = np.random.Generator | int | None
M = TypeVar("M", bound=nn.Module)


def _is_int(value: object) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def torch_generator(generator: Seed, device: torch.device | str = "cpu") -> torch.Generator | None:
    """``generator`` as a ``torch.Generator``: an integer seeds a new one on ``device``; ``None``
    stays ``None`` (torch's default generator)."""
    if generator is None or isinstance(generator, torch.Generator):
        return generator
    if _is_int(generator):
        return torch.Generator(device=device).manual_seed(int(generator))
    raise TypeError(
        f"generator must be a torch.Generator, an integer seed or None, "
        f"got {type(generator).__name__}"
    )


def numpy_generator(generator: NumpySeed) -> np.random.Generator:
    """``generator`` as a ``numpy.random.Generator``: an integer seeds a new one, ``None`` gives
    a fresh unseeded one."""
    if isinstance(generator, np.random.Generator):
        return generator
    if generator is None or _is_int(generator):
        return np.random.default_rng(None if generator is None else int(generator))
    raise TypeError(
        f"generator must be a numpy.random.Generator, an integer seed or None, "
        f"got {type(generator).__name__}"
    )


def _draw_device(like: torch.Tensor, generator: torch.Generator | None) -> torch.device:
    return like.device if generator is None else generator.device


def randn(shape, like: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Standard normal draws of ``shape`` on the device and (floating) dtype of ``like``."""
    device = _draw_device(like, generator)
    draw = torch.randn(shape, generator=generator, device=device, dtype=like.dtype)
    return draw.to(like.device)


def rand(shape, like: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Uniform draws in [0, 1) of ``shape`` on the device and (floating) dtype of ``like``."""
    device = _draw_device(like, generator)
    draw = torch.rand(shape, generator=generator, device=device, dtype=like.dtype)
    return draw.to(like.device)


def randint(
    low: int, high: int, shape, like: torch.Tensor, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Integers in [low, high) of ``shape`` (int64) on the device of ``like``."""
    device = _draw_device(like, generator)
    draw = torch.randint(low, high, shape, generator=generator, device=device)
    return draw.to(like.device)


def randperm(n: int, like: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """A random permutation of 0..n-1 (int64) on the device of ``like``."""
    device = _draw_device(like, generator)
    return torch.randperm(n, generator=generator, device=device).to(like.device)


def multinomial(
    probs: torch.Tensor, n: int, generator: torch.Generator | None = None
) -> torch.Tensor:
    """``n`` category indices drawn with replacement from (each row of) ``probs``, on its device."""
    device = _draw_device(probs, generator)
    draw = torch.multinomial(probs.to(device), n, replacement=True, generator=generator)
    return draw.to(probs.device)


@torch.no_grad()
def init_parameters(module: nn.Module, generator: Seed = None) -> nn.Module:
    """Redraw the weights of every ``nn.Linear`` in ``module`` with PyTorch's default
    initialization (uniform in +-1/sqrt(fan_in)), from ``generator`` instead of the global
    stream. The draws are made on the generator's device and copied to the layer's, so the
    module may live on any device. Returns ``module``."""
    generator = torch_generator(generator)
    for layer in module.modules():
        if isinstance(layer, nn.Linear):
            bound = 1 / math.sqrt(layer.in_features)
            weight = nn.init.kaiming_uniform_(
                _draw_like(layer.weight, generator), a=math.sqrt(5), generator=generator
            )
            layer.weight.copy_(weight)
            if layer.bias is not None:
                bias = _draw_like(layer.bias, generator)
                layer.bias.copy_(nn.init.uniform_(bias, -bound, bound, generator=generator))
    return module


def _draw_like(tensor: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """An empty tensor shaped like ``tensor`` on the device that ``generator`` draws on."""
    return torch.empty_like(tensor, device=_draw_device(tensor, generator))


def build(factory: Callable[[], M], generator: Seed = None) -> M:
    """``factory()`` (a module built on torch's default device) with the weights of its
    ``nn.Linear`` layers drawn from ``generator`` by ``init_parameters``. The default
    initialization's draws are discarded: the global stream of the default device (and the CPU's)
    is saved and restored around the construction. ``None``: plain ``factory()``, drawn from
    torch's default stream."""
    if generator is None:
        return factory()
    device = torch.get_default_device()
    devices = [] if device.type == "cpu" else [device]
    with torch.random.fork_rng(devices=devices, device_type=device.type):
        module = factory()
    return init_parameters(module, generator)
