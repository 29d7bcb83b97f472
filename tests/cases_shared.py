"""Common-test cases (see test_common.py) for the shared helpers: rng, checks, stats, data."""

import os

import numpy as np
import torch

from course_lib import checks, data, flows, notebook, optim, rng, stats

X64 = torch.zeros(3, 2, dtype=torch.float64)


def _minimize(**kwargs):
    """optim.minimize on a one-parameter quadratic, with ``kwargs`` overriding the defaults."""
    w = torch.nn.Parameter(torch.ones(1, dtype=torch.float64))
    args = {"loss": lambda step: (w**2).sum(), "parameters": [w], "n_steps": 3}
    return optim.minimize(**{**args, "show_progress": False, **kwargs})


def _default_device(value: str):
    """notebook.default_device() with COURSE_DEVICE=value (restored afterwards)."""
    old = os.environ.get("COURSE_DEVICE")
    os.environ["COURSE_DEVICE"] = value
    try:
        return notebook.default_device()
    finally:
        os.environ.pop("COURSE_DEVICE") if old is None else os.environ.update(COURSE_DEVICE=old)


SERIES = np.sin(np.arange(20.0))
NAN_SERIES = np.where(np.arange(20) == 3, np.nan, SERIES)
P = torch.zeros(4, 2, dtype=torch.float64)

STOCHASTIC = {
    "rng.randn": lambda seed: rng.randn((4, 2), X64, rng.torch_generator(seed)),
    "rng.randperm": lambda seed: rng.randperm(20, X64, rng.torch_generator(seed)),
    "rng.multinomial": lambda seed: rng.multinomial(
        torch.ones(5, dtype=torch.float64), 20, rng.torch_generator(seed)
    ),
    "rng.numpy_generator": lambda seed: rng.numpy_generator(seed).random(3),
    "rng.init_parameters": (
        lambda: (torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Linear(4, 1)),),
        lambda seed, module: rng.init_parameters(module, seed),
    ),
    "rng.build": lambda seed: rng.build(
        lambda: torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Linear(4, 1)), seed
    ),
    "data.rings": lambda seed: data.rings(50, generator=seed),
    "data.checkerboard": lambda seed: data.checkerboard(50, generator=seed),
    "data.two_moons": lambda seed: data.two_moons(50, generator=seed),
    "data.gaussian_clusters": lambda seed: data.gaussian_clusters(50, generator=seed),
}

DEVICE = {
    "rng.randn": (lambda: (X64,), lambda x: rng.randn((4, 2), x, rng.torch_generator(0))),
    "rng.rand (global stream)": (lambda: (X64,), lambda x: rng.rand((4,), x)),
    "rng.randint": (lambda: (X64,), lambda x: rng.randint(0, 5, (4,), x, rng.torch_generator(0))),
    "rng.init_parameters": (
        lambda: (torch.nn.Linear(3, 2, dtype=torch.float64),),
        lambda module: [*rng.init_parameters(module, 0).parameters()],
    ),
    "stats.mmd": (
        lambda: (torch.randn(20, 2, dtype=torch.float64), torch.randn(20, 2, dtype=torch.float64)),
        lambda x, y: torch.as_tensor(stats.mmd(x, y), dtype=torch.float64, device="cpu"),
    ),
    "stats.energy_distance": (
        lambda: (torch.randn(20, 2, dtype=torch.float64), torch.randn(30, 2, dtype=torch.float64)),
        lambda x, y: torch.as_tensor(stats.energy_distance(x, y), dtype=torch.float64,
                                     device="cpu"),
    ),
    "stats.gaussian_log_prob": (
        lambda: (torch.randn(20, 2, dtype=torch.float64), torch.rand(2, dtype=torch.float64) + 1),
        lambda x, var: (stats.gaussian_log_prob(x, 0.5, var), stats.gaussian_log_prob(x, 0.0, 1.0)),
    ),
    "stats.nearest_distance": (
        lambda: (torch.randn(20, 2, dtype=torch.float64), torch.randn(30, 2, dtype=torch.float64)),
        stats.nearest_distance,
    ),
}

BAD_INPUTS = [
    ("rng.torch_generator float", lambda: rng.torch_generator(1.5), TypeError, "generator"),
    ("rng.numpy_generator str", lambda: rng.numpy_generator("0"), TypeError, "generator"),
    ("checks.check_count zero", lambda: checks.check_count(0, "n_steps"), ValueError, "n_steps"),
    ("checks.check_count float", lambda: checks.check_count(2.0, "n"), TypeError, "n"),
    ("checks.check_positive nan", lambda: checks.check_positive(np.nan, "T"), ValueError, "T"),
    (
        "checks.check_fraction 2",
        lambda: checks.check_fraction(2, "fraction"),
        ValueError,
        "fraction",
    ),
    (
        "checks.check_weights zeros",
        lambda: checks.check_weights(np.zeros(3), "weights"),
        ValueError,
        "weights",
    ),
    ("optim.minimize clip=-1", lambda: _minimize(clip=-1.0), ValueError, "clip"),
    ("optim.minimize clip=0", lambda: _minimize(clip=0.0), ValueError, "clip"),
    ("optim.minimize time_budget=0", lambda: _minimize(time_budget=0.0), ValueError, "time_budget"),
    ("optim.minimize time_budget=-1", lambda: _minimize(time_budget=-1), ValueError, "time_budget"),
    (
        "optim.minimize weight_decay<0",
        lambda: _minimize(weight_decay=-0.1),
        ValueError,
        "weight_decay",
    ),
    ("optim.minimize loss=None", lambda: _minimize(loss=None), TypeError, "loss"),
    ("optim.minimize lr=0", lambda: _minimize(lr=0.0), ValueError, "lr"),
    (
        "flows.train_flow time_budget=-1",
        lambda: flows.train_flow(
            flows.realnvp(2, 1, 4, generator=0), torch.zeros(8, 2), n_steps=2, time_budget=-1,
            show_progress=False,
        ),
        ValueError,
        "time_budget",
    ),
    ("stats.gaussian_log_prob var=0", lambda: stats.gaussian_log_prob(P, 0.0, 0.0), ValueError,
     "var"),
    ("stats.gaussian_log_prob var<0 tensor",
     lambda: stats.gaussian_log_prob(P, 0.0, -torch.ones(2, dtype=torch.float64)), ValueError,
     "var"),
    ("stats.auc nan lower", lambda: stats.auc([np.nan, 1.0], [2.0]), ValueError, "lower"),
    ("stats.auc nan higher", lambda: stats.auc([1.0], [np.nan]), ValueError, "higher"),
    ("stats.auc empty", lambda: stats.auc([], [1.0]), ValueError, "lower"),
    ("stats.autocorrelation nan", lambda: stats.autocorrelation(NAN_SERIES), ValueError, "x"),
    ("stats.autocorrelation short", lambda: stats.autocorrelation(SERIES[:3]), ValueError, "x"),
    ("stats.autocorrelation 3D", lambda: stats.autocorrelation(np.zeros((2, 2, 8))), ValueError,
     "x"),
    ("stats.integrated_autocorrelation_time window_factor=nan",
     lambda: stats.integrated_autocorrelation_time(SERIES, window_factor=np.nan), ValueError,
     "window_factor"),
    ("stats.integrated_autocorrelation_time nan",
     lambda: stats.integrated_autocorrelation_time(NAN_SERIES), ValueError, "x"),
    ("stats.effective_sample_size short",
     lambda: stats.effective_sample_size(SERIES[None, :2]), ValueError, "x"),
    ("stats.mean_and_error nan", lambda: stats.mean_and_error([1.0, np.nan, 2.0]), ValueError,
     "x"),
    ("stats.mean_and_error axis", lambda: stats.mean_and_error(np.ones((3, 2)), axis=2),
     ValueError, "axis"),
    ("stats.mean_and_error axis float", lambda: stats.mean_and_error(np.ones(3), axis=0.5),
     TypeError, "axis"),
    ("stats.mean_and_error one replica", lambda: stats.mean_and_error(np.ones((1, 3))),
     ValueError, "x"),
    ("stats.energy_distance nan", lambda: stats.energy_distance(P * np.nan, P), ValueError, "x"),
    ("stats.energy_distance one row", lambda: stats.energy_distance(P, P[:1]), ValueError, "y"),
    ("stats.nearest_distance 1D reference",
     lambda: stats.nearest_distance(P, torch.zeros(3, dtype=torch.float64)), ValueError,
     "reference"),
    ("stats.nearest_distance dims", lambda: stats.nearest_distance(P, torch.zeros(3, 3)),
     ValueError, "dimensions"),
    ("stats.bisect f=None", lambda: stats.bisect(None, 0.0, 1.0), TypeError, "f"),
    ("stats.bisect lo>hi", lambda: stats.bisect(np.negative, 1.0, 0.0), ValueError, "lo"),
    ("stats.bisect nan hi", lambda: stats.bisect(np.negative, 0.0, np.nan), ValueError, "hi"),
    ("stats.bisect n_iter=0", lambda: stats.bisect(np.negative, 0.0, 1.0, n_iter=0), ValueError,
     "n_iter"),
    ("checks.check_finite inf", lambda: checks.check_finite(torch.tensor([np.inf]), "x0"),
     ValueError, "x0"),
    ("checks.check_points 1D", lambda: checks.check_points(torch.zeros(3), "data"), ValueError,
     "data"),
    ("checks.check_points numpy", lambda: checks.check_points(np.zeros((3, 2)), "data"),
     TypeError, "data"),
    ("checks.check_points dim", lambda: checks.check_points(P, "data", dim=3), ValueError,
     "data"),
    ("checks.as_spins zeros", lambda: checks.as_spins(np.zeros(3), "s"), ValueError, "s"),
    ("checks.as_spins scalar", lambda: checks.as_spins(1, "patterns", min_ndim=2), ValueError,
     "patterns"),
    ("checks.check_real str", lambda: checks.check_real("1", "J"), TypeError, "J"),
    ("checks.check_real inf", lambda: checks.check_real(np.inf, "h"), ValueError, "h"),
    ("checks.check_temperatures 0", lambda: checks.check_temperatures([1.0, 0.0]), ValueError,
     "T"),
    ("checks.check_temperatures empty", lambda: checks.check_temperatures([], "betas"),
     ValueError, "betas"),
    ("checks.check_temperatures ndim", lambda: checks.check_temperatures([1.0], "T", ndim=0),
     ValueError, "T"),
    ("data.checkerboard n=0", lambda: data.checkerboard(0), ValueError, "n"),
    ("data.checkerboard generator", lambda: data.checkerboard(5, generator=1.5), TypeError,
     "generator"),
    ("notebook.default_device COURSE_DEVICE", lambda: _default_device("gpu9"), ValueError,
     "COURSE_DEVICE"),
    ("data.rings n=0", lambda: data.rings(0), ValueError, "n"),
    ("data.two_moons noise<0", lambda: data.two_moons(10, noise=-1.0), ValueError, "noise"),
    ("data.gaussian_clusters n=0", lambda: data.gaussian_clusters(0), ValueError, "n"),
    ("data.gaussian_clusters dim=0", lambda: data.gaussian_clusters(5, dim=0), ValueError, "dim"),
    ("data.gaussian_clusters clusters=0", lambda: data.gaussian_clusters(5, clusters=0),
     ValueError, "clusters"),
    ("data.gaussian_clusters std<0", lambda: data.gaussian_clusters(5, std=-0.1), ValueError,
     "std"),
    ("data.gaussian_clusters generator", lambda: data.gaussian_clusters(5, generator=1.5),
     TypeError, "generator"),
    (
        "stats.mmd dims",
        lambda: stats.mmd(torch.zeros(3, 2), torch.zeros(3, 3)),
        ValueError,
        "dimensions",
    ),
]
