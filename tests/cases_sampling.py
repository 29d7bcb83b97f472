"""Common-test cases (see test_common.py) for course_lib.sampling."""

import numpy as np
import torch

from course_lib import sampling as sm
from course_lib.data import two_moons

X0 = torch.tensor([[0.5, -0.2], [1.0, 0.3], [-1.5, 1.0], [0.0, 0.0]], dtype=torch.float64)
BANANA = sm.Banana()
MIXTURE = sm.GaussianMixture([0.5, 0.5], [[-2.0, 0.0], [2.0, 0.0]], [0.5, 0.5])
GAUSSIAN = sm.Gaussian([1.0, 0.0], [[2.0, 0.3], [0.3, 1.0]])
LADDER = [1.0, 2.0, 4.0]


def _moons() -> tuple:
    return (torch.tensor(two_moons(64, 0.05, generator=0)),)


def _float64_model() -> tuple:
    return (sm.EnergyMLP(dim=2, hidden=8).double(), X0.clone())


STOCHASTIC = {
    "sampling.Gaussian.sample": lambda seed: GAUSSIAN.sample(5, seed),
    "sampling.GaussianMixture.sample": lambda seed: MIXTURE.sample(20, seed),
    "sampling.Banana.sample": lambda seed: BANANA.sample(5, generator=seed),
    "sampling.random_walk_metropolis": lambda seed: sm.random_walk_metropolis(
        BANANA.log_prob, X0, step=0.5, n_steps=3, generator=seed
    ),
    "sampling.ula": lambda seed: sm.ula(BANANA.log_prob, X0, step=0.1, n_steps=3, generator=seed),
    "sampling.mala": lambda seed: sm.mala(
        BANANA.log_prob, X0, step=0.3, n_steps=3, generator=seed
    ),
    "sampling.hmc": lambda seed: sm.hmc(
        BANANA.log_prob, X0, step=0.2, n_leapfrog=3, n_steps=3, generator=seed
    ),
    "sampling.parallel_tempering": lambda seed: sm.parallel_tempering(
        MIXTURE.log_prob, X0, temperatures=LADDER, step=0.5, n_steps=4, generator=seed
    ),
    "sampling.EnergyMLP": lambda seed: sm.EnergyMLP(2, 8, generator=seed),
    "sampling.train_ebm": (
        _moons,
        lambda seed, data: sm.train_ebm(
            data, n_iterations=2, batch_size=8, langevin_steps=2, generator=seed,
            show_progress=False,
        ),
    ),
}

# Every function of sampling that creates tensors. Not here: the ``EnergyMLP`` constructor, which
# builds its weights on torch's default device like every nn.Module (train_ebm builds it on the
# data's device). The closed forms return Python floats.
DEVICE = {
    "sampling.train_ebm": (
        _moons,
        lambda data: sm.train_ebm(data, n_iterations=2, batch_size=8, langevin_steps=2,
                                  generator=0, show_progress=False),
    ),
    "sampling.Gaussian.sample": (tuple, lambda: GAUSSIAN.sample(5, 0)),
    "sampling.Gaussian.log_prob": (lambda: (X0.clone(),), GAUSSIAN.log_prob),
    "sampling.GaussianMixture.sample": (tuple, lambda: MIXTURE.sample(5, 0)),
    "sampling.GaussianMixture.log_prob": (lambda: (X0.clone(),), MIXTURE.log_prob),
    "sampling.DoubleWell.log_prob": (lambda: (X0.clone(),), sm.DoubleWell().log_prob),
    "sampling.Banana.sample": (tuple, lambda: BANANA.sample(5, 0)),
    "sampling.Banana.log_prob": (lambda: (X0.clone(),), BANANA.log_prob),
    "sampling.score": (lambda: (X0.clone(),), lambda x: sm.score(BANANA.log_prob, x)),
    "sampling.random_walk_metropolis": (
        lambda: (X0.clone(),),
        lambda x: sm.random_walk_metropolis(BANANA.log_prob, x, step=0.5, n_steps=2, generator=0),
    ),
    "sampling.ula (global stream)": (
        lambda: (X0.clone(),), lambda x: sm.ula(BANANA.log_prob, x, step=0.1, n_steps=2)
    ),
    "sampling.mala": (
        lambda: (X0.clone(),),
        lambda x: sm.mala(BANANA.log_prob, x, step=0.3, n_steps=2, generator=0),
    ),
    "sampling.hmc": (
        lambda: (X0.clone(),),
        lambda x: sm.hmc(BANANA.log_prob, x, step=0.2, n_leapfrog=2, n_steps=2, generator=0),
    ),
    "sampling.parallel_tempering": (
        lambda: (X0.clone(),),
        lambda x: sm.parallel_tempering(
            MIXTURE.log_prob, x, temperatures=LADDER, step=0.5, n_steps=3, generator=0
        ),
    ),
    "sampling.leapfrog": (
        lambda: (X0.clone(), X0.flip(0).clone()),
        lambda x, r: sm.leapfrog(BANANA.log_prob, x, r, 0.1, 3),
    ),
    "sampling.hamiltonian": (
        lambda: (X0.clone(), X0.flip(0).clone()),
        lambda x, r: sm.hamiltonian(BANANA.log_prob, x, r),
    ),
    "sampling.EnergyMLP.log_prob": (_float64_model, lambda model, x: model.log_prob(x)),
}

_LOG_PROB = BANANA.log_prob
_R = torch.zeros(4, 3, dtype=torch.float64)

BAD_INPUTS = [
    ("sampling.Gaussian cov not positive definite",
     lambda: sm.Gaussian([0.0, 0.0], [[1.0, 2.0], [2.0, 1.0]]), ValueError, "cov"),
    ("sampling.Gaussian shapes", lambda: sm.Gaussian([0.0, 0.0], [[1.0]]), ValueError, "cov"),
    ("sampling.Gaussian nan mean", lambda: sm.Gaussian([np.nan], [[1.0]]), ValueError, "mean"),
    ("sampling.Gaussian.log_prob shape", lambda: GAUSSIAN.log_prob(X0[:, :1]), ValueError, "x"),
    ("sampling.GaussianMixture.log_prob 1D", lambda: MIXTURE.log_prob(X0[0]), ValueError, "x"),
    ("sampling.DoubleWell.log_prob numpy", lambda: sm.DoubleWell().log_prob(X0.numpy()),
     TypeError, "x"),
    ("sampling.Banana.log_prob shape", lambda: BANANA.log_prob(_R), ValueError, "x"),
    ("sampling.Gaussian.sample n=0", lambda: GAUSSIAN.sample(0), ValueError, "n"),
    ("sampling.Gaussian.sample generator", lambda: GAUSSIAN.sample(3, 1.5), TypeError,
     "generator"),
    ("sampling.GaussianMixture zero weights",
     lambda: sm.GaussianMixture([0.0, 0.0], [[0.0], [1.0]], [1.0, 1.0]), ValueError, "weights"),
    ("sampling.GaussianMixture negative std",
     lambda: sm.GaussianMixture([1.0, 1.0], [[0.0], [1.0]], [1.0, -1.0]), ValueError, "stds"),
    ("sampling.GaussianMixture.log_prob point mass",
     lambda: sm.GaussianMixture([1.0, 1.0], [[0.0], [1.0]], [1.0, 0.0]).log_prob(X0[:, :1]),
     ValueError, "stds"),
    ("sampling.GaussianMixture means shape",
     lambda: sm.GaussianMixture([1.0, 1.0], [0.0, 1.0], [1.0, 1.0]), ValueError, "means"),
    ("sampling.GaussianMixture.sample n=-1", lambda: MIXTURE.sample(-1), ValueError, "n"),
    ("sampling.DoubleWell barrier=0", lambda: sm.DoubleWell(0.0), ValueError, "barrier"),
    ("sampling.Banana s<0", lambda: sm.Banana(s=-1.0), ValueError, "s"),
    ("sampling.Banana b=nan", lambda: sm.Banana(b=np.nan), ValueError, "b"),
    ("sampling.Banana b=str", lambda: sm.Banana(b="x"), TypeError, "b"),
    ("sampling.parallel_tempering scalar temperature",
     lambda: sm.parallel_tempering(_LOG_PROB, X0, temperatures=2.0, step=0.1, n_steps=2),
     ValueError, "temperatures"),
    ("sampling.parallel_tempering str temperature",
     lambda: sm.parallel_tempering(_LOG_PROB, X0, temperatures=["hot"], step=0.1, n_steps=2),
     TypeError, "temperatures"),
    ("sampling.Banana.sample n=2.5", lambda: BANANA.sample(2.5), TypeError, "n"),
    ("sampling.score not callable", lambda: sm.score(None, X0), TypeError, "log_prob"),
    ("sampling.score integer x", lambda: sm.score(_LOG_PROB, X0.long()), TypeError, "x"),
    ("sampling.random_walk_metropolis step=0",
     lambda: sm.random_walk_metropolis(_LOG_PROB, X0, step=0.0, n_steps=2), ValueError, "step"),
    ("sampling.random_walk_metropolis 1D x0",
     lambda: sm.random_walk_metropolis(_LOG_PROB, X0[0], step=0.1, n_steps=2), ValueError, "x0"),
    ("sampling.random_walk_metropolis list x0",
     lambda: sm.random_walk_metropolis(_LOG_PROB, [[0.0, 0.0]], step=0.1, n_steps=2), TypeError,
     "x0"),
    ("sampling.ula n_steps=0", lambda: sm.ula(_LOG_PROB, X0, step=0.1, n_steps=0), ValueError,
     "n_steps"),
    ("sampling.ula nan x0", lambda: sm.ula(_LOG_PROB, X0 * np.nan, step=0.1, n_steps=2),
     ValueError, "x0"),
    ("sampling.ula log_prob of the wrong shape",
     lambda: sm.ula(lambda x: -x**2, X0, step=0.1, n_steps=2), ValueError, "log_prob"),
    ("sampling.mala keep_every > n_steps",
     lambda: sm.mala(_LOG_PROB, X0, step=0.1, n_steps=2, keep_every=3), ValueError,
     "keep_every"),
    ("sampling.mala log_prob -inf at x0",
     lambda: sm.mala(lambda x: torch.log(x[:, 0]), -X0.abs() - 1, step=0.1, n_steps=2),
     ValueError, "log_prob"),
    ("sampling.mala generator", lambda: sm.mala(_LOG_PROB, X0, step=0.1, n_steps=2,
                                                generator="0"), TypeError, "generator"),
    ("sampling.hmc n_leapfrog=0",
     lambda: sm.hmc(_LOG_PROB, X0, step=0.1, n_leapfrog=0, n_steps=2), ValueError, "n_leapfrog"),
    ("sampling.parallel_tempering negative temperature",
     lambda: sm.parallel_tempering(_LOG_PROB, X0, temperatures=[1.0, -2.0], step=0.1, n_steps=2),
     ValueError, "temperatures"),
    ("sampling.parallel_tempering no temperature",
     lambda: sm.parallel_tempering(_LOG_PROB, X0, temperatures=[], step=0.1, n_steps=2),
     ValueError, "temperatures"),
    ("sampling.parallel_tempering step=inf",
     lambda: sm.parallel_tempering(_LOG_PROB, X0, temperatures=[1.0], step=np.inf, n_steps=2),
     ValueError, "step"),
    ("sampling.leapfrog shapes", lambda: sm.leapfrog(_LOG_PROB, X0, _R, 0.1, 2), ValueError, "r"),
    ("sampling.leapfrog n_leapfrog=0", lambda: sm.leapfrog(_LOG_PROB, X0, X0, 0.1, 0), ValueError,
     "n_leapfrog"),
    ("sampling.hamiltonian shapes", lambda: sm.hamiltonian(_LOG_PROB, X0, _R), ValueError, "r"),
    ("sampling.ula_stationary_variance unstable",
     lambda: sm.ula_stationary_variance(1.0, 2.5), ValueError, "step"),
    ("sampling.ula_stationary_variance variance=0",
     lambda: sm.ula_stationary_variance(0.0, 0.1), ValueError, "variance"),
    ("sampling.ula_autocorrelation_time step<0",
     lambda: sm.ula_autocorrelation_time(1.0, -0.1), ValueError, "step"),
    ("sampling.ornstein_uhlenbeck_moments t<0",
     lambda: sm.ornstein_uhlenbeck_moments(1.0, 1.0, -1.0), ValueError, "t"),
    ("sampling.ornstein_uhlenbeck_moments variance<0",
     lambda: sm.ornstein_uhlenbeck_moments(1.0, -1.0, 1.0), ValueError, "variance"),
    ("sampling.ornstein_uhlenbeck_moments x0=nan",
     lambda: sm.ornstein_uhlenbeck_moments(np.nan, 1.0, 1.0), ValueError, "x0"),
    ("sampling.EnergyMLP dim=0", lambda: sm.EnergyMLP(dim=0), ValueError, "dim"),
    ("sampling.EnergyMLP hidden=1.5", lambda: sm.EnergyMLP(hidden=1.5), TypeError, "hidden"),
    ("sampling.train_ebm n_iterations=0",
     lambda: sm.train_ebm(X0, n_iterations=0), ValueError, "n_iterations"),
    ("sampling.train_ebm 1D data", lambda: sm.train_ebm(X0[0]), ValueError, "data"),
    ("sampling.train_ebm langevin_step=0",
     lambda: sm.train_ebm(X0, langevin_step=0.0), ValueError, "langevin_step"),
    ("sampling.train_ebm batch_size=0", lambda: sm.train_ebm(X0, batch_size=0), ValueError,
     "batch_size"),
    ("sampling.train_ebm box<0", lambda: sm.train_ebm(X0, box=-3.0), ValueError, "box"),
    ("sampling.train_ebm reg<0", lambda: sm.train_ebm(X0, reg=-1.0), ValueError, "reg"),
]
