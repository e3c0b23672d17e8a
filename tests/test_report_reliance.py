"""Context reliance in the report: records carry ``context_reliance.csv`` (written beside a run by
``actionpose explain --test-split``), ``records collect`` copies it, and ``actionpose figures``
turns it into a table (with vs without pose, paired by seed) and a figure only when some record
carries it."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats as st

from actionpose.cli import main
from actionpose.report import reliance
from report_fixtures import write_run

POSE = {"c3d": "none", "c3d-pose": "weaken", "attention": "none", "attention-pose": "heatmaps"}


def _run(root: Path, experiment: str, seed: int, share: float | None, *, mask: float = 0.1,
         context_bias=None, records: bool = True, preset: str = "cpu") -> Path:
    """A finished run (a record by default) whose test videos have mean context reliance
    ``share`` (None: no context_reliance.csv)."""
    folder = write_run(root, experiment, 0.5 + 0.01 * seed, seed=seed, records=records, preset=preset,
                       context_bias=context_bias)
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "pose": POSE[experiment]}))
    if share is not None:
        pd.DataFrame({"video": ["a", "b"], "label": ["x", "y"], "prediction": ["x", "x"],
                      "probability": [0.9, 0.6], "context_reliance": [share - 0.05, share + 0.05],
                      "mask_fraction": [mask, mask], "method": "grad-cam"}).to_csv(
            folder / reliance.RELIANCE_FILE, index=False)
    return folder


BASE = [0.20, 0.25, 0.30]
TREAT = [0.35, 0.33, 0.41]


def _records(root: Path, *, sweep: bool = False) -> None:
    for seed, (a, b) in enumerate(zip(BASE, TREAT)):
        _run(root, "c3d", seed, a)
        _run(root, "c3d-pose", seed, b, mask=0.12)
        _run(root, "attention", seed, None)  # runs without context reliance: left out
        if sweep:
            for bias, gain in ((0.0, 0.0), (0.9, 0.3)):
                _run(root, "c3d", seed, a, context_bias=bias)
                _run(root, "c3d-pose", seed, a + gain + 0.01 * seed, context_bias=bias)


def _figures(src: Path, tmp: Path) -> tuple[int, Path, Path]:
    results, figures = tmp / "results", tmp / "figures"
    code = main(["figures", str(src), "--out", str(figures), "--results", str(results)])
    return code, results, figures


def test_pairs_table_is_the_paired_difference_over_seeds(tmp_path):
    _records(tmp_path)
    from actionpose.report.records import load_runs

    rel = reliance.load_reliance(load_runs(tmp_path))
    assert sorted(set(rel["experiment"])) == ["c3d", "c3d-pose"] and len(rel) == 6
    pairs = reliance.pairs_table(rel)
    assert len(pairs) == 1
    row = pairs.iloc[0]
    deltas = np.subtract(TREAT, BASE)
    half = st.t.ppf(0.975, 2) * deltas.std(ddof=1) / np.sqrt(3)
    assert (row["baseline"], row["treatment"], row["n_pairs"]) == ("c3d", "c3d-pose", 3)
    assert row["baseline_mean"] == pytest.approx(np.mean(BASE))
    assert row["delta_mean"] == pytest.approx(deltas.mean()) and row["delta_ci95"] == pytest.approx(half)
    assert row["treatment_mask_fraction"] == pytest.approx(0.12)
    assert row["difference"] == "more on the person"
    summary = reliance.summary_table(rel).set_index("experiment")
    assert summary.loc["c3d-pose", "mean"] == pytest.approx(np.mean(TREAT))
    assert summary.loc["c3d-pose", "n"] == 3 and summary.loc["c3d-pose", "pose"] == "weaken"


def test_figures_read_it_only_where_records_carry_it(tmp_path):
    import shutil

    with_rel, without = tmp_path / "with", tmp_path / "without"
    _records(with_rel)
    shutil.copytree(with_rel, without)
    for path in without.rglob(reliance.RELIANCE_FILE):
        path.unlink()
    code, results, figures = _figures(without, tmp_path / "out0")
    assert code == 0
    assert not any((results / name).exists() for name in reliance.TABLES)
    assert not list(figures.glob("context_reliance.*"))
    assert "Context reliance" not in (results / "report.md").read_text()
    plain = {p.name: p.read_bytes() for p in results.iterdir()}

    code, results, figures = _figures(with_rel, tmp_path / "out1")
    assert code == 0
    table = pd.read_csv(results / "context_reliance_pairs.csv")
    assert table.loc[0, "delta_mean"] == pytest.approx(np.mean(np.subtract(TREAT, BASE)))
    assert set(pd.read_csv(results / "context_reliance.csv")["experiment"]) == {"c3d", "c3d-pose"}
    assert (figures / "context_reliance.png").read_bytes()[:4] == b"\x89PNG"
    assert (figures / "context_reliance.svg").is_file()
    text = (results / "report.md").read_text()
    assert "Context reliance" in text and "| puppet | cpu | own world | c3d: 25.0 ± " in text
    # the accuracy tables do not change with it
    for name in ("runs.csv", "summary.csv", "comparisons.csv", "curves.csv"):
        assert (results / name).read_bytes() == plain[name], name
    # regenerated from records without it: the stale table and figure go
    code, results, figures = _figures(without, tmp_path / "out1")
    assert code == 0 and not (results / "context_reliance.csv").exists()
    assert not (figures / "context_reliance.png").exists()


def test_figure_has_a_sweep_panel_when_the_sweep_carries_it(tmp_path):
    import matplotlib.pyplot as plt

    from actionpose.report.records import load_runs

    _records(tmp_path, sweep=True)
    rel = reliance.load_reliance(load_runs(tmp_path))
    pairs = reliance.pairs_table(rel)
    swept = pairs[pairs["context_bias"].notna()].set_index("context_bias")
    # the preset's own runs count at their world's bias (0.25) too, as in the accuracy sweep
    assert sorted(swept.index) == [0.0, 0.25, 0.9]
    assert swept.loc[0.9, "delta_mean"] == pytest.approx(0.31)
    assert swept.loc[0.0, "delta_mean"] == pytest.approx(0.01)
    fig = reliance.reliance_figure(rel)
    assert len(fig.axes) == 2 and "sweep" in fig.axes[1].get_title()
    plt.close(fig)
    plain = reliance.reliance_figure(rel[rel["context_bias"].isna()])
    assert len(plain.axes) == 1
    plt.close(plain)
    assert reliance.reliance_figure(rel.iloc[:0]) is None


def test_a_malformed_file_is_a_one_line_error(tmp_path, capsys):
    _records(tmp_path)
    bad = next(tmp_path.rglob(reliance.RELIANCE_FILE))
    bad.write_text("video,context_reliance,mask_fraction\na,1.7,0.1\n")
    code, results, _ = _figures(tmp_path, tmp_path / "out")
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and str(bad) in err and "[0, 1]" in err
    assert not results.exists()  # nothing written


def test_collect_copies_it_and_completes_a_record_that_lacks_it(tmp_path, capsys):
    runs, records = tmp_path / "runs", tmp_path / "records"
    run = _run(runs, "c3d-pose", 0, None, records=False)
    assert main(["records", "collect", str(runs), "--to", str(records)]) == 0
    record = records / "c3d-pose" / "puppet" / run.name
    assert not (record / reliance.RELIANCE_FILE).exists()
    # computed after training: the record is completed without --replace
    _run(tmp_path / "other", "c3d-pose", 0, 0.4, records=False)
    (tmp_path / "other" / "c3d-pose" / run.name / reliance.RELIANCE_FILE).replace(run / reliance.RELIANCE_FILE)
    assert main(["records", "collect", str(runs), "--to", str(records)]) == 0
    assert (record / reliance.RELIANCE_FILE).read_bytes() == (run / reliance.RELIANCE_FILE).read_bytes()
    assert "1 run(s) copied" in capsys.readouterr().err
    # recomputed with other numbers: other content, refused without --replace
    (run / reliance.RELIANCE_FILE).write_text((run / reliance.RELIANCE_FILE).read_text().replace("0.35", "0.30"))
    assert main(["records", "collect", str(runs), "--to", str(records)]) == 2
    assert "pass --replace" in capsys.readouterr().err
    assert main(["records", "collect", str(runs), "--to", str(records), "--replace"]) == 0
    assert "0.30" in (record / reliance.RELIANCE_FILE).read_text()
