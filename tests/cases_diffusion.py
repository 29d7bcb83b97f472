"""Common-test cases (see test_common.py) for course_lib.diffusion."""

import numpy as np
import torch

from course_lib import diffusion as df

SHORT = df.NoiseSchedule.linear(40)
F64 = torch.float64


def points(n: int = 16, d: int = 2, seed: int = 0) -> torch.Tensor:
    return torch.randn(n, d, generator=torch.Generator().manual_seed(seed), dtype=F64)


def gaussian() -> df.GaussianDenoiser:
    cov = torch.tensor([[1.0, 0.3], [0.3, 0.5]], dtype=F64)
    return df.GaussianDenoiser(torch.tensor([0.5, -1.0], dtype=F64), cov)


def mixture() -> df.MixtureDenoiser:
    return df.MixtureDenoiser(points(3), stds=0.2, weights=torch.tensor([1.0, 2.0, 1.0]))


def net(dim: int = 2) -> df.TimeMLP:
    return df.TimeMLP(dim, 8, 1, generator=0).double()  # the same weights in every setup


def exact_eps():
    return df.ExactEpsilon(gaussian(), SHORT)


def conditional_net() -> df.TimeMLP:
    return df.TimeMLP(2, 8, 1, generator=0, num_classes=3).double()


def exact_conditional() -> df.ExactConditional:
    classes = [df.MixtureDenoiser(points(2, seed=c), stds=0.3) for c in range(3)]
    return df.ExactConditional(classes, SHORT, weights=torch.tensor([1.0, 2.0, 1.0]))


LABELS = torch.arange(16) % 3


def run(keep=range(1, 4)) -> df.Reverse:
    return df.sample_ddpm(exact_eps(), points(), SHORT, generator=0, keep=keep)


STOCHASTIC = {
    "diffusion.q_sample": lambda seed: df.q_sample(points(), 5, SHORT, generator=seed),
    "diffusion.ddpm_loss": (
        lambda: (net(),), lambda seed, m: df.ddpm_loss(m, points(), SHORT, generator=seed)
    ),
    "diffusion.flow_matching_loss": (
        lambda: (net(),), lambda seed, m: df.flow_matching_loss(m, points(), generator=seed)
    ),
    "diffusion.denoising_error": (
        lambda: (net(),), lambda seed, m: df.denoising_error(m, points(), 5, SHORT, generator=seed)
    ),
    "diffusion.TimeMLP": lambda seed: df.TimeMLP(2, 8, 1, generator=seed),
    "diffusion.train_diffusion (DDPM)": (
        lambda: (net(),),
        lambda seed, m: (df.train_diffusion(m, points(32), SHORT, n_steps=3, batch_size=8,
                                            generator=seed, show_progress=False), m),
    ),
    "diffusion.train_diffusion (flow matching)": (
        lambda: (net(),),
        lambda seed, m: (df.train_diffusion(m, points(32), None, n_steps=3, batch_size=8,
                                            generator=seed, show_progress=False), m),
    ),
    "diffusion.ddpm_step": lambda seed: df.ddpm_step(
        points(), 5, points(seed=1), SHORT, generator=seed
    ),
    "diffusion.sample_ddpm": lambda seed: df.sample_ddpm(
        exact_eps(), points(), SHORT, generator=seed, keep=[3, 2]
    ),
    "diffusion.GaussianDenoiser.sample": lambda seed: gaussian().sample(10, generator=seed),
    "diffusion.GaussianDenoiser.marginal_sample": lambda seed: gaussian().marginal_sample(
        10, 0.5, generator=seed
    ),
    "diffusion.MixtureDenoiser.sample": lambda seed: mixture().sample(10, generator=seed),
    "diffusion.interpolant_sde_step": lambda seed: df.interpolant_sde_step(
        points(seed=1), 0.5, 0.1, points(), 1.0, generator=seed
    ),
    "diffusion.sample_interpolant_sde": lambda seed: df.sample_interpolant_sde(
        df.ExactVelocity(gaussian()), points(), 5, lambda t: 0.5, generator=seed, keep=[3, 1]
    ),
    "diffusion.ddpm_loss (labels)": (
        lambda: (conditional_net(),),
        lambda seed, m: df.ddpm_loss(m, points(), SHORT, generator=seed, labels=LABELS),
    ),
    "diffusion.train_diffusion (labels, label dropout)": (
        lambda: (conditional_net(),),
        lambda seed, m: (df.train_diffusion(m, points(), SHORT, n_steps=3, batch_size=8,
                                            generator=seed, show_progress=False, labels=LABELS,
                                            label_dropout=0.3), m),
    ),
    "diffusion.TimeMLP (num_classes)": lambda seed: df.TimeMLP(
        2, 8, 1, generator=seed, num_classes=3
    ),
    "diffusion.sample_ddpm (Guided)": lambda seed: df.sample_ddpm(
        df.Guided(exact_conditional(), LABELS, 2.0), points(), SHORT, generator=seed, keep=[3]
    ),
}

# Not here: TimeMLP's constructor, which builds on torch's default device like nn.Linear (its
# forward is here).
DEVICE = {
    "diffusion.NoiseSchedule.linear": (tuple, lambda: df.NoiseSchedule.linear(40).alpha_bar),
    "diffusion.NoiseSchedule": (
        lambda: (torch.full((5,), 0.1, dtype=F64),), lambda b: df.NoiseSchedule(b).alpha_bar
    ),
    "diffusion.NoiseSchedule.coefficients": (
        lambda: (points(),), lambda x: SHORT.coefficients(3, x)
    ),
    "diffusion.forward_marginal": (lambda: (points(),), lambda x: df.forward_marginal(x, 3, SHORT)),
    "diffusion.q_sample": (lambda: (points(),), lambda x: df.q_sample(x, 3, SHORT, generator=0)),
    "diffusion.q_sample (global stream)": (lambda: (points(),), lambda x: df.q_sample(x, 3, SHORT)),
    "diffusion.predict_x0": (
        lambda: (points(), points(seed=1)), lambda x, e: df.predict_x0(x, e, 3, SHORT)
    ),
    "diffusion.ddpm_loss": (
        lambda: (net(), points()), lambda m, x: df.ddpm_loss(m, x, SHORT, generator=0)
    ),
    "diffusion.denoising_error": (
        lambda: (exact_eps(), points()),
        lambda m, x: torch.tensor(df.denoising_error(m, x, 3, SHORT, 0), dtype=F64, device="cpu"),
    ),
    "diffusion.flow_matching_loss": (
        lambda: (net(), points()), lambda m, x: df.flow_matching_loss(m, x, generator=0)
    ),
    "diffusion.train_diffusion": (
        lambda: (net(), points()),
        lambda m, x: (df.train_diffusion(m, x, SHORT, n_steps=2, batch_size=4, generator=0,
                                         show_progress=False), m),
    ),
    "diffusion.TimeMLP.forward": (lambda: (net(), points()), lambda m, x: m(x, 0.5)),
    "diffusion.ddpm_step": (
        lambda: (points(), points(seed=1)), lambda e, x: df.ddpm_step(e, 3, x, SHORT, generator=0)
    ),
    "diffusion.ddim_step": (
        lambda: (points(), points(seed=1)), lambda e, x: df.ddim_step(e, 3, 1, x, SHORT, (-1, 1))
    ),
    "diffusion.flow_matching_step": (
        lambda: (points(), points(seed=1)), lambda v, x: df.flow_matching_step(v, 0.5, 0.1, x)
    ),
    "diffusion.sample_ddpm": (
        lambda: (exact_eps(), points()),
        lambda m, x: df.sample_ddpm(m, x, SHORT, generator=0, keep=[2, 1]),
    ),
    "diffusion.sample_ddpm (global stream)": (
        lambda: (exact_eps(), points()), lambda m, x: df.sample_ddpm(m, x, SHORT)
    ),
    "diffusion.sample_ddim": (
        lambda: (exact_eps(), points()), lambda m, x: df.sample_ddim(m, x, SHORT, 5, keep_all=True)
    ),
    "diffusion.sample_flow_matching": (
        lambda: (df.ExactVelocity(mixture()), points()),
        lambda m, x: df.sample_flow_matching(m, x, 5, keep_all=True),
    ),
    "diffusion.x0_variance": (lambda: (run(),), df.x0_variance),
    "diffusion.GaussianDenoiser": (
        lambda: (points(seed=2)[0], torch.eye(2, dtype=F64)),
        lambda m, c: vars(df.GaussianDenoiser(m, c)),
    ),
    "diffusion.GaussianDenoiser.fit": (
        lambda: (points(),), lambda x: vars(df.GaussianDenoiser.fit(x))
    ),
    "diffusion.GaussianDenoiser.denoise": (
        lambda: (gaussian(), points()), lambda g, x: g.denoise(x, 0.6, 0.8)
    ),
    "diffusion.GaussianDenoiser.score": (
        lambda: (gaussian(), points()), lambda g, x: g.score(x, 0.6, 0.8)
    ),
    "diffusion.GaussianDenoiser.pf_ode": (
        lambda: (gaussian(), points()), lambda g, x: g.pf_ode(x, 0.1, 0.9)
    ),
    "diffusion.GaussianDenoiser.sample": (
        lambda: (gaussian(),), lambda g: (g.sample(5, generator=0), g.marginal_sample(5, 0.3))
    ),
    "diffusion.MixtureDenoiser": (
        lambda: (points(3),), lambda m: vars(df.MixtureDenoiser(m, stds=0.1))
    ),
    "diffusion.MixtureDenoiser.sample": (lambda: (mixture(),), lambda g: g.sample(5, generator=0)),
    "diffusion.MixtureDenoiser.denoise": (
        lambda: (mixture(), points()),
        lambda g, x: (g.denoise(x, 0.6, 0.8), g.denoise(x, x[:, :1].abs(), 1 + x[:, 1:].abs())),
    ),
    "diffusion.ExactEpsilon": (
        lambda: (exact_eps(), points(), torch.full((16,), 0.5, dtype=F64)), lambda m, x, t: m(x, t)
    ),
    "diffusion.ExactVelocity": (
        lambda: (df.ExactVelocity(gaussian()), points()), lambda m, x: m(x, 0.3)
    ),
    "diffusion.GaussianPlusNetwork": (
        lambda: (df.GaussianPlusNetwork(gaussian(), SHORT, net()), points(), torch.tensor(0.5)),
        lambda m, x, t: m(x, t),
    ),
    "diffusion.velocity_to_score": (
        lambda: (points(), points(seed=1)), lambda v, x: df.velocity_to_score(v, x, 0.3)
    ),
    "diffusion.interpolant_sde_step": (
        lambda: (points(), points(seed=1)),
        lambda v, x: df.interpolant_sde_step(v, 0.5, 0.1, x, 2.0, generator=0),
    ),
    "diffusion.sample_interpolant_sde": (
        lambda: (df.ExactVelocity(mixture()), points()),
        lambda m, x: df.sample_interpolant_sde(m, x, 5, 1.0, generator=0, keep=range(1, 6)),
    ),
    "diffusion.sample_interpolant_sde (global stream)": (
        lambda: (df.ExactVelocity(gaussian()), points()),
        lambda m, x: df.sample_interpolant_sde(m, x, 5, lambda t: 0.5),
    ),
    "diffusion.interpolant_marginal": (
        lambda: (gaussian(),), lambda g: df.interpolant_marginal(g, 0.3)
    ),
    "diffusion.interpolant_noise_correlation": (
        lambda: (gaussian(),), lambda g: df.interpolant_noise_correlation(g, 1.0, 0.2)
    ),
    "diffusion.TimeMLP.forward (labels)": (
        lambda: (conditional_net(), points()),
        lambda m, x: (m(x, 0.5, LABELS), m(x, 0.5), m(x, 0.5, 3)),
    ),
    "diffusion.ddpm_loss (labels)": (
        lambda: (conditional_net(), points()),
        lambda m, x: df.ddpm_loss(m, x, SHORT, generator=0, labels=LABELS),
    ),
    "diffusion.train_diffusion (labels, label dropout)": (
        lambda: (conditional_net(), points()),
        lambda m, x: (df.train_diffusion(m, x, None, n_steps=2, batch_size=4, generator=0,
                                         show_progress=False, labels=LABELS, label_dropout=0.5), m),
    ),
    "diffusion.Guided": (
        lambda: (df.Guided(conditional_net(), LABELS, 1.5), points()), lambda m, x: m(x, 0.5)
    ),
    "diffusion.ExactConditional": (
        lambda: (exact_conditional(), points()),
        lambda m, x: (m(x, 0.5, LABELS), m(x, 0.5, 1), m(x, 0.5)),
    ),
    "diffusion.ExactConditional.log_prob": (
        lambda: (exact_conditional(), points()),
        lambda m, x: (m.log_prob(x, 0.5, LABELS), m.log_prob(x)),
    ),
    "diffusion.sample_ddim (Guided)": (
        lambda: (df.Guided(exact_conditional(), 2, 4.0), points()),
        lambda m, x: df.sample_ddim(m, x, SHORT, 5),
    ),
}

X = points()
_BAD = [
    ("NoiseSchedule betas > 1", lambda: df.NoiseSchedule(torch.tensor([0.1, 1.5])), ValueError,
     "betas"),
    ("NoiseSchedule betas list", lambda: df.NoiseSchedule([0.1]), TypeError, "betas"),
    ("NoiseSchedule.linear T=0", lambda: df.NoiseSchedule.linear(0), ValueError, "T"),
    ("NoiseSchedule.linear T float", lambda: df.NoiseSchedule.linear(10.0), TypeError, "T"),
    ("NoiseSchedule.linear beta_end", lambda: df.NoiseSchedule.linear(10), ValueError, "beta_end"),
    ("NoiseSchedule.linear beta_start", lambda: df.NoiseSchedule.linear(100, -1e-4), ValueError,
     "beta_start"),
    ("coefficients t float", lambda: SHORT.coefficients(torch.tensor(0.5), X), TypeError, "t"),
    ("coefficients t shape", lambda: SHORT.coefficients(torch.tensor([1, 2]), X), ValueError, "t"),
    ("forward_marginal t > T", lambda: df.forward_marginal(X, 41, SHORT), ValueError, "0..40"),
    ("forward_marginal x0 1D", lambda: df.forward_marginal(X[0], 1, SHORT), ValueError, "x0"),
    ("forward_marginal schedule", lambda: df.forward_marginal(X, 1, None), TypeError, "schedule"),
    ("q_sample noise shape", lambda: df.q_sample(X, 3, SHORT, X[:, :1]), ValueError, "noise"),
    ("q_sample x0 NaN", lambda: df.q_sample(X * np.nan, 3, SHORT), ValueError, "x0"),
    ("q_sample generator", lambda: df.q_sample(X, 3, SHORT, generator=0.5), TypeError,
     "generator"),
    ("predict_x0 eps shape", lambda: df.predict_x0(X, X[:3], 3, SHORT), ValueError, "eps"),
    ("ddpm_loss numpy x0", lambda: df.ddpm_loss(net(), np.zeros((3, 2)), SHORT), TypeError, "x0"),
    ("ddpm_loss empty x0", lambda: df.ddpm_loss(net(), X[:0], SHORT), ValueError, "x0"),
    ("ddpm_loss model", lambda: df.ddpm_loss(None, X, SHORT), TypeError, "model"),
    ("denoising_error t=0", lambda: df.denoising_error(net(), X, 0, SHORT), ValueError, "t"),
    ("denoising_error t > T", lambda: df.denoising_error(net(), X, 41, SHORT), ValueError, "t"),
    ("denoising_error one point", lambda: df.denoising_error(net(), X[:1], 3, SHORT), ValueError,
     "x0"),
    ("flow_matching_loss x0 3D", lambda: df.flow_matching_loss(net(), X[None]), ValueError, "x0"),
    ("TimeMLP dim=0", lambda: df.TimeMLP(0), ValueError, "dim"),
    ("TimeMLP odd time_features", lambda: df.TimeMLP(2, time_features=5), ValueError,
     "time_features"),
    ("TimeMLP.forward x", lambda: net()(X[:, :1], 0.5), ValueError, "x"),
    ("TimeMLP.forward time", lambda: net()(X, torch.zeros(3, dtype=F64)), ValueError, "time"),
    ("train_diffusion n_steps=0",
     lambda: df.train_diffusion(net(), X, SHORT, n_steps=0, show_progress=False), ValueError,
     "n_steps"),
    ("train_diffusion batch_size=0",
     lambda: df.train_diffusion(net(), X, SHORT, batch_size=0, show_progress=False), ValueError,
     "batch_size"),
    ("train_diffusion lr<0",
     lambda: df.train_diffusion(net(), X, SHORT, n_steps=1, lr=-1.0, show_progress=False),
     ValueError, "lr"),
    ("train_diffusion data NaN",
     lambda: df.train_diffusion(net(), X * np.nan, SHORT, show_progress=False), ValueError,
     "data"),
    ("train_diffusion model", lambda: df.train_diffusion(exact_eps(), X, SHORT), ValueError,
     "model"),
    ("train_diffusion schedule", lambda: df.train_diffusion(net(), X, 20), TypeError, "schedule"),
    ("train_diffusion seed=", lambda: df.train_diffusion(net(), X, SHORT, seed=0), TypeError,
     "seed"),
    ("ddpm_step t=0", lambda: df.ddpm_step(X, 0, X, SHORT), ValueError, "t"),
    ("ddpm_step eps shape", lambda: df.ddpm_step(X[:2], 3, X, SHORT), ValueError, "eps"),
    ("ddpm_step clip", lambda: df.ddpm_step(X, 3, X, SHORT, clip=(1, -1)), ValueError, "clip"),
    ("ddim_step t_prev > t", lambda: df.ddim_step(X, 3, 4, X, SHORT), ValueError, "t_prev"),
    ("flow_matching_step dt=0", lambda: df.flow_matching_step(X, 0.5, 0.0, X), ValueError, "dt"),
    ("flow_matching_step v shape", lambda: df.flow_matching_step(X[:1], 0.5, 0.1, X), ValueError,
     "v"),
    ("sample_ddpm keep", lambda: df.sample_ddpm(exact_eps(), X, SHORT, keep=[0]), ValueError,
     "keep"),
    ("sample_ddpm x_T", lambda: df.sample_ddpm(exact_eps(), X[0], SHORT), ValueError, "x_T"),
    ("sample_ddpm generator", lambda: df.sample_ddpm(exact_eps(), X, SHORT, "0"), TypeError,
     "generator"),
    ("sample_ddim n_steps=0", lambda: df.sample_ddim(exact_eps(), X, SHORT, 0), ValueError,
     "n_steps"),
    ("sample_ddim t_start", lambda: df.sample_ddim(exact_eps(), X, SHORT, 5, t_start=41),
     ValueError, "t_start"),
    ("sample_ddim n_steps>T", lambda: df.sample_ddim(exact_eps(), X, SHORT, 41), ValueError,
     "n_steps"),
    ("sample_ddim n_steps>t_start", lambda: df.sample_ddim(exact_eps(), X, SHORT, 6, t_start=5),
     ValueError, "n_steps"),
    ("sample_flow_matching n_steps",
     lambda: df.sample_flow_matching(df.ExactVelocity(gaussian()), X, -1), ValueError, "n_steps"),
    ("sample_flow_matching model", lambda: df.sample_flow_matching(3, X), TypeError, "model"),
    ("x0_variance one step", lambda: df.x0_variance(run(keep=[1])), ValueError, "run"),
    ("x0_variance tensor", lambda: df.x0_variance(X), TypeError, "run"),
    ("GaussianDenoiser cov shape", lambda: df.GaussianDenoiser(X[0], torch.eye(3)), ValueError,
     "cov"),
    ("GaussianDenoiser cov not PSD", lambda: df.GaussianDenoiser(X[0], -torch.eye(2)), ValueError,
     "cov"),
    ("GaussianDenoiser mean NaN", lambda: df.GaussianDenoiser(X[0] * np.nan, torch.eye(2)),
     ValueError, "mean"),
    ("GaussianDenoiser.fit 1D", lambda: df.GaussianDenoiser.fit(X[0]), ValueError, "data"),
    ("GaussianDenoiser.denoise sigma=0", lambda: gaussian().denoise(X, 1.0, 0.0), ValueError,
     "sigma"),
    ("GaussianDenoiser.denoise x dim", lambda: gaussian().denoise(X[:, :1], 0.5, 0.5), ValueError,
     "x"),
    ("GaussianDenoiser.score alpha<0", lambda: gaussian().score(X, -0.5, 0.5), ValueError,
     "alpha"),
    ("GaussianDenoiser.mmse sigma<0", lambda: gaussian().mmse(0.5, -0.5), ValueError, "sigma"),
    ("GaussianDenoiser.pf_ode from=1", lambda: gaussian().pf_ode(X, 1.0, 0.5), ValueError,
     "alpha_bar_from"),
    ("GaussianDenoiser.pf_ode to>1", lambda: gaussian().pf_ode(X, 0.5, 1.5), ValueError,
     "alpha_bar_to"),
    ("GaussianDenoiser.sample n=0", lambda: gaussian().sample(0), ValueError, "n"),
    ("GaussianDenoiser.marginal_sample alpha_bar",
     lambda: gaussian().marginal_sample(3, 2.0), ValueError, "alpha_bar"),
    ("MixtureDenoiser means 1D", lambda: df.MixtureDenoiser(X[0]), ValueError, "means"),
    ("MixtureDenoiser stds<0", lambda: df.MixtureDenoiser(X, stds=-1.0), ValueError, "stds"),
    ("MixtureDenoiser stds length", lambda: df.MixtureDenoiser(X, stds=torch.ones(3)),
     ValueError, "stds"),
    ("MixtureDenoiser weights zero", lambda: df.MixtureDenoiser(X[:2], weights=torch.zeros(2)),
     ValueError, "weights"),
    ("MixtureDenoiser weights length", lambda: df.MixtureDenoiser(X[:2], weights=torch.ones(3)),
     ValueError, "weights"),
    ("MixtureDenoiser.denoise sigma=0", lambda: mixture().denoise(X, 1.0, 0.0), ValueError,
     "sigma"),
    ("MixtureDenoiser.denoise x dim", lambda: mixture().denoise(X[:, :1], 0.5, 0.5), ValueError,
     "x"),
    ("MixtureDenoiser.sample n=0", lambda: mixture().sample(0), ValueError, "n"),
    ("ExactEpsilon denoiser", lambda: df.ExactEpsilon(net(), SHORT), TypeError, "denoiser"),
    ("ExactEpsilon schedule", lambda: df.ExactEpsilon(gaussian(), 20), TypeError, "schedule"),
    ("ExactEpsilon time=0", lambda: exact_eps()(X, torch.tensor(0.0)), ValueError, "t"),
    ("ExactEpsilon time=0 (a number)", lambda: exact_eps()(X, 0), ValueError, "time"),
    ("ExactEpsilon x list", lambda: exact_eps()(X.tolist(), 0.5), TypeError, "x"),
    ("flow_matching_step x list", lambda: df.flow_matching_step(X, 0.5, 0.1, X.tolist()),
     TypeError, "x"),
    ("GaussianDenoiser.denoise x list", lambda: gaussian().denoise(X.tolist(), 0.5, 0.5),
     TypeError, "x"),
    ("GaussianDenoiser.score x list", lambda: gaussian().score(X.tolist(), 0.5, 0.5), TypeError,
     "x"),
    ("ExactVelocity time=0", lambda: df.ExactVelocity(gaussian())(X, 0.0), ValueError, "time"),
    ("ExactVelocity denoiser", lambda: df.ExactVelocity("gauss"), TypeError, "denoiser"),
    ("GaussianPlusNetwork net", lambda: df.GaussianPlusNetwork(gaussian(), SHORT, torch.nn.SiLU()),
     ValueError, "net"),
    ("GaussianPlusNetwork gaussian", lambda: df.GaussianPlusNetwork(mixture(), SHORT, net()),
     TypeError, "gaussian"),
    ("TimeMLP num_classes=0", lambda: df.TimeMLP(2, num_classes=0), ValueError, "num_classes"),
    ("TimeMLP num_classes float", lambda: df.TimeMLP(2, num_classes=3.0), TypeError,
     "num_classes"),
    ("TimeMLP.forward labels without classes", lambda: net()(X, 0.5, LABELS), ValueError,
     "labels"),
    ("TimeMLP.forward labels > null", lambda: conditional_net()(X, 0.5, 4), ValueError, "labels"),
    ("TimeMLP.forward labels < 0", lambda: conditional_net()(X, 0.5, LABELS - 1), ValueError,
     "labels"),
    ("TimeMLP.forward labels float", lambda: conditional_net()(X, 0.5, LABELS.double()),
     TypeError, "labels"),
    ("TimeMLP.forward labels list", lambda: conditional_net()(X, 0.5, [0] * 16), TypeError,
     "labels"),
    ("TimeMLP.forward labels length", lambda: conditional_net()(X, 0.5, LABELS[:5]), ValueError,
     "labels"),
    ("TimeMLP.forward labels bool", lambda: conditional_net()(X, 0.5, True), TypeError, "labels"),
    ("ddpm_loss labels shape", lambda: df.ddpm_loss(conditional_net(), X, SHORT,
                                                    labels=LABELS[None]), ValueError, "labels"),
    ("train_diffusion label_dropout>1",
     lambda: df.train_diffusion(conditional_net(), X, SHORT, labels=LABELS, label_dropout=1.5,
                                show_progress=False), ValueError, "label_dropout"),
    ("train_diffusion label_dropout<0",
     lambda: df.train_diffusion(conditional_net(), X, SHORT, labels=LABELS, label_dropout=-0.1,
                                show_progress=False), ValueError, "label_dropout"),
    ("train_diffusion label_dropout NaN",
     lambda: df.train_diffusion(conditional_net(), X, SHORT, labels=LABELS,
                                label_dropout=float("nan"), show_progress=False), ValueError,
     "label_dropout"),
    ("train_diffusion label_dropout without labels",
     lambda: df.train_diffusion(conditional_net(), X, SHORT, label_dropout=0.1,
                                show_progress=False), ValueError, "label_dropout"),
    ("train_diffusion labels, unconditional model",
     lambda: df.train_diffusion(net(), X, SHORT, labels=LABELS, show_progress=False), ValueError,
     "labels"),
    ("train_diffusion labels length",
     lambda: df.train_diffusion(conditional_net(), X, SHORT, labels=LABELS[:4],
                                show_progress=False), ValueError, "labels"),
    ("train_diffusion labels = null",
     lambda: df.train_diffusion(conditional_net(), X, SHORT, labels=LABELS + 1,
                                show_progress=False), ValueError, "labels"),
    ("Guided weight<0", lambda: df.Guided(conditional_net(), 0, -1.0), ValueError, "weight"),
    ("Guided weight inf", lambda: df.Guided(conditional_net(), 0, float("inf")), ValueError,
     "weight"),
    ("Guided weight tensor", lambda: df.Guided(conditional_net(), 0, torch.tensor(1.0)),
     TypeError, "weight"),
    ("Guided model", lambda: df.Guided(net(), 0, 1.0), ValueError, "model"),
    ("Guided labels = null", lambda: df.Guided(conditional_net(), 3, 1.0), ValueError, "labels"),
    ("Guided labels 2D", lambda: df.Guided(conditional_net(), LABELS[None], 1.0), ValueError,
     "labels"),
    ("Guided labels float", lambda: df.Guided(conditional_net(), 1.0, 1.0), TypeError, "labels"),
    ("Guided x rows", lambda: df.Guided(conditional_net(), LABELS, 1.0)(X[:3], 0.5), ValueError,
     "x"),
    ("ExactConditional classes", lambda: df.ExactConditional([gaussian()], SHORT), TypeError,
     "classes"),
    ("ExactConditional no classes", lambda: df.ExactConditional([], SHORT), TypeError,
     "classes"),
    ("ExactConditional dimensions",
     lambda: df.ExactConditional([mixture(), df.MixtureDenoiser(points(2, 3))], SHORT),
     ValueError, "classes"),
    ("ExactConditional weights length",
     lambda: df.ExactConditional([mixture()], SHORT, torch.ones(2)), ValueError, "weights"),
    ("ExactConditional weights zero",
     lambda: df.ExactConditional([mixture()], SHORT, torch.zeros(1)), ValueError, "weights"),
    ("ExactConditional schedule", lambda: df.ExactConditional([mixture()], 40), TypeError,
     "schedule"),
    ("ExactConditional labels > null", lambda: exact_conditional()(X, 0.5, 4), ValueError,
     "labels"),
    ("ExactConditional.log_prob alpha_bar",
     lambda: exact_conditional().log_prob(X, 1.5), ValueError, "alpha_bar"),
    ("ExactConditional.log_prob labels",
     lambda: exact_conditional().log_prob(X, 0.5, LABELS[:3]), ValueError, "labels"),
    ("vp_alpha_bar t>1", lambda: df.vp_alpha_bar(1.5), ValueError, "t"),
    ("vp_alpha_bar beta_max", lambda: df.vp_alpha_bar(0.5, 1.0, 0.5), ValueError, "beta_max"),
    ("velocity_to_score t=0", lambda: df.velocity_to_score(X, X, 0.0), ValueError, "t"),
    ("velocity_to_score t>1", lambda: df.velocity_to_score(X, X, 1.5), ValueError, "t"),
    ("velocity_to_score v shape", lambda: df.velocity_to_score(X[:3], X, 0.5), ValueError, "v"),
    ("interpolant_sde_step diffusion<0",
     lambda: df.interpolant_sde_step(X, 0.5, 0.1, X, -1.0), ValueError, "diffusion"),
    ("interpolant_sde_step diffusion str",
     lambda: df.interpolant_sde_step(X, 0.5, 0.1, X, "1"), TypeError, "diffusion"),
    ("interpolant_sde_step diffusion(t) NaN",
     lambda: df.interpolant_sde_step(X, 0.5, 0.1, X, lambda t: float("nan")), ValueError,
     "diffusion(t)"),
    ("interpolant_sde_step diffusion(t) tensor",
     lambda: df.interpolant_sde_step(X, 0.5, 0.1, X, lambda t: X), TypeError, "diffusion(t)"),
    ("interpolant_sde_step dt=0", lambda: df.interpolant_sde_step(X, 0.5, 0.0, X), ValueError,
     "dt"),
    ("interpolant_sde_step generator",
     lambda: df.interpolant_sde_step(X, 0.5, 0.1, X, 1.0, generator="0"), TypeError,
     "generator"),
    ("sample_interpolant_sde n_steps=0",
     lambda: df.sample_interpolant_sde(df.ExactVelocity(gaussian()), X, 0), ValueError,
     "n_steps"),
    ("sample_interpolant_sde n_steps float",
     lambda: df.sample_interpolant_sde(df.ExactVelocity(gaussian()), X, 10.0), TypeError,
     "n_steps"),
    ("sample_interpolant_sde diffusion<0",
     lambda: df.sample_interpolant_sde(df.ExactVelocity(gaussian()), X, 5, -0.5), ValueError,
     "diffusion"),
    ("sample_interpolant_sde diffusion list",
     lambda: df.sample_interpolant_sde(df.ExactVelocity(gaussian()), X, 5, [0.5]), TypeError,
     "diffusion"),
    ("sample_interpolant_sde keep",
     lambda: df.sample_interpolant_sde(df.ExactVelocity(gaussian()), X, 5, keep=[0]), ValueError,
     "keep"),
    ("sample_interpolant_sde model", lambda: df.sample_interpolant_sde(None, X), TypeError,
     "model"),
    ("sample_interpolant_sde x_1", lambda: df.sample_interpolant_sde(
        df.ExactVelocity(gaussian()), X[0]), ValueError, "x_1"),
    ("interpolant_marginal gaussian", lambda: df.interpolant_marginal(mixture(), 0.5), TypeError,
     "gaussian"),
    ("interpolant_marginal t>1", lambda: df.interpolant_marginal(gaussian(), 1.5), ValueError,
     "t"),
    ("interpolant_noise_correlation diffusion<0",
     lambda: df.interpolant_noise_correlation(gaussian(), -1.0), ValueError, "diffusion"),
    ("interpolant_noise_correlation t<0",
     lambda: df.interpolant_noise_correlation(gaussian(), 1.0, -0.1), ValueError, "t"),
    ("vp_pf_ode_drift score shape", lambda: df.vp_pf_ode_drift(np.zeros(2), 0.5, np.zeros(3)),
     ValueError, "score"),
]

BAD_INPUTS = [(f"diffusion.{name}", *rest) for name, *rest in _BAD]
