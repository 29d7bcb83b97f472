"""Common-test cases (see test_common.py) for course_lib.latent.

PCA, PPCA and the linear autoencoder work in numpy and create no tensors, so they are not in
DEVICE; neither are the VAE constructors (parameters on torch's default device, as nn.Linear's)."""

import math

import numpy as np
import torch

from course_lib import latent as lt

F64 = torch.float64
X = np.random.default_rng(0).normal(size=(30, 5)) @ np.diag([3.0, 2.0, 1.0, 0.5, 0.2])
IMAGES = torch.randint(0, 3, (12, 4), generator=torch.Generator().manual_seed(0))
PPCA = lt.PPCA(np.zeros(3), np.ones((3, 1)), 0.5)


def _vae(train: bool = False, dtype: torch.dtype = torch.float32) -> lt.VAE:
    """A tiny VAE on 4-pixel images with 3 grey levels (training mode: dropout draws too)."""
    model = lt.VAE(n_pixels=4, n_levels=3, latent_dim=2, hidden=8, generator=0).to(dtype)
    return model.train(train)


def _codes(seed: int = 0) -> torch.Tensor:
    return torch.randn(6, 2, dtype=F64, generator=torch.Generator().manual_seed(seed))


_TRAINING = lambda: (_vae(train=True),)  # noqa: E731
_EVAL64 = lambda: (_vae(dtype=F64), _codes())  # noqa: E731

STOCHASTIC = {
    "latent.PPCA.sample": lambda seed: PPCA.sample(4, generator=seed),
    "latent.train_linear_autoencoder": lambda seed: lt.train_linear_autoencoder(
        X, 2, 0.01, 5, generator=seed
    ),
    "latent.LinearVAE": lambda seed: lt.LinearVAE(5, 2, generator=seed),
    "latent.LinearVAE.fit": lambda seed: lt.LinearVAE.fit(X, 2, max_iter=3, generator=seed),
    "latent.VAE": lambda seed: lt.VAE(n_pixels=4, n_levels=3, latent_dim=2, hidden=8,
                                      generator=seed),
    "latent.VAE.encode (dropout)": (
        _TRAINING, lambda seed, model: model.encode(IMAGES, generator=seed)
    ),
    "latent.VAE.pixel_log_probs (dropout)": (
        _TRAINING, lambda seed, model: model.pixel_log_probs(_codes().float(), generator=seed)
    ),
    "latent.VAE.log_likelihood (dropout)": (
        _TRAINING,
        lambda seed, model: model.log_likelihood(IMAGES, _codes()[:1].float(), generator=seed),
    ),
    "latent.VAE.decode_mean (dropout)": (
        _TRAINING, lambda seed, model: model.decode_mean(_codes().float(), generator=seed)
    ),
    "latent.VAE.elbo": (lambda: (_vae(),), lambda seed, model: model.elbo(IMAGES, generator=seed)),
    "latent.VAE.elbo (dropout)": (
        _TRAINING, lambda seed, model: model.elbo(IMAGES, 0.5, generator=seed)
    ),
    "latent.VAE.log_weights": (
        lambda: (_vae(),), lambda seed, model: model.log_weights(IMAGES, 3, generator=seed)
    ),
    "latent.VAE.iwae": (
        _TRAINING, lambda seed, model: model.iwae(IMAGES, 5, chunk=2, generator=seed)
    ),
    "latent.VAE.sample": (lambda: (_vae(),), lambda seed, model: model.sample(8, generator=seed)),
    "latent.train_vae": (
        lambda: (_vae(),),
        lambda seed, model: (
            lt.train_vae(model, IMAGES, IMAGES[:4], max_epochs=5, n_importance=2, batch_size=4,
                         generator=seed)["validation_elbo"],
            model,
        ),
    ),
}

DEVICE = {
    "latent.train_vae": (
        lambda: (_vae(dtype=F64),),
        lambda model: (
            lt.train_vae(model, IMAGES, IMAGES[:4], max_epochs=2, batch_size=4, generator=0),
            model,
        ),
    ),
    "latent.LinearVAE.elbo": (
        lambda: (lt.LinearVAE(5, 2), torch.tensor(X)), lambda model, x: model.elbo(x)
    ),
    "latent.LinearVAE.fit": (
        lambda: (torch.tensor(X),), lambda x: lt.LinearVAE.fit(x, 2, max_iter=3)
    ),
    "latent.VAE.encode": (_EVAL64, lambda model, z: model.encode(IMAGES)),
    "latent.VAE.pixel_log_probs": (_EVAL64, lambda model, z: model.pixel_log_probs(z)),
    "latent.VAE.log_likelihood": (_EVAL64, lambda model, z: model.log_likelihood(IMAGES, z[:1])),
    "latent.VAE.log_weights": (_EVAL64, lambda model, z: model.log_weights(IMAGES, 3, generator=0)),
    "latent.VAE.elbo": (_EVAL64, lambda model, z: model.elbo(IMAGES, generator=0)),
    "latent.VAE.iwae": (_EVAL64, lambda model, z: model.iwae(IMAGES, 3, generator=0)),
    "latent.VAE.sample": (_EVAL64, lambda model, z: model.sample(5, generator=0)),
    "latent.VAE.elbo (dropout)": (
        lambda: (_vae(train=True, dtype=F64),), lambda model: model.elbo(IMAGES, generator=0)
    ),
    "latent.VAE.decode_mean": (_EVAL64, lambda model, z: model.decode_mean(z)),
    "latent.decoder_step_change": (
        _EVAL64, lambda model, z: lt.decoder_step_change(model, z, 1, 0.1)
    ),
    "latent.prior_moment_gap": (
        lambda: (_codes(),), lambda z: torch.tensor(lt.prior_moment_gap(z), dtype=F64, device="cpu")
    ),
    "latent.prior_moment_gap_floor": (
        tuple, lambda: torch.tensor(lt.prior_moment_gap_floor(10, 2), dtype=F64, device="cpu")
    ),
    "latent.TrainingLog": (
        _EVAL64,
        lambda model, z: (lt.TrainingLog(model, IMAGES, every=1, generator=0).end_of_epoch(1),
                       model),
    ),
}

_model = _vae()
_nan = np.full((4, 5), np.nan)

BAD_INPUTS = [
    ("latent.PCA.fit 1-D", lambda: lt.PCA.fit(np.zeros(5)), ValueError, "x"),
    ("latent.PCA.fit nan", lambda: lt.PCA.fit(_nan), ValueError, "x"),
    ("latent.PCA.project k=0", lambda: lt.PCA.fit(X).project(X, 0), ValueError, "k"),
    ("latent.PCA.project k>d", lambda: lt.PCA.fit(X).project(X, 9), ValueError, "k"),
    ("latent.PCA.project columns", lambda: lt.PCA.fit(X).project(X[:, :3], 2), ValueError, "x"),
    ("latent.PCA.reconstruct k=1.5", lambda: lt.PCA.fit(X).reconstruct(X, 1.5), TypeError, "k"),
    ("latent.PCA.explained_variance_ratio constant",
     lambda: lt.PCA.fit(np.ones((4, 2))).explained_variance_ratio(), ValueError, "variance"),
    ("latent.PPCA W shape", lambda: lt.PPCA(np.zeros(3), np.ones((4, 1)), 0.5), ValueError, "W"),
    ("latent.PPCA sigma2=0", lambda: lt.PPCA(np.zeros(3), np.ones((3, 1)), 0.0),
     ValueError, "sigma2"),
    ("latent.PPCA.fit q=0", lambda: lt.PPCA.fit(X, 0), ValueError, "q"),
    ("latent.PPCA.fit q=d", lambda: lt.PPCA.fit(X, 5), ValueError, "q"),
    ("latent.PPCA.fit q float", lambda: lt.PPCA.fit(X, 1.5), TypeError, "q"),
    ("latent.PPCA.fit sigma2<0", lambda: lt.PPCA.fit(X, 2, sigma2=-1.0), ValueError, "sigma2"),
    ("latent.PPCA.fit low rank", lambda: lt.PPCA.fit(X[:, [0, 0, 0]], 1), ValueError, "q"),
    ("latent.PPCA.log_prob columns", lambda: PPCA.log_prob(X), ValueError, "x"),
    ("latent.PPCA.posterior nan", lambda: PPCA.posterior(_nan[:, :3]), ValueError, "x"),
    ("latent.PPCA.sample n=0", lambda: PPCA.sample(0), ValueError, "n"),
    ("latent.PPCA.sample generator", lambda: PPCA.sample(2, generator="a"),
     TypeError, "generator"),
    ("latent.PPCA.max_log_likelihood q=d",
     lambda: lt.PPCA.max_log_likelihood(np.ones(3), 3, 10), ValueError, "q"),
    ("latent.PPCA.max_log_likelihood n=0",
     lambda: lt.PPCA.max_log_likelihood(np.ones(3), 1, 0), ValueError, "n"),
    ("latent.PPCA.max_log_likelihood variances<0",
     lambda: lt.PPCA.max_log_likelihood(-np.ones(3), 1, 10), ValueError, "variances"),
    ("latent.principal_angles rows",
     lambda: lt.principal_angles(np.ones((3, 1)), np.ones((4, 1))), ValueError, "b"),
    ("latent.principal_angles 1-D", lambda: lt.principal_angles(np.ones(3), np.ones((3, 1))),
     ValueError, "a"),
    ("latent.saxe_mode_strength s=0", lambda: lt.saxe_mode_strength(1.0, 0.0, 0.1),
     ValueError, "s"),
    ("latent.saxe_mode_strength a0<0", lambda: lt.saxe_mode_strength(1.0, 1.0, -0.1),
     ValueError, "a0"),
    ("latent.saxe_mode_strength tau=0", lambda: lt.saxe_mode_strength(1.0, 1.0, 0.1, 0.0),
     ValueError, "tau"),
    ("latent.saxe_mode_strength t nan", lambda: lt.saxe_mode_strength(np.nan, 1.0, 0.1),
     ValueError, "t"),
    ("latent.saxe_gd_strength n_steps=0", lambda: lt.saxe_gd_strength(0, 1.0, 0.1, 0.1),
     ValueError, "n_steps"),
    ("latent.saxe_gd_strength lr=0", lambda: lt.saxe_gd_strength(5, 1.0, 0.1, 0.0),
     ValueError, "lr"),
    ("latent.train_linear_autoencoder k=0", lambda: lt.train_linear_autoencoder(X, 0, 0.1, 5),
     ValueError, "k"),
    ("latent.train_linear_autoencoder lr<0",
     lambda: lt.train_linear_autoencoder(X, 2, -0.1, 5), ValueError, "lr"),
    ("latent.train_linear_autoencoder n_steps=0",
     lambda: lt.train_linear_autoencoder(X, 2, 0.1, 0), ValueError, "n_steps"),
    ("latent.train_linear_autoencoder init_scale=0",
     lambda: lt.train_linear_autoencoder(X, 2, 0.1, 5, 0.0), ValueError, "init_scale"),
    ("latent.train_linear_autoencoder record_every=0",
     lambda: lt.train_linear_autoencoder(X, 2, 0.1, 5, record_every=0), ValueError,
     "record_every"),
    ("latent.train_linear_autoencoder diverges",
     lambda: lt.train_linear_autoencoder(X, 2, 10.0, 200), FloatingPointError, "lr"),
    ("saxe_gd_strength diverging lr", lambda: lt.saxe_gd_strength(100, 1.0, 0.5, 5.0),
     FloatingPointError, "lr"),
    ("latent.LinearVAE d=0", lambda: lt.LinearVAE(0, 2), ValueError, "d"),
    ("latent.LinearVAE q=0", lambda: lt.LinearVAE(3, 0), ValueError, "q"),
    ("latent.LinearVAE generator", lambda: lt.LinearVAE(3, 1, generator=0.5),
     TypeError, "generator"),
    ("latent.LinearVAE.elbo columns", lambda: lt.LinearVAE(3, 1).elbo(torch.zeros(2, 4)),
     ValueError, "x"),
    ("latent.LinearVAE.fit 1-D", lambda: lt.LinearVAE.fit(np.zeros(5), 1), ValueError, "x"),
    ("latent.LinearVAE.fit q=0", lambda: lt.LinearVAE.fit(X, 0), ValueError, "q"),
    ("latent.LinearVAE.fit max_iter=0", lambda: lt.LinearVAE.fit(X, 1, max_iter=0),
     ValueError, "max_iter"),
    ("latent.VAE decoder", lambda: lt.VAE(decoder="gaussian"), ValueError, "decoder"),
    ("latent.VAE dropout=1", lambda: lt.VAE(dropout=1.0), ValueError, "dropout"),
    ("latent.VAE n_levels=1", lambda: lt.VAE(n_levels=1), ValueError, "n_levels"),
    ("latent.VAE latent_dim=0", lambda: lt.VAE(latent_dim=0), ValueError, "latent_dim"),
    ("latent.VAE hidden=0", lambda: lt.VAE(hidden=0), ValueError, "hidden"),
    ("latent.VAE.encode shape", lambda: _model.encode(torch.zeros(2, 5)), ValueError, "x"),
    ("latent.VAE.elbo fractions", lambda: _model.elbo(torch.full((2, 4), 0.5)), ValueError, "x"),
    ("latent.VAE.elbo range", lambda: _model.elbo(torch.full((2, 4), 3)), ValueError, "x"),
    ("latent.VAE.elbo beta<0", lambda: _model.elbo(IMAGES, -1.0), ValueError, "beta"),
    ("latent.VAE.log_weights n_samples=0", lambda: _model.log_weights(IMAGES, 0),
     ValueError, "n_samples"),
    ("latent.VAE.iwae n_samples=0", lambda: _model.iwae(IMAGES, 0), ValueError, "n_samples"),
    ("latent.VAE.iwae chunk=0", lambda: _model.iwae(IMAGES, 2, chunk=0), ValueError, "chunk"),
    ("latent.VAE.sample n=0", lambda: _model.sample(0), ValueError, "n"),
    ("latent.VAE.sample generator", lambda: _model.sample(2, generator=[0]), TypeError,
     "generator"),
    ("latent.VAE.pixel_log_probs z", lambda: _model.pixel_log_probs(torch.zeros(3, 5)),
     ValueError, "z"),
    ("latent.VAE.log_likelihood z", lambda: _model.log_likelihood(IMAGES, torch.zeros(3)),
     ValueError, "z"),
    ("latent.VAE.decode_mean z", lambda: _model.decode_mean(torch.zeros(3, 1)), ValueError, "z"),
    ("latent.VAE.decode_mean z list", lambda: _model.decode_mean([[0.0, 0.0]]), TypeError, "z"),
    ("latent.PPCA.max_log_likelihood scalar", lambda: lt.PPCA.max_log_likelihood(3.0, 1, 10),
     ValueError, "variances"),
    ("latent.prior_moment_gap one row", lambda: lt.prior_moment_gap(torch.zeros(1, 2)),
     ValueError, "z"),
    ("latent.prior_moment_gap nan", lambda: lt.prior_moment_gap(torch.full((3, 2), math.nan)),
     ValueError, "z"),
    ("latent.prior_moment_gap_floor n=1", lambda: lt.prior_moment_gap_floor(1, 2),
     ValueError, "n"),
    ("latent.prior_moment_gap_floor k=0", lambda: lt.prior_moment_gap_floor(10, 0),
     ValueError, "k"),
    ("latent.decoder_step_change model", lambda: lt.decoder_step_change(None, _codes(), 0, 0.1),
     TypeError, "model"),
    ("latent.decoder_step_change axis", lambda: lt.decoder_step_change(_model, _codes(), 2, 0.1),
     ValueError, "axis"),
    ("latent.decoder_step_change h=0", lambda: lt.decoder_step_change(_model, _codes(), 0, 0.0),
     ValueError, "h"),
    ("latent.decoder_step_change z", lambda: lt.decoder_step_change(_model, _codes()[0], 0, 0.1),
     ValueError, "z"),
    ("latent.TrainingLog model", lambda: lt.TrainingLog(None, IMAGES), TypeError, "model"),
    ("latent.TrainingLog time_budget=0", lambda: lt.TrainingLog(_model, IMAGES, 0.0),
     ValueError, "time_budget"),
    ("latent.TrainingLog every=0", lambda: lt.TrainingLog(_model, IMAGES, every=0),
     ValueError, "every"),
    ("latent.TrainingLog validation", lambda: lt.TrainingLog(_model, torch.zeros(2, 3)),
     ValueError, "validation"),
    ("latent.TrainingLog.end_of_epoch epoch=0",
     lambda: lt.TrainingLog(_model, IMAGES).end_of_epoch(0), ValueError, "epoch"),
    ("latent.train_vae train", lambda: lt.train_vae(_model, torch.zeros(2, 3), IMAGES),
     ValueError, "train"),
    ("latent.train_vae validation", lambda: lt.train_vae(_model, IMAGES, IMAGES + 5),
     ValueError, "validation"),
    ("latent.train_vae max_epochs=0", lambda: lt.train_vae(_model, IMAGES, IMAGES, 0),
     ValueError, "max_epochs"),
    ("latent.train_vae n_importance=0",
     lambda: lt.train_vae(_model, IMAGES, IMAGES, n_importance=0), ValueError, "n_importance"),
    ("latent.train_vae batch_size=0", lambda: lt.train_vae(_model, IMAGES, IMAGES, batch_size=0),
     ValueError, "batch_size"),
    ("latent.train_vae beta<0", lambda: lt.train_vae(_model, IMAGES, IMAGES, beta=-1.0),
     ValueError, "beta"),
    ("latent.train_vae lr=0", lambda: lt.train_vae(_model, IMAGES, IMAGES, lr=0.0),
     ValueError, "lr"),
]
