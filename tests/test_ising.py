"""course_lib.ising against exact results: Onsager, Yang, Binder crossing, enumeration,
the 1D chain's transfer matrix and mean-field theory."""

import itertools

import numpy as np
import pytest
import torch

from course_lib import ising

# Published/closed-form values (Onsager 1944, Yang 1952) at T = 1.5, 2.0, 2.5, 3.0.
TABLE_T = np.array([1.5, 2.0, 2.5, 3.0])
TABLE_U = np.array([-1.951117, -1.745565, -1.106079, -0.817310])
TABLE_M = np.array([0.986500, 0.911319, 0.0, 0.0])
TABLE_F = np.array([-2.008443, -2.051586, -2.198410, -2.447648])


# ----------------------------------------------------------------------------- exact formulas
def test_critical_temperature():
    # Onsager's value, published digits
    assert ising.T_C == pytest.approx(2.269185314213022, abs=1e-12)
    assert np.sinh(2 / ising.T_C) == pytest.approx(1.0)  # Kramers-Wannier self-duality


def test_exact_formulas_reproduce_published_table():
    np.testing.assert_allclose(ising.onsager_energy(TABLE_T), TABLE_U, atol=2e-6)
    np.testing.assert_allclose(ising.yang_magnetization(TABLE_T), TABLE_M, atol=2e-6)
    np.testing.assert_allclose(ising.onsager_free_energy(TABLE_T), TABLE_F, atol=2e-6)


def test_energy_at_critical_point_is_minus_sqrt2():
    assert ising.onsager_energy(ising.T_C) == pytest.approx(-np.sqrt(2), abs=1e-12)
    assert ising.onsager_energy(ising.T_C * (1 + 1e-9)) == pytest.approx(-np.sqrt(2), abs=1e-6)


@pytest.mark.parametrize("T", [1.2, 1.8, 2.6, 3.5])
def test_energy_is_derivative_of_free_energy(T):
    """Thermodynamic consistency: u = d(beta f)/d beta, independently of the two closed forms."""
    b, h = 1 / T, 1e-4
    beta_f = lambda beta: beta * ising.onsager_free_energy(1 / beta)  # noqa: E731
    numerical_u = (beta_f(b + h) - beta_f(b - h)) / (2 * h)
    assert numerical_u == pytest.approx(float(ising.onsager_energy(T)), abs=1e-6)


def test_yang_magnetization_limits():
    assert ising.yang_magnetization(0.5) == pytest.approx(1.0, abs=1e-6)
    assert float(ising.yang_magnetization(ising.T_C + 1e-6)) == 0.0
    assert float(ising.yang_magnetization(ising.T_C - 1e-3)) > 0.3  # vanishes with exponent 1/8


def test_invalid_temperatures_are_rejected():
    for bad in (0.0, -1.0, np.nan, np.inf):
        with pytest.raises(ValueError, match="temperature"):
            ising.onsager_energy(bad)


# ----------------------------------------------------------------------------- lattice helpers
def test_delta_energy_equals_energy_difference():
    rng = np.random.default_rng(0)
    spins = rng.choice([-1, 1], size=(6, 8))
    dE = ising.delta_energy(spins, J=0.7, h=0.3)
    for i, j in [(0, 0), (2, 5), (5, 7)]:
        flipped = spins.copy()
        flipped[i, j] *= -1
        n = spins.size
        diff = n * (
            ising.lattice_energy(flipped, J=0.7, h=0.3) - ising.lattice_energy(spins, J=0.7, h=0.3)
        )
        assert dE[i, j] == pytest.approx(diff)


def test_lattice_helpers_reject_bad_input():
    with pytest.raises(ValueError, match=r"\+1 and -1"):
        ising.lattice_energy(np.zeros((4, 4)))
    with pytest.raises(ValueError, match="shape"):
        ising.delta_energy(np.ones(4))
    with pytest.raises(ValueError, match="even"):
        ising.CheckerboardMetropolis(L=5, temperatures=[2.0])
    with pytest.raises(ValueError, match="start"):
        ising.CheckerboardMetropolis(L=4, temperatures=[2.0], start="warm")
    with pytest.raises(TypeError):  # the generator is keyword-only: a positional one would be J
        ising.wolff_update(np.ones((4, 4), dtype=np.int8), 2.0, np.random.default_rng(0))
    with pytest.raises(TypeError, match="spins"):  # updated in place: a list would be lost
        ising.metropolis_sweep_sites([[1, 1], [1, 1]], 2.0, generator=0)


def test_binder_cumulant_limits():
    rng = np.random.default_rng(1)
    assert ising.binder_cumulant(np.array([0.9, -0.9, 0.9])) == pytest.approx(2 / 3)
    assert abs(ising.binder_cumulant(rng.normal(size=200_000))) < 0.01


# ----------------------------------------------------------------------------- Metropolis sampler
def test_sampler_layout_round_trip_and_observables():
    sim = ising.CheckerboardMetropolis(8, [1.5, 2.5], replicas=3, start="hot", generator=3)
    spins = sim.spins().numpy()
    np.testing.assert_allclose(sim.energy(), ising.lattice_energy(spins))
    np.testing.assert_allclose(sim.magnetization(), spins.mean(axis=(-2, -1)))
    other = ising.CheckerboardMetropolis(8, [1.5, 2.5], replicas=3, generator=4)
    other.set_spins(spins)
    assert np.array_equal(other.spins().numpy(), spins)


def test_an_integer_seed_is_a_generator_on_the_samplers_device():
    runs = []
    for generator in (7, torch.Generator().manual_seed(7), 8):
        sim = ising.CheckerboardMetropolis(
            16, [2.2], replicas=2, start="hot", generator=generator, device="cpu"
        )
        sim.sweep(20)
        runs.append(sim.spins().numpy())
    assert np.array_equal(runs[0], runs[1]) and not np.array_equal(runs[0], runs[2])


def _index(spins: np.ndarray) -> np.ndarray:
    """Row of ising.all_configurations for each flattened configuration."""
    bits = (spins.reshape(len(spins), -1) + 1) // 2
    return bits @ (2 ** np.arange(bits.shape[1] - 1, -1, -1))


def _exact_half_sweep_matrix(states: np.ndarray, beta: float, colour: int) -> np.ndarray:
    """Transition matrix of one Metropolis half-sweep, by enumerating which sites flip."""
    n_states, L = len(states), states.shape[-1]
    sites = [(i, j) for i in range(L) for j in range(L) if (i + j) % 2 == colour]
    P = np.zeros((n_states, n_states))
    for a, s in enumerate(states):
        accept = np.minimum(1.0, np.exp(-beta * ising.delta_energy(s)))
        for flips in itertools.product([0, 1], repeat=len(sites)):
            t, p = s.copy(), 1.0
            for flip, site in zip(flips, sites, strict=True):
                p *= accept[site] if flip else 1 - accept[site]
                t[site] *= -1 if flip else 1
            P[a, _index(t[None])[0]] += p
    return P


def test_one_sweep_detailed_balance_on_2x2_lattice():
    """From each of the 16 states of a 2x2 lattice, many replicas take one half-sweep; the
    observed transition frequencies match the enumerated kernel, which satisfies detailed
    balance with respect to the exact Boltzmann distribution."""
    beta, replicas = 0.4, 4000
    states = ising.all_configurations(4).reshape(16, 2, 2)
    boltzmann = np.exp(-beta * 4 * ising.lattice_energy(states))
    boltzmann /= boltzmann.sum()
    exact = {}
    for colour in (0, 1):
        P = _exact_half_sweep_matrix(states, beta, colour)
        flow = boltzmann[:, None] * P
        np.testing.assert_allclose(flow, flow.T, atol=1e-15)  # detailed balance of the kernel
        exact[colour] = P
    start = np.repeat(states, replicas, axis=0)[None]  # (1 temperature, 16 * replicas, 2, 2)
    for colour in (0, 1):
        sim = ising.CheckerboardMetropolis(2, [1 / beta], replicas=16 * replicas, generator=colour)
        sim.set_spins(start)
        sim.half_sweep(colour)
        end = _index(sim.spins().numpy()[0])
        observed = np.zeros((16, 16))
        np.add.at(observed, (np.repeat(np.arange(16), replicas), end), 1.0 / replicas)
        sigma = np.sqrt(exact[colour] * (1 - exact[colour]) / replicas) + 1e-12
        assert np.all(np.abs(observed - exact[colour]) < 5 * sigma + 1e-9)
        flow = boltzmann[:, None] * observed
        np.testing.assert_allclose(
            flow, flow.T, atol=5 * np.sqrt(boltzmann.max() / replicas) * boltzmann.max()
        )
    # A full sweep (both colours) keeps the Boltzmann distribution stationary (global balance) ...
    full = exact[0] @ exact[1]
    np.testing.assert_allclose(boltzmann @ full, boltzmann, atol=1e-14)
    # ... but is not reversible: its probability flow is not symmetric.
    flow = boltzmann[:, None] * full
    assert np.abs(flow - flow.T).max() > 1e-3


def test_stripe_states_are_unreachable_on_2x2_lattice():
    """On the 2x2 torus both sites of a colour share their two neighbours, so a mixed colour
    forces the other to flip (dE = 0): the four stripe states form a closed class that the
    sampler never enters from all up. Reachability from the enumerated full-sweep kernel."""
    states = ising.all_configurations(4).reshape(16, 2, 2)
    full = _exact_half_sweep_matrix(states, 0.5, 0) @ _exact_half_sweep_matrix(states, 0.5, 1)
    reach = np.linalg.matrix_power((full > 0).astype(int) + np.eye(16, dtype=int), 16)
    start = int(_index(np.ones((1, 2, 2), dtype=int))[0])
    unreachable = states[reach[start] == 0]
    assert len(unreachable) == 4
    for s in unreachable:  # one row (or one column) up, the other down
        assert s.sum() == 0 and (np.all(s[0] == s[0, 0]) or np.all(s[:, 0] == s[0, 0]))
    stripes = reach[start] == 0
    assert np.all(full[np.ix_(stripes, ~stripes)] == 0)  # the class cannot be left either


def test_sampler_matches_enumeration_on_4x4_lattice():
    states = ising.all_configurations(16).reshape(-1, 4, 4)
    energies, abs_m = ising.lattice_energy(states), np.abs(states.mean(axis=(1, 2)))
    T = np.array([1.8, 2.5, 4.0])
    weights = np.exp(-16 * (energies[None] - energies.min()) / T[:, None])
    weights /= weights.sum(axis=1, keepdims=True)
    sim = ising.CheckerboardMetropolis(4, T, replicas=512, start="hot", generator=2)
    sim.sweep(200)
    e, m = [], []
    for _ in range(400):
        sim.sweep()
        e.append(sim.energy())
        m.append(np.abs(sim.magnetization()))
    np.testing.assert_allclose(np.mean(e, axis=(0, 2)), weights @ energies, atol=0.01)
    np.testing.assert_allclose(np.mean(m, axis=(0, 2)), weights @ abs_m, atol=0.01)


# The table's temperatures, a 0.1 grid around T_c (peaks) and two hot points (chi' above T_c).
GRID_T = np.array([1.5, 2.0, 2.2, 2.3, 2.4, 2.5, 2.8, 3.0])
IN_TABLE = np.isin(GRID_T, TABLE_T)


def test_exact_energy_distribution_matches_enumeration():
    states = ising.all_configurations(16).reshape(-1, 4, 4)
    energies = ising.lattice_energy(states)
    for T in (1.8, 3.0):
        w = np.exp(-16 * (energies - energies.min()) / T)
        levels, p = ising.exact_energy_distribution(T)
        assert p.sum() == pytest.approx(1.0) and np.all(np.diff(levels) > 0)
        assert p @ levels == pytest.approx(w @ energies / w.sum(), rel=1e-12)
    levels, _ = ising.exact_energy_distribution(2.0, L=2)
    np.testing.assert_allclose(levels, [-2, 0, 2])  # 2x2 torus: each bond counted twice
    with pytest.raises(ValueError, match="enumeration"):
        ising.exact_energy_distribution(2.0, L=6)


def test_chi_square_pools_rare_levels_and_rejects_unknown_energies():
    levels, p = np.array([-1.0, 0.0, 1.0, 2.0]), np.array([0.5, 0.4999, 1e-4, 0.0])
    samples = np.repeat([-1.0, 0.0], 500)
    chi2, dof, p_value = ising.energy_chi_square(samples, levels, p)
    assert dof == 1 and p_value > 0.9
    with pytest.raises(ValueError, match="levels"):
        ising.energy_chi_square([0.5], levels, p)


@pytest.mark.parametrize("T", [1.8, 2.5])
def test_both_samplers_give_the_exact_energy_distribution_on_4x4(T):
    """4000 independent replicas, 100 sweeps from all up, one energy each: Pearson's chi-square
    against enumeration accepts both samplers (p > 1e-3) and rejects the law at T + 0.1."""
    n, sweeps = 4000, 100
    rng = np.random.default_rng(0)
    plain = np.ones((n, 4, 4), dtype=np.int8)
    for _ in range(sweeps):
        ising.metropolis_sweep_sites(plain, T, generator=rng)
    board = ising.CheckerboardMetropolis(4, [T], replicas=n, generator=1)
    board.sweep(sweeps)
    exact = ising.exact_energy_distribution(T)
    for energies in (ising.lattice_energy(plain), board.energy()[0]):
        assert ising.energy_chi_square(energies, *exact)[2] > 1e-3
        assert (
            ising.energy_chi_square(energies, *ising.exact_energy_distribution(T + 0.1))[2] < 1e-3
        )


def test_plain_sweep_flips_by_the_metropolis_rule():
    """One site-by-site sweep from all up at T: the first site flips with exp(-8/T)."""
    T, n = 2.0, 200_000
    spins = np.ones((n, 4, 4), dtype=np.int8)
    ising.metropolis_sweep_sites(spins, T, generator=np.random.default_rng(3))
    rate, p = (spins[:, 0, 0] == -1).mean(), np.exp(-8 / T)
    assert abs(rate - p) < 5 * np.sqrt(p * (1 - p) / n)


@pytest.fixture(scope="module")
def grid():
    return ising.simulate(
        32, GRID_T, replicas=16, n_equilibrate=500, n_measure=2000, generator=0, show_progress=False
    )


@pytest.fixture(scope="module")
def thermodynamics(grid):
    """The grid's observables at the table's temperatures only."""
    fields = {k: v[IN_TABLE] if isinstance(v, np.ndarray) else v for k, v in vars(grid).items()}
    return ising.Observables(**fields)


def test_energy_matches_onsager(thermodynamics):
    """L = 32 is within 0.15% of the infinite lattice at these temperatures (|T - T_c| >= 0.23),
    below the statistical error: 4 standard errors."""
    exact = ising.onsager_energy(TABLE_T)
    np.testing.assert_allclose(thermodynamics.energy, exact, rtol=0.005)
    assert np.all(np.abs(thermodynamics.energy - exact) < 4 * thermodynamics.energy_err)


def test_magnetization_matches_yang_below_tc(thermodynamics):
    below = TABLE_T < ising.T_C
    exact = ising.yang_magnetization(TABLE_T[below])
    error = np.abs(thermodynamics.abs_magnetization[below] - exact)
    assert np.all(error < 4 * thermodynamics.abs_magnetization_err[below])
    # finite-size remnant ~ 1/L, not 0
    assert np.all(thermodynamics.abs_magnetization[~below] < 0.3)


def test_response_functions_are_positive(thermodynamics):
    assert np.all(thermodynamics.specific_heat > 0) and np.all(thermodynamics.susceptibility > 0)
    assert np.all(thermodynamics.binder[TABLE_T < ising.T_C] > 0.66)


def test_specific_heat_peaks_at_grid_point_nearest_tc(grid):
    """On a 0.1 grid the O(1/L) finite-size shift of L = 32 is unresolved: C peaks at 2.3,
    above both neighbours by more than 3 standard errors; chi' peaks above T_c (2.3 or 2.4)."""
    k = int(np.argmin(np.abs(GRID_T - ising.T_C)))
    assert GRID_T[k] == 2.3 and np.argmax(grid.specific_heat) == k
    for s in (-1, 1):
        margin = grid.specific_heat[k] - grid.specific_heat[k + s]
        assert margin > 3 * np.hypot(grid.specific_heat_err[k], grid.specific_heat_err[k + s])
    assert GRID_T[np.argmax(grid.susceptibility)] in (2.3, 2.4)


def test_finite_size_susceptibility_above_tc_is_gaussian_fraction(grid):
    """Above T_c, m is Gaussian with mean 0, so <|m|>^2 = (2/pi) <m^2> and
    chi' = (1 - 2/pi) N <m^2> / T (not N <m^2> / T)."""
    hot = GRID_T >= 2.8
    ratio = grid.susceptibility[hot] / (32**2 * grid.square_magnetization[hot] / GRID_T[hot])
    np.testing.assert_allclose(ratio, 1 - 2 / np.pi, atol=0.012)
    cold = GRID_T <= 2.0  # below T_c chi' is a small fraction: <|m|>^2 is almost <m^2>
    assert np.all(
        grid.susceptibility[cold] < 0.01 * 32**2 * grid.square_magnetization[cold] / GRID_T[cold]
    )


def test_binder_crossings_locate_tc():
    T = np.linspace(2.15, 2.40, 11)
    curves = {
        L: ising.simulate(
            L, T, replicas=32, n_equilibrate=500, n_measure=2000, generator=L, show_progress=False
        ).binder
        for L in (8, 16, 32)
    }
    for small, large in [(8, 16), (16, 32)]:
        T_cross, U_cross = ising.binder_crossing(T, curves[small], curves[large])
        assert T_cross == pytest.approx(ising.T_C, rel=0.01)
        assert U_cross == pytest.approx(ising.BINDER_CROSSING, abs=0.02)


def test_binder_crossing_needs_a_crossing():
    with pytest.raises(ValueError, match="do not cross"):
        ising.binder_crossing([1, 2, 3], [0.1, 0.2, 0.3], [0.2, 0.3, 0.4])


# ----------------------------------------------------------------------------- Wolff
def test_wolff_matches_enumeration_on_4x4_lattice():
    states = ising.all_configurations(16).reshape(-1, 4, 4)
    energies = ising.lattice_energy(states)
    T = 2.2
    w = np.exp(-16 * (energies - energies.min()) / T)
    w /= w.sum()
    rng = np.random.default_rng(0)
    spins = np.ones((4, 4), dtype=np.int8)
    samples = []
    for _ in range(20000):
        ising.wolff_update(spins, T, generator=rng)
        samples.append(ising.lattice_energy(spins))
    assert np.mean(samples) == pytest.approx(w @ energies, abs=0.02)


def test_wolff_magnetization_and_cluster_sizes():
    rng = np.random.default_rng(1)
    spins = np.ones((16, 16), dtype=np.int8)
    sizes, m = [], []
    for _ in range(3000):
        sizes.append(ising.wolff_update(spins, 2.0, generator=rng))
        m.append(abs(spins.mean()))
    assert 1 <= min(sizes) and max(sizes) <= 256
    assert np.mean(m[300:]) == pytest.approx(float(ising.yang_magnetization(2.0)), rel=0.01)
    with pytest.raises(ValueError, match="square lattice"):
        ising.wolff_update(np.ones((4, 6)), 2.0, generator=rng)


def test_wolff_cures_critical_slowing_down():
    from course_lib.stats import integrated_autocorrelation_time

    sim = ising.CheckerboardMetropolis(32, [ising.T_C], replicas=32, generator=0)
    sim.sweep(500)
    metropolis = []
    for _ in range(2000):
        sim.sweep()
        metropolis.append(np.abs(sim.magnetization()[0]))
    tau_metropolis = integrated_autocorrelation_time(np.array(metropolis).T)
    rng = np.random.default_rng(0)
    spins = np.ones((32, 32), dtype=np.int8)
    sizes, wolff = [], []
    for _ in range(3000):
        sizes.append(ising.wolff_update(spins, ising.T_C, generator=rng))
        wolff.append(abs(spins.mean()))
    tau_wolff_sweeps = (
        integrated_autocorrelation_time(np.array(wolff[200:])) * np.mean(sizes) / 1024
    )
    assert tau_metropolis > 10 * tau_wolff_sweeps


# ----------------------------------------------------------------------------- 1D chain
def _ring_brute_force(n: int, T: float, J: float, h: float):
    s = ising.all_configurations(n).astype(float)
    E = -J * (s * np.roll(s, 1, axis=1)).sum(1) - h * s.sum(1)
    w = np.exp(-E / T)
    return s, w / w.sum(), np.log(w.sum())


def _aitken(a: np.ndarray) -> float:
    """Aitken's delta-squared limit of the last three terms of a geometrically converging
    sequence."""
    a0, a1, a2 = a[-3:]
    return a2 - (a2 - a1) ** 2 / ((a2 - a1) - (a1 - a0))


@pytest.mark.parametrize("T,h", [(2.0, 0.0), (1.5, 0.3), (3.0, -0.5), (0.8, 0.4), (1.2, 0.5)])
def test_chain_free_energy_and_magnetization_are_limits_of_enumerated_rings(T, h):
    """Independent of the transfer matrix: ln Z_{N+1} - ln Z_N and <s_0> of periodic rings of
    N = 10..16 spins, summed over all 2^N states, converge geometrically in N; their Aitken limit
    is -f/T and m of the infinite chain (where the correlation length is short enough for 16
    spins to pin it down to 1e-7)."""
    J, sizes = 1.0, range(10, 17)
    log_z, m = [], []
    for n in sizes:
        s, p, lz = _ring_brute_force(n, T, J, h)
        log_z.append(lz)
        m.append(p @ s[:, 0])
    per_site = -T * _aitken(np.diff(log_z))
    assert per_site == pytest.approx(float(ising.chain_free_energy(T, J, h)), abs=1e-7)
    assert _aitken(np.array(m)) == pytest.approx(
        float(ising.chain_magnetization(T, J, h)), abs=1e-7
    )


def test_ring_correlations_match_enumeration():
    n, T, J = 12, 0.7, 1.0
    s, p, _ = _ring_brute_force(n, T, J, 0.0)
    for r in range(0, n + 1):
        exact = p @ (s[:, 0] * s[:, r % n])
        assert exact == pytest.approx(float(ising.chain_correlation(r, T, J, n_sites=n)), rel=1e-10)


def test_chain_limits_and_no_transition():
    T = np.array([0.5, 1.0, 2.0])
    # textbook closed form at h = 0 (Z of an open chain is 2 (2 cosh(J/T))^(N-1))
    np.testing.assert_allclose(ising.chain_free_energy(T), -T * np.log(2 * np.cosh(1 / T)))
    np.testing.assert_allclose(ising.chain_magnetization(T, h=0.0), 0.0)
    dh = 1e-6  # m = -df/dh
    np.testing.assert_allclose(
        ising.chain_magnetization(T, h=0.2),
        -(ising.chain_free_energy(T, h=0.2 + dh) - ising.chain_free_energy(T, h=0.2 - dh))
        / (2 * dh),
        rtol=1e-6,
    )
    # The infinite chain's <s_0 s_r> equals that of an open chain of any length at h = 0: the
    # bonds s_i s_(i+1) of an open chain are independent. Enumerate an open chain of 10 spins.
    s = ising.all_configurations(10).astype(float)
    w = np.exp((s[:, 1:] * s[:, :-1]).sum(1) / 1.3)
    p = w / w.sum()
    for r in range(1, 8):
        assert p @ (s[:, 2] * s[:, 2 + r]) == pytest.approx(
            float(ising.chain_correlation(r, 1.3)), rel=1e-12
        )


# ----------------------------------------------------------------------------- mean field
def test_mean_field_solution_is_the_minimum_of_the_variational_free_energy():
    m_grid = np.linspace(-0.999999, 0.999999, 200_001)
    for T in (1.0, 2.0, 3.0, 3.9, 4.5):
        m_star = float(ising.mean_field_magnetization(T))
        assert m_star == pytest.approx(np.tanh(4 * m_star / T), abs=1e-9)  # self-consistency
        best = m_grid[np.argmin(ising.mean_field_free_energy(m_grid, T))]
        assert abs(m_star) == pytest.approx(abs(best), abs=1e-4)
    # T_c^MF = zJ = 4
    assert float(ising.mean_field_magnetization(4.5)) == pytest.approx(0.0, abs=1e-9)


@pytest.mark.parametrize("h", [0.0, 0.3, -0.2])
def test_mean_field_magnetization_against_an_independent_root_finder(h):
    """The stable Curie-Weiss solution with the sign of h, solved by scipy's brentq on
    m = tanh((4m + h)/T) between the unstable and trivial roots and 1."""
    from scipy.optimize import brentq

    T = np.array([0.5, 1.0, 2.0, 3.0, 3.9, 4.5, 6.0])
    sign = -1.0 if h < 0 else 1.0
    expected = []
    for t in T:
        g = lambda m, t=t: np.tanh((4 * m + abs(h)) / t) - m  # noqa: E731
        low = 1e-3 if h == 0 else 0.0  # at h = 0 skip the unstable root m = 0
        expected.append(sign * (brentq(g, low, 1.0, xtol=1e-15) if g(low) > 0 else 0.0))
    np.testing.assert_allclose(ising.mean_field_magnetization(T, h=h), expected, atol=1e-12)


def test_gibbs_bogoliubov_bound():
    """The mean-field free energy bounds the exact (Onsager) one from above at every T."""
    T = np.linspace(0.8, 6.0, 40)
    f_mf = np.array([ising.mean_field_free_energy(ising.mean_field_magnetization(t), t) for t in T])
    assert np.all(f_mf >= ising.onsager_free_energy(T))


def test_mean_field_gap_is_largest_where_the_entropies_cross():
    """d(f_MF - f)/dT = s - s_MF: the gap peaks at T = 3.77, next to T_c^MF = 4 (not at 2.269),
    and above T = 4 it is at least the bond term 2 T ln cosh(1/T), within a relative t^2."""
    from scipy.optimize import brentq

    T = np.linspace(0.8, 6.0, 521)
    f_mf = np.array([ising.mean_field_free_energy(ising.mean_field_magnetization(t), t) for t in T])
    gap = f_mf - ising.onsager_free_energy(T)

    def entropy_difference(t):
        m = float(ising.mean_field_magnetization(t))
        s_mf = -sum(x * np.log(x) for x in ((1 + m) / 2, (1 - m) / 2) if x > 0)
        s = float((ising.onsager_energy(t) - ising.onsager_free_energy(t)) / t)
        return s_mf - s

    T_cross = brentq(entropy_difference, 3.0, 3.999)
    assert T[np.argmax(gap)] == pytest.approx(T_cross, abs=0.01)
    assert 3.7 < T_cross < 3.85 and gap[np.argmin(np.abs(T - ising.T_C))] < gap.max() / 5
    hot = T >= 4.2
    excess = gap[hot] / (2 * T[hot] * np.log(np.cosh(1 / T[hot]))) - 1
    assert np.all(excess > 0) and np.all(excess < 2 * np.tanh(1 / T[hot]) ** 2)


def test_symmetric_trial_state_is_a_bound_that_never_orders():
    """The m = 0 product state (uniform distribution) gives f_q = -T ln 2 >= f at every T, yet
    it has no transition: the Gibbs-Bogoliubov bound constrains f, not T_c."""
    T = np.linspace(0.5, 6.0, 56)
    f = ising.onsager_free_energy(T)
    assert np.all(-T * np.log(2) >= f)
    np.testing.assert_allclose(ising.mean_field_free_energy(0.0, 3.0), -3.0 * np.log(2))
    f_best = np.array(
        [ising.mean_field_free_energy(ising.mean_field_magnetization(t), t) for t in T]
    )
    assert np.all(f_best <= -T * np.log(2) + 1e-12) and np.all(
        f_best[T < 3.9] < -T[T < 3.9] * np.log(2)
    )


def test_chain_zero_field_susceptibility_is_finite():
    """chi = dm/dh at h = 0 equals beta e^(2 beta J) = beta sum_r t^r: finite at every T > 0."""
    T = np.array([0.5, 1.0, 1.3, 3.0])
    dh = 1e-6
    slope = (ising.chain_magnetization(T, h=dh) - ising.chain_magnetization(T, h=-dh)) / (2 * dh)
    np.testing.assert_allclose(slope, np.exp(2 / T) / T, rtol=1e-6)
    n, T_ring = 12, 1.3
    s, p, _ = _ring_brute_force(n, T_ring, 1.0, 0.0)
    ring_sum = ising.chain_correlation(np.arange(n), T_ring, n_sites=n).sum() / T_ring
    assert (p @ s.sum(axis=1) ** 2) / n / T_ring == pytest.approx(ring_sum, rel=1e-10)


def test_sampler_runs_on_requested_device_and_checks_its_generator():
    sim = ising.CheckerboardMetropolis(
        4, [2.0], device="cpu", start="hot", generator=torch.Generator()
    )
    assert sim.spins().device == torch.device("cpu") and sim.generator.device == torch.device("cpu")
    with pytest.raises(ValueError, match="generator"):
        ising.CheckerboardMetropolis(4, [2.0], device="meta", generator=torch.Generator())
