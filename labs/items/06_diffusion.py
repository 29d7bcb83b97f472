"""Graded items of lab 06 (diffusion models). Read by the grader only (see
course_grader/items.py)."""

import math

import numpy as np
import torch

from course_grader.items import Case, Item
from course_lib import diffusion as df
from course_lib.data import two_moons
from course_lib.stats import energy_distance

HIDE = {
    "diffusion": [
        "q_sample",
        "forward_marginal",
        "ddpm_loss",
        "sample_ddpm",
        "sample_ddim",
        "predict_x0",
        "train_diffusion",
        "flow_matching_loss",
        "sample_flow_matching",
        "ddpm_step",
        "ddim_step",
        "flow_matching_step",
    ],
    "memorization": ["half_split_experiment", "half_split_sweep", "Ensemble"],
}
SCHEDULE = df.NoiseSchedule.linear(1000)


def _params(module):
    return {f"p:{k}": v.detach().numpy() for k, v in module.state_dict().items()}


LOAD = (
    "net.load_state_dict({k[2:]: torch.as_tensor(v) for k, v in list(globals().items()) "
    "if k.startswith('p:')})\n"
)


def forward_cases(rng):
    x, noise = rng.normal(size=(64, 5)), rng.normal(size=(64, 5))
    t = rng.integers(0, SCHEDULE.T + 1, size=64)
    expected = df.q_sample(torch.tensor(x), torch.tensor(t), SCHEDULE, torch.tensor(noise)).numpy()
    return [
        Case(
            {"x": x, "noise": noise, "t": t, "alpha_bar": SCHEDULE.alpha_bar.numpy()},
            lambda out: (
                out["result"].shape == expected.shape
                and np.allclose(out["result"], expected, atol=1e-10)
            ),
        )
    ]


def loss_cases(rng):
    seed = int(rng.integers(2**31))
    torch.manual_seed(seed)
    net = df.TimeMLP(2, hidden=16, depth=1)
    x0 = two_moons(256, 0.05, generator=int(rng.integers(2**31))).astype(np.float32)
    draw_seed = int(rng.integers(2**31))
    with torch.no_grad():
        reference = df.ddpm_loss(
            net, torch.tensor(x0), SCHEDULE, torch.Generator().manual_seed(draw_seed)
        ).item()
    same = Case(
        {
            "x0": x0,
            "seed": np.int64(draw_seed),
            "alpha_bar": SCHEDULE.alpha_bar.float().numpy(),
            **_params(net),
        },
        lambda out: (
            out["loss"].size == 1
            and np.isclose(float(out["loss"].ravel()[0]), reference, rtol=1e-4)
            and bool(out["grads"])
        ),
        call="import torch\nfrom course_lib import diffusion as df\n"
        "net = df.TimeMLP(2, hidden=16, depth=1)\n"
        + LOAD
        + "loss = ddpm_loss(net, torch.as_tensor(x0), torch.as_tensor(alpha_bar), "
        "torch.Generator().manual_seed(int(seed)))\n"
        "loss.backward()\n"
        "result = {'loss': loss.detach().reshape(()), "
        "'grads': all(p.grad is not None for p in net.parameters())}",
    )
    mean = rng.normal(size=3)
    scales = rng.uniform(0.5, 2.0, size=3)
    gauss = df.GaussianDenoiser(torch.tensor(mean), torch.diag(torch.tensor(scales)))
    short = df.NoiseSchedule.linear(50)
    ab = short.alpha_bar[1:].numpy()
    theory = float(np.mean([a / (1 - a) * gauss.mmse(math.sqrt(a), math.sqrt(1 - a)) for a in ab]))
    xh = (
        gauss.sample(40_000, torch.Generator().manual_seed(int(rng.integers(2**31))))
        .float()
        .numpy()
    )
    mmse = Case(
        {"mean": mean, "cov": np.diag(scales), "x": xh, "seed": rng.integers(2**31)},
        lambda out: (
            out["result"].size == 1 and abs(float(out["result"].ravel()[0]) / theory - 1) < 0.03
        ),
        call="import torch\nfrom course_lib import diffusion as df\n"
        "short = df.NoiseSchedule.linear(50)\n"
        "exact = df.ExactEpsilon("
        "df.GaussianDenoiser(torch.as_tensor(mean), torch.as_tensor(cov)), short)\n"
        "result = ddpm_loss(exact, torch.as_tensor(x), short.alpha_bar.float(), "
        "torch.Generator().manual_seed(int(seed))).item()",
    )
    return [same, mmse]


def sampler_cases(rng):
    short = df.NoiseSchedule.linear(40)
    a = rng.normal(size=(3, 3))
    mean, cov = rng.normal(size=3), a @ a.T / 3 + 0.2 * np.eye(3)
    xT = rng.normal(size=(300, 3))
    seed = int(rng.integers(2**31))
    model = df.ExactEpsilon(df.GaussianDenoiser(torch.tensor(mean), torch.tensor(cov)), short)
    expected = df.sample_ddpm(
        model, torch.tensor(xT), short, torch.Generator().manual_seed(seed)
    ).x.numpy()
    return [
        Case(
            {"mean": mean, "cov": cov, "xT": xT, "seed": np.int64(seed)},
            lambda out: (
                out["result"].shape == expected.shape
                and np.allclose(out["result"], expected, atol=1e-6)
            ),
        )
    ]


CALL_SAMPLER = (
    "import torch\nfrom course_lib import diffusion as df\nshort = df.NoiseSchedule.linear(40)\n"
    "model = df.ExactEpsilon("
    "df.GaussianDenoiser(torch.as_tensor(mean), torch.as_tensor(cov)), short)\n"
    "result = ancestral_sample(model, torch.as_tensor(xT), short.betas, "
    "torch.Generator().manual_seed(int(seed)))"
)


def trained_cases(rng):
    held_out = two_moons(2000, 0.05, generator=int(rng.integers(2, 2**31)))
    moons = torch.tensor(two_moons(4000, 0.05, generator=0), dtype=torch.float32)
    gaussian_fit = df.GaussianDenoiser.fit(moons).sample(
        2000, torch.Generator().manual_seed(int(rng.integers(2**31)))
    )
    ed_gauss = energy_distance(gaussian_fit, held_out)
    noise_seed, draw_seed = int(rng.integers(2**31)), int(rng.integers(2**31))

    def check(out):
        net = df.TimeMLP(2, hidden=64, depth=2)
        state = {k[2:]: torch.as_tensor(v) for k, v in out.items() if k.startswith("p:")}
        expected = net.state_dict()
        if set(state) != set(expected) or any(state[k].shape != expected[k].shape for k in state):
            return False
        net.load_state_dict({k: v.to(expected[k].dtype) for k, v in state.items()})
        net.eval()
        with torch.no_grad():
            x_T = torch.randn(2000, 2, generator=torch.Generator().manual_seed(noise_seed))
            samples = df.sample_ddpm(net, x_T, SCHEDULE, torch.Generator().manual_seed(draw_seed)).x
        return (
            bool(torch.isfinite(samples).all())
            and energy_distance(samples, held_out) < ed_gauss / 3
        )

    return [Case({"dummy": np.int64(0)}, check)]


ITEMS = [
    Item(
        "test_forward",
        3,
        ("forward_sample",),
        "import torch\nresult = forward_sample(torch.as_tensor(x), torch.as_tensor(t), "
        "torch.as_tensor(alpha_bar), torch.as_tensor(noise))",
        forward_cases,
        "forward_sample does not give sqrt(abar_t) x0 + sqrt(1 - abar_t) noise with each row's "
        "own step t",
    ),
    Item(
        "test_loss",
        3,
        ("ddpm_loss",),
        "",
        loss_cases,
        "ddpm_loss does not match the DDPM noise-prediction loss (same draws as the reference: "
        "t, then noise), is not differentiable, or the exact noise predictor does not attain the "
        "noise MMSE",
    ),
    Item(
        "test_sampler",
        4,
        ("ancestral_sample",),
        CALL_SAMPLER,
        sampler_cases,
        "ancestral_sample does not reproduce DDPM ancestral sampling with the same noise draws "
        "(T = 40 steps, 3 dimensions)",
    ),
    Item(
        "test_trained",
        2,
        ("ddpm_loss",),
        "result = {f'p:{k}': v for k, v in net.state_dict().items()}",
        trained_cases,
        "the network trained with your loss does not generate moons (energy distance to fresh "
        "held-out data below a third of the Gaussian fit's)",
    ),
]
