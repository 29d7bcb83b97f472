"""Common-test cases (see test_common.py) for course_lib.ising."""

import numpy as np
import torch

from course_lib import ising, rng

UP = np.ones((4, 4), dtype=np.int8)
LEVELS, PROBABILITIES = ising.exact_energy_distribution(2.5, L=2)


def _sites(seed: int) -> np.ndarray:
    spins = np.ones((3, 4, 4), dtype=np.int8)
    return ising.metropolis_sweep_sites(spins, 5.0, generator=seed)


def _board(seed: int, **options) -> torch.Tensor:
    sim = ising.CheckerboardMetropolis(4, [2.5, 4.0], replicas=3, start="hot", generator=seed,
                                       **options)
    sim.sweep(2)
    return sim.spins()


def _wolff(seed: int) -> tuple:
    spins, generator = np.ones((8, 8), dtype=np.int8), rng.numpy_generator(seed)
    sizes = [ising.wolff_update(spins, 2.3, generator=generator) for _ in range(5)]
    return spins, np.array(sizes)


def _checkerboard_methods() -> tuple:
    """Every method of the sampler that creates tensors, on an explicit CPU device."""
    sim = ising.CheckerboardMetropolis(4, [2.0, 3.0], replicas=2, start="hot", generator=0,
                                       device="cpu")
    sim.sweep(1)
    sim.set_spins(np.ones((4, 4), dtype=np.int8))
    sim.half_sweep(1)
    return sim.spins(), sim.energy(), sim.magnetization()


STOCHASTIC = {
    "ising.metropolis_sweep_sites": _sites,
    "ising.CheckerboardMetropolis": _board,
    "ising.wolff_update": _wolff,
    "ising.simulate": lambda seed: ising.simulate(
        4, [2.0, 3.0], replicas=2, n_equilibrate=2, n_measure=10, generator=seed,
        show_progress=False,
    ),
}

# The sampler is the only part of ising that creates tensors; the rest is numpy.
DEVICE = {
    "ising.CheckerboardMetropolis (device='cpu')": (tuple, _checkerboard_methods),
    "ising.CheckerboardMetropolis (default device)": (tuple, lambda: _board(0)),
    "ising.CheckerboardMetropolis (global stream)": (
        tuple, lambda: _board(None, device="cpu")
    ),
}


def _sim() -> ising.CheckerboardMetropolis:
    return ising.CheckerboardMetropolis(4, [2.0], replicas=2, device="cpu")


BAD_INPUTS = [
    ("ising.onsager_energy T=0", lambda: ising.onsager_energy(0.0), ValueError, "T"),
    ("ising.onsager_energy T='hot'", lambda: ising.onsager_energy("hot"), TypeError, "T"),
    ("ising.onsager_free_energy n_grid=0", lambda: ising.onsager_free_energy(2.0, n_grid=0),
     ValueError, "n_grid"),
    ("ising.yang_magnetization T<0", lambda: ising.yang_magnetization([1.0, -1.0]), ValueError,
     "T"),
    ("ising.chain_free_energy J=nan", lambda: ising.chain_free_energy(1.0, J=np.nan), ValueError,
     "J"),
    ("ising.chain_magnetization h str", lambda: ising.chain_magnetization(1.0, h="0"), TypeError,
     "h"),
    ("ising.chain_correlation r<0", lambda: ising.chain_correlation(-1, 1.0), ValueError, "r"),
    ("ising.chain_correlation n_sites=0", lambda: ising.chain_correlation(1, 1.0, n_sites=0),
     ValueError, "n_sites"),
    ("ising.chain_correlation r > n_sites", lambda: ising.chain_correlation(9, 1.0, n_sites=4),
     ValueError, "n_sites"),
    ("ising.chain_correlation two temperatures",
     lambda: ising.chain_correlation(1, [1.0, 2.0]), ValueError, "T"),
    ("ising.mean_field_free_energy |m|>1", lambda: ising.mean_field_free_energy(1.5, 2.0),
     ValueError, "m"),
    ("ising.mean_field_free_energy T=0", lambda: ising.mean_field_free_energy(0.5, 0.0),
     ValueError, "T"),
    ("ising.mean_field_magnetization z=0", lambda: ising.mean_field_magnetization(2.0, z=0),
     ValueError, "z"),
    ("ising.mean_field_magnetization T=inf", lambda: ising.mean_field_magnetization(np.inf),
     ValueError, "T"),
    ("ising.neighbour_sum zeros", lambda: ising.neighbour_sum(np.zeros((3, 3))), ValueError,
     "spins"),
    ("ising.lattice_energy h=inf", lambda: ising.lattice_energy(UP, h=np.inf), ValueError, "h"),
    ("ising.delta_energy 1D", lambda: ising.delta_energy(np.ones(4)), ValueError, "spins"),
    ("ising.binder_cumulant all zero", lambda: ising.binder_cumulant(np.zeros(5)), ValueError,
     "m"),
    ("ising.binder_cumulant axis=2", lambda: ising.binder_cumulant(np.ones(3), axis=2),
     ValueError, "axis"),
    ("ising.binder_cumulant axis=None", lambda: ising.binder_cumulant(np.ones(3), axis=None),
     TypeError, "axis"),
    ("ising.binder_cumulant nan", lambda: ising.binder_cumulant([0.5, np.nan]), ValueError, "m"),
    ("ising.all_configurations 0", lambda: ising.all_configurations(0), ValueError, "n_spins"),
    ("ising.all_configurations 21", lambda: ising.all_configurations(21), ValueError, "n_spins"),
    ("ising.exact_energy_distribution L=5", lambda: ising.exact_energy_distribution(2.0, L=5),
     ValueError, "L"),
    ("ising.exact_energy_distribution T<0", lambda: ising.exact_energy_distribution(-2.0),
     ValueError, "T"),
    ("ising.energy_chi_square too few energies",
     lambda: ising.energy_chi_square(LEVELS[:1], LEVELS, PROBABILITIES), ValueError, "energies"),
    ("ising.energy_chi_square unknown energy",
     lambda: ising.energy_chi_square([0.5], LEVELS, PROBABILITIES), ValueError, "levels"),
    ("ising.energy_chi_square probabilities",
     lambda: ising.energy_chi_square(LEVELS, LEVELS, PROBABILITIES * 2), ValueError,
     "probabilities"),
    ("ising.energy_chi_square min_expected=0",
     lambda: ising.energy_chi_square(LEVELS, LEVELS, PROBABILITIES, min_expected=0), ValueError,
     "min_expected"),
    ("ising.metropolis_sweep_sites T=0",
     lambda: ising.metropolis_sweep_sites(UP.copy(), 0.0, generator=0), ValueError, "T"),
    ("ising.metropolis_sweep_sites list", lambda: ising.metropolis_sweep_sites([[1]], 2.0),
     TypeError, "spins"),
    ("ising.metropolis_sweep_sites generator",
     lambda: ising.metropolis_sweep_sites(UP.copy(), 2.0, generator=torch.Generator()),
     TypeError, "generator"),
    ("ising.CheckerboardMetropolis L odd", lambda: ising.CheckerboardMetropolis(5, [2.0]),
     ValueError, "L"),
    ("ising.CheckerboardMetropolis replicas=0",
     lambda: ising.CheckerboardMetropolis(4, [2.0], replicas=0), ValueError, "replicas"),
    ("ising.CheckerboardMetropolis temperatures<0",
     lambda: ising.CheckerboardMetropolis(4, [2.0, -1.0]), ValueError, "temperatures"),
    ("ising.CheckerboardMetropolis start", lambda: ising.CheckerboardMetropolis(4, [2.0],
                                                                                start="warm"),
     ValueError, "start"),
    ("ising.CheckerboardMetropolis J=nan", lambda: ising.CheckerboardMetropolis(4, [2.0],
                                                                                J=np.nan),
     ValueError, "J"),
    ("ising.CheckerboardMetropolis generator float",
     lambda: ising.CheckerboardMetropolis(4, [2.0], generator=0.5), TypeError, "generator"),
    ("ising.CheckerboardMetropolis.sweep n_sweeps=0", lambda: _sim().sweep(0), ValueError,
     "n_sweeps"),
    ("ising.CheckerboardMetropolis.half_sweep c=2", lambda: _sim().half_sweep(2), ValueError,
     "c"),
    ("ising.CheckerboardMetropolis.set_spins shape",
     lambda: _sim().set_spins(np.ones((3, 4, 4))), ValueError, "spins"),
    ("ising.CheckerboardMetropolis.set_spins zeros",
     lambda: _sim().set_spins(np.zeros((4, 4))), ValueError, "spins"),
    ("ising.wolff_update J<0",
     lambda: ising.wolff_update(np.ones((4, 4), dtype=np.int8), 2.0, J=-1.0), ValueError, "J"),
    ("ising.wolff_update not square",
     lambda: ising.wolff_update(np.ones((4, 6), dtype=np.int8), 2.0), ValueError, "spins"),
    ("ising.wolff_update T=nan",
     lambda: ising.wolff_update(np.ones((4, 4), dtype=np.int8), np.nan), ValueError, "T"),
    ("ising.simulate replicas=1", lambda: ising.simulate(4, [2.0], replicas=1), ValueError,
     "replicas"),
    ("ising.simulate n_measure=0", lambda: ising.simulate(4, [2.0], n_measure=0), ValueError,
     "n_measure"),
    ("ising.simulate n_equilibrate<0", lambda: ising.simulate(4, [2.0], n_equilibrate=-1),
     ValueError, "n_equilibrate"),
    ("ising.binder_crossing no crossing",
     lambda: ising.binder_crossing([1, 2, 3], [0.1, 0.2, 0.3], [0.2, 0.3, 0.4]), ValueError,
     "u_small"),
    ("ising.binder_crossing shapes",
     lambda: ising.binder_crossing([1, 2, 3], [0.1, 0.2], [0.2, 0.3, 0.4]), ValueError,
     "u_small"),
]
