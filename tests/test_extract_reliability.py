"""`pose extract` under faults: truncated videos, reruns with other options, a bad --out, a
killed parent of --workers. A fast fake estimator (tests/fake_estimators.py) stands in for
MediaPipe."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from actionpose.cli import main
from actionpose.data import jhmdb
from actionpose.errors import DataError
from actionpose.extract import pipeline as P

STILL = "tests.fake_estimators:Still"
REPO = Path(__file__).resolve().parents[1]


def _videos(folder: Path, n: int = 2, frames: int = 6, cls: str = "wave") -> list[Path]:
    rng = np.random.default_rng(0)
    paths = []
    for i in range(n):
        p = folder / cls / f"v{i}.avi"
        jhmdb.write_video(p, rng.integers(0, 256, (frames, 48, 64, 3), dtype=np.uint8))
        paths.append(p)
    return paths


def test_truncated_video_is_extracted_with_a_warning_naming_both_counts(tmp_path, capsys):
    (video,) = _videos(tmp_path / "in", n=1, frames=20)
    data = video.read_bytes()
    video.write_bytes(data[: len(data) // 3])  # the header still claims 20 frames
    rc = main(["pose", "extract", str(tmp_path / "in"), "--out", str(tmp_path / "out"), "--estimator", STILL])
    err = capsys.readouterr().err
    assert rc == 0
    line = next(x for x in err.splitlines() if "claims" in x)
    assert str(video) in line and "claims 20 frames" in line and "only 6 decode" in line
    meta = json.loads((tmp_path / "out" / P.META_DIR / "wave" / "v0.json").read_text())
    assert meta["frames"] == 6 and "claims 20" in meta["warning"]
    # a cap below the decodable frames is no truncation
    summary = P.extract(tmp_path / "in", tmp_path / "out2", estimator=STILL, max_frames=4, progress=False)
    assert not any("claims" in m for _, m in summary["warnings"]) and summary["frames"] == 4


def test_rerun_with_other_options_is_refused_then_redone_on_request(tmp_path, capsys):
    _videos(tmp_path / "in")
    out = tmp_path / "out"
    first = P.extract(tmp_path / "in", out, estimator=STILL, max_frames=3, progress=False)
    assert first["extracted"] == 2
    meta_file = out / P.META_DIR / "wave" / "v0.json"
    assert json.loads(meta_file.read_text())["options"] == {
        "estimator": STILL, "estimator_options": {}, "max_frames": 3, "size": None,
    }
    same = P.extract(tmp_path / "in", out, estimator=STILL, max_frames=3, progress=False)
    assert same["already_done"] == 2 and same["extracted"] == 0

    stamp = meta_file.stat().st_mtime_ns
    rc = main(["pose", "extract", str(tmp_path / "in"), "--out", str(out), "--estimator", STILL,
               "--max-frames", "4", "--size", "24x32"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1
    assert "clip wave/v0" in err and "max_frames: 3 -> 4" in err and "size: None -> [24, 32]" in err
    assert "(and 1 more clip(s))" in err and "--redo" in err
    assert meta_file.stat().st_mtime_ns == stamp  # nothing touched

    with pytest.raises(DataError, match=r"estimator_options: \{\} -> \{'shift': 0.1\}"):
        P.extract(tmp_path / "in", out, estimator="tests.fake_estimators:Other", max_frames=3, progress=False)

    redone = P.extract(tmp_path / "in", out, estimator=STILL, max_frames=4, size=(24, 32), redo=True, progress=False)
    assert redone["extracted"] == 2 and redone["clips"] == 2
    assert jhmdb.read_frames(jhmdb.frames_dir(out, "wave", "v0")).shape == (4, 24, 32, 3)
    assert json.loads(meta_file.read_text())["options"]["max_frames"] == 4


def test_clip_metadata_without_options_counts_as_different(tmp_path):
    _videos(tmp_path / "in", n=1)
    out = tmp_path / "out"
    P.extract(tmp_path / "in", out, estimator=STILL, progress=False)
    meta_file = out / P.META_DIR / "wave" / "v0.json"
    meta = json.loads(meta_file.read_text())
    del meta["options"]
    meta_file.write_text(json.dumps(meta))
    with pytest.raises(DataError, match="options not recorded"):
        P.extract(tmp_path / "in", out, estimator=STILL, progress=False)
    meta_file.write_text("{not json")
    with pytest.raises(DataError, match="unreadable clip metadata"):
        P.extract(tmp_path / "in", out, estimator=STILL, progress=False)


@pytest.mark.parametrize("kind", ["file", "under_a_file", "read_only"])
def test_unwritable_out_is_refused_before_any_estimation(tmp_path, monkeypatch, capsys, kind):
    _videos(tmp_path / "in", n=1)
    blocker = tmp_path / "taken"
    blocker.write_text("a file")
    if kind == "file":
        out = blocker
    elif kind == "under_a_file":
        out = blocker / "out"
    elif os.geteuid() != 0:
        out = tmp_path / "ro"
        out.mkdir()
        out.chmod(0o500)
    elif Path("/sys").is_dir():
        out = Path("/sys/actionpose_out")  # root writes into read-only folders, not into sysfs
    else:
        pytest.skip("root writes into read-only folders and there is no /sys")

    def no_estimation(*a, **k):
        raise AssertionError("an estimator was built before --out was checked")

    monkeypatch.setattr(P, "make_estimator", no_estimation)
    rc = main(["pose", "extract", str(tmp_path / "in"), "--out", str(out), "--estimator", STILL])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1 and str(out) in err
    assert ("is a file" if kind == "file" else "not a writable folder") in err
    assert blocker.read_text() == "a file"


@pytest.mark.parametrize("spec, problem", [
    ("tests.no_such_module:Still", "cannot import 'Still' from 'tests.no_such_module'"),
    ("tests.fake_estimators:Nope", "cannot import 'Nope'"),
    ("os.path:join", "is not a PoseEstimator subclass"),
    ("openpose", "unknown estimator 'openpose'"),
])
def test_a_bad_estimator_is_named_before_any_work(tmp_path, capsys, spec, problem):
    _videos(tmp_path / "in", n=1)
    rc = main(["pose", "extract", str(tmp_path / "in"), "--out", str(tmp_path / "out"), "--estimator", spec])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1 and problem in err
    assert not (tmp_path / "out").exists()


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state not in ("Z", "X")  # a zombie has exited


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_workers_exit_when_their_parent_is_killed(tmp_path):
    _videos(tmp_path / "in", n=4, frames=40)
    pids = tmp_path / "pids"
    pids.mkdir()
    script = (
        "from actionpose.extract.pipeline import extract\n"
        f"extract({str(tmp_path / 'in')!r}, {str(tmp_path / 'out')!r}, "
        "estimator='tests.fake_estimators:Slow', workers=2, progress=False)\n"
    )
    env = dict(os.environ, FAKE_POSE_PIDS=str(pids), PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")
    parent = subprocess.Popen([sys.executable, "-c", script], env=env, cwd=REPO)
    try:
        deadline = time.monotonic() + 60
        while len(list(pids.iterdir())) < 3 and time.monotonic() < deadline:  # parent + 2 workers
            assert parent.poll() is None, "the extraction ended before it was killed"
            time.sleep(0.1)
        workers = [int(p.name) for p in pids.iterdir() if int(p.name) != parent.pid]
        assert len(workers) == 2
    finally:
        parent.send_signal(signal.SIGKILL)
        parent.wait()
    deadline = time.monotonic() + 10
    while any(_alive(w) for w in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    survivors = [w for w in workers if _alive(w)]
    for w in survivors:
        os.kill(w, signal.SIGKILL)
    assert not survivors, f"workers {survivors} outlived their killed parent"
