"""Training-step speed and peak memory of DeepMultiPlasticNet (forward + backward + Adam).

Configurations: ``paper`` (batch 128, hidden 300, input layer 300, T = 65, 21 inputs, 3 outputs:
the MultiTaskMPN paper setting) and ``small`` (batch 32, hidden 100, input layer 100). Each
configuration runs in its own child process so that its peak resident memory
(``resource.getrusage(...).ru_maxrss``) is its own; on CUDA the peak is
``torch.cuda.max_memory_allocated``. The reference MultiTaskMPN implementation takes ~54 s per
training step with a 12.8 GB peak RSS at the paper configuration on a 2-core CPU; the script
prints the ratios against those figures. On a shared machine the wall time suffers from other
processes; the CPU time of the step (user + system, summed over threads) is printed alongside.
Inputs and targets are random (the speed does not depend on the task); the loss is the MSE and
gradients are clipped at 10 as in the paper runs. ``--threads`` defaults to 1 like every script
(:data:`core.cli.DEFAULT_THREADS`); the JSON of ``--json`` is written atomically and never replaces
an existing file without ``--overwrite``.

Example: ``python benchmarks/bench_mpn.py --configs paper small --steps 3``
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import resource
import sys
import time
from pathlib import Path

from core.cli import (
    ArgumentParser,
    add_threads_argument,
    cli_main,
    fail,
    non_negative_int,
    resolve_device,
    set_threads,
)
from core.fileio import refuse_existing, save_json

REFERENCE_S_PER_STEP = 54.0
REFERENCE_PEAK_GB = 12.8
CONFIGS = {
    "paper": dict(batch=128, hidden=300, embed=300),
    "small": dict(batch=32, hidden=100, embed=100),
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--configs", nargs="+", default=["paper", "small"], choices=sorted(CONFIGS),
                   help="configurations to measure (default: paper small)")
    p.add_argument("--device", default="cpu",
                   help="torch device: cpu, cuda or cuda:N (default: cpu)")
    p.add_argument("--steps", type=int, default=3, help="timed training steps (default: 3)")
    p.add_argument("--warmup", type=int, default=1, help="untimed steps first (default: 1)")
    p.add_argument("--T", type=int, default=65, help="sequence length (default: 65)")
    p.add_argument("--naive", action="store_true",
                   help="time the straightforward per-step autograd implementation instead of "
                        "the fused kernel (slow and memory hungry at the paper configuration)")
    p.add_argument("--compiled", action="store_true",
                   help="time the fused kernel with its per-step math through torch.compile "
                        "(the first, untimed step compiles)")
    p.add_argument("--batch-chunk", type=int, default=0,
                   help="samples per fused-kernel chunk (default 0: 8 on CPU, all on GPU)")
    add_threads_argument(p)
    p.add_argument("--seed", type=non_negative_int, default=0, help="random seed (default: 0)")
    p.add_argument("--json", type=Path, default=None,
                   help="also write the results to this JSON file (atomically)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace an existing --json file (otherwise the script stops before "
                        "measuring)")
    args = p.parse_args(argv)
    if args.steps < 1 or args.warmup < 0 or args.T < 2:
        fail("need --steps >= 1, --warmup >= 0 and --T >= 2")
    if args.batch_chunk < 0:
        fail("--batch-chunk must be >= 0")
    if resolve_device(args.device).type not in ("cpu", "cuda"):
        fail(f"--device must be cpu or cuda[:N], got {args.device!r}")
    if args.json is not None:
        refuse_existing([args.json], args.overwrite)
    return args


def _cpu_seconds() -> float:
    """User + system CPU time of this process, summed over its threads."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def measure(name: str, args: argparse.Namespace, queue) -> None:
    """Child process: build the model, run warm-up and timed steps, report through ``queue``."""
    import torch
    from tqdm import tqdm

    from core.models.mpn import DeepMultiPlasticNet, MPNConfig

    set_threads(args.threads)
    device = torch.device(args.device)
    torch.manual_seed(args.seed)
    c = CONFIGS[name]
    cfg = MPNConfig(n_hidden=c["hidden"], n_embed=c["embed"], batch_chunk=args.batch_chunk,
                    implementation="stepwise" if args.naive
                    else "compiled" if args.compiled else "fused")
    model = DeepMultiPlasticNet(cfg).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    x = torch.randn(args.T, c["batch"], cfg.n_in, device=device)
    target = torch.randn(args.T, c["batch"], cfg.n_out, device=device)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    def step() -> float:
        y, _ = model(x)
        loss = ((y - target) ** 2).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 10.0)
        opt.step()
        return loss.item()

    for _ in range(args.warmup):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    times, cpu_times = [], []
    for _ in tqdm(range(args.steps), desc=name, leave=False):
        t0, c0 = time.perf_counter(), _cpu_seconds()
        step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
        cpu_times.append(_cpu_seconds() - c0)
    result = {
        "name": name, **c, "T": args.T, "device": str(device), "naive": args.naive,
        "compiled": args.compiled,
        "threads": torch.get_num_threads(), "s_per_step": min(times),
        "s_per_step_mean": sum(times) / len(times), "cpu_s_per_step": min(cpu_times),
        "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
        "rss_after_setup_gb": rss_before / 2**20,
    }
    if device.type == "cuda":
        result["peak_gpu_gb"] = torch.cuda.max_memory_allocated() / 2**30
    queue.put(result)


@cli_main
def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    ctx = mp.get_context("spawn")
    results = []
    for name in args.configs:
        queue = ctx.Queue()
        proc = ctx.Process(target=measure, args=(name, args, queue))
        proc.start()
        proc.join()
        if proc.exitcode != 0 or queue.empty():
            fail(f"the {name} measurement failed (exit code {proc.exitcode})")
        res = queue.get()
        results.append(res)
        impl = ("naive autograd" if res["naive"] else "compiled" if res["compiled"]
                else "fused")
        line = (f"{name:>5}: batch {res['batch']}, hidden {res['hidden']}, T {res['T']}, "
                f"{res['device']} ({res['threads']} threads), {impl}: "
                f"{res['s_per_step']:.2f} s/step (mean {res['s_per_step_mean']:.2f}; "
                f"CPU time {res['cpu_s_per_step']:.2f} s), "
                f"{1 / res['s_per_step']:.3f} steps/s, peak RSS {res['peak_rss_gb']:.2f} GB")
        if "peak_gpu_gb" in res:
            line += f", peak GPU memory {res['peak_gpu_gb']:.2f} GB"
        print(line)
        if name == "paper":
            print(f"       vs reference (54 s/step, 12.8 GB, 2-core CPU): "
                  f"{REFERENCE_S_PER_STEP / res['s_per_step']:.1f}x steps/s, "
                  f"{res['peak_rss_gb'] / REFERENCE_PEAK_GB:.3f}x peak memory")
    if args.json is not None:
        refuse_existing([args.json], args.overwrite)
        save_json(args.json, {"command": " ".join(sys.argv), "results": results})


if __name__ == "__main__":
    main()
