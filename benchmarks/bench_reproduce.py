"""Reproduce speed-up (issue 16): ``make reproduce SEEDS=1`` from scratch, HEAD vs the baseline.

``python -m benchmarks --only reproduce`` exports the baseline commit (:data:`BASELINE`) and HEAD
(``git archive``: committed code only, as a fresh clone has it), then times, one after the other,
``actionpose reproduce --preset cpu --seeds 1 --jobs 2`` in each with fresh data, runs, results
and figures folders (datasets generated, as from a fresh clone; the shared ``.venv`` serves both:
the exported tree comes first on PYTHONPATH). Over an hour on 2 cores: run it with nothing else
running. ``--smoke`` is the quick mode: the smoke preset, ``--only c3d``, no real data, a minute;
it proves the harness, its ratio means nothing.
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.__main__ import _machine
from benchmarks.common import measurement

REPO = Path(__file__).resolve().parents[1]
BASELINE = "ea38caf"  # the code before issue 16's speed-ups
TARGET = 1.5
OPT_IN = True  # over an hour: `python -m benchmarks` runs it only when named with --only


def _git(*args: str, error: str = "") -> str:
    proc = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True)
    if proc.returncode != 0:
        said = (proc.stderr.strip().splitlines() or ["failed"])[-1]
        raise SystemExit(f"bench_reproduce: {error or 'git ' + ' '.join(args) + ': ' + said}")
    return proc.stdout.strip()


def export(rev: str, dest: Path) -> str:
    """The tree of commit ``rev`` written to ``dest``; returns the full commit hash."""
    commit = _git("rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}",
                  error=f"{rev!r} is not a commit of {REPO} (a shallow clone lacks the baseline: "
                        "git fetch --unshallow)")
    dest.mkdir(parents=True)
    archive = subprocess.run(["git", "archive", commit], cwd=REPO, capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    return commit


def _env(tree: Path, work: Path, shared: Path | None) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ACTIONPOSE_")}
    env.update(PYTHONPATH=str(tree), ACTIONPOSE_DATA=str(work / "data"),
               ACTIONPOSE_RUNS=str(work / "runs"),
               # the real data beside this checkout (the exported tree has no ../shared); a path
               # that does not exist turns the real-actor and JHMDB runs off
               ACTIONPOSE_SHARED=str(shared if shared is not None else work / "no-shared"))
    return env


def time_reproduce(tree: Path, work: Path, args: list[str], shared: Path | None) -> dict:
    """Wall time of ``actionpose reproduce ARGS`` run from ``tree`` into fresh folders under ``work``."""
    env = _env(tree, work, shared)
    which = subprocess.run([sys.executable, "-c", "import actionpose; print(actionpose.__file__)"],
                           cwd=tree, env=env, capture_output=True, text=True).stdout.strip()
    if not which.startswith(str(tree)):
        raise SystemExit(f"bench_reproduce: {tree}: python imports actionpose from {which!r}, not the tree")
    cmd = [sys.executable, "-m", "actionpose", "reproduce", *args, "--out", str(work / "runs"),
           "--results", str(work / "results"), "--figures", str(work / "figures"), "--quiet"]
    load = os.getloadavg()[0]
    log = work / "reproduce.log"
    t0 = time.perf_counter()
    with log.open("w") as out:
        rc = subprocess.run(cmd, cwd=tree, env=env, stdout=out, stderr=subprocess.STDOUT).returncode
    seconds = time.perf_counter() - t0
    if rc != 0:
        lines = log.read_text(errors="replace").strip().splitlines() or ["(no output)"]
        print("\n".join(lines[-15:]), file=sys.stderr)  # the scratch folder goes with the exit
        raise SystemExit(f"bench_reproduce: reproduce failed in the export of {tree.parent.name} "
                         f"(exit {rc}): {lines[-1]}")
    runs = sum(1 for _ in (work / "runs").rglob("summary.json"))
    return {"minutes": seconds / 60, "runs": runs, "load_before": round(load, 2)}


def measure(*, baseline: str = BASELINE, head: str = "HEAD", quick: bool, work: Path) -> dict:
    """Both wall times (``baseline``, then ``head``) and their ratio, as one benchmark row."""
    from actionpose.paths import shared_root

    args = ["--preset", "cpu", "--seeds", "1", "--jobs", "2"]
    shared = shared_root()
    if quick:
        args = ["--preset", "smoke", "--seeds", "1", "--jobs", "1", "--only", "c3d"]
        shared = None
    timed = {}
    commits = {}
    for label, rev in (("baseline", baseline), ("head", head)):  # one after the other
        tree = work / label / "tree"
        commits[label] = export(rev, tree)
        timed[label] = time_reproduce(tree, work / label, args, shared)
        print(f"# reproduce at {label} {commits[label][:10]}: {timed[label]['minutes']:.2f} min, "
              f"{timed[label]['runs']} runs", flush=True)
    old, new = timed["baseline"]["minutes"], timed["head"]["minutes"]
    ratio = old / new
    machine = {k: v for k, v in _machine().items() if k in ("cpu_model", "cpu_count", "platform", "torch")}
    name = ("reproduce speed-up: `reproduce " + " ".join(args) + f"` from scratch, {head} vs {baseline}"
            + (" (quick: harness check only)" if quick else ""))
    extra = {} if quick else {"target": f">= {TARGET:g}x faster", "met": ratio >= TARGET}
    return measurement(name, ratio, "x", baseline=old, ratio=ratio, **extra,
                       baseline_minutes=old, head_minutes=new, baseline_commit=commits["baseline"],
                       head_commit=commits["head"], head_dirty=bool(_git("status", "--porcelain",
                                                                         "--untracked-files=no")),
                       runs=timed["head"]["runs"], baseline_runs=timed["baseline"]["runs"],
                       load_before=[timed["baseline"]["load_before"], timed["head"]["load_before"]],
                       machine=machine)


def run(smoke: bool) -> list[dict]:
    with tempfile.TemporaryDirectory(prefix="bench_reproduce-") as tmp:
        return [measure(quick=smoke, work=Path(tmp))]
