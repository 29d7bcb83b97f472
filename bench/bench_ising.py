"""Spin-flip attempts per second of three Metropolis implementations, measured in one run.

    python bench/bench_ising.py [--sweeps N]

1. course_lib.ising.CheckerboardMetropolis: L = 256, 16 temperatures batched (torch; also on
   the GPU when one is present);
2. a straightforward single-lattice numpy checkerboard (full-lattice masks, one exp per site),
   the version most people write first;
3. a pure-Python double loop over sites (timed on a fraction of a sweep).

Targets (lecture 01 issue): (1) >= 1e8 flips/s on 2 CPU cores, and >= 3x (2).
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np
import torch

from course_lib.ising import CheckerboardMetropolis

L, N_TEMPERATURES = 256, 16
TEMPERATURES = np.linspace(1.5, 3.5, N_TEMPERATURES)


def rate_batched(device: str, sweeps: int) -> float:
    sim = CheckerboardMetropolis(
        L, TEMPERATURES, replicas=1, start="hot", generator=0, device=device
    )
    sim.sweep(5)  # warm-up
    if device == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    sim.sweep(sweeps)
    if device == "cuda":
        torch.cuda.synchronize()
    return sweeps * N_TEMPERATURES * L * L / (time.perf_counter() - start)


def numpy_checkerboard_sweep(
    spins: np.ndarray, beta: float, rng: np.random.Generator, masks: list[np.ndarray]
) -> None:
    for mask in masks:
        neighbours = (
            np.roll(spins, 1, 0)
            + np.roll(spins, -1, 0)
            + np.roll(spins, 1, 1)
            + np.roll(spins, -1, 1)
        )
        delta = 2 * spins * neighbours
        flip = mask & (rng.random(spins.shape) < np.exp(-beta * delta))
        spins[flip] *= -1


def rate_numpy(sweeps: int) -> float:
    rng = np.random.default_rng(0)
    spins = rng.choice([-1, 1], size=(L, L))
    i, j = np.indices((L, L))
    masks = [(i + j) % 2 == 0, (i + j) % 2 == 1]
    numpy_checkerboard_sweep(spins, 1 / 2.3, rng, masks)
    start = time.perf_counter()
    for _ in range(sweeps):
        numpy_checkerboard_sweep(spins, 1 / 2.3, rng, masks)
    return sweeps * L * L / (time.perf_counter() - start)


def rate_python(rows: int) -> float:
    import math
    import random

    random.seed(0)
    spins = [[random.choice((-1, 1)) for _ in range(L)] for _ in range(L)]
    beta = 1 / 2.3
    start = time.perf_counter()
    for i in range(rows):
        for j in range(L):
            s = spins[i][j]
            nn = spins[(i + 1) % L][j] + spins[i - 1][j] + spins[i][(j + 1) % L] + spins[i][j - 1]
            dE = 2 * s * nn
            if dE <= 0 or random.random() < math.exp(-beta * dE):
                spins[i][j] = -s
    return rows * L / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--sweeps", type=int, default=100, help="sweeps timed for the batched sampler"
    )
    args = parser.parse_args()

    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"torch {torch.__version__}, threads {torch.get_num_threads()}"
    )
    print(f"lattice {L} x {L}, {N_TEMPERATURES} temperatures for the batched sampler\n")
    results = {
        "course_lib batched (CPU)": rate_batched("cpu", args.sweeps),
        "numpy checkerboard, one lattice": rate_numpy(max(5, args.sweeps // 5)),
        "pure Python loop": rate_python(64),
    }
    if torch.cuda.is_available():
        results[f"course_lib batched ({torch.cuda.get_device_name()})"] = rate_batched(
            "cuda", 10 * args.sweeps
        )
    width = max(map(len, results))
    for name, rate in results.items():
        print(f"{name:<{width}}  {rate:12.3e} flip attempts / s")

    ours, numpy_rate = (
        results["course_lib batched (CPU)"],
        results["numpy checkerboard, one lattice"],
    )
    print(f"\nspeed-up over the numpy checkerboard: {ours / numpy_rate:.1f}x")
    print(
        f"target >= 1e8 flips/s: {'met' if ours >= 1e8 else 'NOT met'};  "
        f"target >= 3x numpy: {'met' if ours >= 3 * numpy_rate else 'NOT met'}"
    )


if __name__ == "__main__":
    main()
