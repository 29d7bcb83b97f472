"""The course's data sets: fixed digits split, binarized digits and prototypes, 2D toy densities."""

import numpy as np
from sklearn.datasets import load_digits

from course_lib import data


def test_digits_split_is_the_documented_fixed_split():
    split = data.load_digits_split()
    assert [len(split.train), len(split.validation), len(split.test)] == [1000, 350, 447]
    full = load_digits()
    joined = np.concatenate([split.train, split.validation, split.test])
    np.testing.assert_array_equal(joined, full.data.astype(np.int64))  # file order, nothing lost
    labels = np.concatenate([split.train_labels, split.validation_labels, split.test_labels])
    np.testing.assert_array_equal(labels, full.target)
    assert split.train.min() == 0 and split.train.max() == 16


def test_binarized_digits_and_prototypes_are_spins_matching_the_majority_vote():
    x, y = data.binarized_digits()
    assert x.shape == (1797, 64) and set(np.unique(x)) == {-1, 1}
    raw = load_digits().data
    np.testing.assert_array_equal(x == 1, raw > 8)
    prototypes = data.digit_prototypes()
    assert prototypes.shape == (10, 64)
    for k in range(10):  # each prototype agrees with most images of its class on every pixel
        agreement = (x[y == k] == prototypes[k]).mean(axis=0)
        assert agreement.min() >= 0.5


def test_two_moons_is_standardized_and_reproducible():
    a, b = data.two_moons(2000, generator=3), data.two_moons(2000, generator=3)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(a.mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(a.std(axis=0), 1, atol=1e-12)


def test_rings_have_the_stated_radii():
    x = data.rings(20000, noise=0.05, generator=1)
    radius = np.linalg.norm(x, axis=1)
    inner, outer = radius[0::2], radius[1::2]
    # radial noise 0.05: the mean radius is within 5 standard errors of 1 and 2
    assert abs(inner.mean() - 1) < 5 * 0.05 / np.sqrt(len(inner))
    assert abs(outer.mean() - 2) < 5 * 0.05 / np.sqrt(len(outer))


def test_checkerboard_lies_on_black_squares_with_equal_mass():
    x = data.checkerboard(40000, generator=2)
    assert np.all(np.abs(x) <= 2)
    cells = np.floor(x).astype(int)
    assert np.all((cells[:, 0] + cells[:, 1]) % 2 == 0), "every point lies on a black square"
    _, counts = np.unique(cells, axis=0, return_counts=True)
    assert len(counts) == 8  # the 8 black squares of the 4 x 4 board
    expected = len(x) / 8  # multinomial counts: standard deviation sqrt(n p (1 - p))
    assert np.all(np.abs(counts - expected) < 5 * np.sqrt(len(x) * (1 / 8) * (7 / 8)))


def test_gaussian_clusters_have_fixed_centres_and_the_stated_spread():
    """Shape and reproducibility; the centres do not depend on the generator (std = 0 returns
    them exactly, at length 0.9 sqrt(dim)), so the cluster means of two draws agree within
    sampling error."""
    x = data.gaussian_clusters(500, generator=4)
    assert x.shape == (500, 16)
    np.testing.assert_array_equal(x, data.gaussian_clusters(500, generator=4))
    assert not np.array_equal(x, data.gaussian_clusters(500, generator=5))
    centres = np.unique(data.gaussian_clusters(2000, std=0.0, generator=1), axis=0)
    other = np.unique(data.gaussian_clusters(2000, std=0.0, generator=2), axis=0)
    np.testing.assert_array_equal(centres, other)
    assert centres.shape == (8, 16)
    np.testing.assert_allclose(np.linalg.norm(centres, axis=1), 0.9 * 4, rtol=1e-12)
    assert data.gaussian_clusters(10, dim=3, clusters=2, generator=0).shape == (10, 3)
    for seed in (1, 2):
        draw = data.gaussian_clusters(8000, std=0.35, generator=seed)
        nearest = np.argmin(((draw[:, None] - centres[None]) ** 2).sum(-1), axis=1)
        for k, centre in enumerate(centres):
            members = draw[nearest == k]
            error = 0.35 / np.sqrt(len(members))  # per coordinate
            assert np.all(np.abs(members.mean(0) - centre) < 5 * error), (seed, k)
            assert abs(members.std(0).mean() - 0.35) < 0.02
