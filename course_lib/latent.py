"""Latent-variable models, from PCA to the variational autoencoder.

Contents
    PCA and PPCA          ``PCA``, ``PPCA`` (closed-form maximum likelihood, posterior, sampling)
    linear autoencoders   ``train_linear_autoencoder``, ``principal_angles``,
                          ``saxe_mode_strength`` (gradient flow), ``saxe_gd_strength`` (descent)
    linear VAE            ``LinearVAE`` (analytic ELBO; its maximum equals the PPCA log-likelihood)
    VAE                   ``VAE`` (Gaussian encoder, 17-level categorical pixels), IWAE bounds,
                          ``train_vae`` (the training loop) and ``TrainingLog`` (its bookkeeping)
    latent space          ``prior_moment_gap`` (+ its noise floor), ``decoder_step_change``

References
    M. E. Tipping, C. M. Bishop, J. R. Stat. Soc. B 61, 611 (1999) -- probabilistic PCA.
    P. Baldi, K. Hornik, Neural Networks 2, 53 (1989) -- linear autoencoders and PCA.
    A. M. Saxe, J. L. McClelland, S. Ganguli, ICLR (2014), arXiv:1312.6120 -- deep linear networks.
    D. P. Kingma, M. Welling, ICLR (2014) -- the VAE and the reparameterization trick.
    Y. Burda, R. Grosse, R. Salakhutdinov, ICLR (2016) -- importance-weighted bounds (IWAE).
    J. Lucas, G. Tucker, R. Grosse, M. Norouzi, NeurIPS (2019) -- linear VAEs, posterior collapse.
    T. Salimans et al., ICLR (2017) -- discretized logistic mixture likelihood.
    I. Higgins et al., ICLR (2017) -- the beta-VAE.
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from . import rng
from .checks import check_count, check_fraction, check_points, check_positive
from .optim import minimize
from .stats import LOG_2PI, gaussian_log_prob

__all__ = [
    "PCA", "PPCA", "principal_angles", "saxe_mode_strength", "saxe_gd_strength",
    "LinearAutoencoderRun", "train_linear_autoencoder", "LinearVAE", "VAE", "prior_moment_gap",
    "prior_moment_gap_floor", "decoder_step_change", "TrainingLog", "train_vae",
]


def _data(x: np.ndarray, name: str = "x", min_rows: int = 2, dim: int | None = None) -> np.ndarray:
    """``x`` as a finite float array of shape (n >= min_rows, d) (d == ``dim`` if given)."""
    x = np.asarray(x, dtype=float)
    if x.ndim != 2 or len(x) < min_rows or (dim is not None and x.shape[1] != dim):
        columns = "d" if dim is None else str(dim)
        raise ValueError(
            f"{name} must have shape (n >= {min_rows}, {columns}), got shape {x.shape}"
        )
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return x


def _rank(k: object, name: str, d: int) -> int:
    """A number of components 1 <= k < d... or <= d."""
    k = check_count(k, name)
    if k > d:
        raise ValueError(f"{name} must be <= the data dimension {d}, got {k}")
    return k


# --------------------------------------------------------------------------- PCA and PPCA


@dataclass
class PCA:
    """Principal components from the SVD X - mean = A Gamma U^T of the centred data (n, d).

    Rows of ``components`` are the columns u_j of U: the eigenvectors of the covariance
    S = (1/n) (X - mean)^T (X - mean), with eigenvalues ``variances`` lambda_j = gamma_j^2 / n in
    decreasing order."""

    mean: np.ndarray
    components: np.ndarray
    variances: np.ndarray

    @classmethod
    def fit(cls, x: np.ndarray) -> "PCA":
        x = _data(x)
        mean = x.mean(axis=0)
        _, s, vt = np.linalg.svd(x - mean, full_matrices=False)
        variances = np.zeros(x.shape[1])
        variances[: len(s)] = s**2 / len(x)
        components = np.zeros((x.shape[1], x.shape[1]))
        components[: len(vt)] = vt
        return cls(mean, components, variances)

    def explained_variance_ratio(self) -> np.ndarray:
        total = self.variances.sum()
        if total <= 0:
            raise ValueError("the data have zero variance: no ratio to explain")
        return self.variances / total

    def project(self, x: np.ndarray, k: int) -> np.ndarray:
        """Coordinates of x on the top-k principal directions."""
        k = _rank(k, "k", len(self.mean))
        return (_data(x, min_rows=1, dim=len(self.mean)) - self.mean) @ self.components[:k].T

    def reconstruct(self, x: np.ndarray, k: int) -> np.ndarray:
        """Best rank-k linear reconstruction of x (orthogonal projection, principal subspace)."""
        return self.mean + self.project(x, k) @ self.components[: int(k)]


def _gaussian_log_prob_full(
    x: np.ndarray, mean: np.ndarray, cov: np.ndarray, name: str = "cov"
) -> np.ndarray:
    """log N(x; mean, cov) for each row of x, a full covariance (numpy, by slogdet and solve);
    a singular ``cov`` (computed from ``name``) raises a ValueError."""
    sign, log_det = np.linalg.slogdet(cov)
    if sign <= 0:
        raise ValueError(f"{name} has a singular covariance: no Gaussian density fits it")
    r = x - mean
    maha = np.einsum("ni,ni->n", r, np.linalg.solve(cov, r.T).T)
    return -0.5 * (len(mean) * LOG_2PI + log_det + maha)


@dataclass
class PPCA:
    """Probabilistic PCA (Tipping & Bishop 1999): z ~ N(0, I_q), x = W z + mu + sigma eps.

    ``fit`` gives the closed-form maximum-likelihood solution: sigma^2 = mean of the d - q discarded
    covariance eigenvalues, W = U_q (Lambda_q - sigma^2 I)^(1/2) (up to a rotation)."""

    mean: np.ndarray
    W: np.ndarray
    sigma2: float

    def __post_init__(self) -> None:
        self.mean, self.W = np.asarray(self.mean, dtype=float), np.asarray(self.W, dtype=float)
        if self.mean.ndim != 1 or self.W.shape[:1] != self.mean.shape or self.W.ndim != 2:
            raise ValueError(
                f"W must have shape (d, q) with d = len(mean) = {len(self.mean)}, "
                f"got {self.W.shape}"
            )
        self.sigma2 = check_positive(self.sigma2, "sigma2")

    @classmethod
    def fit(cls, x: np.ndarray, q: int, sigma2: float | None = None) -> "PPCA":
        """Maximum likelihood for q latent dimensions. With ``sigma2`` given (held fixed),
        directions whose eigenvalue is below sigma2 get a zero column in W: that latent dimension
        collapses onto the prior."""
        pca = PCA.fit(x)
        d = pca.components.shape[1]
        q = check_count(q, "q")
        if not q < d:
            raise ValueError(f"q must satisfy 1 <= q < d = {d}, got {q}")
        if sigma2 is None:
            sigma2 = float(pca.variances[q:].mean())
            if sigma2 <= 1e-12 * pca.variances[0]:  # a singular model covariance
                raise ValueError(f"the data span at most q = {q} dimensions: choose a smaller q")
        sigma2 = check_positive(sigma2, "sigma2")
        scales = np.sqrt(np.clip(pca.variances[:q] - sigma2, 0.0, None))
        return cls(pca.mean, pca.components[:q].T * scales, float(sigma2))

    @property
    def covariance(self) -> np.ndarray:
        return self.W @ self.W.T + self.sigma2 * np.eye(len(self.mean))

    def log_prob(self, x: np.ndarray) -> np.ndarray:
        """log N(x; mu, W W^T + sigma^2 I) for each row of x."""
        return _gaussian_log_prob_full(_data(x, min_rows=1, dim=len(self.mean)), self.mean,
                                       self.covariance)

    @staticmethod
    def max_log_likelihood(variances: np.ndarray, q: int, n: int) -> float:
        """Closed-form maximum of the total log-likelihood of n points (Tipping & Bishop 1999,
        eq. 3.8): -(n/2) [d ln 2pi + sum_{j<=q} ln l_j + (d - q) ln sigma^2 + d]."""
        lam = np.asarray(variances, dtype=float)
        if lam.ndim != 1:
            raise ValueError(f"variances must be a 1-d array, got shape {lam.shape}")
        d, q, n = len(lam), check_count(q, "q"), check_count(n, "n")
        if not q < d:
            raise ValueError(f"q must satisfy 1 <= q < d = len(variances) = {d}, got {q}")
        if not np.all(np.isfinite(lam)) or np.any(lam[:q] <= 0) or lam[q:].mean() <= 0:
            raise ValueError("variances must be finite, the top q and the rest's mean > 0")
        sigma2 = lam[q:].mean()
        return -0.5 * n * (d * LOG_2PI + np.log(lam[:q]).sum() + (d - q) * np.log(sigma2) + d)

    def posterior(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """p(z | x) = N(M^-1 W^T (x - mu), sigma^2 M^-1) with M = W^T W + sigma^2 I."""
        x = _data(x, min_rows=1, dim=len(self.mean))
        M = self.W.T @ self.W + self.sigma2 * np.eye(self.W.shape[1])
        mean = np.linalg.solve(M, self.W.T @ (x - self.mean).T).T
        return mean, self.sigma2 * np.linalg.inv(M)

    def sample(self, n: int, *, generator: rng.NumpySeed = None) -> np.ndarray:
        """n draws x = W z + mu + sigma eps, with z and eps from ``generator`` (numpy)."""
        n, generator = check_count(n, "n"), rng.numpy_generator(generator)
        z = generator.standard_normal((n, self.W.shape[1]))
        noise = generator.standard_normal((n, len(self.mean)))
        return z @ self.W.T + self.mean + math.sqrt(self.sigma2) * noise


# --------------------------------------------------------------------------- linear autoencoders


def principal_angles(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Principal angles (radians, increasing) between the column spans of a (d, k) and b (d, k')."""
    a = _data(a, "a", min_rows=1)
    b = _data(b, "b", min_rows=1, dim=None)
    if len(b) != len(a):
        raise ValueError(f"a and b must have the same number of rows, got {a.shape} and {b.shape}")
    qa, _ = np.linalg.qr(a)
    qb, _ = np.linalg.qr(b)
    cosines = np.linalg.svd(qa.T @ qb, compute_uv=False)
    return np.sort(np.arccos(np.clip(cosines, -1.0, 1.0)))


def saxe_mode_strength(t: np.ndarray, s: float, a0: float, tau: float = 1.0) -> np.ndarray:
    """Strength of one mode of a two-layer linear network under gradient flow tau dW/dt = -dL/dW
    (Saxe et al. 2014, eq. 6): a(t) = s e^{2st/tau} / (e^{2st/tau} - 1 + s/a0), the solution of
    tau da/dt = 2 a (s - a). For gradient descent with learning rate lr, tau = 1/lr and t counts
    steps. Assumes a decoupled start (each hidden unit aligned with one mode) that is balanced
    (equal weights in both layers). A sigmoid from a0 to s, half-way at t = (tau / 2s) ln(s/a0 - 1):
    stronger modes are learned first."""
    s, a0, tau = check_positive(s, "s"), check_positive(a0, "a0"), check_positive(tau, "tau")
    t = np.asarray(t, dtype=float)
    if not np.all(np.isfinite(t)):
        raise ValueError("t contains NaN or infinite values")
    decay = np.exp(-2 * s * t / tau)  # divided through by e^{2st/tau}
    return s / (1 + (s / a0 - 1) * decay)


def saxe_gd_strength(n_steps: int, s: float, a0: float, lr: float) -> np.ndarray:
    """The same mode under gradient descent itself, steps 0..n_steps: with both layers' weights b on
    the mode, a = s b^2 and b <- b (1 + lr (s - a)), so a <- a (1 + lr (s - a))^2 exactly.
    ``saxe_mode_strength`` (tau = 1/lr) is its lr -> 0 limit; they differ by O(lr)."""
    n_steps = check_count(n_steps, "n_steps")
    s, a0, lr = check_positive(s, "s"), check_positive(a0, "a0"), check_positive(lr, "lr")
    a = np.empty(n_steps + 1)
    a[0] = a0
    try:  # an overflow means gradient descent diverged (lr s > 1 is unstable near a = s)
        with np.errstate(over="raise", invalid="raise"):
            for t in range(n_steps):
                a[t + 1] = a[t] * (1 + lr * (s - a[t])) ** 2
    except FloatingPointError:
        raise FloatingPointError(f"gradient descent diverged: lower lr (got {lr})") from None
    return a


@dataclass
class LinearAutoencoderRun:
    """Result of ``train_linear_autoencoder``: encoder W1 (k, d), decoder W2 (d, k), and, at each
    recorded step, the loss and the strength lambda_j u_j^T W2 W1 u_j of every principal mode j."""

    W1: np.ndarray
    W2: np.ndarray
    steps: np.ndarray
    losses: np.ndarray
    strengths: np.ndarray
    variances: np.ndarray = field(repr=False)


def train_linear_autoencoder(
    x: np.ndarray,
    k: int,
    lr: float,
    n_steps: int,
    init_scale: float = 1e-3,
    aligned: bool = False,
    *,
    generator: rng.NumpySeed = 0,
    record_every: int = 10,
) -> LinearAutoencoderRun:
    """Full-batch gradient descent on L = (1/2n) sum |x - W2 W1 x|^2 for centred data (a linear
    autoencoder with k hidden units). The gradients need only the covariance S:
    dL/dW2 = -(I - W2 W1) S W1^T, dL/dW1 = -W2^T (I - W2 W1) S.

    ``aligned=True`` starts decoupled and balanced: hidden unit j holds b_j u_j in both layers, with
    mode strength lambda_j b_j^2 = ``init_scale`` (Saxe's analytic setting). Otherwise the weights
    start as small random matrices of scale ``init_scale``, drawn from ``generator`` (numpy)."""
    x = _data(x)
    pca = PCA.fit(x)
    S = np.cov(x - pca.mean, rowvar=False, bias=True)
    d = S.shape[0]
    k, lr, n_steps = _rank(k, "k", d), check_positive(lr, "lr"), check_count(n_steps, "n_steps")
    init_scale = check_positive(init_scale, "init_scale")
    record_every = check_count(record_every, "record_every")
    generator = rng.numpy_generator(generator)
    if aligned:
        b = np.sqrt(init_scale / np.maximum(pca.variances[:k], 1e-12))
        W1, W2 = b[:, None] * pca.components[:k], pca.components[:k].T * b
    else:
        W1 = init_scale * generator.standard_normal((k, d))
        W2 = init_scale * generator.standard_normal((d, k))
    U, lam = pca.components, pca.variances
    steps, losses, strengths = [], [], []
    try:  # an overflow means gradient descent diverged: stop at once, with a clear message
        with np.errstate(over="raise", invalid="raise"):
            for t in range(n_steps + 1):
                E = np.eye(d) - W2 @ W1
                if t % record_every == 0:
                    steps.append(t)
                    losses.append(0.5 * np.trace(E @ S @ E.T))
                    strengths.append(lam * np.einsum("ai,ij,aj->a", U, W2 @ W1, U))
                if t == n_steps:
                    break
                ES = E @ S
                W2, W1 = W2 + lr * ES @ W1.T, W1 + lr * W2.T @ ES
    except FloatingPointError:
        raise FloatingPointError(f"gradient descent diverged: lower lr (got {lr})") from None
    steps_, losses_, strengths_ = np.array(steps), np.array(losses), np.array(strengths)
    return LinearAutoencoderRun(W1, W2, steps_, losses_, strengths_, lam)


# --------------------------------------------------------------------------- linear VAE


def _kl_to_standard_normal(
    mean: torch.Tensor, var: torch.Tensor, log_var: torch.Tensor
) -> torch.Tensor:
    """KL(N(mean, diag var) || N(0, I)) = 0.5 sum_j (var_j + mean_j^2 - 1 - ln var_j) over the last
    axis (Kingma & Welling 2014, appendix B)."""
    return 0.5 * (var + mean**2 - 1 - log_var).sum(-1)


class LinearVAE(nn.Module):
    """Linear-Gaussian VAE: q(z|x) = N(V (x - mu) + c, diag(s^2)), p(z) = N(0, I),
    p(x|z) = N(W z + mu, sigma^2 I). Its ELBO is available in closed form, and its maximum equals
    the PPCA log-likelihood (Lucas et al. 2019). V and W start as 0.1 N(0, 1) draws."""

    def __init__(
        self,
        d: int,
        q: int,
        *,
        generator: rng.Seed = 0,
        dtype: torch.dtype = torch.float64,
        device: torch.device | str | None = None,
    ) -> None:
        super().__init__()
        d, q, generator = check_count(d, "d"), check_count(q, "q"), rng.torch_generator(generator)
        like = torch.zeros(0, dtype=dtype, device=device)
        self.V = nn.Parameter(0.1 * rng.randn((q, d), like, generator))
        self.c = nn.Parameter(torch.zeros(q, dtype=dtype, device=device))
        self.log_s2 = nn.Parameter(torch.zeros(q, dtype=dtype, device=device))
        self.W = nn.Parameter(0.1 * rng.randn((d, q), like, generator))
        self.mu = nn.Parameter(torch.zeros(d, dtype=dtype, device=device))
        self.log_sigma2 = nn.Parameter(torch.zeros((), dtype=dtype, device=device))
        self.fitted_elbo: float | None = None  # the mean ELBO reached by ``fit``

    def elbo(self, x: torch.Tensor) -> torch.Tensor:
        """Exact ELBO per data point: E_q[log p(x|z)] - KL(q(z|x) || p(z)), no sampling needed."""
        d, q = self.W.shape
        check_points(x, "x", d)
        m = (x - self.mu) @ self.V.T + self.c
        s2, sigma2 = self.log_s2.exp(), self.log_sigma2.exp()
        residual = ((x - m @ self.W.T - self.mu) ** 2).sum(1) + (s2 * (self.W**2).sum(0)).sum()
        expected_log_lik = -0.5 * d * (LOG_2PI + self.log_sigma2) - residual / (2 * sigma2)
        kl = 0.5 * (s2.sum() + (m**2).sum(1) - q - self.log_s2.sum())
        return expected_log_lik - kl

    @classmethod
    def fit(
        cls, x: np.ndarray | torch.Tensor, q: int, *, max_iter: int = 500, generator: rng.Seed = 0
    ) -> "LinearVAE":
        """The linear VAE with q latent dimensions maximizing the mean ELBO of x, started from
        ``generator``'s draws: full-batch L-BFGS with a strong-Wolfe line search, 5 calls of
        ``optimizer.step`` of at most ``max_iter`` iterations each (the curvature history of 50
        steps carries over). The final mean ELBO is ``fitted_elbo``."""
        if torch.is_tensor(x):
            data = torch.as_tensor(_data(x.detach().cpu().numpy()), dtype=x.dtype, device=x.device)
        else:
            data = torch.as_tensor(_data(x), device="cpu")
        max_iter = check_count(max_iter, "max_iter")
        model = cls(data.shape[1], q, generator=generator, dtype=data.dtype, device=data.device)
        with torch.no_grad():
            model.mu.copy_(data.mean(0))
        optimizer = torch.optim.LBFGS(
            model.parameters(),
            max_iter=max_iter,
            tolerance_grad=1e-12,
            tolerance_change=1e-14,
            history_size=50,
            line_search_fn="strong_wolfe",
        )

        def closure() -> torch.Tensor:
            optimizer.zero_grad()
            loss = -model.elbo(data).mean()
            loss.backward()
            return loss

        for _ in range(5):
            optimizer.step(closure)
        with torch.no_grad():
            model.fitted_elbo = float(model.elbo(data).mean())
        return model


# ---------------------------------------------------------------------- VAE for 17-level digits


class _Dropout(nn.Dropout):
    """nn.Dropout with its mask drawn from a generator (the same draws as nn.Dropout's from
    torch's default stream when the generator is seeded alike)."""

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        if not self.training or self.p == 0:
            return x
        device = x.device if generator is None else generator.device
        keep = torch.empty(x.shape, dtype=x.dtype, device=device)
        keep.bernoulli_(1 - self.p, generator=generator)
        return x * keep.to(x.device).div_(1 - self.p)


class _Network(nn.Sequential):
    """nn.Sequential that hands a generator to its dropout layers."""

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        for layer in self:
            x = layer(x, generator) if isinstance(layer, _Dropout) else layer(x)
        return x


class VAE(nn.Module):
    """VAE for images whose pixels take ``n_levels`` integer values (scikit-learn digits: 0..16).

    Encoder: MLP -> mean and log-variance of a diagonal Gaussian q(z|x). Prior: N(0, I).
    Decoder: MLP -> for every pixel a categorical distribution over the n_levels values, either a
    free softmax (``decoder="softmax"``, n_levels numbers per pixel) or a mixture of ``n_mixture``
    discretized logistics (``decoder="logistic"``, Salimans et al. 2017, 3 numbers per component),
    which gives neighbouring grey levels similar probabilities. Likelihoods are exact discrete
    log-probabilities, so bounds are in nats per image (Kingma & Welling 2014).

    Randomness: the initial weights come from ``generator`` (None: torch's default stream, as for
    any nn.Linear); every method that draws (z, or dropout masks in training mode) takes
    ``generator=``."""

    def __init__(
        self,
        n_pixels: int = 64,
        n_levels: int = 17,
        latent_dim: int = 16,
        hidden: int = 256,
        dropout: float = 0.2,
        decoder: str = "logistic",
        n_mixture: int = 3,
        *,
        generator: rng.Seed = None,
    ) -> None:
        super().__init__()
        if decoder not in ("softmax", "logistic"):
            raise ValueError(f"decoder must be 'softmax' or 'logistic', got {decoder!r}")
        for value, name in [(n_pixels, "n_pixels"), (latent_dim, "latent_dim"), (hidden, "hidden"),
                            (n_mixture, "n_mixture")]:
            check_count(value, name)
        check_count(n_levels, "n_levels", minimum=2)
        if check_fraction(dropout, "dropout") == 1:
            raise ValueError("dropout must be < 1")
        self.n_pixels, self.n_levels, self.latent_dim = n_pixels, n_levels, latent_dim
        self.decoder_type, self.n_mixture = decoder, n_mixture
        per_pixel = n_levels if decoder == "softmax" else 3 * n_mixture
        generator = rng.torch_generator(generator)
        self.encoder = rng.build(lambda: _Network(  # image -> (mean, log-variance) of q(z|x)
            nn.Linear(n_pixels, hidden), nn.GELU(), _Dropout(dropout),
            nn.Linear(hidden, hidden), nn.GELU(),
            nn.Linear(hidden, 2 * latent_dim),
        ), generator)
        self.decoder = rng.build(lambda: _Network(  # code -> parameters of p(x|z) for every pixel
            nn.Linear(latent_dim, hidden), nn.GELU(), _Dropout(dropout),
            nn.Linear(hidden, hidden), nn.GELU(),
            nn.Linear(hidden, n_pixels * per_pixel),
        ), generator)

    def _like(self) -> torch.Tensor:
        return self.decoder[0].weight  # the model's dtype and device

    def _check(self, x: torch.Tensor, name: str = "x") -> torch.Tensor:
        x = torch.as_tensor(x, device=self._like().device)
        if x.ndim != 2 or x.shape[1] != self.n_pixels:
            shape = tuple(x.shape)
            raise ValueError(f"{name} must be images of shape (n, {self.n_pixels}), got {shape}")
        if x.dtype.is_floating_point and not torch.equal(x, x.round()):
            raise ValueError(f"{name}: pixel values must be integers")
        if len(x) == 0 or x.min() < 0 or x.max() >= self.n_levels:
            raise ValueError(f"{name}: pixel values must lie in 0..{self.n_levels - 1}")
        return x.long()

    def _codes(self, z: torch.Tensor) -> torch.Tensor:
        if not torch.is_tensor(z):
            raise TypeError(f"z must be a torch.Tensor, got {type(z).__name__}")
        if z.ndim < 1 or z.shape[-1] != self.latent_dim:
            raise ValueError(f"z must be of shape (..., {self.latent_dim}), got {tuple(z.shape)}")
        return z

    def encode(
        self, x: torch.Tensor, *, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and log-variance of q(z|x)."""
        scale = 2.0 / (self.n_levels - 1)
        scaled = self._check(x).to(self._like().dtype) * scale - 1.0
        mean, log_var = self.encoder(scaled, rng.torch_generator(generator)).chunk(2, dim=-1)
        return mean, log_var.clamp(-12.0, 6.0)

    def _level_log_probs(self, out: torch.Tensor, levels: torch.Tensor) -> torch.Tensor:
        """log P(pixel = level) from decoder outputs, for ``levels`` broadcastable to
        (..., n_pixels, L). Logistic mixture: P(k) = sum_m w_m [F_m(k + 1/2) - F_m(k - 1/2)] with
        F_m(y) = sigmoid((y - centre_m) / scale_m), the end bins reaching to -inf and +inf."""
        if self.decoder_type == "softmax":
            shape = (*out.shape[:-1], self.n_pixels, self.n_levels)
            log_probs = torch.log_softmax(out.view(shape), dim=-1)
            return log_probs.gather(-1, levels.expand(*log_probs.shape[:-1], levels.shape[-1]))
        params = out.view(*out.shape[:-1], self.n_pixels, 3, self.n_mixture)
        log_w = torch.log_softmax(params[..., 0, :], dim=-1)[..., None, :]  # (..., pixels, 1, m)
        half = (self.n_levels - 1) / 2
        centre = (half * torch.tanh(params[..., 1, :]) + half)[..., None, :]
        inv_scale = torch.exp(-params[..., 2, :].clamp(-5.0, 4.0))[..., None, :]
        v = levels[..., None].to(out.dtype)  # (..., pixels, L, 1)
        top = v == self.n_levels - 1
        upper = torch.sigmoid((v + 0.5 - centre) * inv_scale).masked_fill(top, 1.0)
        lower = torch.sigmoid((v - 0.5 - centre) * inv_scale).masked_fill(v == 0, 0.0)
        return torch.logsumexp(log_w + torch.log((upper - lower).clamp(min=1e-12)), dim=-1)

    def pixel_log_probs(
        self, z: torch.Tensor, *, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """log p(pixel = level | z) for every pixel and level: shape (..., n_pixels, n_levels)."""
        out = self.decoder(self._codes(z), rng.torch_generator(generator))
        levels = torch.arange(self.n_levels, device=z.device)
        return self._level_log_probs(out, levels.expand(self.n_pixels, self.n_levels))

    def log_likelihood(
        self, x: torch.Tensor, z: torch.Tensor, *, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """log p(x | z), summed over pixels; z may carry extra leading sample dimensions."""
        x, out = self._check(x), self.decoder(self._codes(z), rng.torch_generator(generator))
        return self._level_log_probs(out, x.unsqueeze(-1)).squeeze(-1).sum(-1)

    def log_weights(
        self, x: torch.Tensor, n_samples: int, *, generator: rng.Seed = None
    ) -> torch.Tensor:
        """log p(x, z_k) - log q(z_k | x) for n_samples reparameterized draws
        z_k = mean + std * eps: shape (n_samples, batch)."""
        n_samples, generator = check_count(n_samples, "n_samples"), rng.torch_generator(generator)
        mean, log_var = self.encode(x, generator=generator)
        eps = rng.randn((n_samples, *mean.shape), mean, generator)
        z = mean + torch.exp(0.5 * log_var) * eps
        log_q = gaussian_log_prob(z, mean, log_var.exp())
        log_prior = gaussian_log_prob(z, 0.0, 1.0)
        return self.log_likelihood(x, z, generator=generator) + log_prior - log_q

    def elbo(
        self, x: torch.Tensor, beta: float = 1.0, *, generator: rng.Seed = None
    ) -> torch.Tensor:
        """ELBO = E_q[log p(x|z)] - beta KL(q(z|x) || N(0, I)) per image (Kingma & Welling 2014),
        with one reparameterized sample z and the Gaussian KL in closed form. beta = 1 is the
        bound on log p(x); other values weight the KL (the beta-VAE of Higgins et al. 2017)."""
        beta, generator = check_positive(beta, "beta", True), rng.torch_generator(generator)
        mean, log_var = self.encode(x, generator=generator)
        eps = rng.randn(mean.shape, mean, generator)
        z = mean + torch.exp(0.5 * log_var) * eps  # reparameterization
        kl = _kl_to_standard_normal(mean, log_var.exp(), log_var)
        return self.log_likelihood(x, z, generator=generator) - beta * kl

    def iwae(
        self, x: torch.Tensor, n_samples: int, chunk: int = 100, *, generator: rng.Seed = None
    ) -> torch.Tensor:
        """Importance-weighted bound log (1/K) sum_k p(x, z_k)/q(z_k|x) (Burda et al. 2016), per
        image. It increases with K towards log p(x); K = 1 is the (sampled) ELBO."""
        n_samples, chunk = check_count(n_samples, "n_samples"), check_count(chunk, "chunk")
        generator = rng.torch_generator(generator)
        parts = [
            self.log_weights(x, min(chunk, n_samples - k), generator=generator)
            for k in range(0, n_samples, chunk)
        ]
        return torch.logsumexp(torch.cat(parts), dim=0) - math.log(n_samples)

    @torch.no_grad()
    def sample(self, n: int, *, generator: rng.Seed = None) -> torch.Tensor:
        """Images drawn from the model: z ~ N(0, I), then every pixel from its categorical."""
        n, generator = check_count(n, "n"), rng.torch_generator(generator)
        z = rng.randn((n, self.latent_dim), self._like(), generator)
        probs = self.pixel_log_probs(z, generator=generator).exp().reshape(-1, self.n_levels)
        return rng.multinomial(probs, 1, generator).view(n, self.n_pixels)

    @torch.no_grad()
    def decode_mean(
        self, z: torch.Tensor, *, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """Expected pixel values E[x | z] (for smooth pictures of latent traversals)."""
        z = self._codes(z)
        levels = torch.arange(self.n_levels, dtype=z.dtype, device=z.device)
        return (self.pixel_log_probs(z, generator=generator).exp() * levels).sum(-1)


def prior_moment_gap(z: torch.Tensor) -> float:
    """KL(N(m, diag v) || N(0, I)) of the Gaussian with the per-dimension sample means m and
    (unbiased) variances v of codes z (n, k): 0.5 sum_j (v_j + m_j^2 - 1 - ln v_j). It sees only
    each dimension's mean and variance: a positive value shows that z does not follow N(0, I), a
    small one does not show that it does."""
    check_points(z, "z")
    if len(z) < 2:
        raise ValueError(f"z needs at least 2 rows for a variance, got shape {tuple(z.shape)}")
    m, v = z.mean(0), z.var(0)
    return float(_kl_to_standard_normal(m, v, v.log()))


def prior_moment_gap_floor(n: int, k: int) -> float:
    """Expected ``prior_moment_gap`` of n exact draws from N(0, I_k), the sampling-noise floor:
    (k/2) [1/n + ln(nu/2) - psi(nu/2)] with nu = n - 1 (about k/n), since m_j ~ N(0, 1/n) and
    nu v_j ~ chi^2_nu."""
    n, k = check_count(n, "n", minimum=2), check_count(k, "k")
    half_nu = torch.tensor((n - 1) / 2, dtype=torch.float64, device="cpu")
    return 0.5 * k * (1 / n + float(half_nu.log() - torch.special.digamma(half_nu)))


def decoder_step_change(
    model: VAE, z: torch.Tensor, axis: int, h: float, *, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Mean absolute change of the decoded image E[x|z] (grey levels per pixel) when each code in
    z (n, latent_dim) moves by h along latent ``axis``. For a smooth decoder it is proportional to
    h as h -> 0, so doubling a small step doubles it; across a jump it would not grow at all."""
    if not isinstance(model, VAE):
        raise TypeError(f"model must be a VAE, got {type(model).__name__}")
    check_points(z, "z", model.latent_dim)
    axis = check_count(axis, "axis", minimum=0)
    if axis >= model.latent_dim:
        raise ValueError(f"axis must be < latent_dim = {model.latent_dim}, got {axis}")
    if not isinstance(h, (int, float)) or isinstance(h, bool) or not math.isfinite(h) or h == 0:
        raise ValueError(f"h must be a finite nonzero number, got {h!r}")
    step = torch.zeros_like(z)
    step[:, axis] = h
    decoded = model.decode_mean(z + step, generator=generator)
    return (decoded - model.decode_mean(z, generator=generator)).abs().mean(-1)


class TrainingLog:
    """Bookkeeping for ``train_vae``: every ``every`` epochs the validation ELBO is recorded (its
    noise drawn from ``generator``) and the best weights so far are kept (early stopping); a
    wall-clock ``time_budget`` (seconds) stops training before an epoch would overrun it."""

    def __init__(
        self,
        model: VAE,
        validation: torch.Tensor,
        time_budget: float = math.inf,
        every: int = 5,
        *,
        generator: rng.Seed = None,
    ) -> None:
        if not isinstance(model, VAE):
            raise TypeError(f"model must be a VAE, got {type(model).__name__}")
        if not time_budget > 0:
            raise ValueError(f"time_budget must be > 0 seconds, got {time_budget}")
        self.model, self.validation = model, model._check(validation, "validation")
        self.every, self.generator = check_count(every, "every"), rng.torch_generator(generator)
        self.time_budget = time_budget
        self.history: dict[str, list[float]] = {"epoch": [], "seconds": [], "validation_elbo": []}
        self.best, self.best_state = -math.inf, copy.deepcopy(model.state_dict())
        self.start = self.last = time.perf_counter()
        self.longest_epoch, self.epoch = 0.0, 0

    def end_of_epoch(self, epoch: int) -> bool:
        """Record epoch ``epoch`` (from 1); True when the next one would overrun the budget."""
        self.epoch = check_count(epoch, "epoch")
        if epoch % self.every == 0:
            self._record(epoch)
        now = time.perf_counter()
        self.longest_epoch, self.last = max(self.longest_epoch, now - self.last), now
        return now - self.start + self.longest_epoch > self.time_budget

    def _record(self, epoch: int) -> None:
        """Validation ELBO of the current weights (in evaluation mode; the model's mode is
        restored after); keep them if they are the best so far."""
        training = self.model.training
        self.model.eval()
        with torch.no_grad():
            value = float(self.model.elbo(self.validation, generator=self.generator).mean())
        self.model.train(training)
        self.history["epoch"].append(epoch)
        self.history["seconds"].append(time.perf_counter() - self.start)
        self.history["validation_elbo"].append(value)
        if value > self.best:
            self.best, self.best_state = value, copy.deepcopy(self.model.state_dict())

    def finish(self) -> dict[str, list[float]]:
        """Score the last epoch if it was not scored, load the best weights, switch to
        evaluation mode, return the history."""
        if self.epoch and self.history["epoch"][-1:] != [self.epoch]:
            self._record(self.epoch)
        self.model.load_state_dict(self.best_state)
        self.model.eval()
        return self.history


def train_vae(
    model: VAE,
    train: np.ndarray,
    validation: np.ndarray,
    max_epochs: int = 150,
    n_importance: int = 1,
    beta: float = 1.0,
    batch_size: int = 100,
    lr: float = 1e-3,
    *,
    generator: rng.Seed = 0,
    time_budget: float = math.inf,
) -> dict[str, list[float]]:
    """Adam on minibatches of the ELBO (``n_importance = 1``, the KL weighted by ``beta``) or of
    the IWAE bound with ``n_importance`` samples (Burda et al. 2016). Stops after ``max_epochs``
    or ``time_budget`` seconds and returns the model with the best validation ELBO's weights, in
    evaluation mode. Batches, dropout masks and z are drawn from ``generator``."""
    generator = rng.torch_generator(generator)
    log = TrainingLog(model, validation, time_budget, generator=generator)
    x_train = model._check(train, "train")
    for value, name in [(max_epochs, "max_epochs"), (n_importance, "n_importance"),
                        (batch_size, "batch_size")]:
        check_count(value, name)
    beta = check_positive(beta, "beta", allow_zero=True)
    n_batches = math.ceil(len(x_train) / batch_size)
    batches: list[torch.Tensor] = []

    def loss(step: int) -> torch.Tensor:
        if (step - 1) % n_batches == 0:  # a new epoch: dropout on, a new order of the data
            model.train()
            batches[:] = rng.randperm(len(x_train), x_train, generator).split(batch_size)
        x = x_train[batches[(step - 1) % n_batches]]
        if n_importance == 1:
            return -model.elbo(x, beta, generator=generator).mean()
        return -model.iwae(x, n_importance, generator=generator).mean()

    def end_of_epoch(step: int) -> bool:
        return step % n_batches == 0 and log.end_of_epoch(step // n_batches)

    minimize(loss, model.parameters(), max_epochs * n_batches, lr=lr, cosine=False,
             callback=end_of_epoch, desc="VAE", show_progress=False)
    return log.finish()
