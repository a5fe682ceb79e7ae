"""Trials per second of ``generate_trials`` for a batch of each rule, with and without input noise.

Reference numbers (2-core CPU): the original numpy generator of Yang et al. (2019) takes 20-65 ms
per batch of 128 with noise (per-trial Python loops; timed on this project's 2-core machine from
gyyang/multitask ``task.py`` run outside the project: 17-34 ms by rule, mean 23-24 ms);
NeuroGym 2.3.1's ``Dataset`` about 0.3 s per batch. Goals: at least 5x faster than the former,
20x faster than the latter. With noise the time is dominated by drawing ``T * B * n_in`` normals,
which ``core.tasks.noise`` spreads over ``--noise-threads`` threads while the targets and cost
mask are built (the original is single-threaded numpy; ``--noise-threads 1`` times ours serial);
a GPU trainer can generate with ``noise=False`` and add the noise on the device with
``Trials.to_torch(device, noise_std=config.noise_std, ...)``.
The ``orig noise`` column times, on this machine, the original's own noise step for the same
shape (legacy ``RandomState.randn`` in float64, then scaled): a lower bound on the original's time
per batch; ``x`` = that / our full time with noise. The other ratio columns divide the reference
time by the median measured time: ``orig`` against both ends of the 20-65 ms range, ``ngym``
against 300 ms.

    python benchmarks/bench_tasks.py
    python benchmarks/bench_tasks.py --preset yang19 --repeats 20
    python benchmarks/bench_tasks.py --preset yang19 --device cuda   # adds the on-device column
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from tqdm import tqdm

from core.cli import (
    ArgumentParser,
    DefaultsHelpFormatter,
    add_threads_argument,
    cli_main,
    fail,
    non_negative_int,
    positive_int,
    resolve_device,
    set_threads,
)
from core.tasks import PRESETS, RULES, generate_trials, get_preset
from core.tasks.noise import noise_threads, set_noise_threads


def parse_args() -> argparse.Namespace:
    p = ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=DefaultsHelpFormatter)
    p.add_argument("--preset", choices=sorted(PRESETS), nargs="+", default=sorted(PRESETS),
                   help="task presets to time (mpn_lab gets rule units for all 20 rules)")
    p.add_argument("--batch", type=int, default=128, help="trials per batch")
    p.add_argument("--repeats", type=int, default=10, help="timed batches per rule and setting")
    p.add_argument("--seed", type=non_negative_int, default=0, help="seed of the numpy Generator")
    p.add_argument("--orig-ms", type=float, nargs=2, default=(20.0, 65.0),
                   help="reference ms per batch of the original generator (low, high)")
    p.add_argument("--neurogym-ms", type=float, default=300.0,
                   help="reference ms per batch of NeuroGym 2.3.1's Dataset")
    p.add_argument("--device", default=None,
                   help="also time the GPU path: generate without noise, then "
                        "Trials.to_torch(DEVICE, noise_std=...) adds it on the device "
                        "(e.g. cuda; none: skip)")
    p.add_argument("--noise-threads", type=positive_int, default=noise_threads(),
                   help="threads that draw the input noise (default: every CPU available)")
    add_threads_argument(p)
    return p.parse_args()


def time_rule(rule: str, config, batch: int, repeats: int, noise: bool,
              rng: np.random.Generator, device=None) -> tuple[float, list[tuple[int, ...]]]:
    """Median ms per batch over ``repeats`` batches (after one warm-up batch), and the batches'
    ``x`` shapes (the number of steps varies with the drawn epoch durations). With ``device``,
    a batch is generated without noise and moved there by ``to_torch``, which adds the noise
    on the device (timed until the device is done)."""
    generator = None
    if device is not None:
        generator = torch.Generator(device).manual_seed(int(rng.integers(2**63)))

    def one():
        trials = generate_trials(rule, config, batch, rng, noise=noise and device is None)
        if device is not None:
            trials.to_torch(device, noise_std=config.noise_std if noise else 0.0,
                            generator=generator)
            if device.type == "cuda":
                torch.cuda.synchronize(device)
        return trials

    one()
    times, shapes = [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        trials = one()
        times.append(time.perf_counter() - t0)
        shapes.append(trials.x.shape)
    return 1e3 * float(np.median(times)), shapes


def time_original_noise(shapes: list[tuple[int, ...]], seed: int) -> float:
    """Median ms of the original generator's noise step alone for each of ``shapes``: a fresh
    float64 ``(T, B, n_in)`` array from the legacy ``RandomState.randn``, scaled by sigma."""
    state = np.random.RandomState(seed)
    times = []
    for shape in shapes:
        t0 = time.perf_counter()
        state.randn(*shape) * 0.03
        times.append(time.perf_counter() - t0)
    return 1e3 * float(np.median(times))


@cli_main
def main() -> None:
    args = parse_args()
    if args.batch < 1 or args.repeats < 1:
        fail("--batch and --repeats must be >= 1")
    set_threads(args.threads)
    set_noise_threads(args.noise_threads)
    device = None if args.device is None else resolve_device(args.device)
    rng = np.random.default_rng(args.seed)
    lo, hi = args.orig_ms
    for name in args.preset:
        config = get_preset(name).with_rules("all")
        rows = []
        time_rule(RULES[0], config, args.batch, args.repeats, True, rng)  # warm-up
        for rule in tqdm(RULES, desc=name, leave=False):
            noisy, shapes = time_rule(rule, config, args.batch, args.repeats, True, rng)
            clean, _ = time_rule(rule, config, args.batch, args.repeats, False, rng)
            row = [noisy, clean, time_original_noise(shapes, args.seed)]
            if device is not None:
                row.append(time_rule(rule, config, args.batch, args.repeats, True, rng,
                                     device)[0])
            rows.append(row)
        ms = np.array(rows)
        print(f"\npreset {name}: batch {args.batch}, median of {args.repeats} batches, ms per "
              f"batch (noise s.d. {config.noise_std:.4g} drawn by {args.noise_threads} thread(s), "
              f"torch {args.threads} thread(s)); "
              f"x orig = {lo:g}-{hi:g} ms / ms, x ngym = {args.neurogym_ms:g} ms / ms")
        head = f"{'ms':>7}{'trials/s':>9}{'x orig':>12}{'x ngym':>7}"
        on_device = "" if device is None else f"|{f'noise on {device}':^35}"
        print(f"{'':<16}|{'with noise':^35}|{'without noise':^35}|{'orig noise':^11}"
              + on_device)
        print(f"{'rule':<16}|{head}|{head}|{'ms':>6}{'x':>5}" + ("" if device is None
                                                                  else f"|{head}"))
        timed = [0, 1] if device is None else [0, 1, 3]
        for label, row in zip([*RULES, "mean"], [*ms, ms.mean(0)], strict=True):
            cells = [f"{t:7.2f}{args.batch / t * 1e3:9.0f}{lo / t:6.1f}-{hi / t:<5.1f}"
                     f"{args.neurogym_ms / t:7.1f}" for t in row[timed]]
            print(f"{label:<16}|" + "|".join(cells[:2]) + f"|{row[2]:6.2f}{row[2] / row[0]:5.1f}"
                  + "".join(f"|{c}" for c in cells[2:]))
        noisy = ms[:, 0]
        print(f"goal: >= 5x orig ({lo / 5:.1f}-{hi / 5:.1f} ms), >= 20x NeuroGym "
              f"({args.neurogym_ms / 20:.0f} ms); with noise: fastest {noisy.min():.2f} ms "
              f"({RULES[int(noisy.argmin())]}), slowest {noisy.max():.2f} ms "
              f"({RULES[int(noisy.argmax())]}); the original's noise step alone takes "
              f"{(ms[:, 2] / noisy).min():.1f}-{(ms[:, 2] / noisy).max():.1f}x our whole batch")


if __name__ == "__main__":
    main()
