"""Common-test cases (see test_common.py) for course_lib.lattice.

Not in DEVICE: ``lattice_realnvp``, which puts its parameters on torch's default device as
nn.Linear does (``.to()`` moves them)."""

import torch

from course_lib import flows as fl
from course_lib import lattice as la
from course_lib import sampling as sm

F64 = torch.float64
TARGET = la.Phi4(3, 0.2, 0.5)


def _lattices(n: int = 5, L: int = 3) -> torch.Tensor:
    return torch.randn(n, L, L, dtype=F64, generator=torch.Generator().manual_seed(0))


def _flow() -> tuple:
    return (fl.randomize_parameters(la.lattice_realnvp(3, 2, 8, generator=0), generator=1),)


def _weights() -> tuple:
    x = _lattices().reshape(5, -1)
    return (-0.5 * (x**2).sum(1), TARGET.action(x), x)


GAUSSIAN = sm.Gaussian([0.0, 0.0], [[1.0, 0.5], [0.5, 1.0]])
WIDE = sm.Gaussian([0.0, 0.0], [[2.0, 0.0], [0.0, 2.0]])

STOCHASTIC = {
    "lattice.lattice_realnvp": lambda seed: la.lattice_realnvp(3, 2, 8, generator=seed),
    "lattice.Z2Symmetrized.sample": (
        _flow, lambda seed, flow: la.Z2Symmetrized(flow).sample(6, generator=seed)
    ),
    "lattice.train_reverse_kl": (
        lambda: (la.lattice_realnvp(3, 2, 8, generator=0),),
        lambda seed, flow: (
            la.train_reverse_kl(flow, TARGET.action, n_steps=3, batch_size=8, generator=seed,
                                show_progress=False),
            flow,
        ),
    ),
    "lattice.variational_free_energy_estimate": (
        _flow,
        lambda seed, flow: la.variational_free_energy_estimate(flow, TARGET.action, 8,
                                                               generator=seed),
    ),
    "lattice.flow_metropolis": lambda seed: la.flow_metropolis(
        GAUSSIAN.log_prob, WIDE, torch.zeros(3, 2, dtype=F64), n_steps=5, generator=seed
    ),
}

DEVICE = {
    "lattice.lattice_action": (
        lambda: (_lattices(),), lambda phi: la.lattice_action(phi, 0.2, 0.5)
    ),
    "lattice.Phi4.log_prob": (lambda: (_lattices().reshape(5, -1),), TARGET.log_prob),
    "lattice.magnetization": (lambda: (_lattices().reshape(5, -1),), la.magnetization),
    "lattice.free_field_eigenvalues": (tuple, lambda: la.free_field_eigenvalues(4, 0.2)),
    "lattice.free_field_propagator": (tuple, lambda: la.free_field_propagator(4, 0.2)),
    "lattice.lattice_mask": (tuple, lambda: la.lattice_mask(4, 1)),
    "lattice.Z2Symmetrized": (
        lambda: (*_flow(), _lattices().reshape(5, -1)),
        lambda flow, x: (la.Z2Symmetrized(flow).sample(4, generator=0),
                         la.Z2Symmetrized(flow).log_prob(x)),
    ),
    "lattice.train_reverse_kl": (
        lambda: (la.lattice_realnvp(3, 2, 8, generator=0).double(),),
        lambda flow: (
            la.train_reverse_kl(flow, TARGET.action, n_steps=2, batch_size=8, generator=0,
                                show_progress=False),
            flow,
        ),
    ),
    "lattice.variational_free_energy_estimate": (
        _flow, lambda flow: la.variational_free_energy_estimate(flow, TARGET.action, 8)
    ),
    "lattice.importance_weights": (_weights, lambda log_q, s, x: la.importance_weights(log_q, s)),
    "lattice.reweighted_mean": (
        _weights,
        lambda log_q, s, x: la.reweighted_mean(la.magnetization(x),
                                               la.importance_weights(log_q, s).weights),
    ),
    "lattice.kish_ess": (lambda: (torch.rand(6, dtype=F64),), la.kish_ess),
    "lattice.flow_metropolis": (
        lambda: (*_flow(), torch.zeros(2, 9, dtype=F64)),
        lambda flow, x0: la.flow_metropolis(TARGET.log_prob, flow, x0, n_steps=4, keep_every=2,
                                            generator=0),
    ),
}

_phi = _lattices()
_x = _phi.reshape(5, -1)
_flow32 = la.lattice_realnvp(3, 2, 8, generator=0)
_ones = torch.ones(5, dtype=F64)

BAD_INPUTS = [
    ("lattice.lattice_action list", lambda: la.lattice_action([[1.0]], 0.2, 0.5), TypeError,
     "phi"),
    ("lattice.lattice_action not square", lambda: la.lattice_action(torch.zeros(2, 3, 4), 0.2, 0.5),
     ValueError, "phi"),
    ("lattice.lattice_action kappa nan", lambda: la.lattice_action(_phi, float("nan"), 0.5),
     ValueError, "kappa"),
    ("lattice.lattice_action lam<0", lambda: la.lattice_action(_phi, 0.2, -0.1), ValueError,
     "lam"),
    ("lattice.Phi4 L=1", lambda: la.Phi4(1, 0.2, 0.5), ValueError, "L"),
    ("lattice.Phi4 kappa str", lambda: la.Phi4(3, "0.2", 0.5), TypeError, "kappa"),
    ("lattice.Phi4.action shape", lambda: TARGET.action(_phi), ValueError, "x"),
    ("lattice.magnetization list", lambda: la.magnetization([1.0]), TypeError, "x"),
    ("lattice.free_field_log_z kappa=1/4", lambda: la.free_field_log_z(4, 0.25), ValueError,
     "kappa"),
    ("lattice.free_field_log_z L=0", lambda: la.free_field_log_z(0, 0.1), ValueError, "L"),
    ("lattice.free_field_propagator kappa", lambda: la.free_field_propagator(4, 0.3), ValueError,
     "kappa"),
    ("lattice.lattice_mask parity", lambda: la.lattice_mask(4, 2), ValueError, "parity"),
    ("lattice.lattice_realnvp n_layers=0", lambda: la.lattice_realnvp(4, 0), ValueError,
     "n_layers"),
    ("lattice.lattice_realnvp hidden=0", lambda: la.lattice_realnvp(4, 2, 0), ValueError,
     "hidden"),
    ("lattice.Z2Symmetrized not a model", lambda: la.Z2Symmetrized(torch.nn.Linear(2, 2)),
     TypeError, "flow"),
    ("lattice.Z2Symmetrized.sample n=0", lambda: la.Z2Symmetrized(_flow32).sample(0), ValueError,
     "n"),
    ("lattice.train_reverse_kl flow", lambda: la.train_reverse_kl("flow", TARGET.action),
     TypeError, "flow"),
    ("lattice.train_reverse_kl action", lambda: la.train_reverse_kl(_flow32, None), TypeError,
     "action"),
    ("lattice.train_reverse_kl n_steps=0",
     lambda: la.train_reverse_kl(_flow32, TARGET.action, n_steps=0), ValueError, "n_steps"),
    ("lattice.train_reverse_kl batch_size=0",
     lambda: la.train_reverse_kl(_flow32, TARGET.action, batch_size=0), ValueError, "batch_size"),
    ("lattice.train_reverse_kl lr=0",
     lambda: la.train_reverse_kl(_flow32, TARGET.action, n_steps=1, batch_size=2, lr=0.0,
                                 show_progress=False), ValueError, "lr"),
    ("lattice.train_reverse_kl action shape",
     lambda: la.train_reverse_kl(_flow32, lambda x: x, n_steps=1, batch_size=2,
                                 show_progress=False), ValueError, "action"),
    ("lattice.variational_free_energy_estimate n=1",
     lambda: la.variational_free_energy_estimate(_flow32, TARGET.action, 1), ValueError, "n"),
    ("lattice.kish_ess zeros", lambda: la.kish_ess(torch.zeros(3)), ValueError, "weights"),
    ("lattice.kish_ess negative", lambda: la.kish_ess(torch.tensor([1.0, -1.0])), ValueError,
     "weights"),
    ("lattice.kish_ess 2-D", lambda: la.kish_ess(torch.ones(2, 2)), ValueError, "weights"),
    ("lattice.importance_weights nan",
     lambda: la.importance_weights(_ones * float("nan"), _ones), ValueError, "log_q"),
    ("lattice.importance_weights shapes",
     lambda: la.importance_weights(_ones, torch.ones(4, dtype=F64)), ValueError, "action"),
    ("lattice.importance_weights one sample",
     lambda: la.importance_weights(_ones[:1], _ones[:1]), ValueError, "log_q"),
    ("lattice.reweighted_mean shapes",
     lambda: la.reweighted_mean(_ones, torch.ones(4, dtype=F64)), ValueError, "weights"),
    ("lattice.reweighted_mean nan values",
     lambda: la.reweighted_mean(_ones * float("nan"), _ones), ValueError, "values"),
    ("lattice.flow_metropolis log_prob",
     lambda: la.flow_metropolis(None, WIDE, torch.zeros(2, 2, dtype=F64), n_steps=2), TypeError,
     "log_prob"),
    ("lattice.flow_metropolis proposal",
     lambda: la.flow_metropolis(GAUSSIAN.log_prob, "q", torch.zeros(2, 2, dtype=F64), n_steps=2),
     TypeError, "proposal"),
    ("lattice.flow_metropolis x0 dtype",
     lambda: la.flow_metropolis(GAUSSIAN.log_prob, WIDE, torch.zeros(2, 2), n_steps=2), TypeError,
     "x0"),
    ("lattice.flow_metropolis x0 1-D",
     lambda: la.flow_metropolis(GAUSSIAN.log_prob, WIDE, torch.zeros(2, dtype=F64), n_steps=2),
     ValueError, "x0"),
    ("lattice.flow_metropolis n_steps=0",
     lambda: la.flow_metropolis(GAUSSIAN.log_prob, WIDE, torch.zeros(2, 2, dtype=F64), n_steps=0),
     ValueError, "n_steps"),
    ("lattice.flow_metropolis keep_every",
     lambda: la.flow_metropolis(GAUSSIAN.log_prob, WIDE, torch.zeros(2, 2, dtype=F64), n_steps=2,
                                keep_every=3), ValueError, "keep_every"),
    ("lattice.flow_metropolis generator",
     lambda: la.flow_metropolis(GAUSSIAN.log_prob, WIDE, torch.zeros(2, 2, dtype=F64), n_steps=2,
                                generator="0"), TypeError, "generator"),
]
