"""Common-test cases (see test_common.py) for the shared helpers: rng, checks, stats, data."""

import numpy as np
import torch

from course_lib import checks, data, rng, stats

X64 = torch.zeros(3, 2, dtype=torch.float64)

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
    ("data.rings n=0", lambda: data.rings(0), ValueError, "n"),
    ("data.two_moons noise<0", lambda: data.two_moons(10, noise=-1.0), ValueError, "noise"),
    (
        "stats.mmd dims",
        lambda: stats.mmd(torch.zeros(3, 2), torch.zeros(3, 3)),
        ValueError,
        "dimensions",
    ),
]
