"""The reproduce speed-up harness (benchmarks/bench_reproduce.py) in its quick mode."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks import bench_reproduce

REPO = Path(__file__).resolve().parents[1]


def test_quick_mode_times_both_exports_and_records_the_ratio(tmp_path):
    # the baseline against itself: HEAD's state does not matter to the harness
    row = bench_reproduce.measure(baseline=bench_reproduce.BASELINE, head=bench_reproduce.BASELINE,
                                  quick=True, work=tmp_path)
    assert "reproduce speed-up" in row["name"] and "quick" in row["name"]
    assert row["value"] == row["ratio"] == pytest.approx(row["baseline_minutes"] / row["head_minutes"])
    assert row["baseline"] == row["baseline_minutes"] > 0 and row["head_minutes"] > 0
    assert row["baseline_commit"] == row["head_commit"] and len(row["head_commit"]) == 40
    assert row["runs"] == row["baseline_runs"] == 1  # smoke preset, --only c3d, no real data
    assert "met" not in row and "target" not in row  # a quick ratio is not judged
    assert row["machine"]["cpu_count"] and len(row["load_before"]) == 2
    for label in ("baseline", "head"):  # each tree ran its own code into its own fresh folders
        assert (tmp_path / label / "tree" / "actionpose" / "__init__.py").is_file()
        assert list((tmp_path / label / "runs").rglob("summary.json"))
        assert (tmp_path / label / "data" / "puppet-smoke" / "synth_info.json").is_file()


def test_a_missing_baseline_is_a_one_line_error(tmp_path):
    with pytest.raises(SystemExit) as info:
        bench_reproduce.measure(baseline="0123456789abcdef", quick=True, work=tmp_path)
    assert str(info.value) == (f"bench_reproduce: '0123456789abcdef' is not a commit of {REPO} "
                               "(a shallow clone lacks the baseline: git fetch --unshallow)")


def test_the_suite_lists_it():
    proc = subprocess.run([sys.executable, "-m", "benchmarks", "--only", "no-such"], cwd=REPO,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "'reproduce'" in proc.stderr
