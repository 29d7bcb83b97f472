"""Common-test cases (see test_common.py) for course_lib.hopfield."""

import numpy as np
import torch

from course_lib import hopfield as hp

_fixed = np.random.default_rng(0)
PATTERNS = _fixed.choice(np.array([-1, 1], dtype=np.int8), size=(3, 30))
GLASS = _fixed.normal(size=(30, 30))  # a random symmetric network: many minima, order matters
GLASS = (GLASS + GLASS.T) / 2
np.fill_diagonal(GLASS, 0)
CUES = _fixed.choice(np.array([-1, 1], dtype=np.int8), size=(4, 30))
J_SMALL = np.array([[0.0, 0.5, -0.3], [0.5, 0.0, 0.2], [-0.3, 0.2, 0.0]])
H_SMALL = np.array([0.1, -0.2, 0.0])
W3 = hp.hebbian(PATTERNS)


def _modern() -> tuple:
    g = torch.Generator().manual_seed(0)
    return (torch.randn(6, 4, generator=g, dtype=torch.float64),
            torch.randn(3, 4, generator=g, dtype=torch.float64))


STOCHASTIC = {
    "hopfield.asynchronous_sweep": lambda seed: hp.asynchronous_sweep(GLASS, CUES, generator=seed),
    "hopfield.recall": lambda seed: hp.recall(GLASS, CUES, generator=seed),
    "hopfield.corrupt": lambda seed: hp.corrupt(PATTERNS, 0.3, generator=seed),
    "hopfield.retrieval_overlaps": lambda seed: hp.retrieval_overlaps(40, 0.3, generator=seed),
    "hopfield.retrieval_overlap": lambda seed: hp.retrieval_overlap(
        40, 0.3, rule="hebbian", n_probes=8, generator=seed
    ),
    "hopfield.capacity_curve": lambda seed: hp.capacity_curve(
        40, [0.25, 0.35], n_probes=5, generator=seed
    ),
    "hopfield.boltzmann_samples": lambda seed: hp.boltzmann_samples(
        J_SMALL, H_SMALL, 50, generator=seed
    ),
}

# The functions of hopfield that create tensors (the rest is numpy). pseudolikelihood_couplings
# returns numpy arrays, but builds its tensors on the CPU explicitly: it must run here.
DEVICE = {
    "hopfield.modern_energy": (_modern, lambda X, xi: hp.modern_energy(X, xi, 0.7)),
    "hopfield.modern_update": (_modern, lambda X, xi: hp.modern_update(X, xi, 0.7)),
    "hopfield.pseudolikelihood_couplings": (
        lambda: (hp.boltzmann_samples(J_SMALL, H_SMALL, 200, generator=0),),
        lambda samples: hp.pseudolikelihood_couplings(samples, max_iter=20),
    ),
}

_X, _XI = _modern()

BAD_INPUTS = [
    ("hopfield.hebbian zeros", lambda: hp.hebbian(np.zeros((2, 4))), ValueError, "patterns"),
    ("hopfield.hebbian 1D", lambda: hp.hebbian(np.ones(4)), ValueError, "patterns"),
    ("hopfield.hebbian empty", lambda: hp.hebbian(np.ones((0, 4))), ValueError, "patterns"),
    ("hopfield.storkey 3D", lambda: hp.storkey(np.ones((2, 2, 2))), ValueError, "patterns"),
    ("hopfield.projection dependent",
     lambda: hp.projection(np.vstack([PATTERNS, PATTERNS[:1]])), ValueError, "patterns"),
    ("hopfield.energy mismatch", lambda: hp.energy(np.zeros((3, 3)), np.ones(4)), ValueError,
     "states"),
    ("hopfield.energy W not square", lambda: hp.energy(np.zeros((3, 4)), np.ones(4)), ValueError,
     "W"),
    ("hopfield.synchronous_update W nan",
     lambda: hp.synchronous_update(np.full((2, 2), np.nan), np.ones(2)), ValueError, "W"),
    ("hopfield.asynchronous_sweep neurons",
     lambda: hp.asynchronous_sweep(W3, PATTERNS, neurons=[30]), ValueError, "neurons"),
    ("hopfield.asynchronous_sweep states", lambda: hp.asynchronous_sweep(W3, np.zeros(30)),
     ValueError, "states"),
    ("hopfield.asynchronous_sweep generator",
     lambda: hp.asynchronous_sweep(W3, PATTERNS, generator=torch.Generator()), TypeError,
     "generator"),
    ("hopfield.recall max_sweeps=0", lambda: hp.recall(W3, PATTERNS, max_sweeps=0), ValueError,
     "max_sweeps"),
    ("hopfield.recall cues", lambda: hp.recall(W3, PATTERNS[:, :10]), ValueError, "states"),
    ("hopfield.overlap mismatch", lambda: hp.overlap(np.ones(5), PATTERNS), ValueError,
     "states"),
    ("hopfield.corrupt fraction", lambda: hp.corrupt(PATTERNS, 1.5), ValueError, "fraction"),
    ("hopfield.corrupt patterns", lambda: hp.corrupt(np.zeros(4), 0.1), ValueError, "patterns"),
    ("hopfield.mixture_state even", lambda: hp.mixture_state(PATTERNS, [0, 1]), ValueError,
     "indices"),
    ("hopfield.mixture_state out of range", lambda: hp.mixture_state(PATTERNS, [0, 1, 3]),
     ValueError, "indices"),
    ("hopfield.retrieval_overlaps rule", lambda: hp.retrieval_overlaps(20, 0.1, rule="hebb"),
     ValueError, "rule"),
    ("hopfield.retrieval_overlaps load=0", lambda: hp.retrieval_overlaps(20, 0.0), ValueError,
     "load"),
    ("hopfield.retrieval_overlaps n_neurons=0", lambda: hp.retrieval_overlaps(0, 0.1),
     ValueError, "n_neurons"),
    ("hopfield.retrieval_overlap n_probes=0", lambda: hp.retrieval_overlap(20, 0.1, n_probes=0),
     ValueError, "n_probes"),
    ("hopfield.ags_overlap alpha<0", lambda: hp.ags_overlap(-0.1), ValueError, "alpha"),
    ("hopfield.ags_overlap alpha=nan", lambda: hp.ags_overlap([0.1, np.nan]), ValueError,
     "alpha"),
    ("hopfield.modern_energy beta=0", lambda: hp.modern_energy(_X, _XI, 0.0), ValueError, "beta"),
    ("hopfield.modern_energy numpy", lambda: hp.modern_energy(_X.numpy(), _XI, 1.0), TypeError,
     "patterns"),
    ("hopfield.modern_update shapes", lambda: hp.modern_update(_X, _XI[:, :3], 1.0), ValueError,
     "xi"),
    ("hopfield.modern_update dtype", lambda: hp.modern_update(_X, _XI.float(), 1.0), ValueError,
     "xi"),
    ("hopfield.modern_update beta<0", lambda: hp.modern_update(_X, _XI, -1.0), ValueError,
     "beta"),
    ("hopfield.boltzmann_samples n_samples=0",
     lambda: hp.boltzmann_samples(J_SMALL, H_SMALL, 0), ValueError, "n_samples"),
    ("hopfield.boltzmann_samples h shape",
     lambda: hp.boltzmann_samples(J_SMALL, H_SMALL[:2], 5), ValueError, "h"),
    ("hopfield.boltzmann_samples too many spins",
     lambda: hp.boltzmann_samples(np.zeros((21, 21)), np.zeros(21), 5), ValueError, "N <= 20"),
    ("hopfield.pseudolikelihood_couplings l2<0",
     lambda: hp.pseudolikelihood_couplings(PATTERNS, l2=-1.0), ValueError, "l2"),
    ("hopfield.pseudolikelihood_couplings samples",
     lambda: hp.pseudolikelihood_couplings(np.zeros((5, 3))), ValueError, "samples"),
    ("hopfield.pseudolikelihood_couplings max_iter=0",
     lambda: hp.pseudolikelihood_couplings(PATTERNS, max_iter=0), ValueError, "max_iter"),
    ("hopfield.pseudolikelihood_couplings no sample",
     lambda: hp.pseudolikelihood_couplings(np.ones((0, 3))), ValueError, "samples"),
    ("hopfield.pseudolikelihood_covariance N=1",
     lambda: hp.pseudolikelihood_covariance(np.zeros((1, 1)), np.zeros(1)), ValueError, "J"),
    ("hopfield.pseudolikelihood_rms_error N=1",
     lambda: hp.pseudolikelihood_rms_error(np.zeros((1, 1)), np.zeros(1), 10), ValueError, "J"),
    ("hopfield.modern_energy nan xi", lambda: hp.modern_energy(_X, _XI * np.nan, 1.0), ValueError,
     "xi"),
    ("hopfield.modern_update nan xi", lambda: hp.modern_update(_X, _XI * np.nan, 1.0), ValueError,
     "xi"),
    ("hopfield.modern_update inf patterns", lambda: hp.modern_update(_X * np.inf, _XI, 1.0),
     ValueError, "patterns"),
    ("hopfield.pseudolikelihood_covariance J not square",
     lambda: hp.pseudolikelihood_covariance(np.zeros((3, 2)), H_SMALL), ValueError, "J"),
    ("hopfield.pseudolikelihood_rms_error n_samples=0",
     lambda: hp.pseudolikelihood_rms_error(J_SMALL, H_SMALL, 0), ValueError, "n_samples"),
    ("hopfield.mean_field_couplings constant spin",
     lambda: hp.mean_field_couplings(np.ones((10, 3))), ValueError, "samples"),
    ("hopfield.mean_field_couplings one sample",
     lambda: hp.mean_field_couplings(np.ones((1, 3))), ValueError, "samples"),
    ("hopfield.capacity_curve empty loads", lambda: hp.capacity_curve(20, []), ValueError,
     "loads"),
    ("hopfield.capacity_curve rule", lambda: hp.capacity_curve(20, [0.1], rule="x"), ValueError,
     "rule"),
]
