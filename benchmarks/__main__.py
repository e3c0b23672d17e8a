"""Run every benchmark module, print a table, write results/bench.json."""
from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _machine() -> dict:
    import torch

    info = {
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "platform": platform.platform(),
        "processor": platform.processor(),
        "cpu_count": os.cpu_count(),
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu_model"] = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return info


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, checks the suite runs")
    parser.add_argument("--only", action="append", default=[], help="run only bench_NAME (repeatable); opt-in modules run only this way")
    parser.add_argument("--out", default=None, help="JSON output (default results/bench.json; smoke: "
                        "none); with --only, the other modules' rows already in it are kept")
    args = parser.parse_args(argv)
    names = sorted(p.stem for p in HERE.glob("bench_*.py"))
    if args.only:
        unknown = [n for n in args.only if f"bench_{n}" not in names and n not in names]
        if unknown:
            parser.error(f"unknown benchmark(s) {unknown}; have {[n[6:] for n in names]}")
        names = [n for n in names if n in args.only or n[6:] in args.only]
    else:  # modules that declare OPT_IN (e.g. an hour-long from-scratch reproduce) run only when named
        names = [n for n in names if not getattr(importlib.import_module(f"benchmarks.{n}"), "OPT_IN", False)]
    rows: list[dict] = []
    for name in names:
        module = importlib.import_module(f"benchmarks.{name}")
        t0 = time.perf_counter()
        measured_at = time.strftime("%Y-%m-%d %H:%M:%S")
        for row in module.run(smoke=args.smoke):
            row.setdefault("module", name)
            row.setdefault("measured_at", measured_at)
            rows.append(row)
            _print_row(row)
        print(f"# {name}: {time.perf_counter() - t0:.1f} s", flush=True)
    out = args.out or (None if args.smoke else str(HERE.parent / "results" / "bench.json"))
    if out:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        if args.only and Path(out).is_file():  # keep the other modules' rows of the last run
            try:
                previous = json.loads(Path(out).read_text()).get("rows", [])
            except (OSError, json.JSONDecodeError, AttributeError) as exc:
                raise SystemExit(f"{out}: cannot merge into it ({exc}); pass --out elsewhere")
            rows = [r for r in previous if r.get("module") not in names] + rows
        Path(out).write_text(json.dumps({"machine": _machine(), "rows": rows}, indent=2) + "\n")
        print(f"wrote {out}")
    return 0


def _print_row(row: dict) -> None:
    extra = ""
    if "ratio" in row:
        extra += f"  ratio {row['ratio']:.2f}"
    if "target" in row:
        extra += f"  target {row['target']}"
    if "met" in row:
        extra += "  MET" if row["met"] else "  NOT MET"
    print(f"{row['name']:<60} {row['value']:>12.4g} {row['unit']:<10}{extra}", flush=True)


if __name__ == "__main__":
    raise SystemExit(main())
