"""Tests of course_lib.memorization: the ensemble trainer and the two-model test of
Kadkhodaie et al. (2024)."""

import pytest
import torch

from course_lib import diffusion as df
from course_lib import memorization as mem
from course_lib.data import two_moons

SCHEDULE = df.NoiseSchedule.linear(1000)


def test_ensemble_members_are_the_networks_it_was_built_from():
    """One vectorized call equals calling each member alone, and the summed loss gives each member
    exactly its own gradient (so Adam trains the members independently)."""
    torch.manual_seed(0)
    members = [df.TimeMLP(2, 16, 1) for _ in range(3)]
    ensemble = mem.Ensemble(members)
    g = torch.Generator().manual_seed(1)
    x, time = torch.randn(5, 6, generator=g), torch.rand(5, generator=g)
    alone = torch.cat([m(x[:, 2 * k : 2 * k + 2], time) for k, m in enumerate(members)], 1)
    assert torch.allclose(ensemble(x, time), alone, atol=1e-6)
    ensemble(x, time).pow(2).sum().backward()
    members[1](x[:, 2:4], time).pow(2).sum().backward()
    first = next(iter(ensemble.stacked)).grad[1]
    assert torch.allclose(first, next(members[1].parameters()).grad, atol=1e-6)


def test_half_split_memorizes_small_sets_and_generalizes_on_large_ones():
    """Kadkhodaie et al. (2024): ratio d(x_A, D_A)/d(x_A, D_B) near 0 for N=4, near 1 for N=1024,
    and the two models' samples from the same noise converge to each other
    (lecture 07, section 2)."""
    pool = two_moons(2048, 0.05, generator=10)
    noise = torch.randn(500, 2, generator=torch.Generator().manual_seed(4))
    small, large = mem.half_split_sweep(
        [pool], [4, 1024], SCHEDULE, noise, n_steps=1000, generator=0
    )[0]
    assert small.ratio < 0.4 and large.ratio > 0.85, (small.ratio, large.ratio)
    assert large.a_b_distance < small.a_b_distance / 3
    with pytest.raises(ValueError, match="disjoint"):
        mem.half_split_experiment(pool[:10], 8, SCHEDULE, noise)
