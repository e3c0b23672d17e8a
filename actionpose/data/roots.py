"""Where a run's data lives: the dataset folder a config names (generating the embedded worlds
on first use) and the decoded-clip cache beside it."""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from actionpose.errors import DataError

EMBEDDED = ("puppet", "actors", "actors-estimated")


def resolve_data_root(cfg, *, data_dir: str | Path | None = None, estimate=None) -> Path:
    """The dataset folder for ``cfg.dataset``: ``jhmdb`` (``$ACTIONPOSE_JHMDB`` or
    ``../shared/jhmdb``), an embedded world under ``data_dir`` (generated if missing; one with
    estimated pose, :mod:`actionpose.data.estimated`, is built by ``estimate(source_root, root)``
    — :func:`actionpose.extract.estimated.build`, which the data layer cannot import — and is an
    error without it until built), or a path."""
    from actionpose.paths import data_root, shared_jhmdb

    base = Path(data_dir) if data_dir is not None else data_root()
    if cfg.dataset == "jhmdb":
        env = os.environ.get("ACTIONPOSE_JHMDB")
        root = Path(env) if env else shared_jhmdb()
        if root is None or not root.is_dir():
            raise DataError(root or "../shared/jhmdb", "JHMDB root not found (set ACTIONPOSE_JHMDB "
                            "or pass --data ROOT)")
        return root
    if cfg.dataset in EMBEDDED:
        return _embedded_root(cfg, base, estimate)
    root = Path(cfg.dataset)
    if not root.is_dir():
        raise DataError(root, "data root not found")
    return root


def _embedded_root(cfg, base: Path, estimate=None) -> Path:
    from dataclasses import replace

    from actionpose.data import estimated, synthetic
    from actionpose.paths import shared_jhmdb

    preset = "cpu" if cfg.preset == "paper" else cfg.preset
    bias = "" if cfg.context_bias is None else f"-bias{cfg.context_bias:g}"
    root = base / f"{cfg.dataset}-{preset}{bias}"
    if cfg.dataset in estimated.ESTIMATED:
        if (root / estimated.MARKER).is_file():
            return root
        if estimate is None:
            raise DataError(root, f"{cfg.dataset}: its pose is not estimated yet (training builds it: "
                            f"actionpose train EXPERIMENT --data {cfg.dataset} --preset {cfg.preset})")
        source = _embedded_root(replace(cfg, dataset=estimated.frames_dataset(cfg.dataset)), base)
        return estimate(source, root)
    if not (root / synthetic.INFO_FILE).is_file():
        overrides = {} if cfg.context_bias is None else {"context_bias": cfg.context_bias}
        actors = None
        if cfg.dataset == "actors":
            actors = shared_jhmdb()
            if actors is None:
                raise DataError("../shared/jhmdb", "the real-actor composite needs a JHMDB "
                                "tree with puppet masks")
        synthetic.generate(root, synthetic.synth_config(preset, **overrides), actors=actors)
    return root


def world_context_bias(root: str | Path) -> float | None:
    """The context bias an embedded world at ``root`` was generated with (None: not embedded)."""
    from actionpose.data.synthetic import INFO_FILE

    path = Path(root) / INFO_FILE
    if not path.is_file():
        return None
    try:
        bias = json.loads(path.read_text())["config"]["context_bias"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DataError(path, f"unreadable generation record ({type(exc).__name__}: {exc})") from None
    if isinstance(bias, bool) or not isinstance(bias, (int, float)):
        raise DataError(path, f"config.context_bias must be a number, got {bias!r}")
    return float(bias)


def default_cache_dir(root: str | Path) -> Path:
    """Decoded-clip cache of a dataset root: under data/.cache, never inside the root (which may
    be read-only or shared, like ../shared/jhmdb)."""
    from actionpose.paths import data_root

    digest = hashlib.sha1(str(Path(root).resolve()).encode()).hexdigest()[:10]
    return data_root() / ".cache" / f"{Path(root).name}-{digest}"


__all__ = ["EMBEDDED", "resolve_data_root", "world_context_bias", "default_cache_dir"]
