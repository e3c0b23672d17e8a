"""The package's layering, read from the source's AST (every import, function-local ones too).

From the bottom: ``pose`` (skeletons, rendering, metrics) < ``data`` (the format, the Dataset)
< ``models`` < ``extract`` / ``train`` / ``report``; nothing imports ``cli``. A rule about a
package that does not exist is skipped with that reason, so the run lists every rule it checked.
"""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "actionpose"

# (importer, imported, why)
RULES = [
    ("pose", "data", "pose is the bottom layer: data uses it"),
    ("pose", "extract", "pose is the bottom layer: extraction uses it"),
    ("pose", "train", "pose is the bottom layer"),
    ("pose", "models", "pose is the bottom layer"),
    ("pose", "report", "pose is the bottom layer"),
    ("data", "train", "the engine reads data, not the reverse"),
    ("data", "report", "reports read run folders, not the reverse"),
    ("data", "models", "datasets know nothing of models"),
    ("data", "extract", "extraction writes the format data/ reads"),
    ("models", "train", "models are built by the engine"),
    ("models", "report", "models know nothing of reports"),
    ("models", "data", "models take tensors, not datasets"),
    ("report", "train", "reports read run folders, never the engine"),
    ("train", "report", "the engine never reads reports (only the chaining commands use both)"),
]


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> list[tuple[int, str]]:
    """(line, absolute module) of every import statement in ``path``."""
    tree = ast.parse(path.read_text(), filename=str(path))
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            found.append((node.lineno, module))
            # "from actionpose import cli" imports a module by its attribute name
            found += [(node.lineno, f"{module}.{a.name}") for a in node.names]
    return found


# the commands that chain training and figures (or records) are the one place allowed to use
# both: their handlers, reproduce's check against the records, and `seeds`' stopping loop
EXEMPT = {("train", "report"): {"train/commands.py", "train/reproduction.py", "train/seeds.py"}}


def _violations(importer: str, imported: str) -> list[str]:
    target = f"actionpose.{imported}"
    exempt = EXEMPT.get((importer, imported), set())
    bad = []
    for path in sorted((PACKAGE / importer).rglob("*.py")):
        if path.relative_to(PACKAGE).as_posix() in exempt:
            continue
        lines = sorted({line for line, module in _imports(path)
                        if module == target or module.startswith(target + ".")})
        bad += [f"{path.relative_to(PACKAGE.parent)}:{line}" for line in lines]
    return bad


@pytest.mark.parametrize("importer,imported,why", RULES, ids=[f"{a}-not-{b}" for a, b, _ in RULES])
def test_layer_does_not_import(importer, imported, why):
    missing = [p for p in (importer, imported) if not (PACKAGE / p).is_dir()]
    if missing:
        pytest.skip(f"actionpose/{missing[0]} does not exist (rule {importer} -/-> {imported})")
    bad = _violations(importer, imported)
    assert not bad, f"{importer} must not import {imported} ({why}): {', '.join(bad)}"


def test_nothing_imports_cli():
    bad = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.name == "__main__.py" and path.parent == PACKAGE:
            continue  # ``python -m actionpose`` is the command line's entry point
        bad += [f"{path.relative_to(PACKAGE.parent)}:{line}" for line, module in _imports(path)
                if module == "actionpose.cli" or module.startswith("actionpose.cli.")]
    assert not bad, f"only `python -m actionpose` imports the command line: {', '.join(bad)}"


def test_relative_imports_resolve(tmp_path):
    # the rules above are only as good as the import reader: check it on a made-up package
    pkg = tmp_path / "actionpose" / "sub"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("from . import a\nfrom .a import b\n")
    (pkg / "mod.py").write_text("from ..data import jhmdb\ndef f():\n    import actionpose.train.engine\n")
    global PACKAGE
    saved, PACKAGE = PACKAGE, tmp_path / "actionpose"
    try:
        assert [m for _, m in _imports(pkg / "__init__.py")] == [
            "actionpose.sub", "actionpose.sub.a", "actionpose.sub.a", "actionpose.sub.a.b"]
        assert [m for _, m in _imports(pkg / "mod.py")] == [
            "actionpose.data", "actionpose.data.jhmdb", "actionpose.train.engine"]
    finally:
        PACKAGE = saved


@pytest.mark.parametrize("module", ["actionpose.data.jhmdb", "actionpose.data.check", "actionpose.pose.skeletons"])
def test_format_modules_do_not_load_torch(module):
    code = f"import sys, {module}; sys.exit('torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, f"importing {module} loads torch {result.stderr}"
