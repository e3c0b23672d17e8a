"""Shared fixtures. Real data lives in ../shared; tests that need it skip when it is absent
(a user's clone) but fail in CI (CI=true), where it must be present."""
from __future__ import annotations

import os

import pytest

from actionpose.paths import shared_jhmdb, shared_realdata

REAL_CLIP = ("catch", "Goal_Keeping_Tips_catch_f_cm_np1_fr_med_2")


def _require(path, what):
    if path is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{what} is missing: CI must have ../shared beside the repo")
        pytest.skip(f"{what} not found (../shared is absent in a user's clone)")
    return path


@pytest.fixture(scope="session")
def jhmdb_root():
    """../shared/jhmdb: real JHMDB (928 puppet masks, official splits, one complete clip)."""
    return _require(shared_jhmdb(), "../shared/jhmdb")


@pytest.fixture(scope="session")
def realdata_root():
    """../shared/realdata: real videos and stills of people."""
    return _require(shared_realdata(), "../shared/realdata")
