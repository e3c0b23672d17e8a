"""Run records rebuilt from the committed tables, for runs whose folders are gone.

``python -m actionpose.train.backfill [RESULTS]`` writes ``RESULTS/records/<experiment>/<dataset>/
<run>/`` with ``metrics.csv`` (the run's rows of ``curves.csv``, copied as text) and
``summary.json`` (its row of ``runs.csv``). The tables do not hold a run's full config nor its
per-video predictions, so these records have neither: their summary says so under ``source``.
Two facts are derived: the number of test videos where runs.csv lacks its ``test_videos`` (the
smallest n that makes every evaluated epoch's test accuracies of that split whole multiples of
1/n) and the context bias of the world a run trained on (the preset's, where the run names none).
"""
from __future__ import annotations

import csv
import sys
from pathlib import Path

from actionpose.errors import DataError
from actionpose.io import atomic_dir, write_json
from actionpose.pose.knob import TABLE_COLUMNS

SOURCE = "backfilled from results/runs.csv and curves.csv; predictions not kept"
RUN_KEYS = ("experiment", "dataset", "split", "seed", "preset", "context_bias")
FINAL_KEYS = ("skipped_steps", "test_clip_acc", "test_loss", "test_video_acc", "test_video_top5",
              "train_acc", "train_loss")


def _number(text: str):
    if text == "":  # e.g. top-5 accuracy of a world with 5 classes or fewer
        return None
    return int(text) if text.lstrip("-").isdigit() else float(text)


def _float(text: str) -> float | None:
    return None if text == "" else float(text)  # empty: a column a fused pair's row lacks


def _key(row: dict) -> tuple:
    """A run's identity in the tables: its RUN_KEYS and its pose-quality setting (clean where the
    table has no knob columns)."""
    bias = row["context_bias"]
    quality = tuple(float(row.get(c) or 0.0) for c in TABLE_COLUMNS)
    return tuple(row[k] for k in RUN_KEYS[:-1]) + (None if bias == "" else float(bias),) + quality


def _run_name(row: dict, key: tuple) -> str:
    """The run folder name of a table row: of the experiment's config, or for a fused pair of
    its pose side's (where the pair's record lives)."""
    from actionpose.pose.knob import PoseQuality
    from actionpose.train.experiments import make_config

    jitter, miss, dx, dy, change = key[-5:]
    overrides = dict(dataset=row["dataset"], split=int(row["split"]), context_bias=key[5],
                     **PoseQuality(jitter, miss, (dx, dy), change).config())
    if "+" in row["experiment"]:
        from actionpose.fuse import pair_configs

        return pair_configs(row["experiment"], row["preset"], int(row["seed"]), **overrides)[1].run_name()
    return make_config(row["experiment"], row["preset"], seed=int(row["seed"]), **overrides).run_name()


def _read(path: Path) -> list[dict]:
    if not path.is_file():
        raise DataError(path, "missing")
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    if not rows:
        raise DataError(path, "empty")
    return rows


def test_videos(accuracies: list[float], limit: int = 5000) -> int:
    """The smallest n for which every accuracy is a whole multiple of 1/n."""
    for n in range(1, limit + 1):
        if all(abs(a * n - round(a * n)) < 1e-6 for a in accuracies):
            return n
    raise ValueError(f"no n <= {limit} makes these accuracies multiples of 1/n")


def backfill(results_dir: str | Path, records_dir: str | Path | None = None) -> list[Path]:
    """Write one record per row of ``results_dir/runs.csv``; returns the record folders."""
    from actionpose.data.synthetic import synth_config

    results_dir = Path(results_dir)
    records_dir = Path(records_dir) if records_dir is not None else results_dir / "records"
    runs, curves = _read(results_dir / "runs.csv"), _read(results_dir / "curves.csv")
    columns = [c for c in curves[0] if c not in RUN_KEYS and c not in TABLE_COLUMNS]
    by_run: dict[tuple, list[dict]] = {}
    for row in curves:
        by_run.setdefault(_key(row), []).append(row)
    by_split: dict[tuple, list[float]] = {}
    for key, rows in by_run.items():
        by_split.setdefault(key[1:5], []).extend(  # empty: an epoch eval_every skipped
            float(r[m]) for r in rows for m in ("test_video_acc", "test_video_top5") if r[m] != "")
    written = []
    for row in runs:
        key = _key(row)
        rows = by_run.get(key, [])
        if len(rows) != int(row["epochs"]):
            raise DataError(results_dir / "curves.csv", f"{len(rows)} epoch rows for run {key}, "
                                                        f"runs.csv says {row['epochs']}")
        override = key[5]
        name = _run_name(row, key)
        world = override
        if world is None and row["dataset"] in ("puppet", "actors"):
            world = synth_config("cpu" if row["preset"] == "paper" else row["preset"]).context_bias
        summary = {
            "complete": True, "source": SOURCE, "experiment": row["experiment"],
            "run": name, "dataset": row["dataset"], "preset": row["preset"],
            "split": int(row["split"]), "seed": int(row["seed"]), "epochs": int(row["epochs"]),
            "final": {k: _number(row[k]) for k in FINAL_KEYS},
            "seconds_total": _float(row["seconds"]), "peak_rss_gib": _float(row["peak_rss_gib"]),
            "num_test_videos": (int(row["test_videos"]) if row.get("test_videos")
                                else test_videos(by_split[key[1:5]])),
            "context_bias": world,
            "config": {"context_bias": override, "background_factor": _float(row["background_factor"])},
        }
        folder = records_dir / row["experiment"] / row["dataset"] / name
        with atomic_dir(folder) as tmp:
            with open(tmp / "metrics.csv", "w", newline="") as fh:
                writer = csv.DictWriter(fh, columns, extrasaction="ignore", lineterminator="\n")
                writer.writeheader()
                writer.writerows(rows)
            write_json(tmp / "summary.json", summary)
        written.append(folder)
    return written


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    written = backfill(args[0] if args else "results")
    print(f"backfill: {len(written)} records written", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
