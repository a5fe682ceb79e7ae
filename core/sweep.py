"""Sweeps: one job per (config, seed) of any family's training script, on SLURM or locally.

A sweep runs a family's training script (``multiple_task/multiple_task.py``,
``mixture_of_pathways/run_experiment.py``, ...) once per point of a grid of flag values and per
seed, through `submitit <https://github.com/facebookincubator/submitit>`_: on a SLURM cluster the
jobs form one job array (partition, time, memory, CPUs and GPUs per job as flags), on a laptop
they run as processes of submitit's local executor, and in tests in-process through its debug
executor. Every job is ``python <script> <fixed args> --<key> <value> ... --seed <seed> --out
<out>``, so the runs land in the lab's name-coded folders under ``--out``, exactly as if the
script had been run by hand.

Bookkeeping lives in ``<out>/.sweep/``: ``jobs/<key>.json`` holds each job's command and state
(``submitted``, ``running``, ``finished`` when the script exited with status 0, ``failed``),
``logs/`` submitit's logs (stdout and stderr of each job). Submitting a sweep whose jobs were
submitted before is refused unless ``--resume``; with it, finished jobs are skipped and the
others run again, with the script's ``--resume`` flag when they had started (so an interrupted
run continues from its last checkpoint; a script without ``--resume`` restarts the run with
``--overwrite``). On SLURM, a job that reaches its time limit or is pre-empted is requeued the
same way (submitit's checkpointing). A failed job is reported with the path and last lines of its
log; the other jobs go on.

The grid comes from flags (``--grid hidden=64,128 l2=1e-4,1e-3 --seeds 0-9``) or a TOML file
(``--spec``) with the same fields (flags given on the command line win)::

    script = "multiple_task/multiple_task.py"
    args = ["--preset", "quick"]
    seeds = "0-9"
    out = "runs/sweep_hidden"
    [grid]
    hidden = [64, 128]
    l2 = [1e-4, 1e-3]

Examples::

    python -m core.sweep multiple_task/multiple_task.py --grid hidden=64,128 l2=1e-4,1e-3 \\
        --seeds 0-9 --out runs/sweep --executor slurm --partition gpu --time 120 --gpus 1 \\
        -- --preset paper --device cuda
    python -m core.sweep multiple_task/multiple_task.py --grid hidden=32,64 --seeds 0-1 \\
        --out runs/sweep --executor local -- --preset quick --steps 200
    python -m core.sweep --spec sweep.toml --resume
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import re
import shlex
import subprocess
import sys
import time
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import submitit
from tqdm.auto import tqdm

from core.cli import ArgumentParser, cli_main
from core.fileio import save_json

__all__ = ["EXECUTORS", "Sweep", "SweepJob", "job_state", "parse_grid", "parse_seeds",
           "submit"]

EXECUTORS = ("auto", "slurm", "local", "debug")
STATE_DIR = ".sweep"
_KEY_RE = re.compile(r"[^A-Za-z0-9._\-]+")


def parse_seeds(text: str) -> list[int]:
    """``"0-9"``, ``"0,3,5"`` or ``"0-4,7"`` -> sorted unique seeds; ValueError if malformed."""
    seeds: set[int] = set()
    for part in str(text).split(","):
        m = re.fullmatch(r"\s*(\d+)\s*(?:-\s*(\d+)\s*)?", part)
        if m is None or (m[2] is not None and int(m[2]) < int(m[1])):
            raise ValueError(f"--seeds: cannot read {part!r} (use e.g. 0-9, 0,3,5 or 0-4,7)")
        seeds.update(range(int(m[1]), int(m[2] or m[1]) + 1))
    return sorted(seeds)


def parse_grid(items: Sequence[str]) -> dict[str, list[str]]:
    """``["hidden=64,128", "l2=1e-4"]`` -> ``{"hidden": ["64", "128"], "l2": ["1e-4"]}`` (flag
    names as the script spells them, without ``--``); ValueError if an item is malformed."""
    grid: dict[str, list[str]] = {}
    for item in items:
        key, sep, values = item.partition("=")
        key = key.strip().lstrip("-")
        listed = [v.strip() for v in values.split(",") if v.strip()]
        if not sep or not key or not listed or key in grid:
            raise ValueError(f"--grid: cannot read {item!r} (use flag=value1,value2 once per "
                             "flag)")
        grid[key] = listed
    return grid


@dataclass(frozen=True)
class Sweep:
    """A grid of flag values times seeds for one ``script`` (path relative to ``root``).

    ``args``: fixed arguments of every job; ``grid``: flag name (without ``--``) -> values;
    ``seed_flag``/``out_flag``: how the script takes its seed and its runs folder ``out``.
    """

    script: str
    out: Path
    seeds: tuple[int, ...]
    grid: dict[str, list[str]] = field(default_factory=dict)
    args: tuple[str, ...] = ()
    seed_flag: str = "--seed"
    out_flag: str = "--out"
    root: Path = Path(".")

    def __post_init__(self) -> None:
        if not (self.root / self.script).is_file():
            raise FileNotFoundError(f"{self.root / self.script}: no such training script")
        if not self.seeds:
            raise ValueError("a sweep needs at least one seed")
        for flag, instead in ((self.seed_flag, "--seeds"), (self.out_flag, "--out")):
            if any(a == flag or a.startswith(flag + "=") for a in self.args):
                raise ValueError(f"{flag} among the fixed arguments would be overridden by each "
                                 f"job's own; give it to the sweep as {instead}")
        clash = sorted(set(self.grid) & {a[2:].split("=")[0] for a in self.args
                                         if a.startswith("--")})
        if clash:
            raise ValueError(f"--{clash[0]} is both in the grid and among the fixed arguments")

    @property
    def state_dir(self) -> Path:
        """``<out>/.sweep``: job states and logs."""
        return self.out / STATE_DIR

    def jobs(self, resume: bool = False) -> list[SweepJob]:
        """One :class:`SweepJob` per grid point and seed (grid points in the order of ``grid``)."""
        keys = list(self.grid)
        jobs = []
        for values in itertools.product(*(self.grid[k] for k in keys)):
            for seed in self.seeds:
                argv = [*self.args]
                for key, value in zip(keys, values, strict=True):
                    argv += [f"--{key}", value]
                argv += [self.seed_flag, str(seed), self.out_flag, str(self.out)]
                digest = hashlib.sha1(json.dumps([self.script, argv]).encode()).hexdigest()[:8]
                point = "_".join(f"{k}{v}" for k, v in zip(keys, values, strict=True))
                key = _KEY_RE.sub("-", f"{point}_seed{seed}_{digest}".lstrip("_"))
                jobs.append(SweepJob(self.script, tuple(argv), key, str(self.root.resolve()),
                                     str(self.state_dir.resolve() / "jobs")))
        return jobs


class SweepJob(submitit.helpers.Checkpointable):
    """One run of the script: ``python <script> <argv> [<resume flag>]`` in ``root``.

    Called by submitit (in a SLURM job, a local process or, for tests, in-process): it records
    ``running`` in ``<state>/<key>.json``, runs the script with its output going to the job's
    log, then records ``finished`` (exit status 0, returns ``key``) or ``failed`` (raises
    RuntimeError with the status). When SLURM pre-empts it or its time runs out, submitit calls
    :meth:`checkpoint`, which requeues it with the resume flag.
    """

    def __init__(self, script: str, argv: tuple[str, ...], key: str, root: str, state: str,
                 resume_flag: str | None = None):
        self.script, self.argv, self.key = script, tuple(argv), key
        self.root, self.state, self.resume_flag = root, state, resume_flag

    @property
    def command(self) -> list[str]:
        """The command line the job runs."""
        return [sys.executable, self.script, *self.argv,
                *([self.resume_flag] if self.resume_flag else [])]

    def record(self, status: str, **extra: Any) -> None:
        """Write this job's state file; ``started`` stays true once the job has run."""
        started = status == "running" or bool((job_state(self) or {}).get("started"))
        save_json(Path(self.state) / f"{self.key}.json",
                  {"key": self.key, "script": self.script, "argv": list(self.argv),
                   "status": status, "started": started,
                   "time": time.strftime("%Y-%m-%dT%H:%M:%S"), **extra})

    def __call__(self) -> str:
        self.record("running", command=shlex.join(self.command))
        sys.stdout.flush()
        status = subprocess.run(self.command, cwd=self.root).returncode
        if status != 0:
            self.record("failed", returncode=status)
            raise RuntimeError(f"{shlex.join(self.command)} exited with status {status}")
        self.record("finished")
        return self.key

    def checkpoint(self, *args: Any, **kwargs: Any) -> submitit.helpers.DelayedSubmission:
        """Requeue with the script's resume flag (called by submitit on time-out/pre-emption)."""
        flag = self.resume_flag or _resume_flag(Path(self.root) / self.script)
        return submitit.helpers.DelayedSubmission(
            SweepJob(self.script, self.argv, self.key, self.root, self.state, flag))


def job_state(job: SweepJob) -> dict[str, Any] | None:
    """The stored state of ``job`` (None if it was never submitted)."""
    path = Path(job.state) / f"{job.key}.json"
    return json.loads(path.read_text()) if path.is_file() else None


def _resume_flag(script: Path) -> str | None:
    """``--resume`` if the script has it, else ``--overwrite`` (restart), else None."""
    text = subprocess.run([sys.executable, str(script), "--help"], capture_output=True,
                          text=True).stdout
    return next((f for f in ("--resume", "--overwrite") if re.search(rf"{f}\b", text)), None)


@dataclass
class Submission:
    """What :func:`submit` did: the jobs submitted (with their submitit handles) and skipped."""

    submitted: list[tuple[SweepJob, Any]]
    skipped: list[SweepJob]
    executor: str


def make_executor(folder: Path, executor: str = "auto", *, partition: str | None = None,
                  time_min: int = 60, mem_gb: float | None = None, cpus: int = 1, gpus: int = 0,
                  max_parallel: int | None = None, name: str = "sweep"):
    """A ``submitit.AutoExecutor`` logging to ``folder`` (SLURM if ``executor`` is ``slurm``, or
    ``auto`` on a machine with SLURM; else local processes; ``debug`` runs in-process) with the
    per-job resources."""
    if executor not in EXECUTORS:
        raise ValueError(f"--executor must be one of {EXECUTORS}, got {executor!r}")
    cluster = None if executor == "auto" else executor
    try:
        auto = submitit.AutoExecutor(folder=folder, cluster=cluster)
    except RuntimeError as exc:  # e.g. --executor slurm on a machine without SLURM
        raise ValueError(f"--executor {executor}: {exc}") from None
    params: dict[str, Any] = {"timeout_min": time_min, "cpus_per_task": cpus, "name": name}
    if gpus:
        params["gpus_per_node"] = gpus
    if mem_gb is not None:
        params["mem_gb"] = mem_gb
    if partition is not None:
        params["slurm_partition"] = partition
    if max_parallel is not None:
        params["slurm_array_parallelism"] = max_parallel
    auto.update_parameters(**params)
    return auto


def submit(sweep: Sweep, executor: Any, resume: bool = False) -> Submission:
    """Submit the jobs of ``sweep`` not yet finished, as one array (on SLURM).

    FileExistsError if a job of the sweep was submitted before and not ``resume``. With
    ``resume``, finished jobs are skipped and jobs that had started get the script's resume flag.
    """
    jobs = sweep.jobs()
    states = {job.key: job_state(job) for job in jobs}
    seen = [k for k, s in states.items() if s is not None]
    if seen and not resume:
        raise FileExistsError(
            f"{len(seen)} of the {len(jobs)} jobs of this sweep were submitted before "
            f"({sweep.state_dir}); pass --resume to skip the finished ones and resume the others")
    skipped = [j for j in jobs if (states[j.key] or {}).get("status") == "finished"]
    todo = [j for j in jobs if j not in skipped]
    started = [j for j in todo if (states[j.key] or {}).get("started")]
    if started:
        flag = _resume_flag(sweep.root / sweep.script)
        todo = [replace_flag(j, flag) if j in started else j for j in todo]
    for job in todo:
        job.record("submitted")
    handles: list[Any] = []
    if todo:
        with executor.batch():
            handles = [executor.submit(job) for job in todo]
    return Submission(list(zip(todo, handles, strict=True)), skipped,
                      getattr(executor, "cluster", type(executor).__name__))


def replace_flag(job: SweepJob, flag: str | None) -> SweepJob:
    """``job`` with the resume flag ``flag``."""
    return SweepJob(job.script, job.argv, job.key, job.root, job.state, flag)


def wait(submission: Submission, log_lines: int = 5) -> tuple[int, list[str]]:
    """Wait for every submitted job; returns the number finished and one report per failed job
    (its command, log path and the last ``log_lines`` lines the script wrote to stderr before
    submitit's own report)."""
    done, failures = 0, []
    for job, handle in tqdm(submission.submitted, desc="jobs", unit="job"):
        try:
            handle.result()
            done += 1
        except Exception as exc:  # noqa: BLE001 (any failure of one job must not stop the rest)
            paths = getattr(handle, "paths", None)
            log = Path(paths.stderr) if paths is not None else None
            lines = log.read_text(errors="replace").splitlines() \
                if log is not None and log.is_file() else []
            own = [n for n, line in enumerate(lines) if line.startswith("submitit ERROR")]
            tail = lines[:own[0]][-log_lines:] if own else lines[-log_lines:]  # the script's
            tail = tail or [str(exc).splitlines()[-1]]
            failures.append(f"job {job.key} failed: {shlex.join(job.command[1:])}\n"
                            f"  log: {log}\n" + "\n".join(f"  | {line}" for line in tail))
    return done, failures


def parse_args(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    """Sweep options, and the fixed script arguments given after ``--``."""
    fixed: list[str] = []
    if "--" in argv:
        at = argv.index("--")
        argv, fixed = argv[:at], argv[at + 1:]
    p = ArgumentParser(
        prog="python -m core.sweep", description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Arguments after -- are passed to every job unchanged.")
    p.add_argument("script", nargs="?", default=None,
                   help="the family's training script, e.g. multiple_task/multiple_task.py")
    p.add_argument("--spec", type=Path, default=None,
                   help="TOML file with script, args, grid, seeds, out (flags win)")
    p.add_argument("--grid", nargs="+", default=None, metavar="FLAG=V1,V2",
                   help="values of each flag; one job per combination and seed")
    p.add_argument("--seeds", default=None, help="seeds, e.g. 0-9, 0,3,5 (default 0)")
    p.add_argument("--out", type=Path, default=None,
                   help="runs folder passed to every job with --out (default runs/sweep); the "
                        "sweep's states and logs go to <out>/.sweep")
    p.add_argument("--seed-flag", default=None,
                   help="the script's seed flag (default --seed; --seeds for timescales/train.py)")
    p.add_argument("--out-flag", default=None,
                   help="the script's runs-folder flag (default --out)")
    p.add_argument("--resume", action="store_true",
                   help="resubmit a sweep: skip finished jobs, resume the interrupted ones")
    p.add_argument("--executor", choices=EXECUTORS, default="auto",
                   help="slurm (a job array), local (processes here), debug (in-process), auto "
                        "(slurm where sbatch exists, else local)")
    p.add_argument("--partition", default=None, help="SLURM partition (slurm only)")
    p.add_argument("--time", type=int, default=60,
                   help="time limit per job in minutes (default 60); at the limit submitit "
                        "requeues the job, which resumes its run (SLURM and local)")
    p.add_argument("--mem", type=float, default=None,
                   help="memory per job in GB (slurm only; default: the partition's)")
    p.add_argument("--cpus", type=int, default=1, help="CPUs per job (default 1)")
    p.add_argument("--gpus", type=int, default=0, help="GPUs per job (default 0)")
    p.add_argument("--max-parallel", type=int, default=None,
                   help="SLURM: most array jobs running at once")
    p.add_argument("--no-wait", action="store_true",
                   help="return after submitting (default for slurm: wait only for local/debug)")
    args = p.parse_args(argv)
    return args, fixed


def sweep_from_args(args: argparse.Namespace, fixed: list[str], root: Path = Path(".")) -> Sweep:
    """The :class:`Sweep` of the command line, on top of ``--spec`` if given."""
    spec: dict[str, Any] = {}
    if args.spec is not None:
        if not args.spec.is_file():
            raise FileNotFoundError(f"{args.spec}: no such sweep file")
        try:
            spec = tomllib.loads(args.spec.read_text())
        except tomllib.TOMLDecodeError as exc:
            raise ValueError(f"{args.spec}: not a TOML sweep file ({exc})") from None
        unknown = set(spec) - {"script", "args", "grid", "seeds", "out", "seed_flag",
                               "out_flag"}
        if unknown:
            raise ValueError(f"{args.spec}: unknown fields {sorted(unknown)}")
    script = args.script or spec.get("script")
    if script is None:
        raise ValueError("name the training script (or give --spec with script = ...)")
    grid = parse_grid(args.grid) if args.grid else {
        str(k): [str(v) for v in (vs if isinstance(vs, list) else [vs])]
        for k, vs in spec.get("grid", {}).items()}
    listed = spec.get("seeds", "0")
    seeds = parse_seeds(args.seeds or (",".join(map(str, listed)) if isinstance(listed, list)
                                       else str(listed)))
    out = args.out or Path(spec.get("out", "runs/sweep"))
    return Sweep(script, out, tuple(seeds), grid, tuple(fixed or spec.get("args", [])),
                 seed_flag=args.seed_flag or spec.get("seed_flag", "--seed"),
                 out_flag=args.out_flag or spec.get("out_flag", "--out"), root=root)


@cli_main
def main(argv: list[str] | None = None) -> int:
    """Submit (or resubmit) a sweep; with a local or debug executor wait and report. Returns the
    number of failed jobs (the exit status is 1 when any failed)."""
    args, fixed = parse_args(sys.argv[1:] if argv is None else list(argv))
    for name in ("time", "cpus"):
        if getattr(args, name) < 1:
            raise ValueError(f"--{name} must be >= 1")
    sweep = sweep_from_args(args, fixed)
    executor = make_executor(sweep.state_dir / "logs", args.executor, partition=args.partition,
                             time_min=args.time, mem_gb=args.mem, cpus=args.cpus,
                             gpus=args.gpus, max_parallel=args.max_parallel,
                             name=Path(sweep.script).stem)
    submission = submit(sweep, executor, resume=args.resume)
    if submission.executor != "slurm":
        unused = [f"--{k.replace('_', '-')}" for k in ("partition", "mem", "max_parallel")
                  if getattr(args, k)]
        if unused:
            print(f"note: {', '.join(unused)} appl{'y' if len(unused) > 1 else 'ies'} to SLURM "
                  f"only; the {submission.executor} executor ignores "
                  f"{'them' if len(unused) > 1 else 'it'}")
    n_jobs = len(submission.submitted) + len(submission.skipped)
    print(f"{len(submission.submitted)} of {n_jobs} jobs submitted "
          f"({len(submission.skipped)} finished before) via {submission.executor}; states and "
          f"logs in {sweep.state_dir}")
    if not submission.submitted:
        return 0
    if args.no_wait or submission.executor == "slurm":
        ids = sorted({str(h.job_id).split("_")[0] for _, h in submission.submitted})
        print(f"job array {', '.join(ids)}; when it ends: python -m core.runs {sweep.out}, and "
              "the same command with --resume to run what did not finish")
        return 0
    done, failures = wait(submission)
    for report in failures:
        print(report, file=sys.stderr)
    print(f"{done} finished, {len(failures)} failed; runs in {sweep.out}")
    return len(failures)


if __name__ == "__main__":
    from core.sweep import main as _main  # jobs must pickle as core.sweep.SweepJob

    sys.exit(1 if _main() else 0)
