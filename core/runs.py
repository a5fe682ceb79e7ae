"""Index of runs: what has been trained under a folder, one row per name-coded run.

``python -m core.runs [DIR]`` finds every folder under ``DIR`` (default ``runs``) whose name is a
run name (:func:`core.training.naming.parse_run_name`) and that holds a ``config.json``, and
prints one row per run: its family, rule set, seed and the other fields of its name, the steps
done and the step budget, the final validation accuracy (mean over rules), the accuracy on fresh
trials after training (``evaluation.csv``: mean over rules, and the fewest trials of a rule) and
whether training finished (reached its budget, or stopped early by its stopping rule: target
accuracy, loss threshold, pretraining's held accuracy), as the run's ``status.json`` records it;
``unknown`` for a run stored before it that the stored files cannot tell (BabyAI runs without a
stored budget, early-stopped or killed runs). A curriculum run of ``timescales/train.py`` has
a row per folder: ``<name>+N{n}`` per solved N (steps: where N was solved) and ``<name>+last``
(the network at the end of training; ``--where accfeature=*last`` keeps these). A
``local_experts/train.py`` run (one network on the vowels,
:func:`core.models.local_experts.vowel_run_name`) counts epochs as steps; its validation and
evaluation accuracy are both on the held-out test tokens (per epoch, and at the end with a
Wilson interval), and a run stopped by divergence has finished (the protocol counts it as not
converged).
``--where FIELD=VALUE`` keeps matching rows (shell-style patterns, e.g. ``family=mixture*``);
``--csv`` writes the table; ``--format markdown`` prints it as a Markdown table (for the README).

``--aggregate`` groups runs that differ only in their seed and gives, per group, the mean and
95 % interval (Student's t over seeds, :func:`core.analysis.seeds.mean_interval`) of each rule's
final validation accuracy and of the validation learning curve (steps every seed reached,
:func:`core.analysis.seeds.curve_interval`, as ``paper_plot.py``'s figures of several seeds);
``--figure`` draws them (:func:`core.plotting.runs.plot_seed_aggregate`).

    python -m core.runs runs --where family=multiple_task hidden=64
    python -m core.runs runs --format markdown > results/runs_index.md
    python -m core.runs runs/sweep --aggregate --csv results/sweep_index.csv \\
        --figure results/figures/sweep_seeds
"""

from __future__ import annotations

import argparse
import csv
import fnmatch
import io
import json
import sys
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from core.analysis.seeds import curve_interval, mean_interval
from core.cli import ArgumentParser, cli_main
from core.fileio import atomic_write_text, figure_files, refuse_existing
from core.training.naming import parse_run_name
from core.training.trainer import (
    CONFIG_FILE,
    CURVES_FILE,
    EVALUATION_FILE,
    STAGES_DIR,
    STATUS_FILE,
    VALIDATION_FILE,
)

__all__ = ["RunRow", "aggregate_seeds", "filter_rows", "format_table", "index_runs", "main",
           "markdown_table", "rule_run_family"]

#: Columns of the index, in order (``rules`` and curves stay out of the table).
COLUMNS = ("run", "family", "rule_set", "seed", "feature", "hidden", "batch", "accfeature",
           "steps", "n_steps", "val_accuracy", "eval_accuracy", "eval_trials", "finished")


@dataclass
class RunRow:
    """One name-coded run: its folder relative to the index root (``run``), family, the fields
    of its name, ``steps`` done of ``n_steps`` (None: budget not stored), the final mean
    validation accuracy ``val_accuracy`` (NaN if never validated), ``finished`` (None: cannot be
    told, a run stored before ``status.json``), the accuracy on fresh trials after training
    (``evaluation.csv``: mean over rules ``eval_accuracy``, fewest trials of a rule
    ``eval_trials``; NaN/None without one), and for aggregation the last validation accuracy
    per rule and the validation curve (``val_steps``, ``val_curve``)."""

    run: str
    family: str
    rule_set: str
    seed: int
    feature: str
    hidden: int
    batch: int
    accfeature: str
    steps: int
    n_steps: int | None
    val_accuracy: float
    finished: bool | None
    eval_accuracy: float = float("nan")
    eval_trials: int | None = None
    rule_accuracy: dict[str, float] = field(default_factory=dict, repr=False)
    val_steps: list[int] = field(default_factory=list, repr=False)
    val_curve: list[float] = field(default_factory=list, repr=False)

    def fields(self) -> dict[str, Any]:
        """The table columns (:data:`COLUMNS`) of this row."""
        row = asdict(self)
        if row["finished"] is None:
            row["finished"] = "unknown"
        return {k: row[k] for k in COLUMNS}


def _family(config: dict[str, Any], folder: Path) -> str:
    if "dagger" in config:
        return "babyai"
    if "system" in config:
        return "local_experts"
    if config.get("kind") == "mop":
        return "mixture_of_pathways"
    if "curriculum" in config:
        return "timescales"
    if "model_kind" in config:
        return rule_run_family(folder)
    return "unknown"


def rule_run_family(folder: Path) -> str:
    """Family of a rule-trained run folder: ``pretrain`` (named ``<pair>-pre`` or
    ``<pair>-to-<rule>``, :func:`core.training.transfer.stage_names`), ``flex_task`` (its
    ``config.json`` holds the matched ``parameters`` count), ``two_task`` (it holds
    ``stages/normal/``), ``one_task`` (``stages/`` and named by one rule) or ``multiple_task``
    (a multi-task run, also one trained with ``--stages``: named by several rules or a rule
    set)."""
    from core.tasks import RULES

    rule_set = folder.name.split("_seed")[0]
    if rule_set.endswith("-pre") or "-to-" in rule_set:
        return "pretrain"
    config = folder / CONFIG_FILE
    if config.is_file() and "parameters" in json.loads(config.read_text()):
        return "flex_task"
    if (folder / STAGES_DIR / "normal").is_dir():
        return "two_task"
    one_rule = rule_set in RULES
    return "one_task" if (folder / STAGES_DIR).is_dir() and one_rule else "multiple_task"


def _curriculum_finished(folder: Path, config: dict[str, Any]) -> bool | None:
    """Whether the curriculum run of a ``timescales/train.py`` folder finished training: its
    ``<name>+last`` folder is written at the end of training, or on a signal with
    ``interrupted`` (:func:`core.training.curriculum.save_last_checkpoint`); a per-N folder
    ``<name>+N{n}`` (the network when N was solved, at ``step``) answers for its run's ``+last``,
    None without one (still training, or killed)."""
    if "n" in config and folder.name.endswith(f"+N{config['n']}"):
        last = folder.with_name(folder.name.removesuffix(f"+N{config['n']}") + "+last")
        if not (last / CONFIG_FILE).is_file():
            return None
        config = json.loads((last / CONFIG_FILE).read_text())
    return not config.get("interrupted", False)


def _read_csv(path: Path) -> list[dict[str, str]]:
    if not path.is_file():
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def read_run(folder: Path, root: Path) -> RunRow:
    """The index row of the run in ``folder`` (its name parsed, its files read without loading
    the checkpoint). ValueError if the name is not a run name."""
    name = parse_run_name(folder.name)
    config = json.loads((folder / CONFIG_FILE).read_text())
    family = _family(config, folder)
    if family == "timescales":
        accuracy = [float(a) for a in config.get("accuracy", [])]
        return RunRow(str(folder.relative_to(root)), family, name.task, name.seed, name.feature,
                      name.hidden, name.batch, name.accfeature, int(config.get("step", 0)),
                      config["curriculum"].get("max_steps"),
                      float(np.mean(accuracy)) if accuracy else float("nan"),
                      _curriculum_finished(folder, config))
    train = config.get("train", {})
    curves = _read_csv(folder / CURVES_FILE)
    validation = _read_csv(folder / VALIDATION_FILE)
    # training steps: rule and MoP runs count steps, BabyAI runs DAgger updates
    steps = int(curves[-1].get("step") or curves[-1].get("update") or 0) if curves else 0
    rules = [k for k in (validation[0] if validation else {})
             if k not in ("step", "loss", "mean_accuracy") and not k.endswith("_chance")]
    last = {r: float(validation[-1][r]) for r in rules} if validation else {}
    status = json.loads((folder / STATUS_FILE).read_text()) \
        if (folder / STATUS_FILE).is_file() else None
    if status is not None:  # written by the trainer (and babyai/train.py) since it records why
        n_steps, finished = status["n_steps"], status["stopped"] is not None
    else:  # older runs: finished where the stored files show it, else unknown (a stopping rule
        # outside the config, e.g. pretraining's held accuracy, or a killed run)
        n_steps = train.get("n_steps")
        target, threshold = train.get("target_accuracy"), train.get("early_stopping_threshold")
        finished = bool(
            (n_steps is not None and steps >= n_steps)
            or (target is not None and last and min(last.values()) >= target)
            or (threshold is not None and curves and float(curves[-1]["loss"]) < threshold)
        ) or None
    evaluation = _read_csv(folder / EVALUATION_FILE)
    return RunRow(str(folder.relative_to(root)), family, name.task, name.seed, name.feature,
                  name.hidden, name.batch, name.accfeature, steps, n_steps,
                  float(validation[-1]["mean_accuracy"]) if validation else float("nan"),
                  finished,
                  float(np.mean([float(r["accuracy"]) for r in evaluation])) if evaluation
                  else float("nan"),
                  min(int(r["n_trials"]) for r in evaluation) if evaluation else None,
                  last, [int(r["step"]) for r in validation],
                  [float(r["mean_accuracy"]) for r in validation])


def index_runs(root: str | Path) -> list[RunRow]:
    """Every name-coded run folder (with a ``config.json``) under ``root``, sorted by path;
    hidden folders (``.sweep``) are skipped. FileNotFoundError if ``root`` is not a folder."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: no such folder of runs")
    rows = []
    for config in sorted(root.rglob(CONFIG_FILE)):
        folder = config.parent
        if any(part.startswith(".") for part in folder.relative_to(root).parts):
            continue
        try:
            parse_run_name(folder.name)
        except ValueError:
            continue
        rows.append(read_run(folder, root))
    return rows


def filter_rows(rows: Iterable[RunRow], where: Sequence[str]) -> list[RunRow]:
    """Rows whose fields match every ``FIELD=PATTERN`` of ``where`` (shell-style patterns on the
    field's text; ``finished=yes``/``no``). ValueError naming an unknown field."""
    tests = []
    for item in where:
        key, sep, pattern = item.partition("=")
        if not sep or key not in COLUMNS:
            raise ValueError(f"--where {item!r}: use FIELD=VALUE with FIELD one of "
                             f"{', '.join(COLUMNS)}")
        tests.append((key, pattern))
    return [row for row in rows
            if all(fnmatch.fnmatchcase(_text(row.fields()[k]), p) for k, p in tests)]


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return "" if np.isnan(value) else f"{value:.3f}"
    return "" if value is None else str(value)


def format_table(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> str:
    """A fixed-width text table of ``rows`` (dicts) with a header of ``columns``."""
    cells = [[_text(row[c]) for c in columns] for row in rows]
    widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True))]
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)) for r in cells]
    return "\n".join(lines)


def markdown_table(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> str:
    """``rows`` (dicts) as a Markdown (GitHub) table with a header of ``columns``, cells as in
    :func:`format_table` (``|`` escaped)."""
    def line(cells: Iterable[str]) -> str:
        return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"

    return "\n".join([line(columns), "|" + "---|" * len(columns),
                      *(line(_text(row[c]) for c in columns) for row in rows)])


def to_csv(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> str:
    """``rows`` as CSV text (booleans as yes/no, NaN as empty)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(columns)
    writer.writerows([_text(row[c]) for c in columns] for row in rows)
    return out.getvalue()


def aggregate_seeds(rows: Sequence[RunRow], confidence: float = 0.95) -> list[dict[str, Any]]:
    """Group rows that differ only in their seed (and folder) and summarise each group.

    Returns one dict per group: ``label`` (the run name with ``seed*``), ``family``,
    ``n_seeds``, ``seeds``, ``rules`` and per rule the final-accuracy ``accuracy``,
    ``accuracy_low``, ``accuracy_high (R,)``; the learning curve ``steps (V,)`` (validation
    steps every seed reached) with ``curve``, ``curve_low``, ``curve_high (V,)``; and
    ``val_accuracy``/``_low``/``_high`` of the final mean accuracy. Interval bounds are
    clipped to [0, 1], the range of an accuracy (a t-interval over few seeds can leave it).
    """
    groups: dict[tuple, list[RunRow]] = {}
    for row in rows:
        key = (row.family, row.rule_set, row.feature, row.hidden, row.batch, row.accfeature)
        groups.setdefault(key, []).append(row)
    out = []
    for (family, rule_set, feature, hidden, batch, accfeature), members in groups.items():
        rules = list(dict.fromkeys(r for m in members for r in m.rule_accuracy))
        acc = np.array([[m.rule_accuracy.get(r, np.nan) for r in rules] for m in members])
        steps, *curve = curve_interval([(m.val_steps, m.val_curve) for m in members],
                                       confidence)
        final = np.array([m.val_accuracy for m in members])
        stats = {name: np.clip(mean_interval(values, confidence), 0.0, 1.0)  # accuracies
                 for name, values in (("accuracy", acc), ("final", final))}
        stats["curve"] = curve
        out.append({
            "label": f"{rule_set}_seed*_{feature}+hidden{hidden}+batch{batch}{accfeature}",
            "family": family, "n_seeds": len(members), "seeds": sorted(m.seed for m in members),
            "rules": rules, "steps": steps,
            **{f"accuracy{s}": v for s, v in zip(("", "_low", "_high"), stats["accuracy"],
                                                  strict=True)},
            **{f"curve{s}": v for s, v in zip(("", "_low", "_high"), stats["curve"],
                                               strict=True)},
            **{f"val_accuracy{s}": float(v) for s, v in zip(("", "_low", "_high"),
                                                            stats["final"], strict=True)},
        })
    return out


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = ArgumentParser(prog="python -m core.runs", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("folder", nargs="?", type=Path, default=Path("runs"),
                   help="folder searched (recursively) for runs (default: runs)")
    p.add_argument("--where", nargs="+", default=[], metavar="FIELD=VALUE",
                   help=f"keep rows matching every filter; fields: {', '.join(COLUMNS)}")
    p.add_argument("--csv", type=Path, default=None,
                   help="also write the index as CSV (with --aggregate, the groups go to "
                        "<stem>_seeds.csv beside it)")
    p.add_argument("--aggregate", action="store_true",
                   help="mean and interval over seeds of runs that differ only in their seed")
    p.add_argument("--confidence", type=float, default=0.95,
                   help="confidence level of the intervals (default: 0.95)")
    p.add_argument("--figure", type=Path, default=None,
                   help="with --aggregate: draw learning curves and per-rule accuracy here "
                        "(PDF + PNG)")
    p.add_argument("--format", choices=("text", "markdown"), default="text",
                   help="printed tables as fixed-width text or as Markdown tables (to paste into "
                        "the README); default: text")
    p.add_argument("--overwrite", action="store_true", help="replace existing CSV/figure files")
    return p.parse_args(argv)


@cli_main
def main(argv: list[str] | None = None) -> list[RunRow]:
    """Print (and write) the index; returns its rows."""
    args = parse_args(argv)
    if args.figure is not None and not args.aggregate:
        raise ValueError("--figure draws the aggregate over seeds; add --aggregate")
    rows = filter_rows(index_runs(args.folder), args.where)
    groups = aggregate_seeds(rows, args.confidence) if args.aggregate else []
    outputs = [] if args.csv is None else [args.csv]
    if args.csv is not None and args.aggregate:
        outputs.append(args.csv.with_name(f"{args.csv.stem}_seeds.csv"))
    if args.figure is not None:
        outputs += figure_files(args.figure)
    refuse_existing(outputs, args.overwrite)
    show = markdown_table if args.format == "markdown" else format_table
    table = [r.fields() for r in rows]
    print(show(table, COLUMNS) if rows else
          f"no runs under {args.folder}" + (" match --where" if args.where else ""))
    if args.csv is not None:
        atomic_write_text(args.csv, to_csv(table, COLUMNS))
    if groups:
        summary = [{"group": g["label"], "family": g["family"], "seeds": g["n_seeds"],
                    "val_accuracy": g["val_accuracy"], "low": g["val_accuracy_low"],
                    "high": g["val_accuracy_high"],
                    **{f"acc_{r}": a for r, a in zip(g["rules"], g["accuracy"], strict=True)}}
                   for g in groups]
        columns = list(dict.fromkeys(k for s in summary for k in s))
        summary = [{c: s.get(c, float("nan")) for c in columns} for s in summary]
        print(f"\nmean final validation accuracy over seeds ({100 * args.confidence:.0f}% "
              "interval low-high):")
        print(show(summary, columns[:6]))
        if args.csv is not None:
            atomic_write_text(outputs[1], to_csv(summary, columns))
        if args.figure is not None:
            from core.plotting import save_figure
            from core.plotting.runs import plot_seed_aggregate

            save_figure(plot_seed_aggregate(groups, args.confidence), args.figure)
    written = [str(p) for p in outputs if p.exists()]
    if written:
        print("wrote " + ", ".join(written), file=sys.stderr)
    return rows


if __name__ == "__main__":
    main()
