"""Graded items of lab 07 (memorization and the collapse criterion). Read by the grader only (see
course_grader/items.py)."""

import math

import numpy as np
import torch

from course_grader.items import Case, Item
from course_lib import memorization as mem
from course_lib.data import gaussian_clusters, two_moons

# memorization.py keeps Ensemble (and its imports from diffusion), which the lab does not ask for.
HIDE = {
    "memorization": [
        "posterior_entropy",
        "mutual_information",
        "collapse_size",
        "transition_size",
        "half_split_sweep",
        "half_split_experiment",
    ],
}


def information_cases(rng):
    cases = []
    for d, alpha, sigma in [
        (1, rng.uniform(0.5, 1.0), rng.uniform(0.5, 2.0)),
        (int(rng.integers(2, 6)), rng.uniform(0.1, 1.0), rng.uniform(1e-3, 1e-2)),
        (int(rng.integers(10, 40)), rng.uniform(0.1, 1.0), rng.uniform(0.5, 5.0)),
        (int(rng.integers(2, 6)), 0.0, rng.uniform(0.1, 1.0)),
    ]:
        eigenvalues = rng.uniform(0.0, 3.0, size=d)
        eigenvalues[0] = 0.0 if d > 1 else eigenvalues[0]  # a flat direction carries nothing
        expected = mem.mutual_information(eigenvalues, alpha, sigma)
        inputs = {"eigenvalues": eigenvalues, "alpha": np.float64(alpha),
                  "sigma": np.float64(sigma)}
        cases.append(
            Case(
                inputs,
                lambda out, expected=expected: (
                    out["result"].size == 1
                    and abs(float(out["result"].ravel()[0]) - expected)
                    <= 1e-9 * max(1.0, expected)
                ),
            )
        )
    return cases


def entropy_cases(rng):
    d = int(rng.integers(2, 6))
    train = rng.normal(size=(int(rng.integers(20, 200)), d))
    x = rng.normal(size=(40, d))
    alpha = rng.uniform(0.3, 1.0)
    # tiny sigma: pairs of training points around far-apart centres; x at the training points
    # (H = 0) and exactly halfway between the two points of a pair (H = log 2), where
    # exp(-|x - alpha x_i|^2 / 2 sigma^2) underflows for every i
    centres, offsets = 5 * rng.normal(size=(5, d)), 0.5 * rng.normal(size=(5, d))
    pairs = np.concatenate([centres + offsets, centres - offsets])
    tiny_x = alpha * np.concatenate([pairs[:5], centres])
    inputs = [
        (train, x, alpha, rng.uniform(0.3, 2.0), 1e-8),
        (pairs, tiny_x, alpha, 1e-3, 1e-6),
        (train[:1], x, alpha, rng.uniform(0.3, 2.0), 1e-10),  # one training point: H = 0
    ]
    cases = []
    for t, xs, a, s, tolerance in inputs:
        expected = mem.posterior_entropy(torch.tensor(t), torch.tensor(xs), a, s).numpy()
        cases.append(
            Case(
                {"train": t, "x": xs, "alpha": np.float64(a), "sigma": np.float64(s)},
                lambda out, expected=expected, tolerance=tolerance: (
                    out["result"].shape == expected.shape
                    and np.allclose(out["result"], expected, rtol=0, atol=tolerance)
                ),
            )
        )
    return cases


def collapse_cases(rng):
    cases = []
    moons = two_moons(4000, 0.05, generator=int(rng.integers(2**31)))
    moons = moons[rng.permutation(len(moons))]
    clusters = gaussian_clusters(900, generator=int(rng.integers(2**31)))
    for pool, n, probes in [(moons, int(rng.integers(200, 2000)), 300), (clusters, 600, 300)]:
        train, x0 = pool[:n], pool[-probes:]
        centred = train - train.mean(0)
        eigenvalues = np.linalg.eigvalsh(centred.T @ centred / len(train))
        noise = rng.normal(size=x0.shape)
        alpha, sigma = rng.uniform(0.5, 1.0), rng.uniform(0.2, 1.5)
        x = torch.tensor(alpha * x0 + sigma * noise)
        information = mem.mutual_information(eigenvalues, alpha, sigma)
        expected = np.array([
            float(mem.posterior_entropy(torch.tensor(train), x, alpha, sigma).mean()),
            math.log(n) - information,
            math.exp(information),
        ])
        cases.append(
            Case(
                {
                    "train": train,
                    "x0": x0,
                    "noise": noise,
                    "eigenvalues": eigenvalues,
                    "alpha": np.float64(alpha),
                    "sigma": np.float64(sigma),
                },
                lambda out, expected=expected: (
                    out["experiment"].shape == (3,)
                    and np.allclose(out["experiment"], expected, rtol=1e-9, atol=1e-9)
                    and out["n_c"].size == 1
                    and np.isclose(float(out["n_c"].ravel()[0]), expected[2], rtol=1e-9)
                ),
            )
        )
    return cases


ITEMS = [
    Item(
        "test_information",
        3,
        ("mutual_information",),
        "import torch\nresult = float(mutual_information(torch.as_tensor(eigenvalues), "
        "float(alpha), float(sigma)))",
        information_cases,
        "mutual_information does not give 1/2 sum_k log(1 + alpha^2 lambda_k / sigma^2) (random "
        "spectra with a zero eigenvalue, alpha = 0, small and large sigma)",
    ),
    Item(
        "test_entropy",
        4,
        ("posterior_entropy",),
        "import torch\nresult = posterior_entropy(torch.as_tensor(train), torch.as_tensor(x), "
        "float(alpha), float(sigma))",
        entropy_cases,
        "posterior_entropy does not match the entropy of the posterior over training points "
        "(random points in 2 to 5 dimensions, a single training point, and sigma = 1e-3, where "
        "only a stable log-sum-exp works)",
    ),
    Item(
        "test_collapse",
        3,
        ("collapse_size", "entropy_experiment"),
        "import torch\nspectrum_ = torch.as_tensor(eigenvalues)\n"
        "result = {'experiment': [float(v) for v in entropy_experiment(torch.as_tensor(train), "
        "torch.as_tensor(x0), torch.as_tensor(noise), spectrum_, float(alpha), float(sigma))], "
        "'n_c': float(collapse_size(spectrum_, float(alpha), float(sigma)))}",
        collapse_cases,
        "entropy_experiment does not return (mean posterior entropy at x = alpha x0 + sigma "
        "noise, log N - I, N_C), or collapse_size is not exp(I) (two moons and 16-dimensional "
        "Gaussian clusters)",
    ),
]
