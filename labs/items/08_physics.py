"""Graded items of lab 08 (generative models as tools of statistical physics: the variational free
energy of an autoregressive Ising model, importance weights and reweighting for lattice phi^4).
Read by the grader only (see course_grader/items.py)."""

import math

import numpy as np
import torch

from course_grader.items import Case, Item
from course_lib import lattice as lat
from course_lib import variational as var
from course_lib.stats import mean_and_error

# The lab's check cells use var.enumerated_free_energy, var.train_variational, lat.Phi4, the free
# field's exact results and lat.lattice_realnvp / train_reverse_kl: those stay. Removed: what the
# student writes (sampled F_q with its error, importance weights, Kish's ESS, the reweighted mean)
# and the flow version of the sampled F_q.
HIDE = {
    "variational": ["variational_free_energy"],
    "lattice": [
        "variational_free_energy_estimate",
        "kish_ess",
        "ImportanceWeights",
        "importance_weights",
        "reweighted_mean",
    ],
}


def _close(a, b, tolerance=1e-9):
    return abs(float(a) - float(b)) <= tolerance * max(1.0, abs(float(b)))


def _free_field_draws(rng, n):
    """Samples of the independent kappa = 0 proposal N(0, 1/2) per site on an L x L lattice, with
    log q and the free-field action at a random kappa."""
    L = int(rng.choice([3, 4, 6]))
    kappa = rng.uniform(0.02, 0.15)
    x = math.sqrt(0.5) * rng.normal(size=(n, L * L))
    log_q = -(x**2).sum(1) - L * L / 2 * math.log(math.pi)
    action = lat.Phi4(L, kappa, 0.0).action(torch.as_tensor(x)).numpy()
    return L, x, log_q, action


def free_energy_cases(rng):
    inputs = []
    # a variational autoregressive network (float64) on a 3 x 3 or 4 x 4 lattice: the reference is
    # course_lib's sampled F_q / N on the same draws
    for side in (3, 4):
        hidden, init = int(rng.integers(4, 17)), int(rng.integers(2**31))
        model = var.AutoregressiveSpins(side * side, hidden=hidden, generator=init).double()
        T, n, seed = rng.uniform(1.0, 4.0), int(rng.integers(50, 2000)), int(rng.integers(2**31))
        spins, log_q = model.sample(n, generator=seed, return_log_prob=True)
        mean, error = var.variational_free_energy(model, T, n, generator=seed)
        inputs.append(
            (log_q.numpy(), var.spin_energy(spins).numpy(), T,
             np.array([mean * side * side, error * side * side]))
        )
    # a Gaussian trial for a Gaussian target, the exact trial (every sample gives F), and n = 2
    T = rng.uniform(0.5, 3.0)
    for s2, n in [(T * rng.uniform(0.2, 5.0), 5000), (T, 300), (T * rng.uniform(0.2, 5.0), 2)]:
        x = math.sqrt(s2) * rng.normal(size=n)
        log_q = -(x**2) / (2 * s2) - 0.5 * math.log(2 * math.pi * s2)
        energy = x**2 / 2
        inputs.append((log_q, energy, T, np.array(mean_and_error(energy + T * log_q))))
    # large energies of either sign
    n = int(rng.integers(2, 500))
    log_q, energy = rng.normal(size=n) - 30, 1e3 * rng.normal(size=n) - 5e3
    T = rng.uniform(0.1, 10.0)
    inputs.append((log_q, energy, T, np.array(mean_and_error(energy + T * log_q))))
    cases = []
    for log_q, energy, T, expected in inputs:
        cases.append(
            Case(
                {"log_q": log_q, "energy": energy, "T": np.float64(T)},
                lambda out, expected=expected: (
                    out["result"].shape == (2,)
                    and _close(out["result"][0], expected[0])
                    and abs(float(out["result"][1]) - expected[1])
                    <= 1e-9 * max(1.0, abs(float(expected[0])))
                ),
            )
        )
    return cases


def importance_cases(rng):
    inputs = []
    # the independent proposal for the free field at a random kappa
    _, _, log_q, action = _free_field_draws(rng, int(rng.integers(500, 5000)))
    inputs.append((log_q, action))
    # an exact proposal, log q = -S - log Z: equal weights, ESS = n
    action = rng.normal(size=int(rng.integers(2, 1000))) * rng.uniform(0.1, 10.0)
    inputs.append((-action - rng.uniform(-50, 50), action))
    # log weights near +-1000 and beyond, where exp overflows or underflows
    for offset in (rng.uniform(800, 5000), -rng.uniform(800, 5000)):
        n = int(rng.integers(2, 2000))
        inputs.append((rng.normal(size=n), 3 * rng.normal(size=n) + offset))
    # one sample that carries almost everything
    n = int(rng.integers(5, 200))
    action = np.full(n, rng.uniform(40.0, 80.0))
    action[int(rng.integers(n))] = 0.0
    inputs.append((np.zeros(n), action))
    cases = []
    for log_q, action in inputs:
        ref = lat.importance_weights(torch.as_tensor(log_q), torch.as_tensor(action))
        weights, log_z, ess = ref.weights.numpy(), ref.log_z, ref.ess
        cases.append(
            Case(
                {"log_q": log_q, "action": action},
                lambda out, weights=weights, log_z=log_z, ess=ess: (
                    out["weights"].shape == weights.shape
                    and np.allclose(out["weights"], weights, rtol=1e-9, atol=1e-15)
                    and out["log_z"].size == 1
                    and _close(out["log_z"].ravel()[0], log_z)
                    and out["ess"].size == 1
                    and abs(float(out["ess"].ravel()[0]) - ess) <= 1e-9 * ess
                ),
            )
        )
    return cases


def reweighting_cases(rng):
    inputs = []
    # <phi_y phi_{y + sep}> of the free field from the independent proposal
    L, x, log_q, action = _free_field_draws(rng, int(rng.integers(500, 5000)))
    sep = (int(rng.integers(L)), int(rng.integers(L)))
    lattice = x.reshape(-1, L, L)
    values = (lattice * np.roll(lattice, (-sep[0], -sep[1]), (-2, -1))).mean((-2, -1))
    inputs.append((values, log_q, action))
    # equal weights, a constant observable, and log weights far from 0
    n = int(rng.integers(2, 1000))
    action = rng.normal(size=n)
    inputs.append((rng.standard_cauchy(size=n), -action, action))
    inputs.append((np.full(n, rng.normal()), rng.normal(size=n), rng.normal(size=n)))
    for offset in (rng.uniform(800, 5000), -rng.uniform(800, 5000)):
        n = int(rng.integers(2, 2000))
        inputs.append(
            (rng.normal(size=n) ** 3, rng.normal(size=n), 2 * rng.normal(size=n) + offset)
        )
    cases = []
    for values, log_q, action in inputs:
        weights = lat.importance_weights(torch.as_tensor(log_q), torch.as_tensor(action)).weights
        expected = np.array(lat.reweighted_mean(torch.as_tensor(values), weights))
        scale = max(1.0, float(np.abs(values).max()))
        cases.append(
            Case(
                {"values": values, "log_q": log_q, "action": action},
                lambda out, expected=expected, scale=scale: (
                    out["result"].shape == (2,)
                    and np.allclose(out["result"], expected, rtol=1e-9, atol=1e-12 * scale)
                ),
            )
        )
    return cases


ITEMS = [
    Item(
        "test_free_energy",
        3,
        ("variational_free_energy",),
        "import torch\nresult = [float(v) for v in variational_free_energy(torch.as_tensor(log_q), "
        "torch.as_tensor(energy), float(T))]",
        free_energy_cases,
        "variational_free_energy does not return (mean of E + T log q, sample standard deviation "
        "with n - 1 / sqrt(n)) (samples of autoregressive Ising models, Gaussian trials including "
        "the exact one, n = 2, large energies)",
    ),
    Item(
        "test_importance",
        4,
        ("importance_estimate",),
        "import torch\nweights_, log_z_, ess_ = importance_estimate(torch.as_tensor(log_q), "
        "torch.as_tensor(action))\n"
        "result = {'weights': weights_, 'log_z': float(log_z_), 'ess': float(ess_)}",
        importance_cases,
        "importance_estimate does not give the normalized weights softmax(-S - log q), log Z = "
        "logsumexp(-S - log q) - log n and Kish's ESS (free-field samples, an exact proposal, "
        "log weights near +-1000 and beyond where only log-sum-exp works, one dominant weight)",
    ),
    Item(
        "test_reweighting",
        3,
        ("reweighted_observable",),
        "import torch\nresult = [float(v) for v in reweighted_observable(torch.as_tensor(values), "
        "torch.as_tensor(log_q), torch.as_tensor(action))]",
        reweighting_cases,
        "reweighted_observable does not return (sum_i w_i O_i, sqrt(sum_i w_i^2 (O_i - mean)^2)) "
        "with normalized weights (free-field two-point functions, equal weights, a constant "
        "observable, log weights far from 0)",
    ),
]
