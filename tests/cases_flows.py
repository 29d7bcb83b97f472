"""Common-test cases (see test_common.py) for course_lib.flows.

Not in DEVICE: the layer and flow constructors, which put their parameters on torch's default
device as nn.Linear does (``.to()`` moves them)."""

import numpy as np
import torch
from torch import nn

from course_lib import flows as fl

F64 = torch.float64


def _points(n: int, dim: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(n, dim, dtype=F64, generator=torch.Generator().manual_seed(seed))


def _random(make):
    """A float64 flow in evaluation mode with random (non-identity) parameters."""
    return lambda: (fl.randomize_parameters(make(), generator=1), _points(6, 4))


MAKERS = {
    "nice": lambda: fl.nice(4, 2, 8, generator=0),
    "realnvp": lambda: fl.realnvp(4, 2, 8, generator=0),
    "glow": lambda: fl.glow(4, 2, 8, generator=0),
}
LEVELS = np.array([[0, 1, 2, 1], [1, 1, 0, 2], [2, 0, 1, 1]])  # integer data with 3 levels


def _moons_flow():
    return fl.realnvp(2, 2, 8, generator=0), _points(64, 2).float()


def _digits_flow():
    layers = [fl.MarginalGaussianization(LEVELS, 3)] + list(fl.glow(4, 1, 8, generator=0).layers)
    return fl.Flow(layers, 4), torch.tensor(np.tile(LEVELS, (10, 1)), dtype=torch.float32)


STOCHASTIC = {
    "flows.AdditiveCoupling": lambda seed: fl.AdditiveCoupling(
        3, fl.checkerboard_mask(3, 0), 8, generator=seed
    ),
    "flows.AffineCoupling": lambda seed: fl.AffineCoupling(
        3, fl.checkerboard_mask(3, 1), 8, generator=seed
    ),
    "flows.InvertibleLinear": lambda seed: fl.InvertibleLinear(3, generator=seed),
    "flows.nice": lambda seed: fl.nice(3, 2, 8, generator=seed),
    "flows.realnvp": lambda seed: fl.realnvp(3, 2, 8, generator=seed),
    "flows.glow": lambda seed: fl.glow(3, 2, 8, generator=seed),
    "flows.randomize_parameters": (
        lambda: (fl.realnvp(2, 2, 8, generator=0),),
        lambda seed, flow: fl.randomize_parameters(flow, generator=seed),
    ),
    "flows.Flow.sample": (
        lambda: (fl.randomize_parameters(fl.glow(3, 2, 8, generator=0)),),
        lambda seed, flow: flow.sample(5, generator=seed),
    ),
    "flows.Flow.sample (no parameters)": lambda seed: fl.Flow([], 3).sample(5, generator=seed),
    "flows.train_flow": (
        _moons_flow,
        lambda seed, flow, x: (
            fl.train_flow(flow, x, n_steps=3, batch_size=16, generator=seed, show_progress=False),
            flow,
        ),
    ),
    "flows.train_flow (dequantized, validation)": (
        _digits_flow,
        lambda seed, flow, x: (
            fl.train_flow(flow, x, x[:5], n_steps=3, batch_size=8, dequantize=True,
                          generator=seed, show_progress=False),
            flow,
        ),
    ),
    "flows.dequantized_nll": (
        _digits_flow,
        lambda seed, flow, x: fl.dequantized_nll(flow, x, n_draws=2, generator=seed),
    ),
}

DEVICE = {
    "flows.train_flow": (
        lambda: (fl.realnvp(2, 2, 8, generator=0).double(), _points(64, 2)),
        lambda flow, x: (
            fl.train_flow(flow, x, n_steps=3, batch_size=16, generator=0, show_progress=False),
            flow,
        ),
    ),
    "flows.checkerboard_mask": (tuple, lambda: fl.checkerboard_mask(4, 1)),
    "flows.Flow.sample (no parameters)": (
        lambda: (fl.Flow([], 3).double(),), lambda flow: flow.sample(4, generator=0)
    ),
    "flows.MarginalGaussianization": (
        lambda: (fl.MarginalGaussianization(LEVELS, 3).double(), torch.tensor(LEVELS + 0.5)),
        lambda layer, y: (layer(y), layer.inverse(layer(y)[0])),
    ),
    "flows.InvertibleLinear.weight": (
        lambda: (fl.InvertibleLinear(3).double(),), lambda layer: layer.weight()
    ),
    "flows.autograd_log_det": (
        _random(MAKERS["realnvp"]), lambda flow, x: fl.autograd_log_det(flow, x[:2])
    ),
    "flows.grid_integral": (
        lambda: (fl.randomize_parameters(fl.realnvp(2, 2, 8, generator=0)),),
        lambda flow: torch.tensor(fl.grid_integral(flow, n=20), dtype=F64, device="cpu"),
    ),
    "flows.dequantized_nll": (
        lambda: (fl.Flow([fl.MarginalGaussianization(LEVELS, 3)], 4).double(),
                 torch.tensor(LEVELS, dtype=F64)),
        lambda flow, x: torch.tensor(fl.dequantized_nll(flow, x, 2), dtype=F64, device="cpu"),
    ),
    "flows.randomize_parameters": (
        lambda: (fl.realnvp(2, 2, 8, generator=0).double(),),
        lambda flow: fl.randomize_parameters(flow),
    ),
    "flows.phi4_action": (lambda: (_points(5, 8),), lambda phi: fl.phi4_action(phi, 0.3, 0.2)),
    "flows.effective_action_coefficients": (
        lambda: (_points(60, 4),),
        lambda x: fl.effective_action_coefficients(lambda p: -fl.phi4_action(p, 0.3, 0.2), x),
    ),
}
for _name, _make in MAKERS.items():
    DEVICE |= {
        f"flows.{_name}: log_prob": (_random(_make), lambda flow, x: flow.log_prob(x)),
        f"flows.{_name}: forward": (_random(_make), lambda flow, x: flow(x)),
        f"flows.{_name}: inverse": (_random(_make), lambda flow, x: flow.inverse(x)),
        f"flows.{_name}: sample": (_random(_make), lambda flow, x: flow.sample(3, generator=0)),
        f"flows.{_name}: intermediate": (_random(_make), lambda flow, x: flow.intermediate(x)),
    }

_flow = fl.realnvp(2, 2, 8, generator=0)
_x = _points(10, 2).float()
_nan = torch.full((3, 2), float("nan"))
_mask = fl.checkerboard_mask(2, 0)

BAD_INPUTS = [
    ("flows.checkerboard_mask dim=0", lambda: fl.checkerboard_mask(0, 0), ValueError, "dim"),
    ("flows.checkerboard_mask parity=2", lambda: fl.checkerboard_mask(3, 2), ValueError, "parity"),
    ("flows.AdditiveCoupling dim=1", lambda: fl.AdditiveCoupling(1, _mask), ValueError, "dim"),
    ("flows.AdditiveCoupling full mask",
     lambda: fl.AdditiveCoupling(2, torch.tensor([True, True])), ValueError, "mask"),
    ("flows.AffineCoupling mask shape", lambda: fl.AffineCoupling(3, _mask), ValueError, "mask"),
    ("flows.AffineCoupling hidden=0", lambda: fl.AffineCoupling(2, _mask, 0), ValueError, "hidden"),
    ("flows.AffineCoupling generator", lambda: fl.AffineCoupling(2, _mask, generator="0"),
     TypeError, "generator"),
    ("flows.Scaling dim=0", lambda: fl.Scaling(0), ValueError, "dim"),
    ("flows.ActNorm dim=2.0", lambda: fl.ActNorm(2.0), TypeError, "dim"),
    ("flows.InvertibleLinear dim=0", lambda: fl.InvertibleLinear(0), ValueError, "dim"),
    ("flows.InvertibleLinear generator", lambda: fl.InvertibleLinear(2, generator=1.5),
     TypeError, "generator"),
    ("flows.MarginalGaussianization fractions",
     lambda: fl.MarginalGaussianization(np.array([[0.5]]), 3), ValueError, "train"),
    ("flows.MarginalGaussianization out of range",
     lambda: fl.MarginalGaussianization(np.array([[3]]), 3), ValueError, "n_levels"),
    ("flows.MarginalGaussianization 1-D",
     lambda: fl.MarginalGaussianization(np.zeros(3), 3), ValueError, "train"),
    ("flows.MarginalGaussianization n_levels=0",
     lambda: fl.MarginalGaussianization(LEVELS, 0), ValueError, "n_levels"),
    ("flows.MarginalGaussianization smoothing<0",
     lambda: fl.MarginalGaussianization(LEVELS, 3, -1.0), ValueError, "smoothing"),
    ("flows.MarginalGaussianization empty level",
     lambda: fl.MarginalGaussianization(np.zeros((3, 2)), 3, 0.0), ValueError, "smoothing"),
    ("flows.Flow not a layer", lambda: fl.Flow([nn.Linear(2, 2)], 2), TypeError, "layers[0]"),
    ("flows.Flow dim=0", lambda: fl.Flow([], 0), ValueError, "dim"),
    ("flows.Flow.log_prob shape", lambda: _flow.log_prob(torch.zeros(4, 3)), ValueError, "x"),
    ("flows.Flow.log_prob nan", lambda: _flow.log_prob(_nan), ValueError, "x"),
    ("flows.Flow.log_prob dtype", lambda: _flow.log_prob(_x.double()), TypeError, "x"),
    ("flows.Flow.forward 1-D", lambda: _flow(torch.zeros(2)), ValueError, "x"),
    ("flows.Flow.inverse shape", lambda: _flow.inverse(torch.zeros(4, 3)), ValueError, "z"),
    ("flows.Flow.intermediate nan", lambda: _flow.intermediate(_nan), ValueError, "x"),
    ("flows.Flow.sample n=0", lambda: _flow.sample(0), ValueError, "n"),
    ("flows.Flow.sample generator", lambda: _flow.sample(2, generator="a"), TypeError, "generator"),
    ("flows.nice n_couplings=0", lambda: fl.nice(2, 0), ValueError, "n_couplings"),
    ("flows.realnvp n_layers=0", lambda: fl.realnvp(2, 0), ValueError, "n_layers"),
    ("flows.realnvp dim=1", lambda: fl.realnvp(1), ValueError, "dim"),
    ("flows.glow n_steps=0", lambda: fl.glow(2, 0), ValueError, "n_steps"),
    ("flows.randomize_parameters module", lambda: fl.randomize_parameters("flow"),
     TypeError, "module"),
    ("flows.randomize_parameters scale<0", lambda: fl.randomize_parameters(_flow, -1.0),
     ValueError, "scale"),
    ("flows.autograd_log_det 1-D", lambda: fl.autograd_log_det(_flow, torch.zeros(2)),
     ValueError, "x"),
    ("flows.grid_integral 3-D", lambda: fl.grid_integral(fl.realnvp(3, 1)), ValueError, "flow"),
    ("flows.grid_integral lim=0", lambda: fl.grid_integral(_flow, lim=0.0), ValueError, "lim"),
    ("flows.grid_integral n=0", lambda: fl.grid_integral(_flow, n=0), ValueError, "n"),
    ("flows.train_flow flow", lambda: fl.train_flow(nn.Linear(2, 2), _x), TypeError, "flow"),
    ("flows.train_flow train shape", lambda: fl.train_flow(_flow, torch.zeros(5, 3)),
     ValueError, "train"),
    ("flows.train_flow validation nan", lambda: fl.train_flow(_flow, _x, _nan),
     ValueError, "validation"),
    ("flows.train_flow n_steps=0", lambda: fl.train_flow(_flow, _x, n_steps=0),
     ValueError, "n_steps"),
    ("flows.train_flow batch_size=0", lambda: fl.train_flow(_flow, _x, batch_size=0),
     ValueError, "batch_size"),
    ("flows.train_flow lr=0", lambda: fl.train_flow(_flow, _x, n_steps=1, lr=0.0,
                                                    show_progress=False), ValueError, "lr"),
    ("flows.train_flow generator", lambda: fl.train_flow(_flow, _x, generator=0.5),
     TypeError, "generator"),
    ("flows.dequantized_nll n_draws=0", lambda: fl.dequantized_nll(_flow, _x, 0),
     ValueError, "n_draws"),
    ("flows.dequantized_nll x", lambda: fl.dequantized_nll(_flow, _nan), ValueError, "x"),
    ("flows.gaussian_nll train 1-D", lambda: fl.gaussian_nll(np.zeros(5), np.zeros((2, 1))),
     ValueError, "train"),
    ("flows.gaussian_nll test columns",
     lambda: fl.gaussian_nll(np.random.default_rng(0).normal(size=(9, 2)), np.zeros((2, 3))),
     ValueError, "test"),
    ("flows.gaussian_nll singular", lambda: fl.gaussian_nll(np.ones((9, 2)), np.zeros((2, 2))),
     ValueError, "train"),
    ("flows.phi4_action phi", lambda: fl.phi4_action([1.0, 2.0], 0.3, 0.2), TypeError, "phi"),
    ("flows.phi4_action kappa nan", lambda: fl.phi4_action(_x, float("nan"), 0.2),
     ValueError, "kappa"),
    ("flows.phi4_action lam<0", lambda: fl.phi4_action(_x, 0.3, -1.0), ValueError, "lam"),
    ("flows.phi4_coefficients n_sites=2", lambda: fl.phi4_coefficients(0.3, 0.2, 2),
     ValueError, "n_sites"),
    ("flows.phi4_coefficients lam<0", lambda: fl.phi4_coefficients(0.3, -0.2, 8),
     ValueError, "lam"),
    ("flows.effective_action_coefficients log_prob",
     lambda: fl.effective_action_coefficients(None, _points(40, 4)), TypeError, "log_prob"),
    ("flows.effective_action_coefficients few points",
     lambda: fl.effective_action_coefficients(torch.sum, _points(10, 4)), ValueError, "points"),
]
