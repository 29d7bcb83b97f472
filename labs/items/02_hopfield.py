"""Graded items of lab 02 (Hopfield networks). Read by the grader only (see
course_grader/items.py)."""

import numpy as np
import torch

from course_grader.items import Case, Item
from course_lib import hopfield as hp

HIDE = {
    "hopfield": [
        "hebbian",
        "storkey",
        "projection",
        "recall",
        "asynchronous_sweep",
        "synchronous_update",
        "modern_update",
        "modern_energy",
        "retrieval_overlap",
        "capacity_curve",
    ]
}


def _close(expected, rtol=1e-7, atol=1e-9):
    expected = np.asarray(expected, dtype=float)
    return lambda out: (
        out["result"].shape == expected.shape
        and np.allclose(out["result"].astype(float), expected, rtol=rtol, atol=atol)
    )


def hebbian_cases(rng):
    cases = []
    for p, n in [
        (1, int(rng.integers(3, 8))),
        (int(rng.integers(3, 10)), int(rng.integers(20, 60))),
        (int(rng.integers(20, 40)), 100),
    ]:
        x = rng.choice([-1, 1], size=(p, n)).astype(np.int64)
        cases.append(Case({"x": x}, _close(hp.hebbian(x))))
    return cases


def recall_cases(rng):
    x = rng.choice([-1, 1], size=(12, 300)).astype(np.int64)
    W = hp.hebbian(x)
    cases = []
    for k in range(3):
        cue = hp.corrupt(x[k], 0.2, generator=rng).astype(np.int64)
        target = x[k]
        cases.append(
            Case(
                {"W": W, "cue": cue, "seed": rng.integers(2**31)},
                lambda out, target=target: (
                    out["result"].shape == target.shape and np.array_equal(out["result"], target)
                ),
            )
        )
    J = rng.normal(size=(40, 40))
    J = (J + J.T) / 2
    np.fill_diagonal(J, 0)
    cue = rng.choice([-1, 1], size=40).astype(np.int64)

    def fixed_point(out, J=J, cue=cue):
        s = out["result"].astype(float)
        if s.shape != (40,) or not np.all(np.abs(s) == 1):
            return False
        h = J @ s
        return (
            bool(np.all((h == 0) | (np.sign(h) == s)))
            and hp.energy(J, s) <= hp.energy(J, cue.astype(float)) + 1e-12
        )

    cases.append(Case({"W": J, "cue": cue, "seed": rng.integers(2**31)}, fixed_point))
    return cases


def overlap_cases(rng):
    def check(out):
        curve = out["result"].astype(float)
        return curve.shape == (2,) and curve[0] > 0.98 and curve[1] < 0.6

    return [Case({"seed": rng.integers(2**31)}, check)]


def modern_cases(rng):
    X, q = rng.normal(size=(50, 16)), rng.normal(size=(7, 16))
    cases = [
        Case(
            {"X": X, "q": q, "beta": np.float64(beta)},
            _close(hp.modern_update(torch.tensor(X), torch.tensor(q), beta).numpy(), rtol=1e-6),
        )
        for beta in (
            float(rng.uniform(0.05, 0.5)),
            float(rng.uniform(1, 5)),
            float(rng.uniform(20, 80)),
        )
    ]
    x = rng.choice([-1.0, 1.0], size=(640, 64))
    cues = hp.corrupt(x, 0.15, generator=rng).astype(float)
    cases.append(
        Case(
            {"X": x, "q": cues, "beta": np.float64(0.5)},
            lambda out: (
                out["result"].shape == x.shape
                and np.mean(np.all(np.sign(out["result"]) == x, axis=1)) > 0.99
            ),
        )
    )
    return cases


ITEMS = [
    Item(
        "test_hebbian",
        2,
        ("hebbian",),
        "result = hebbian(x)",
        hebbian_cases,
        "hebbian does not give W = X^T X / N with a zero diagonal for other numbers of patterns "
        "and neurons",
    ),
    Item(
        "test_recall",
        3,
        ("recall",),
        "result = recall(W, cue, np.random.default_rng(int(seed)))",
        recall_cases,
        "recall does not return the stored pattern from a 20 % corrupted cue, or does not end in a "
        "fixed point of lower energy",
    ),
    Item(
        "test_overlap_vs_load",
        2,
        ("overlap_vs_load",),
        "result = overlap_vs_load(500, [0.05, 0.25], np.random.default_rng(int(seed)), "
        "n_probes=10)",
        overlap_cases,
        "overlap_vs_load does not show retrieval at load 0.05 and its failure at load 0.25 "
        "for N = 500",
    ),
    Item(
        "test_modern_update",
        3,
        ("modern_update",),
        "result = modern_update(X, q, float(beta))",
        modern_cases,
        "modern_update does not match X^T softmax(beta X xi) for other patterns, batches and beta, "
        "or fails to retrieve at load 10",
    ),
]
