"""The results set as one unit: every table of ``results/`` and every figure, built in full from
run records before any of them replaces the previous set."""
from __future__ import annotations

import shutil
from contextlib import ExitStack
from pathlib import Path

from actionpose.errors import DataError
from actionpose.io import atomic_dir, atomic_path
from actionpose.report.figures import render
from actionpose.report import pose_quality, reliance
from actionpose.report.records import load
from actionpose.report.study_figures import own_world_bias, study_figures
from actionpose.report.tables import (compare_all, report_markdown, study_markdown, study_slopes, study_table,
                                      summarise, sweep_slopes)

TABLES = ("runs.csv", "summary.csv", "comparisons.csv", "sweep_slopes.csv", "curves.csv", "report.md")
# written only when some record carries context_reliance.csv (a stale one is removed otherwise)
OPTIONAL_TABLES = reliance.TABLES
# issue 18's study (tables.study_table, and each bias-swept mode's slope: tables.study_slopes),
# written once the records hold a point of it that the report's own tables do not show (stale
# ones are removed otherwise)
STUDY_TABLE = "study.csv"
STUDY_TABLES = (STUDY_TABLE, "study_slopes.csv")
FIGURE_SUFFIXES = (".png", ".svg")
INTEGER_COLUMNS = ("epoch", "skipped_steps", "epochs", "test_videos", "split", "seed")


def _check_figures_dir(path: Path) -> None:
    """The figures folder's files are replaced whole: refuse one that holds other files than
    figures (sub-folders, such as ``figures/use/`` of other commands, are carried over)."""
    if path.exists() and not path.is_dir():
        raise DataError(path, "is a file, not a figures folder")
    others = sorted(p.name for p in path.iterdir()
                    if not p.is_dir() and p.suffix not in FIGURE_SUFFIXES) if path.is_dir() else []
    if others:
        raise DataError(path, f"holds other files than figures ({', '.join(others[:3])}); "
                              "it is replaced whole, so choose a folder of figures only")


def _whole_numbers(table):
    """Integer columns stay integers in the CSV where some rows lack them (a fused pair's record
    has no per-epoch step counts): written 0, not 0.0, so a table's bytes do not depend on
    which other records exist."""
    floats = [c for c in INTEGER_COLUMNS if c in table and table[c].dtype.kind == "f"]
    return table.astype({c: "Int64" for c in floats})


def write_report(source: str | Path, results_dir: str | Path, figures_dir: str | Path,
                 preset: str | None = None) -> list[Path]:
    """Tables into ``results_dir`` and figures into ``figures_dir`` from the runs or records
    under ``source`` (only ``preset``'s if given). Nothing is written unless all of it could be
    built: a malformed record, or no matching run, is an error before the first write."""
    results_dir, figures_dir = Path(results_dir), Path(figures_dir)
    records = load(source, preset)
    _check_figures_dir(figures_dir)
    # the pose-quality columns only once some run was trained on degraded pose
    runs = pose_quality.without_clean_columns(records.runs)
    texts = {
        "runs.csv": _whole_numbers(runs.drop(columns=["path"])).to_csv(index=False),
        "summary.csv": summarise(runs).to_csv(index=False),
        "comparisons.csv": compare_all(runs).to_csv(index=False),
        "sweep_slopes.csv": sweep_slopes(runs).to_csv(index=False),
        "curves.csv": _whole_numbers(pose_quality.without_clean_columns(records.curves)).to_csv(index=False),
        "report.md": report_markdown(runs),
    }
    # context reliance where records carry it, of the clean-pose runs (the report's)
    rel = reliance.load_reliance(runs[pose_quality.selected(runs, None)])
    texts.update(reliance.tables(rel))
    texts["report.md"] += reliance.reliance_markdown(rel)
    study = study_table(runs)
    if (~study["in_report"].astype(bool)).any():
        slopes = study_slopes(runs)
        texts[STUDY_TABLE] = study.to_csv(index=False)
        texts[STUDY_TABLES[1]] = slopes.to_csv(index=False)
        texts["report.md"] += study_markdown(study, slopes)
    tables = [name for name in TABLES + OPTIONAL_TABLES + STUDY_TABLES if name in texts]
    with ExitStack() as stack:
        figures_tmp = stack.enter_context(atomic_dir(figures_dir))
        made = [figures_dir / p.name for p in render(records, figures_tmp)]
        fig = reliance.reliance_figure(rel) if OPTIONAL_TABLES[0] in texts else None
        if fig is not None:
            made += [figures_dir / p.name for p in reliance.save_figure(fig, figures_tmp, "context_reliance")]
        if STUDY_TABLE in texts:
            for stem, fig in study_figures(study, own_world_bias(runs), slopes):
                made += [figures_dir / p.name for p in reliance.save_figure(fig, figures_tmp, stem)]
        for sub in sorted(p for p in figures_dir.iterdir() if p.is_dir()) if figures_dir.is_dir() else []:
            shutil.copytree(sub, figures_tmp / sub.name)
        for name in tables:  # entered last, replaced first: the figures follow at once
            stack.enter_context(atomic_path(results_dir / name)).write_text(texts[name])
    for name in OPTIONAL_TABLES + STUDY_TABLES:
        if name not in texts:
            (results_dir / name).unlink(missing_ok=True)
    return [results_dir / name for name in tables] + made
