"""Validate a whole JHMDB-format tree: ``actionpose data check ROOT [--deep] [--json]``.

Every clip goes through the probes the Dataset uses (:mod:`.jhmdb`), which read as little as
they can; ``--deep`` decodes everything in full.
"""
from __future__ import annotations

import json
import statistics
import sys
from collections import Counter, defaultdict
from pathlib import Path

from actionpose.data import jhmdb as J
from actionpose.errors import DataError

# --------------------------------------------------------------------------------------------
# the whole tree


def tree_clips(root: str | Path) -> dict[str, dict[tuple[str, str], bool]]:
    """Clips present per modality: ``{modality: {(class, video): True}}``."""
    root = Path(root)
    found: dict[str, dict[tuple[str, str], bool]] = {m: {} for m in ("frames", "video", "joints", "mask")}
    for modality, sub in J.MODALITY_DIRS.items():
        base = root / sub
        if not base.is_dir():
            continue
        for cdir in sorted(p for p in base.iterdir() if p.is_dir() and not p.name.startswith(".")):
            for entry in sorted(cdir.iterdir()):
                if entry.name.startswith("."):
                    continue
                if modality == "video":
                    if entry.is_file() and entry.suffix.lower() in J.VIDEO_EXTENSIONS:
                        found[modality][(cdir.name, entry.stem)] = True
                elif entry.is_dir():
                    found[modality][(cdir.name, entry.name)] = True
    return found


def _stats(values: list[int]) -> dict:
    if not values:
        return {}
    return {"clips": len(values), "min": min(values), "max": max(values),
            "mean": round(statistics.fmean(values), 2), "median": statistics.median(values)}


def check_tree(root: str | Path, *, deep: bool = False) -> dict:
    """Validate a JHMDB-format tree; returns a JSON-able report.

    Keys: root, classes, clips, modalities (clips per modality), splits (per split: format,
    train/test counts, per-class counts), frame_counts (stats per modality), problems
    ([{path, problem, severity}]), errors, warnings. ``deep`` decodes every frame and mask in
    full (slower; the default reads headers, sizes and file ends, and decodes the first and last
    frame of each clip).
    """
    root = Path(root)
    problems: list[dict] = []

    def problem(path, text: str, severity: str = "error") -> None:
        problems.append({"path": str(path), "problem": text, "severity": severity})

    report: dict = {"root": str(root), "classes": [], "clips": 0, "modalities": {}, "splits": {},
                    "frame_counts": {}, "problems": problems}
    if not root.is_dir():
        problem(root, "dataset root not found")
        return _finish(report)
    present = tree_clips(root)
    if not any((root / sub).is_dir() for sub in J.MODALITY_DIRS.values()):
        problem(root, f"no modality folder ({', '.join(J.MODALITY_DIRS.values())})")
    all_clips = sorted(set().union(*[set(v) for v in present.values()]))
    try:
        classes = J.modality_classes(root)
        ignored = J.ignored_classes(root)
    except DataError as exc:
        problem(exc.path, exc.problem)
        classes, ignored = [], {}
    report["classes"] = classes
    for name, why in sorted(ignored.items()):
        problem(root / J.SPLITS_DIR if J.split_files(root)["official"] else root,
                f"{name!r} is not a class: {why}; it is ignored", "warning")
    for stray in sorted(set(J.folder_classes(root)) - set(classes) - set(ignored)):
        problem(root, f"folder {stray!r} under a modality folder is not a class of the split files; "
                      "it is ignored", "warning")
    report["clips"] = len(all_clips)
    report["modalities"] = {m: len(v) for m, v in present.items() if v}
    where: dict[str, set[str]] = defaultdict(set)  # video -> classes it is found under
    for cls, video in all_clips:
        where[video].add(cls)
    for video, owners in where.items():
        if len(owners) > 1:
            problem(root, f"video {video!r} appears under several classes: {sorted(owners)}")

    # splits
    split_sets: dict[int, set[str]] = {}
    listed: dict[tuple[str, str], Path] = {}  # (class, video) -> a split file listing it
    files = J.split_files(root)
    fmt = "official" if files["official"] else "lists"
    if not files["official"] and not files["lists"]:
        problem(root / J.SPLITS_DIR, "no split files")
    else:
        for k in range(1, J.NUM_SPLITS + 1):
            try:
                entries = J.read_split(root, k)
            except DataError as exc:
                problem(exc.path, exc.problem)
                continue
            per_class: dict[str, Counter] = defaultdict(Counter)
            seen: dict[str, str] = {}
            for e in entries:
                per_class[e.cls][e.subset] += 1
                split_path = e.source
                if e.cls not in classes:
                    problem(split_path, f"unknown class {e.cls!r} for video {e.video!r}")
                if e.video in seen:
                    problem(split_path, f"video {e.video!r} listed twice ({seen[e.video]} and {e.subset})")
                seen[e.video] = e.subset
                listed.setdefault((e.cls, e.video), e.source)
                if e.video not in where:
                    problem(split_path, f"video {e.video!r} ({e.cls}) does not exist in any modality")
                elif e.cls not in where[e.video]:
                    problem(split_path, f"video {e.video!r} listed as {e.cls!r} but found under "
                                        f"{sorted(where[e.video])}")
            split_sets[k] = set(seen)
            for subset in ("train", "test"):
                if not any(e.subset == subset for e in entries):
                    sources = J.split_sources(root, k)
                    where_listed = (root / J.SPLITS_DIR if sources["official"]
                                    else root / J.SPLITS_DIR / f"JHMDB_{subset}{k}.txt")
                    problem(where_listed, f"split {k} lists no {subset} video; training on it is refused")
            report["splits"][str(k)] = {
                "format": fmt,
                "train": sum(e.subset == "train" for e in entries),
                "test": sum(e.subset == "test" for e in entries),
                "per_class": {c: {"train": per_class[c]["train"], "test": per_class[c]["test"]}
                              for c in sorted(per_class)},
                "unlisted": len(set(where) - set(seen)),
            }
        if len(set(map(frozenset, split_sets.values()))) > 1:
            sizes = {k: len(v) for k, v in split_sets.items()}
            problem(root / J.SPLITS_DIR, f"the splits list different sets of videos (sizes {sizes})",
                    "warning")

    # a clip found in no modality at all is reported above
    _check_coverage(root, present, {cv: p for cv, p in listed.items() if cv[1] in where}, problem)

    # clips
    counts: dict[str, list[int]] = defaultdict(list)
    mismatches = 0
    for cls, video in all_clips:
        lengths: dict[str, int] = {}
        sizes: dict[str, tuple[int, int]] = {}
        try:
            if (cls, video) in present["frames"]:
                fp = J.probe_frames(root, cls, video, check="decode_all" if deep else "decode_ends")
                lengths["frames"], sizes["frames"] = fp.count, fp.size
            if (cls, video) in present["video"]:
                vp = J.probe_video(root, cls, video, count_frames=True)
                if vp.count is not None:
                    lengths["video"] = vp.count
                sizes["video"] = vp.size
        except DataError as exc:
            problem(exc.path, exc.problem)
        for modality in ("joints", "mask"):
            if (cls, video) not in present[modality]:
                continue
            try:
                if modality == "joints":
                    lengths["joints"] = J.probe_joints(root, cls, video).num_frames
                else:
                    H, W, T = J.probe_mask(root, cls, video)
                    if deep:
                        H, W, T = J.read_mask(J.mask_path(root, cls, video)).shape
                    lengths["mask"], sizes["mask"] = T, (H, W)
            except DataError as exc:
                problem(exc.path, exc.problem)
        for modality, n in lengths.items():
            counts[modality].append(n)
        if len(set(lengths.values())) > 1:
            mismatches += 1
            detail = ", ".join(f"{m} {n}" for m, n in lengths.items())
            problem(root / "*" / cls / video, f"frame counts disagree ({detail}); the reader uses "
                                              f"the common length {min(lengths.values())}", "warning")
        if len(set(sizes.values())) > 1:
            detail = ", ".join(f"{m} {h}x{w}" for m, (h, w) in sizes.items())
            problem(root / "*" / cls / video, f"frame sizes disagree ({detail})", "warning")
    report["frame_counts"] = {m: _stats(v) for m, v in counts.items()}
    report["frame_count_mismatches"] = mismatches
    return _finish(report)


def _check_coverage(root: Path, present: dict, listed: dict[tuple[str, str], Path], problem) -> None:
    """Listed clips missing a modality that most listed clips have are errors (a folder gone);
    a modality only a few listed clips have is one warning (a partial tree, like a sample)."""
    if not listed:
        return
    kinds = {
        "frames": (set(present["frames"]) | set(present["video"]), lambda c, v: J.frames_dir(root, c, v)),
        "joints": (set(present["joints"]), lambda c, v: J.joints_path(root, c, v).parent),
        "mask": (set(present["mask"]), lambda c, v: J.mask_path(root, c, v).parent),
    }
    for kind, (have, path_of) in kinds.items():
        missing = sorted(set(listed) - have)
        n_have = len(listed) - len(missing)
        if not missing or not n_have:
            continue
        if n_have > len(missing):
            for cls, video in missing:
                problem(path_of(cls, video), f"missing: {video!r} is listed in {listed[cls, video]} "
                                             f"and {n_have} of {len(listed)} listed clips have {kind}")
        else:
            problem(root / J.MODALITY_DIRS[kind], f"only {n_have} of {len(listed)} listed clips have "
                                                  f"{kind}; training that reads {kind} refuses the others",
                    "warning")


def _finish(report: dict) -> dict:
    report["errors"] = sum(p["severity"] == "error" for p in report["problems"])
    report["warnings"] = sum(p["severity"] == "warning" for p in report["problems"])
    return report


def format_report(report: dict, *, max_problems: int = 50) -> str:
    """The human-readable summary printed by ``actionpose data check``."""
    lines = [f"JHMDB tree {report['root']}",
             f"  {len(report['classes'])} classes, {report['clips']} clips"]
    if report["modalities"]:
        lines.append("  modalities: " + ", ".join(f"{m} {n}" for m, n in report["modalities"].items()))
    for m, s in report["frame_counts"].items():
        if s:
            lines.append(f"  frames per clip ({m}): min {s['min']}, max {s['max']}, "
                         f"mean {s['mean']}, median {s['median']}")
    if "frame_count_mismatches" in report:
        lines.append(f"  clips whose modalities disagree on frame count: {report['frame_count_mismatches']}")
    splits = report["splits"]
    for k, s in splits.items():
        lines.append(f"  split {k} ({s['format']}): train {s['train']}, test {s['test']}, "
                     f"unlisted {s['unlisted']}")
    if splits:
        ks = sorted(splits)
        width = max([len(c) for c in report["classes"]] + [5])
        lines.append("  clips per class, train/test: " + "  ".join(f"split {k}" for k in ks))
        for cls in report["classes"]:
            cells = []
            for k in ks:
                pc = splits[k]["per_class"].get(cls, {"train": 0, "test": 0})
                cells.append(f"{pc['train']:>3}/{pc['test']:<3}")
            lines.append(f"    {cls:<{width}}  " + "    ".join(cells))
    problems = report["problems"]
    lines.append(f"  problems: {report['errors']} errors, {report['warnings']} warnings")
    for p in problems[:max_problems]:
        lines.append(f"    {p['severity'].upper()}: {p['path']}: {p['problem']}")
    if len(problems) > max_problems:
        lines.append(f"    ... and {len(problems) - max_problems} more (use --json for all)")
    return "\n".join(lines)


def main(args) -> int:
    """``actionpose data check ROOT [--json]``: exit 1 when the tree has errors."""
    report = check_tree(args.root, deep=bool(getattr(args, "deep", False)))
    if getattr(args, "json", False):
        json.dump(report, sys.stdout, indent=2, sort_keys=True, default=str)
        sys.stdout.write("\n")
    else:
        print(format_report(report))
    return 1 if report["errors"] else 0


__all__ = ["tree_clips", "check_tree", "format_report", "main"]
