"""Benchmark: task-variance analysis of 300 units x 15 rules (goal: < 10 s on 2 CPU cores).

Times each stage on synthetic activity with planted clusters (so the clustering has real
structure to find): streaming task variance, KMeans (k = 2..29 by silhouette, n_init 20, Yang
et al. 2019), Ward with jittered silhouettes (MPN lab), each with the default gap test of the
chosen k against one cluster (20 reference sets), the permutation null of cluster quality and
the FTV histograms. ``--synapses`` also streams the task variance of a 300 x 300 modulation matrix
(90k synapses) and reports the accumulator memory next to the (T, B, N, N) trace it avoids.

    python benchmarks/bench_analysis.py [--units 300] [--rules 15] [--synapses]
"""

from __future__ import annotations

import os
import time

import numpy as np
from threadpoolctl import threadpool_limits

from core.analysis.clustering import TaskVarianceClustering, cluster_quality
from core.analysis.task_variance import (
    SegmentVariance,
    fractional_task_variance,
    ftv_histogram,
    task_variance_of_activity,
)
from core.cli import ArgumentParser, non_negative_int

GOAL_S = 10.0


def synthetic_activity(rng, n_units, n_rules, n_steps, n_trials, n_clusters=8):
    """``{rule: (T, B, N)}`` activity whose across-trial variance follows planted clusters."""
    membership = rng.integers(0, n_clusters, n_units)
    selectivity = rng.random((n_clusters, n_rules)) ** 4
    for r in range(n_rules):
        signal = rng.standard_normal((n_steps, n_trials, 1))
        gain = selectivity[membership, r] * rng.uniform(0.5, 1.5, n_units)
        yield r, signal * gain + 0.01 * rng.standard_normal((n_steps, n_trials, n_units))


def main() -> None:
    parser = ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", type=int, default=300, help="hidden units (default 300)")
    parser.add_argument("--rules", type=int, default=15, help="rules (default 15)")
    parser.add_argument("--steps", type=int, default=60, help="time steps per trial")
    parser.add_argument("--trials", type=int, default=64, help="test trials per rule")
    parser.add_argument("--threads", type=int, default=2, help="BLAS/OpenMP threads (default 2)")
    parser.add_argument("--synapses", action="store_true",
                        help="also stream the task variance of a units x units modulation")
    parser.add_argument("--seed", type=non_negative_int, default=0, help="random seed")
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    times: dict[str, float] = {}
    with threadpool_limits(limits=args.threads):
        t0 = time.perf_counter()
        tv = np.zeros((args.units, args.rules))
        fix_end = args.steps // 5
        start = np.full(args.trials, fix_end)
        end = np.full(args.trials, args.steps)
        for r, activity in synthetic_activity(rng, args.units, args.rules, args.steps,
                                              args.trials):
            tv[:, r] = task_variance_of_activity(activity, start, end)
        times["task variance (stream)"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        kmeans = TaskVarianceClustering(method="kmeans", random_state=args.seed).fit(tv)
        times["KMeans k=2..29 + gap test"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        ward = TaskVarianceClustering(method="ward", random_state=args.seed).fit(tv)
        times["Ward + 10 jitters + gap test"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        quality = cluster_quality(kmeans.features_, kmeans.labels_[kmeans.active_],
                                  n_permutations=20, random_state=args.seed)
        times["quality vs 20 permutations"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        for a in range(args.rules):
            for b in range(a + 1, args.rules):
                ftv_histogram(fractional_task_variance(tv[:, a], tv[:, b]))
        times["FTV, all rule pairs"] = time.perf_counter() - t0

        if args.synapses:
            n_syn = args.units * args.units
            acc = SegmentVariance(n_syn, args.steps - fix_end, dtype=np.float32)
            chunk = 4
            t0 = time.perf_counter()
            for _ in range(0, args.trials, chunk):
                m = rng.standard_normal((args.steps, chunk, n_syn), dtype=np.float32)
                acc.update(m, start[:chunk], end[:chunk])
            acc.variance()
            syn_time = time.perf_counter() - t0
            held = acc.mean.nbytes + acc.m2.nbytes
            trace = args.steps * args.trials * n_syn * 4
    total = sum(times.values())
    print(f"# analysis of {args.units} units x {args.rules} rules, {args.steps} steps x "
          f"{args.trials} trials, {args.threads} threads, {os.cpu_count()} CPUs visible")
    for name, seconds in times.items():
        print(f"{name:32s} {seconds:7.2f} s")
    print(f"{'total':32s} {total:7.2f} s   goal < {GOAL_S:.0f} s   ratio {total / GOAL_S:.2f}")
    print(f"KMeans k = {kmeans.n_clusters_}, Ward k = {ward.n_clusters_}, silhouette "
          f"{quality['silhouette']:.3f} (permutation p = {quality['silhouette_p']:.3f})")
    if args.synapses:
        print(f"synapse task variance ({n_syn} synapses, one rule): {syn_time:.2f} s; "
              f"accumulators {held / 2**20:.0f} MiB vs full M trace {trace / 2**20:.0f} MiB "
              f"(ratio {held / trace:.3f})")


if __name__ == "__main__":
    main()
