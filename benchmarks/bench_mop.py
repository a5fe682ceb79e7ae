"""Seconds per Mixture-of-Pathways training step at the reference default, vs the reference.

Reference setting (Cook et al. 2025, ``cli/run_experiment.py``): ``modcog/all`` (82 tasks),
batch 128 streams of 350 steps, layers ``0,16,32`` x 3, intermediate 64, router 64, task embedding
16. The reference code takes about 100 s per training step on a 2-core CPU; the goal here is at
least 20x faster at equal parameter count. One step = drawing a fresh batch of Mod-Cog streams,
forward, Eq. 2 loss, backward and an AdamW update.

    python benchmarks/bench_mop.py                 # CPU, 1 thread
    python benchmarks/bench_mop.py --device cuda   # GPU
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
    add_device_argument,
    add_threads_argument,
    cli_main,
    fail,
    non_negative_int,
    resolve_device,
    set_threads,
)
from core.models.mop import (
    MixtureOfPathways,
    MixtureOfPathwaysConfig,
    mop_loss,
    parse_layers,
    task_routing_cost,
)
from core.tasks.modcog import ModCogConfig, generate_stream, resolve_tasks


def parse_args() -> argparse.Namespace:
    p = ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=DefaultsHelpFormatter)
    add_device_argument(p)
    p.add_argument("--task-id", default="modcog/all", help="Mod-Cog task set")
    p.add_argument("--layers", "-l", action="append", default=None,
                   help="expert sizes per layer (default: -l 0,16,32 three times)")
    p.add_argument("--batch-size", type=int, default=128, help="streams per batch")
    p.add_argument("--seq-len", type=int, default=350, help="steps per stream")
    p.add_argument("--steps", type=int, default=3, help="timed training steps (after 1 warm-up)")
    add_threads_argument(p)
    p.add_argument("--reference-seconds", type=float, default=100.0,
                   help="reference seconds per step on a 2-core CPU")
    p.add_argument("--seed", type=non_negative_int, default=0, help="random seed")
    return p.parse_args()


@cli_main
def main() -> None:
    args = parse_args()
    if args.steps < 1:
        fail("--steps must be >= 1")
    device = resolve_device(args.device)
    tasks = resolve_tasks(args.task_id)
    layers = parse_layers(args.layers or ["0,16,32"] * 3)
    set_threads(args.threads)
    torch.manual_seed(args.seed)
    task_cfg = ModCogConfig()
    model = MixtureOfPathways(MixtureOfPathwaysConfig(
        n_stimulus=task_cfg.n_input, n_tasks=len(tasks), n_output=task_cfg.n_output,
        layers=layers)).to(device).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    rng = np.random.default_rng(args.seed)

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize()

    data_s, model_s = [], []
    for i in tqdm(range(args.steps + 1), desc="steps"):
        t0 = time.perf_counter()
        x, labels, task_ids, response = generate_stream(
            tasks, args.batch_size, args.seq_len, rng, task_cfg).to_torch(device)
        sync()
        t1 = time.perf_counter()
        logits, states = model(x, track_states=True)
        probs = [states[f"routing{l}"] for l in range(len(layers))]
        cost = task_routing_cost(probs, model.layer_costs(), task_ids, len(tasks))
        loss, _ = mop_loss(logits, labels, task_ids, response, cost)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        sync()
        t2 = time.perf_counter()
        if i > 0:  # the first step warms up allocators / kernels
            data_s.append(t1 - t0)
            model_s.append(t2 - t1)
    n_params = sum(p.numel() for p in model.parameters())
    step = float(np.median(np.add(data_s, model_s)))
    print(f"device {args.device} ({args.threads} thread(s)), task {args.task_id} "
          f"({len(tasks)} tasks), batch {args.batch_size} x {args.seq_len} steps, layers "
          f"{' | '.join(','.join(map(str, l)) for l in layers)}, {n_params} parameters")
    print(f"data generation   {np.median(data_s):8.3f} s/step")
    print(f"forward+backward  {np.median(model_s):8.3f} s/step")
    print(f"training step     {step:8.3f} s/step  (median of {args.steps})")
    speedup = args.reference_seconds / step
    print(f"reference         {args.reference_seconds:8.1f} s/step  -> {speedup:.1f}x faster "
          "(goal >= 20x)")


if __name__ == "__main__":
    main()
