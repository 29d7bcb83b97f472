"""Sample quality of the course's DDPM against a reference DDPM scheduler, same network and training
steps.

    python bench/bench_diffusion.py [--moons-steps N] [--digits-steps N]

Needs the reference library diffusers (installed only for this benchmark:
`pip install diffusers==0.42.1`; `make bench` does it). Both implementations train the same network
class with the same optimizer, batch size, learning-rate schedule and number of steps; the reference
noises its batches with `DDPMScheduler.add_noise` and samples with `DDPMScheduler.step` (linear
betas 1e-4..0.02, T = 1000, posterior variance, no clipping, as in
course_lib.diffusion.sample_ddpm). Training wall time is printed for both.

Metrics, against held-out data never used in training:
  * two moons (4000 training points, 2000 held out): energy distance;
  * digits (course split: 1000 training images, 797 held out; pixels scaled to [-1, 1]): MMD with
    RBF kernels of widths 1, 2, 4, 8, energy distance, and the median distance from a sample to its
    nearest held-out image;
  * memorization: median distance from a sample to its nearest training point (0 for copies), next
    to the same distance for held-out data.
Target (lecture 06 issue): equal or better quality than the reference at equal wall time; on digits,
closer to held-out digits than samples of a Gaussian fitted to the training set, with no sign of
memorization.
"""

from __future__ import annotations

import argparse
import copy
import time

import torch

from course_lib import diffusion as df
from course_lib.data import load_digits_split, two_moons
from course_lib.optim import minimize
from course_lib.stats import energy_distance, mmd, nearest_distance


def train_reference(
    model: torch.nn.Module,
    data: torch.Tensor,
    n_steps: int,
    lr: float,
    batch_size: int = 128,
    seed: int = 0,
) -> float:
    """The course's training recipe (Adam, cosine decay, uniform t, eps-MSE) with diffusers doing
    the noising."""
    from diffusers import DDPMScheduler

    scheduler = DDPMScheduler(num_train_timesteps=1000, beta_schedule="linear", clip_sample=False)
    generator = torch.Generator().manual_seed(seed)

    def loss(step: int) -> torch.Tensor:
        x0 = data[torch.randint(len(data), (batch_size,), generator=generator)]
        # diffusers' step k is the course's t = k + 1
        k = torch.randint(0, 1000, (batch_size,), generator=generator)
        noise = torch.randn(x0.shape, generator=generator)
        prediction = model(scheduler.add_noise(x0, noise, k), (k + 1).float() / 1000)
        return ((prediction - noise) ** 2).sum(-1).mean()

    start = time.perf_counter()
    # the course's loop
    minimize(loss, model.parameters(), n_steps, lr=lr, cosine=True, show_progress=False)
    return time.perf_counter() - start


@torch.no_grad()
def sample_reference(model: torch.nn.Module, x_T: torch.Tensor, seed: int) -> torch.Tensor:
    from diffusers import DDPMScheduler

    scheduler = DDPMScheduler(num_train_timesteps=1000, beta_schedule="linear", clip_sample=False)
    scheduler.set_timesteps(1000)
    generator, x = torch.Generator().manual_seed(seed), x_T.clone()
    for k in scheduler.timesteps:
        eps = model(x, torch.full((len(x),), (int(k) + 1) / 1000))
        x = scheduler.step(eps, k, x, generator=generator).prev_sample
    return x


def train_course(
    model: torch.nn.Module, data: torch.Tensor, schedule: df.NoiseSchedule, n_steps: int, lr: float
) -> float:
    start = time.perf_counter()
    df.train_diffusion(
        model,
        data,
        schedule,
        n_steps=n_steps,
        batch_size=128,
        lr=lr,
        generator=0,
        show_progress=False,
    )
    return time.perf_counter() - start


def moons(n_steps: int, schedule: df.NoiseSchedule) -> None:
    train = torch.tensor(two_moons(4000, 0.05, generator=0), dtype=torch.float32)
    held = torch.tensor(two_moons(2000, 0.05, generator=1), dtype=torch.float32)
    x_T = torch.randn(2000, 2, generator=torch.Generator().manual_seed(1))
    print(
        f"\n== two moons: {n_steps} training steps, TimeMLP(2, 64, depth 2), 2000 samples, "
        "ancestral sampling (1000 steps)"
    )
    rows = {}
    course = df.TimeMLP(2, 64, 2, generator=0)
    reference = copy.deepcopy(course)  # same initial weights
    seconds = train_course(course, train, schedule, n_steps, 2e-3)
    rows["course DDPM"] = (
        seconds,
        df.sample_ddpm(course, x_T, schedule, torch.Generator().manual_seed(2)).x,
    )
    seconds = train_reference(reference, train, n_steps, 2e-3)
    rows["reference: diffusers DDPMScheduler"] = (seconds, sample_reference(reference, x_T, 2))
    rows["Gaussian fit"] = (
        0.0,
        df.GaussianDenoiser.fit(train).sample(2000, torch.Generator().manual_seed(3)),
    )
    rows["fresh data (yardstick)"] = (
        0.0,
        torch.tensor(two_moons(2000, 0.05, generator=7), dtype=torch.float32),
    )
    print(f"{'':38s} {'train s':>8s} {'energy':>8s} {'near train':>11s}")
    for name, (seconds, x) in rows.items():
        print(
            f"{name:38s} {seconds:8.1f} {energy_distance(x, held):8.4f} "
            f"{nearest_distance(x, train).median().item():11.4f}"
        )
    print(
        f"(held-out points are {nearest_distance(held, train).median().item():.4f} "
        "from their nearest training point)"
    )


def digits(n_steps: int, schedule: df.NoiseSchedule) -> None:
    split = load_digits_split()
    scale = lambda pixels: torch.tensor(pixels, dtype=torch.float32) / 8 - 1  # noqa: E731
    train, held = scale(split.train), torch.cat([scale(split.validation), scale(split.test)])
    gauss = df.GaussianDenoiser.fit(train)
    x_T = torch.randn(len(held), 64, generator=torch.Generator().manual_seed(1))
    print(
        f"\n== digits: {n_steps} training steps, "
        f"GaussianPlusNetwork with TimeMLP(64, 256, depth 2), {len(held)} samples"
    )
    rows = {}
    course = df.GaussianPlusNetwork(gauss, schedule, df.TimeMLP(64, 256, 2, generator=0))
    reference = copy.deepcopy(course)
    seconds = train_course(course, train, schedule, n_steps, 1e-3)
    rows["course DDPM"] = (
        seconds,
        df.sample_ddpm(course, x_T, schedule, torch.Generator().manual_seed(2)).x,
    )
    seconds = train_reference(reference, train, n_steps, 1e-3)
    rows["reference: diffusers DDPMScheduler"] = (seconds, sample_reference(reference, x_T, 2))
    plain = df.TimeMLP(64, 256, 2, generator=1)
    seconds = train_course(plain, train, schedule, n_steps, 1e-3)
    rows["plain TimeMLP, no Gaussian part"] = (
        seconds,
        df.sample_ddpm(plain, x_T, schedule, torch.Generator().manual_seed(2)).x,
    )
    rows["Gaussian fit"] = (0.0, gauss.sample(len(held), torch.Generator().manual_seed(3)))
    rows["training digits (yardstick)"] = (0.0, train[: len(held)])
    print(
        f"{'':38s} {'train s':>8s} {'MMD':>8s} {'energy':>8s} "
        f"{'near held':>10s} {'near train':>11s}"
    )
    for name, (seconds, x) in rows.items():
        print(
            f"{name:38s} {seconds:8.1f} {mmd(x, held):8.4f} {energy_distance(x, held):8.4f} "
            f"{nearest_distance(x, held).median().item():10.3f} "
            f"{nearest_distance(x, train).median().item():11.3f}"
        )
    print(
        f"(held-out digits are {nearest_distance(held, train).median().item():.3f} "
        "from their nearest training digit)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--moons-steps", type=int, default=3000)
    parser.add_argument("--digits-steps", type=int, default=6000)
    args = parser.parse_args()
    torch.set_num_threads(2)
    schedule = df.NoiseSchedule.linear(1000)
    # first-call costs (allocator, kernels) are paid here, not by whichever model trains first
    warm = torch.randn(512, 2)
    train_course(df.TimeMLP(2, 64, 2, generator=0), warm, schedule, 300, 2e-3)
    train_reference(df.TimeMLP(2, 64, 2, generator=0), warm, 300, 2e-3)
    moons(args.moons_steps, schedule)
    digits(args.digits_steps, schedule)


if __name__ == "__main__":
    main()
