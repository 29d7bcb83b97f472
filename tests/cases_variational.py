"""Common-test cases (see test_common.py) for course_lib.variational.

Not in DEVICE: the constructors, which put their parameters on torch's default device as
nn.Linear does (``.to()`` moves them); the exact results, which are numpy."""

import numpy as np
import torch

from course_lib import variational as va

F64 = torch.float64
SPINS = torch.ones(3, 4, dtype=F64)


def _model(**options) -> va.AutoregressiveSpins:
    return va.AutoregressiveSpins(4, hidden=8, depth=1, generator=0, **options).double()


def _trained(seed: int) -> tuple:
    model = va.AutoregressiveSpins(4, hidden=8, depth=1, generator=0)
    losses = va.train_variational(model, 2.0, n_steps=3, batch_size=8, anneal_steps=2,
                                  generator=seed, show_progress=False)
    return losses, model


STOCHASTIC = {
    "variational.AutoregressiveSpins": lambda seed: va.AutoregressiveSpins(
        4, hidden=8, depth=2, generator=seed
    ),
    "variational.AutoregressiveSpins.sample": (
        lambda: (_model(),), lambda seed, model: model.sample(20, generator=seed)
    ),
    "variational.AutoregressiveSpins.sample (z2, log q)": (
        lambda: (_model(z2=True),),
        lambda seed, model: model.sample(20, generator=seed, return_log_prob=True),
    ),
    "variational.variational_free_energy": (
        lambda: (_model(),),
        lambda seed, model: va.variational_free_energy(model, 2.0, 50, generator=seed),
    ),
    "variational.train_variational": _trained,
}


def _train(model: va.AutoregressiveSpins) -> tuple:
    losses = va.train_variational(model, 2.0, n_steps=2, batch_size=4, anneal_steps=2,
                                  generator=0, show_progress=False)
    return losses, model


DEVICE = {
    "variational.AutoregressiveSpins.sample": (
        lambda: (_model(z2=True),), lambda model: model.sample(5, generator=0,
                                                               return_log_prob=True),
    ),
    "variational.AutoregressiveSpins.sample (global stream)": (
        lambda: (_model(),), lambda model: model.sample(5)
    ),
    "variational.AutoregressiveSpins.log_prob": (
        lambda: (_model(z2=True), SPINS), lambda model, s: (model(s), model.log_prob(s))
    ),
    "variational.spin_energy": (lambda: (SPINS,), va.spin_energy),
    "variational.variational_free_energy": (
        lambda: (_model(),), lambda model: va.variational_free_energy(model, 2.0, 8, generator=0)
    ),
    "variational.enumerated_free_energy": (
        lambda: (_model(),), lambda model: va.enumerated_free_energy(model, 2.0)
    ),
    "variational.reinforce_loss": (
        lambda: (_model(), SPINS), lambda model, s: va.reinforce_loss(model, s, 2.0)
    ),
    "variational.train_variational": (lambda: (_model(),), _train),
}

BAD_INPUTS = [
    ("variational.kaufman_log_z L=1", lambda: va.kaufman_log_z(1, 2.0), ValueError, "L"),
    ("variational.kaufman_log_z L float", lambda: va.kaufman_log_z(4.0, 2.0), TypeError, "L"),
    ("variational.kaufman_log_z T=0", lambda: va.kaufman_log_z(4, [1.0, 0.0]), ValueError, "T"),
    ("variational.exact_free_energy_per_site T=nan",
     lambda: va.exact_free_energy_per_site(4, np.nan), ValueError, "T"),
    ("variational.enumerated_log_z L=5", lambda: va.enumerated_log_z(5, 2.0), ValueError, "L"),
    ("variational.enumerated_log_z T str", lambda: va.enumerated_log_z(2, "hot"), TypeError,
     "T"),
    ("variational.MaskedLinear float mask", lambda: va.MaskedLinear(torch.ones(2, 3)),
     TypeError, "mask"),
    ("variational.AutoregressiveSpins n_spins=1", lambda: va.AutoregressiveSpins(1),
     ValueError, "n_spins"),
    ("variational.AutoregressiveSpins hidden=0", lambda: va.AutoregressiveSpins(4, hidden=0),
     ValueError, "hidden"),
    ("variational.AutoregressiveSpins depth=-1", lambda: va.AutoregressiveSpins(4, depth=-1),
     ValueError, "depth"),
    ("variational.AutoregressiveSpins z2 str", lambda: va.AutoregressiveSpins(4, z2="yes"),
     TypeError, "z2"),
    ("variational.AutoregressiveSpins generator float",
     lambda: va.AutoregressiveSpins(4, generator=0.5), TypeError, "generator"),
    ("variational.AutoregressiveSpins.log_prob shape",
     lambda: _model().log_prob(torch.ones(3, 5, dtype=F64)), ValueError, "spins"),
    ("variational.AutoregressiveSpins.log_prob zeros",
     lambda: _model().log_prob(torch.zeros(3, 4, dtype=F64)), ValueError, "spins"),
    ("variational.AutoregressiveSpins.log_prob numpy",
     lambda: _model().log_prob(np.ones((3, 4))), TypeError, "spins"),
    ("variational.AutoregressiveSpins.sample n=0", lambda: _model().sample(0), ValueError, "n"),
    ("variational.spin_energy not square", lambda: va.spin_energy(torch.ones(2, 5)),
     ValueError, "n_spins"),
    ("variational.spin_energy 1D", lambda: va.spin_energy(torch.ones(4)), TypeError, "spins"),
    ("variational.variational_free_energy model",
     lambda: va.variational_free_energy(torch.nn.Linear(4, 4), 2.0), TypeError, "model"),
    ("variational.variational_free_energy lattice",
     lambda: va.variational_free_energy(va.AutoregressiveSpins(6), 2.0), ValueError,
     "n_spins"),
    ("variational.variational_free_energy n_samples=1",
     lambda: va.variational_free_energy(_model(), 2.0, 1), ValueError, "n_samples"),
    ("variational.variational_free_energy T<0",
     lambda: va.variational_free_energy(_model(), -2.0), ValueError, "T"),
    ("variational.enumerated_free_energy N=25",
     lambda: va.enumerated_free_energy(va.AutoregressiveSpins(25, hidden=4), 2.0), ValueError,
     "n_spins"),
    ("variational.reinforce_loss one sample",
     lambda: va.reinforce_loss(_model(), SPINS[:1], 2.0), ValueError, "spins"),
    ("variational.train_variational batch_size=1",
     lambda: va.train_variational(_model(), 2.0, batch_size=1), ValueError, "batch_size"),
    ("variational.train_variational anneal_steps<0",
     lambda: va.train_variational(_model(), 2.0, anneal_steps=-1), ValueError, "anneal_steps"),
    ("variational.train_variational n_steps=0",
     lambda: va.train_variational(_model(), 2.0, n_steps=0), ValueError, "n_steps"),
    ("variational.train_variational lr=0",
     lambda: va.train_variational(_model(), 2.0, n_steps=1, lr=0.0, show_progress=False),
     ValueError, "lr"),
    ("variational.train_variational T=0", lambda: va.train_variational(_model(), 0.0),
     ValueError, "T"),
]
