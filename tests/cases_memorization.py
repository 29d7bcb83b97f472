"""Common-test cases (see test_common.py) for course_lib.memorization."""

import numpy as np
from cases_diffusion import SHORT, net, points

from course_lib import memorization as mem

X = points()

STOCHASTIC = {
    "memorization.half_split_experiment": lambda seed: mem.half_split_experiment(
        np.asarray(points(8)), 2, SHORT, points(5).float(), n_steps=2, hidden=4, depth=1,
        batch_size=4, ddim_steps=3, generator=seed,
    ),
}

# half_split_* build their networks on the CPU explicitly, then move them to the noise's device.
DEVICE = {
    "memorization.half_split_experiment": (
        lambda: (np.asarray(points(8)), points(5)),
        lambda pool, noise: mem.half_split_experiment(pool, 2, SHORT, noise, n_steps=2, hidden=4,
                                                     depth=1, batch_size=4, ddim_steps=3),
    ),
    "memorization.Ensemble.forward": (
        lambda: (mem.Ensemble([net(), net()]), points(d=4)), lambda m, x: m(x, x[:, 0].abs())
    ),
}

_BAD = [
    ("Ensemble empty", lambda: mem.Ensemble([]), ValueError, "members"),
    ("Ensemble mixed", lambda: mem.Ensemble([net(), net(3)]), ValueError, "members"),
    ("Ensemble.forward columns", lambda: mem.Ensemble([net(), net()])(X, 0.5), ValueError, "x"),
    ("half_split_sweep pool too small",
     lambda: mem.half_split_sweep([np.zeros((10, 2))], [8], SHORT, X), ValueError, "pool"),
    ("half_split_sweep sizes=0", lambda: mem.half_split_sweep([np.zeros((10, 2))], [0], SHORT, X),
     ValueError, "sizes"),
    ("half_split_sweep no pools", lambda: mem.half_split_sweep([], [2], SHORT, X), ValueError,
     "pools"),
    ("half_split_sweep pool dim", lambda: mem.half_split_sweep([np.zeros((10, 3))], [2], SHORT, X),
     ValueError, "pools"),
    ("half_split_experiment n_steps",
     lambda: mem.half_split_experiment(np.zeros((10, 2)), 2, SHORT, X, n_steps=0), ValueError,
     "n_steps"),
    ("half_split_experiment noise", lambda: mem.half_split_experiment(np.zeros((10, 2)), 2, SHORT,
                                                                       X[0]), ValueError, "noise"),
]

BAD_INPUTS = [(f"memorization.{name}", *rest) for name, *rest in _BAD]
