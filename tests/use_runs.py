"""Small trained runs for the tests of ``actionpose.use`` (imported by tests/test_use_*.py).

The smoke puppet world and one epoch of c3d-pose and attention-pose on it: seconds on one core.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from fake_estimators import Still

REPO = Path(__file__).resolve().parents[1]
EXPERIMENTS = ("c3d-pose", "attention-pose")


def train_runs(tmp: Path, experiments: tuple[str, ...] = EXPERIMENTS) -> tuple[Path, dict[str, Path]]:
    """(dataset root, {experiment: run folder}) trained under ``tmp``, one epoch each."""
    from actionpose.data import synthetic
    from actionpose.train import engine
    from actionpose.train.experiments import make_config

    root = tmp / "data" / "puppet-smoke"
    synthetic.generate(root, synthetic.synth_config("smoke"), workers=1)
    runs = {}
    for exp in experiments:
        cfg = make_config(exp, "smoke", dataset=str(root), workers=0, epochs=1)
        engine.fit(cfg, tmp / "runs", progress=False)
        runs[exp] = tmp / "runs" / exp / cfg.run_name()
    return root, runs


def cli(*args: str) -> subprocess.CompletedProcess:
    """``actionpose ARGS`` in this process (fast); its exit code and captured output."""
    import contextlib
    import io

    from actionpose.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main([str(a) for a in args])
        except SystemExit as exc:  # argparse errors
            code = exc.code
    return subprocess.CompletedProcess(args, code, out.getvalue(), err.getvalue())


def cli_process(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """``python -m actionpose ARGS`` in a child process."""
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")
    return subprocess.run([sys.executable, "-m", "actionpose", *map(str, args)], capture_output=True,
                          text=True, env=env, timeout=timeout, cwd=REPO)


def one_line_error(proc: subprocess.CompletedProcess, *needles: str) -> str:
    """Assert a clean CLI failure: exit 2, one stderr line naming ``needles``, no traceback."""
    err = proc.stderr.strip()
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    for needle in needles:
        assert str(needle) in err, (needle, err)
    return err


class NobodyEvenFrames(Still):
    """A pose estimator (``use_runs:NobodyEvenFrames``) that finds nobody in the 1st, 3rd, ...
    frame of a clip and a standing person in the others, quickly."""

    name = "nobody-even"

    def __init__(self):
        self.frame = 0

    def reset(self):
        self.frame = 0

    def __call__(self, frame):
        self.frame += 1
        return self._no_person() if self.frame % 2 else super().__call__(frame)


def export_run(run: Path, fmt: str, tmp: Path) -> tuple[Path, dict]:
    """``actionpose export RUN --format FMT`` into ``tmp``: the model file and its JSON."""
    out = tmp / f"model.{fmt}"
    proc = cli("export", run, "--format", fmt, "--out", out)
    assert proc.returncode == 0, proc.stderr
    return out, json.loads(out.with_name(out.name + ".json").read_text())
