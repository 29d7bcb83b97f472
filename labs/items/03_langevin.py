"""Graded items of lab 03 (Langevin sampling). Read by the grader only (see
course_grader/items.py)."""

import numpy as np
import torch
from scipy import stats

from course_grader.items import Case, Item
from course_lib import sampling as sm

HIDE = {
    "sampling": [
        "ula",
        "mala",
        "ula_stationary_variance",
        "random_walk_metropolis",
        "_run",
        "hmc",
        "leapfrog",
    ]
}


def ula_cases(rng):
    x0 = np.tile(rng.uniform(-2, 2, size=(1, 3)), (40000, 1))
    step = float(rng.uniform(0.2, 0.4))

    def one_step(out):
        y = out["result"]
        if y.shape != (1, 40000, 3):
            return False
        y = y[0]
        mean = x0[0] - step * x0[0]
        return np.all(np.abs(y.mean(0) - mean) < 4 * np.sqrt(2 * step / 40000)) and np.all(
            np.abs(y.var(0) / (2 * step) - 1) < 0.04
        )

    shape = Case(
        {"seed": rng.integers(2**31)},
        lambda out: out["result"].shape == (30, 500, 2),
        call="result = ula(lambda x: -x, np.zeros((500, 2)), 0.1, 30, "
        "np.random.default_rng(int(seed)))",
    )
    return [
        shape,
        Case({"x0": x0, "step": np.float64(step), "seed": rng.integers(2**31)}, one_step),
    ]


def variance_cases(rng):
    cases = []
    for _ in range(3):
        s2 = float(rng.uniform(0.5, 2.0))
        h = float(rng.uniform(0.05, 1.9) * s2)
        expected = sm.ula_stationary_variance(s2, h)
        cases.append(
            Case(
                {"s2": np.float64(s2), "h": np.float64(h)},
                lambda out, e=expected: (
                    out["result"].size == 1
                    and np.isclose(float(out["result"].ravel()[0]), e, rtol=1e-9)
                ),
                call="result = ula_stationary_variance(float(s2), float(h))",
            )
        )
    cases.append(
        Case(
            {"s2": np.float64(1.0), "h": np.float64(rng.uniform(2.1, 3.0))},
            lambda out: bool(out["result"]),
            call="try:\n    ula_stationary_variance(float(s2), float(h))\n    result = False\n"
            "except ValueError:\n    result = True",
        )
    )
    for h in (float(rng.uniform(0.2, 0.3)), float(rng.uniform(0.8, 1.0))):
        expected = sm.ula_stationary_variance(1.0, h)
        cases.append(
            Case(
                {"h": np.float64(h), "seed": rng.integers(2**31)},
                lambda out, e=expected: (
                    out["result"].size == 1 and abs(float(out["result"].ravel()[0]) / e - 1) < 0.03
                ),
                call="result = measured_ula_variance(float(h), np.random.default_rng(int(seed)))",
            )
        )
    return cases


_REFERENCE_ACCEPTANCE = {}


def mala_cases(rng):
    c = float(rng.uniform(0.3, 0.9))
    cov = np.array([[2.0, c], [c, 1.0]])
    step = 0.6
    reference = sm.mala(
        sm.Gaussian([0.0, 0.0], cov.tolist()).log_prob,
        torch.zeros(1000, 2, dtype=torch.float64),
        step=step,
        n_steps=200,
        generator=torch.Generator().manual_seed(int(rng.integers(2**31))),
    )
    ref_acceptance = reference.acceptance.mean().item()

    def check(out):
        samples, acceptance = out.get("samples"), out.get("acceptance")
        if (
            samples is None
            or acceptance is None
            or samples.shape != (50, 3000, 2)
            or acceptance.shape != (3000,)
        ):
            return False
        tail = samples.reshape(-1, 2)
        return (
            np.all((acceptance >= 0) & (acceptance <= 1))
            and np.allclose(tail.mean(0), 0, atol=0.05)
            and np.allclose(np.cov(tail.T), cov, atol=0.08)
            and abs(acceptance.mean() - ref_acceptance) < 0.02
        )

    call = (
        "prec = np.linalg.inv(cov)\n"
        "lp = lambda x: -0.5 * np.einsum('...i,ij,...j->...', x, prec, x)\n"
        "glp = lambda x: -x @ prec\n"
        "samples, acceptance = mala(lp, glp, np.zeros((3000, 2)), float(step), 300, "
        "np.random.default_rng(int(seed)))\n"
        "result = {'samples': np.asarray(samples)[100::4], 'acceptance': acceptance}"
    )
    return [
        Case({"cov": cov, "step": np.float64(step), "seed": rng.integers(2**31)}, check, call=call)
    ]


def ks_cases(rng):
    draws = rng.standard_normal((1, 2000, 1))
    cases = []
    for scale in (1.0, 2.0):
        p = stats.kstest(scale * draws[-1, :, 0], "norm").pvalue
        cases.append(
            Case(
                {"samples": scale * draws},
                lambda out, p=p: (
                    out["result"].size == 1
                    and np.isclose(float(out["result"].ravel()[0]), p, rtol=1e-6, atol=1e-300)
                ),
            )
        )
    return cases


ITEMS = [
    Item(
        "test_ula",
        2,
        ("ula",),
        "result = ula(lambda x: -x, x0, float(step), 1, np.random.default_rng(int(seed)))",
        ula_cases,
        "ula does not return (n_steps, chains, d), or one step does not have mean "
        "x0 + h grad log p(x0) and variance 2h",
    ),
    Item(
        "test_ula_variance",
        3,
        ("ula_stationary_variance", "measured_ula_variance"),
        "",
        variance_cases,
        "ula_stationary_variance or measured_ula_variance does not give s2 / (1 - h / (2 s2)) "
        "(with ValueError for h >= 2 s2)",
    ),
    Item(
        "test_mala",
        3,
        ("mala",),
        "",
        mala_cases,
        "mala does not sample a correlated Gaussian with the reference acceptance rate: "
        "check the proposal density ratio",
    ),
    Item(
        "test_ks",
        2,
        ("ks_pvalue",),
        "result = ks_pvalue(samples)",
        ks_cases,
        "ks_pvalue does not give the KS p-value of the final states' first coordinate "
        "against N(0, 1)",
    ),
]
