"""The ``actionpose`` command line (also ``python -m actionpose``).

Argument definitions live here; each handler lives in the package module that does the work
and is imported only when its command runs (so ``actionpose --help`` is fast).
"""
from __future__ import annotations

import argparse
import importlib
import sys

from actionpose.errors import ActionposeError


def _size(text: str) -> tuple[int, int]:
    try:
        h, w = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size must be HxW, e.g. 120x160, got {text!r}") from None
    if h < 8 or w < 8:
        raise argparse.ArgumentTypeError(f"size must be at least 8x8, got {text!r}")
    return h, w


def _fraction(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be in [0, 1], got {text}")
    return value


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {text}")
    return value


# ---------------------------------------------------------------------------------------------
# one function per command: its arguments, and "module:function" of its handler


def _add_data_synth(p: argparse.ArgumentParser) -> str:
    p.add_argument("out", help="output root (a JHMDB-format tree is written there)")
    p.add_argument("--preset", choices=("smoke", "cpu", "paper"), default="cpu")
    p.add_argument("--classes", type=_positive, help="number of action classes (default: preset's)")
    p.add_argument("--clips-per-class", type=_positive, help="clips per class (default: preset's)")
    p.add_argument("--size", type=_size, help="frame size HxW (default: preset's)")
    p.add_argument("--context-bias", type=_fraction, help="P(train background = class's home style)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workers", type=_positive, default=None, help="processes (default: all cores)")
    p.add_argument("--actors", metavar="JHMDB_ROOT", help="take actors from a JHMDB tree's puppet masks")
    p.add_argument("--overwrite", action="store_true", help="replace an existing dataset at OUT")
    return "actionpose.data.synthetic:main"


def _add_data_prepare(p: argparse.ArgumentParser) -> str:
    p.add_argument("dataset", choices=("jhmdb",), help="the dataset whose download SRC holds")
    p.add_argument("src", help="the download: a folder of its archives or unpacked parts, any nesting")
    p.add_argument("--out", required=True, help="the tree to create (must not exist, or be empty)")
    return "actionpose.data.prepare:main"


def _add_data_export_pyskl(p: argparse.ArgumentParser) -> str:
    p.add_argument("root", help="a JHMDB-format tree")
    p.add_argument("--out", required=True, help="annotation pickle to write (e.g. jhmdb_2d.pkl)")
    return "actionpose.data.interchange:main_export"


def _add_data_import_pyskl(p: argparse.ArgumentParser) -> str:
    p.add_argument("input", help="a pyskl/MMAction2 annotation pickle (loaded without running code)")
    p.add_argument("--out", required=True, help="tree to write joints and splits into")
    p.add_argument("--classes", default=None, help="class names by label, comma-separated (default class0, ...)")
    return "actionpose.data.interchange:main_import"


def _add_data_check(p: argparse.ArgumentParser) -> str:
    p.add_argument("root", help="a JHMDB-format tree")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--deep", action="store_true",
                   help="decode every frame and mask in full (the default reads headers, sizes, file ends)")
    return "actionpose.data.check:main"


def _add_pose_extract(p: argparse.ArgumentParser) -> str:
    p.add_argument("input", help="a video file, a folder of videos (class sub-folders), of frames, "
                   "or a JHMDB-format tree (Rename_Images/; keeps its official splits)")
    p.add_argument("--out", required=True, help="output root (JHMDB-format tree)")
    p.add_argument(
        "--estimator", default="mediapipe",
        help="mediapipe (default), keypointrcnn, or package.module:Class (a PoseEstimator)",
    )
    p.add_argument("--model-complexity", type=int, default=1, help="MediaPipe model (only 1 ships offline)")
    p.add_argument("--workers", type=_positive, default=1)
    p.add_argument("--max-frames", type=_positive, default=None, help="cap frames per clip")
    p.add_argument("--size", type=_size, default=None, help="resize frames to HxW before writing")
    p.add_argument("--redo", action="store_true", help="re-extract clips done before with other options")
    p.add_argument(
        "--splits", metavar="SPLITS_DIR", default=None,
        help="the dataset's official split files (HMDB51's or UCF101's format); default: a hashed split",
    )
    return "actionpose.extract.pipeline:main"


def _add_train(p: argparse.ArgumentParser) -> str:
    p.add_argument("experiment", help="an experiment name (see `actionpose list`)")
    p.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides, e.g. lr=0.003")
    p.add_argument("--preset", default="cpu", help="smoke | cpu | paper | jhmdb (default cpu)")
    p.add_argument("--data", default=None,
                   help="puppet | actors | actors-estimated (MediaPipe pose) | jhmdb | a JHMDB-format root")
    p.add_argument("--split", type=int, default=None, help="official split 1..3")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--epochs", type=_positive, default=None)
    p.add_argument("--out", default="runs", help="runs folder (default runs/)")
    p.add_argument("--resume", action="store_true", help="continue an interrupted run")
    p.add_argument("--deterministic", action="store_true", help="deterministic algorithms")
    p.add_argument("--device", default=None, help="auto | cpu | cuda | cuda:N | mps")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--tensorboard", action="store_true",
                   help="also write each epoch's scalars to RUN/tensorboard/ (needs the tensorboard "
                        "package: pip install actionpose[tensorboard])")
    return "actionpose.train.commands:train"


def _add_reproduce(p: argparse.ArgumentParser) -> str:
    p.add_argument("--preset", default="cpu", help="smoke | cpu | paper | jhmdb (default cpu)")
    p.add_argument("--seeds", type=_positive, default=3, help="seeds per experiment (default 3)")
    p.add_argument("--data", default=None, help="use this JHMDB-format root instead of the embedded dataset")
    p.add_argument("--only", action="append", default=[], help="run only this experiment (repeatable)")
    p.add_argument("--sweep", type=_fraction, nargs="*", default=None,
                   help="also run the sweep pair at these context biases of the puppet world")
    p.add_argument("--sweep-pair", nargs=2, metavar=("BASELINE", "TREATMENT"),
                   default=["attention", "attention-pose"],
                   help="experiments compared in the sweep (default: attention attention-pose)")
    p.add_argument("--jobs", type=_positive, default=1,
                   help="runs trained side by side, each in its own process with cores/jobs threads "
                        "(default 1; 2 suits a 2-core machine)")
    p.add_argument("--missing", action="store_true",
                   help="train only the runs without a committed record under RESULTS/records")
    p.add_argument("--out", default="runs", help="runs folder; the check against the records "
                                                 "goes to OUT/reproduction.csv")
    p.add_argument("--records", default="results/records",
                   help="the committed run records each finished run is checked against")
    p.add_argument("--results", default=None, help="tables of the runs (default OUT/report/results; "
                   "the committed results/ are regenerated from the records by `actionpose figures`)")
    p.add_argument("--figures", default=None, help="figures of the runs (default OUT/report/figures)")
    p.add_argument("--quiet", action="store_true")
    return "actionpose.train.commands:reproduce"


def _add_figures(p: argparse.ArgumentParser) -> str:
    p.add_argument("runs", nargs="?", default=None,
                   help="runs or records folder (default: RESULTS/records, the committed records)")
    p.add_argument("--out", default="figures", help="figures folder, replaced whole (default figures/)")
    p.add_argument("--results", default="results", help="where the CSV summaries go")
    p.add_argument("--preset", default=None, help="only runs of this preset (default: all)")
    return "actionpose.train.commands:figures"


def _add_seeds(p: argparse.ArgumentParser) -> str:
    p.add_argument("--claim", action="append", required=True, metavar="KEY[@BIAS]",
                   help="a claim of the report by key (see results/comparisons.csv), KEY@BIAS for a "
                        "context-bias sweep point, or all; study, study:GROUP (modes, quality, bias) "
                        "or study:KEY for issue 18's study of ways to feed pose (repeatable)")
    mode = p.add_mutually_exclusive_group(required=True)
    mode.add_argument("--plan", action="store_true", help="print what would be trained; train nothing")
    mode.add_argument("--until-decided", action="store_true",
                      help="add one seed of the pair at a time until the stopping rule ends the claim")
    p.add_argument("--preset", default="cpu", help="smoke | cpu | paper | jhmdb (default cpu)")
    p.add_argument("--jobs", type=_positive, default=1, help="runs trained side by side (default 1)")
    p.add_argument("--out", default="runs", help="runs folder (default runs/)")
    p.add_argument("--results", default="results", help="the records are RESULTS/records")
    p.add_argument("--quiet", action="store_true")
    return "actionpose.train.seeds:main"


def _add_records_collect(p: argparse.ArgumentParser) -> str:
    p.add_argument("runs", help="runs folder whose finished runs are copied")
    p.add_argument("--to", default="results/records", help="records folder (default results/records)")
    p.add_argument("--replace", action="store_true", help="overwrite records that differ")
    p.add_argument("--preset", action="append", metavar="PRESET",
                   help="copy only runs of this preset (repeatable; default every preset but smoke)")
    return "actionpose.report.records:collect_main"


def _add_list(p: argparse.ArgumentParser) -> str:
    return "actionpose.train.commands:list_experiments"


def _add_model_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device", default="cpu", help="cpu | cuda | cuda:N | auto (default cpu)")


def _add_video_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--max-side", type=_positive, default=640, help="downscale frames to this long side first")
    p.add_argument("--max-frames", type=_positive, default=None, help="read at most this many frames per video")
    p.add_argument("--estimator", default="mediapipe", help="pose estimator, as in `pose extract`")
    _add_model_options(p)


def _add_evaluate(p: argparse.ArgumentParser) -> str:
    p.add_argument("run", help="a finished run folder (or an experiment folder with --split)")
    p.add_argument("--clips", type=_positive, default=None, help="clips per test video (default: the run's)")
    p.add_argument("--flip", action="store_true", help="also average each clip's mirror image")
    p.add_argument("--split", type=int, default=None, help="official split 1..3 (the run's own)")
    p.add_argument("--on", choices=("test", "val"), default="test",
                   help="score the test videos (default) or the run's validation videos, on "
                        "which test-time clips and flips are chosen")
    p.add_argument("--data", default=None, help="dataset root, if the run's has moved")
    p.add_argument("--workers", type=int, default=0, help="DataLoader workers (default 0)")
    p.add_argument("--confusion", metavar="PNG", default=None,
                   help="also draw the evaluation's confusion matrix into PNG")
    _add_model_options(p)
    return "actionpose.use.evaluate:main"


def _add_export(p: argparse.ArgumentParser) -> str:
    p.add_argument("run", help="a finished run folder")
    p.add_argument("--format", choices=("torchscript", "onnx"), default="torchscript")
    p.add_argument("--out", required=True, help="model file to write (its description goes to OUT.json)")
    return "actionpose.use.export:main"


def _add_predict(p: argparse.ArgumentParser) -> str:
    p.add_argument("run", help="a finished run folder, or an exported model FILE (with FILE.json)")
    p.add_argument("input", help="a video file, a folder of videos, or a folder of frames")
    p.add_argument("--top-k", type=_positive, default=5, help="classes listed per video (default 5)")
    p.add_argument("--json", default=None, help="write the predictions as JSON")
    p.add_argument("--csv", default=None, help="write per-window predictions as CSV")
    p.add_argument("--out", default=None, help="annotated video (.mp4) of a single input video")
    p.add_argument("--window", type=_positive, default=None,
                   help="frames per sliding window (default 32)")
    p.add_argument("--stride", type=_positive, default=None, help="frames between windows (default window/2)")
    _add_video_options(p)
    return "actionpose.use.predict:main"


def _add_explain(p: argparse.ArgumentParser) -> str:
    p.add_argument("run", nargs="?", default=None,
                   help="a finished run folder (or, for each run's test split, a folder of runs)")
    p.add_argument("input", nargs="?", default=None,
                   help="a video, folder of videos or of frames (default: the run's test split)")
    p.add_argument("--out", default=None,
                   help="folder for the PNG strips and context_reliance.csv (with --test-split: "
                        "optional, a table and figure of the runs)")
    p.add_argument("--test-split", nargs="*", default=None, metavar="RUN",
                   help="context reliance of every test video of each RUN (run folders or folders of "
                        "runs), written beside it as RUN/context_reliance.csv and .json")
    p.add_argument("--split", type=int, default=None, help="with --test-split: only runs of this split")
    p.add_argument("--redo", action="store_true",
                   help="with --test-split: recompute where RUN/context_reliance.json is up to date")
    p.add_argument("--strips", type=int, default=None,
                   help="PNG strips of the first N test videos into --out (default 8; with --test-split 0)")
    p.add_argument("--data", default=None, help="dataset root, if the run's has moved")
    _add_video_options(p)
    return "actionpose.use.explain:main"


def _add_fuse(p: argparse.ArgumentParser) -> str:
    p.add_argument("positional", nargs="*", metavar="RUN_A RUN_B | key=value",
                   help="two finished run folders on the same test videos and classes; with "
                        "--pair, config overrides of its runs instead (e.g. pose_jitter=0.05)")
    p.add_argument("--weights", default="equal",
                   help="equal (default) | tuned (on the runs' val_predictions.csv, never the test "
                        "split) | a,b")
    p.add_argument("--out", default=None,
                   help="fused predictions CSV, weights and accuracies to OUT.json (default "
                        "fused_predictions.csv); with --pair the folder of fused runs (RUNS/fused)")
    p.add_argument("--pair", default=None,
                   help="a fused pair of the study (c3d+heatmap-volume, c3d+pose-only, c3d+stgcn): "
                        "its two runs are found by config under RUNS")
    p.add_argument("--preset", default="cpu", help="with --pair: the runs' preset (default cpu)")
    p.add_argument("--seed", type=int, default=0, help="with --pair: the runs' seed (default 0)")
    p.add_argument("--split", type=int, default=None, help="with --pair: official split 1..3")
    p.add_argument("--data", default=None, help="with --pair: puppet | actors | actors-estimated | jhmdb | a root")
    p.add_argument("--runs", dest="runs_dir", default="runs", help="with --pair: runs folder (default runs/)")
    p.add_argument("--train", action="store_true", help="with --pair: train the runs that are missing")
    p.add_argument("--quiet", action="store_true", help="with --train: no progress bars")
    p.set_defaults(overrides=[])  # key=value after the options (see main)
    return "actionpose.fuse:main"


def _add_tune(p: argparse.ArgumentParser) -> str:
    p.add_argument("experiment", help="an experiment name (see `actionpose list`)")
    p.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides for every variant")
    p.add_argument("--grid", action="append", default=[], metavar="KEY=V1,V2",
                   help="values to try for a config key (repeatable: every combination is a variant)")
    p.add_argument("--preset", default="cpu", help="smoke | cpu | paper | jhmdb (default cpu)")
    p.add_argument("--data", default=None, help="puppet | actors | actors-estimated | jhmdb | a JHMDB-format root")
    p.add_argument("--split", type=int, default=1, help="official split 1..3 (default 1)")
    p.add_argument("--seeds", type=_positive, default=1, help="seeds per variant (default 1)")
    p.add_argument("--out", default="runs/tune", help="runs folder (default runs/tune)")
    p.add_argument("--plan", action="store_true", help="print the variants and run folders; train nothing")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    return "actionpose.train.tune:main"


COMMANDS: dict[tuple[str, ...], tuple[str, object]] = {
    ("data", "synth"): ("generate the embedded puppet-world dataset (JHMDB format)", _add_data_synth),
    ("data", "check"): ("validate a JHMDB-format tree and summarise it", _add_data_check),
    ("data", "prepare"): ("lay out the official JHMDB download (archives or unpacked) as a checked tree", _add_data_prepare),
    ("data", "export-pyskl"): ("write a tree's joints as a pyskl/MMAction2 annotation pickle", _add_data_export_pyskl),
    ("data", "import-pyskl"): ("read a pyskl/MMAction2 annotation pickle into a tree's joints", _add_data_import_pyskl),
    ("pose", "extract"): ("estimate pose in videos with MediaPipe into a JHMDB tree", _add_pose_extract),
    ("train",): ("train and evaluate one experiment", _add_train),
    ("reproduce",): ("train the report's runs, then the figures and a check against the committed records", _add_reproduce),
    ("figures",): ("aggregate runs or records into results/*.csv and figures/", _add_figures),
    ("seeds",): ("add seeds to a claim's pair until the stopping rule ends it (--plan: dry run)", _add_seeds),
    ("records", "collect"): ("copy finished runs' text records into results/records", _add_records_collect),
    ("evaluate",): ("re-evaluate a finished run with test-time augmentation", _add_evaluate),
    ("export",): ("export a run's model as TorchScript or ONNX with a JSON of its inputs", _add_export),
    ("predict",): ("predict actions in videos with a run or an exported model", _add_predict),
    ("explain",): ("Grad-CAM / attention maps and context reliance of a run", _add_explain),
    ("tune",): ("train variants of an experiment with a validation split; print validation accuracy only (--plan: dry run)", _add_tune),
    ("fuse",): ("late fusion of two finished runs' test scores (weights equal, given or tuned on validation)", _add_fuse),
    ("list",): ("list experiments and presets", _add_list),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="actionpose", description="Pose-guided action recognition (re-test of Yao, 2018)."
    )
    top = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    groups: dict[str, argparse._SubParsersAction] = {}
    for path, (help_text, add) in COMMANDS.items():
        if len(path) == 1:
            sub = top.add_parser(path[0], help=help_text, description=help_text)
        else:
            if path[0] not in groups:
                grp = top.add_parser(path[0], help=f"{path[0]} commands")
                groups[path[0]] = grp.add_subparsers(dest="subcommand", required=True, metavar="SUBCOMMAND")
            sub = groups[path[0]].add_parser(path[1], help=help_text, description=help_text)
        sub.set_defaults(handler=add(sub))
    return parser


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    # key=value overrides may follow options (`train c3d --preset cpu lr=0.1`)
    if extra and hasattr(args, "overrides") and all("=" in e and not e.startswith("-") for e in extra):
        args.overrides = list(args.overrides) + extra
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    module_name, func_name = args.handler.split(":")
    handler = getattr(importlib.import_module(module_name), func_name)
    try:
        return int(handler(args) or 0)
    except ActionposeError as exc:
        print(f"actionpose: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # the machine's state (a full disk, a permission), not a bug: one line
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"actionpose: error: {where}{exc.strerror or exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("actionpose: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
