"""Trials per second of ``generate_trials`` for a batch of each rule, with and without input noise.

Reference numbers (2-core CPU): the original numpy generator of Yang et al. (2019) takes 20-65 ms
per batch of 128 with noise (per-trial Python loops); NeuroGym 2.3.1's ``Dataset`` about 0.3 s
per batch. Goals: at least 5x faster than the former, 20x faster than the latter. With noise the
time is dominated by drawing ``T * B * n_in`` normals with numpy (as in the original); a GPU
trainer can generate with ``noise=False`` and add the noise on the device with
``Trials.to_torch(device, noise_std=config.noise_std, generator=...)``. The ``noise floor``
column times that draw alone in float64 on this machine (what the original pays for its noise
before building anything); ``ratio`` = floor / our full time with noise. The ratio
columns divide the reference time by the median measured time: ``orig`` against both ends of the
20-65 ms range, ``ngym`` against 300 ms.

    python benchmarks/bench_tasks.py
    python benchmarks/bench_tasks.py --preset mpn_lab --repeats 20
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from tqdm import tqdm

from core.cli import cli_main, fail
from core.tasks import PRESETS, RULES, generate_trials, get_preset


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--preset", choices=sorted(PRESETS), nargs="+", default=sorted(PRESETS),
                   help="task presets to time (mpn_lab gets rule units for all 20 rules)")
    p.add_argument("--batch", type=int, default=128, help="trials per batch")
    p.add_argument("--repeats", type=int, default=10, help="timed batches per rule and setting")
    p.add_argument("--seed", type=int, default=0, help="seed of the numpy Generator")
    p.add_argument("--orig-ms", type=float, nargs=2, default=(20.0, 65.0),
                   help="reference ms per batch of the original generator (low, high)")
    p.add_argument("--neurogym-ms", type=float, default=300.0,
                   help="reference ms per batch of NeuroGym 2.3.1's Dataset")
    return p.parse_args()


def time_rule(rule: str, config, batch: int, repeats: int, noise: bool,
              rng: np.random.Generator) -> float:
    """Median ms per batch over ``repeats`` batches (after one warm-up batch)."""
    generate_trials(rule, config, batch, rng, noise=noise)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        generate_trials(rule, config, batch, rng, noise=noise)
        times.append(time.perf_counter() - t0)
    return 1e3 * float(np.median(times))


def time_noise_floor(shape: tuple[int, ...], repeats: int, rng: np.random.Generator) -> float:
    """Median ms to draw and scale ``shape`` float64 normals: the noise step alone of a generator
    that, like the original, draws a fresh ``(T, B, n_in)`` Gaussian array per batch."""
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        rng.standard_normal(shape) * 0.03
        times.append(time.perf_counter() - t0)
    return 1e3 * float(np.median(times))


@cli_main
def main() -> None:
    args = parse_args()
    if args.batch < 1 or args.repeats < 1:
        fail("--batch and --repeats must be >= 1")
    rng = np.random.default_rng(args.seed)
    lo, hi = args.orig_ms
    for name in args.preset:
        config = get_preset(name).with_rules("all")
        rows = []
        for rule in tqdm(RULES, desc=name, leave=False):
            shape = generate_trials(rule, config, args.batch, rng, noise=False).x.shape
            rows.append([time_rule(rule, config, args.batch, args.repeats, noise, rng)
                         for noise in (True, False)]
                        + [time_noise_floor(shape, args.repeats, rng)])
        ms = np.array(rows)
        print(f"\npreset {name}: batch {args.batch}, median of {args.repeats} batches, ms per "
              f"batch (noise s.d. {config.noise_std:.4g}); x orig = {lo:g}-{hi:g} ms / ms, "
              f"x ngym = {args.neurogym_ms:g} ms / ms")
        head = f"{'ms':>7}{'trials/s':>9}{'x orig':>12}{'x ngym':>7}"
        print(f"{'':<16}|{'with noise':^35}|{'without noise':^35}|{'noise floor':^11}")
        print(f"{'rule':<16}|{head}|{head}|{'ms':>6}{'ratio':>6}")
        for label, row in zip([*RULES, "mean"], [*ms, ms.mean(0)], strict=True):
            cells = [f"{t:7.2f}{args.batch / t * 1e3:9.0f}{lo / t:6.1f}-{hi / t:<5.1f}"
                     f"{args.neurogym_ms / t:7.1f}" for t in row[:2]]
            print(f"{label:<16}|" + "|".join(cells) + f"|{row[2]:6.2f}{row[2] / row[0]:6.2f}")
        noisy = ms[:, 0]
        print(f"goal: >= 5x orig ({lo / 5:.1f}-{hi / 5:.1f} ms), >= 20x NeuroGym "
              f"({args.neurogym_ms / 20:.0f} ms); slowest with noise {noisy.max():.2f} ms "
              f"({RULES[int(noisy.argmax())]})")


if __name__ == "__main__":
    main()
