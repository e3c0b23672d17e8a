"""Where things live: the repo, the shared real data, generated data and runs."""
from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


def shared_root() -> Path | None:
    """The ``shared/`` folder beside the repo (real JHMDB data), or None if absent.

    ``ACTIONPOSE_SHARED`` overrides the location.
    """
    env = os.environ.get("ACTIONPOSE_SHARED")
    candidate = Path(env) if env else REPO_ROOT.parent / "shared"
    return candidate if candidate.is_dir() else None


def shared_jhmdb() -> Path | None:
    root = shared_root()
    return root / "jhmdb" if root is not None and (root / "jhmdb").is_dir() else None


def shared_realdata() -> Path | None:
    root = shared_root()
    return root / "realdata" if root is not None and (root / "realdata").is_dir() else None


def data_root() -> Path:
    """Generated datasets (git-ignored). ``ACTIONPOSE_DATA`` overrides."""
    return Path(os.environ.get("ACTIONPOSE_DATA", REPO_ROOT / "data"))


def runs_root() -> Path:
    """Training runs (git-ignored). ``ACTIONPOSE_RUNS`` overrides."""
    return Path(os.environ.get("ACTIONPOSE_RUNS", REPO_ROOT / "runs"))
