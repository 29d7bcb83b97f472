"""Graded items of lab 01 (Ising model). Read by the grader only (see course_grader/items.py)."""

import numpy as np

from course_grader.items import Case, Item
from course_lib import ising

HIDE = {
    "ising": ["delta_energy", "neighbour_sum", "CheckerboardMetropolis", "simulate", "wolff_update"]
}


def _close(expected, rtol=1e-7, atol=1e-9, key="result"):
    expected = np.asarray(expected, dtype=float)
    return lambda out: (
        out[key].shape == expected.shape
        and np.allclose(out[key].astype(float), expected, rtol=rtol, atol=atol)
    )


def delta_energy_cases(rng):
    cases = [
        Case(
            {"spins": np.ones((4, 4), dtype=np.int64), "J": np.float64(1.0)},
            _close(np.full((4, 4), 8.0)),
        )
    ]
    for _ in range(4):
        shape = tuple(int(n) for n in rng.integers(3, 9, size=2))
        J = float(rng.choice([-1, 1]) * rng.uniform(0.3, 2.0))
        spins = rng.choice([-1, 1], size=shape).astype(np.int64)
        cases.append(
            Case({"spins": spins, "J": np.float64(J)}, _close(ising.delta_energy(spins, J=J)))
        )
    return cases


def _boltzmann_averages(beta):
    states = ising.all_configurations(16).reshape(-1, 4, 4)
    energies = ising.lattice_energy(states)
    weights = np.exp(-beta * 16 * (energies - energies.min()))
    weights /= weights.sum()
    return weights @ energies, weights @ np.abs(states.mean(axis=(1, 2)))


def sweep_cases(rng):
    start = rng.choice([-1, 1], size=(8, 8)).astype(np.int64)
    flip = Case(
        {"spins": start, "seed": rng.integers(2**31)},
        lambda out: np.array_equal(out["after"], -start) and bool(out["unchanged"]),
        call="before = spins.copy()\n"
        "after = checkerboard_sweep(spins, 0.0, np.random.default_rng(int(seed)))\n"
        "result = {'after': after, 'unchanged': np.array_equal(spins, before)}",
    )
    ground = np.ones((8, 8), dtype=np.int64)
    cold = Case(
        {"spins": ground, "seed": rng.integers(2**31)},
        lambda out: np.array_equal(out["result"], ground),
        call="result = checkerboard_sweep(spins, 50.0, np.random.default_rng(int(seed)))",
    )
    neel = (2 * (np.indices((6, 6)).sum(axis=0) % 2) - 1).astype(np.int64)
    anti = Case(
        {"spins": neel, "seed": rng.integers(2**31)},
        lambda out: np.array_equal(out["result"], neel),
        call="result = checkerboard_sweep(spins, 50.0, np.random.default_rng(int(seed)), J=-1.0)",
    )
    beta = float(rng.uniform(0.3, 0.5))
    exact_e, exact_m = _boltzmann_averages(beta)

    def long_run(out):
        states = out["result"].astype(float)
        if states.shape != (20000, 4, 4) or not np.all(np.abs(states) == 1):
            return False
        e = ising.lattice_energy(states).mean()
        m = np.abs(states.mean(axis=(1, 2))).mean()
        return abs(e - exact_e) < 0.03 and abs(m - exact_m) < 0.03

    chain = Case(
        {"beta": np.float64(beta), "seed": rng.integers(2**31)},
        long_run,
        call="chain = np.random.default_rng(int(seed))\ns = np.ones((4, 4), dtype=int)\n"
        "out = np.empty((20000, 4, 4), dtype=np.int8)\n"
        "for t in range(20000):\n    s = checkerboard_sweep(s, float(beta), chain)\n"
        "    out[t] = s\nresult = out",
    )
    return [flip, cold, anti, chain]


def magnetization_cases(rng):
    # A 4 x 4 lattice at a temperature drawn above or near T_c, against exact enumeration: an
    # estimate must be measured, since Yang's infinite-lattice formula is far from the finite
    # lattice's value there.
    T4 = float(rng.uniform(2.4, 3.5))
    exact4 = float(_boltzmann_averages(1.0 / T4)[1])
    cases = [
        Case(
            {"T": np.float64(T4), "seed": rng.integers(2**31)},
            lambda out: (
                out["result"].size == 1 and abs(float(out["result"].ravel()[0]) - exact4) < 0.03
            ),
            call="result = mean_abs_magnetization(float(T), 4, 100, 20000, "
            "np.random.default_rng(int(seed)))",
        )
    ]
    for T, tol in ((float(rng.uniform(1.5, 1.7)), 0.02), (float(rng.uniform(1.8, 2.0)), 0.02)):
        exact = float(ising.yang_magnetization(T))
        cases.append(
            Case(
                {"T": np.float64(T), "seed": rng.integers(2**31)},
                lambda out, exact=exact, tol=tol: (
                    out["result"].size == 1
                    and abs(float(out["result"].ravel()[0]) - exact) < tol * exact
                ),
            )
        )
    return cases


ITEMS = [
    Item(
        "test_delta_energy",
        3,
        ("delta_energy",),
        "result = delta_energy(spins, J=float(J))",
        delta_energy_cases,
        "delta_energy does not give 2 J s_i (sum of the four neighbours) on lattices of other "
        "shapes and couplings J",
    ),
    Item(
        "test_checkerboard_sweep",
        4,
        ("checkerboard_sweep",),
        "",
        sweep_cases,
        "checkerboard_sweep does not sample the Boltzmann distribution: check the flips at "
        "beta = 0, the ground states (J > 0 and J < 0), and long-run averages on a 4 x 4 lattice",
    ),
    Item(
        "test_mean_abs_magnetization",
        3,
        ("mean_abs_magnetization",),
        "result = mean_abs_magnetization(float(T), 16, 300, 2000, "
        "np.random.default_rng(int(seed)))",
        magnetization_cases,
        "mean_abs_magnetization does not match Yang's exact <|m|> below T_c within 2 %",
    ),
]
