"""Common-test cases (see test_common.py) for course_lib.memorization."""

import numpy as np
import torch
from cases_diffusion import SHORT, net, points

from course_lib import memorization as mem

X = points()
SPECTRUM = np.array([2.0, 1.0, 0.5])

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
    "memorization.posterior_entropy": (
        lambda: (points(6), points(4)), lambda train, x: mem.posterior_entropy(train, x, 0.8, 0.5)
    ),
    # the spectrum, from numpy or a CPU tensor, is read on the CPU whatever the default device
    "memorization.mutual_information": (
        lambda: (SPECTRUM, torch.as_tensor(SPECTRUM)),
        lambda a, b: (mem.mutual_information(a, 1.0, 0.5), mem.mutual_information(b, 1.0, 0.5)),
    ),
    "memorization.collapse_size": (
        lambda: (torch.as_tensor(SPECTRUM),), lambda s: mem.collapse_size(s, 1.0, 0.5)
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

_BAD += [
    ("mutual_information negative eigenvalue",
     lambda: mem.mutual_information([1.0, -0.1], 1.0, 1.0), ValueError, "eigenvalues"),
    ("mutual_information 2-d eigenvalues",
     lambda: mem.mutual_information(np.eye(2), 1.0, 1.0), ValueError, "eigenvalues"),
    ("mutual_information empty", lambda: mem.mutual_information([], 1.0, 1.0), ValueError,
     "eigenvalues"),
    ("mutual_information nan", lambda: mem.mutual_information([1.0, np.nan], 1.0, 1.0),
     ValueError, "eigenvalues"),
    ("mutual_information sigma=0", lambda: mem.mutual_information(SPECTRUM, 1.0, 0.0),
     ValueError, "sigma"),
    ("mutual_information alpha<0", lambda: mem.mutual_information(SPECTRUM, -1.0, 1.0),
     ValueError, "alpha"),
    ("collapse_size sigma=0", lambda: mem.collapse_size(SPECTRUM, 1.0, 0.0), ValueError,
     "sigma"),
    ("collapse_size negative eigenvalue", lambda: mem.collapse_size(-SPECTRUM, 1.0, 1.0),
     ValueError, "eigenvalues"),
    ("posterior_entropy dimensions", lambda: mem.posterior_entropy(X, points(d=3), 1.0, 1.0),
     ValueError, "x"),
    ("posterior_entropy 1-d train", lambda: mem.posterior_entropy(X[0], X, 1.0, 1.0),
     ValueError, "train"),
    ("posterior_entropy nan x", lambda: mem.posterior_entropy(X, X * np.nan, 1.0, 1.0),
     ValueError, "x"),
    ("posterior_entropy sigma=0", lambda: mem.posterior_entropy(X, X, 1.0, 0.0), ValueError,
     "sigma"),
    ("transition_size ratios shape",
     lambda: mem.transition_size([4, 16, 64], [0.1, 0.9]), ValueError, "ratios"),
    ("transition_size one size", lambda: mem.transition_size([4], [0.1]), ValueError, "ratios"),
    ("transition_size sizes=0", lambda: mem.transition_size([0, 4], [0.1, 0.9]), ValueError,
     "sizes"),
    ("transition_size level=2", lambda: mem.transition_size([4, 8], [0.1, 0.9], level=2.0),
     ValueError, "level"),
    ("transition_size never crosses",
     lambda: mem.transition_size([4, 8], [0.1, 0.2]), ValueError, "never rises"),
]

BAD_INPUTS = [(f"memorization.{name}", *rest) for name, *rest in _BAD]
