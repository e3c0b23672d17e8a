"""The family registry: one entry per family, read by the engine, validate and `list`; a user's
own nn.Module registered as a family trains end to end (the README's example)."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from actionpose.errors import ConfigError
from actionpose.models import registry
from actionpose.train.experiments import EXPERIMENTS, make_config

REPO = Path(__file__).resolve().parents[1]


def test_every_experiment_builds_through_the_registry():
    for name, exp in EXPERIMENTS.items():
        cfg = make_config(name, "smoke")
        fam = registry.get_family(cfg.family)
        assert cfg.pose in fam.pose_modes
        assert registry.modalities(cfg), name


@pytest.mark.parametrize("family,pose", [("attention", "mask_channel"), ("two_stream", "mask_channel"),
                                         ("c3d", "heatmaps_concat"), ("pose_only", "weaken"),
                                         ("c3d", "pose_only")])
def test_validate_refuses_pairs_that_cannot_run_and_lists_the_allowed(family, pose):
    name = next(n for n, e in EXPERIMENTS.items() if e.family == family)
    with pytest.raises(ConfigError) as err:
        make_config(name, "smoke", pose=pose)
    message = str(err.value)
    assert "\n" not in message and pose in message
    assert ", ".join(registry.get_family(family).pose_modes) in message


def test_unknown_names_are_config_errors():
    with pytest.raises(ConfigError, match="unknown family 'c4d'"):
        registry.get_family("c4d")
    with pytest.raises(ConfigError, match="unknown pose mode 'wiggle'"):
        make_config("c3d", "smoke", pose="wiggle")


def test_mask_channel_feeds_a_fourth_channel_to_c3d():
    cfg = make_config("c3d", "smoke", pose="mask_channel")
    model = registry.build_model(cfg, 3)
    batch = {"video": torch.randn(2, 3, 4, 32, 32), "mask": torch.rand(2, 1, 4, 32, 32),
             "label": torch.tensor([0, 1])}
    assert registry.modalities(cfg) == ("frames", "mask")
    assert registry.forward(cfg, model, batch)["logits"].shape == (2, 3)


def test_weaken_space_is_a_config_field():
    cfg = make_config("c3d-pose", "smoke", weaken_space="pixels")
    assert registry.build_model(cfg, 3).space == "pixels"
    assert make_config("c3d-pose", "smoke").weaken_space == "normalised"  # the committed runs'
    with pytest.raises(ConfigError, match="weaken_space"):
        make_config("c3d-pose", "smoke", weaken_space="rgb")


def _dispatches_on(node: ast.AST) -> bool:
    """``cfg.family == ...`` / ``cfg.pose in (...)``-style comparisons on a config."""
    return (isinstance(node, ast.Compare) and isinstance(node.left, ast.Attribute)
            and node.left.attr in ("family", "pose") and isinstance(node.left.value, ast.Name)
            and node.left.value.id in ("cfg", "config"))


def test_no_family_or_pose_dispatch_outside_the_registry():
    allowed = {REPO / "actionpose" / "models" / "registry.py"}
    offenders = []
    for path in [*(REPO / "actionpose").rglob("*.py"), *(REPO / "benchmarks").glob("*.py")]:
        if path in allowed:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if _dispatches_on(node):
                offenders.append(f"{path.relative_to(REPO)}:{node.lineno}")
    assert not offenders, offenders


# The README's example, verbatim in spirit: a user's own nn.Module as a family.
USER_FAMILY = '''
import torch
from torch import nn
from actionpose.models.registry import Family, register_family
from actionpose.train.experiments import Experiment, register_experiment

class TinyNet(nn.Module):
    def __init__(self, num_classes, in_channels):
        super().__init__()
        self.net = nn.Sequential(nn.Conv3d(in_channels, 8, 3, padding=1), nn.ReLU(),
                                 nn.AdaptiveAvgPool3d(1), nn.Flatten(), nn.Linear(8, num_classes))
    def forward(self, x):
        return self.net(x)

register_family(Family("tiny", lambda cfg, *, num_classes, in_channels: TinyNet(num_classes, in_channels),
                       inputs={"x": "video"}))
register_experiment(Experiment("tiny-pose", "TinyNet, background weakened", "tiny", {"pose": "weaken"}))
'''


def test_a_users_module_registered_as_a_family_trains(tmp_path, smoke_data):
    script = tmp_path / "user.py"
    script.write_text(USER_FAMILY + f'''
from actionpose.train.engine import fit
from actionpose.train.experiments import make_config
summary = fit(make_config("tiny-pose", "smoke", dataset={str(smoke_data)!r}), {str(tmp_path / "runs")!r},
              progress=False)
print(summary["complete"], summary["final"]["test_video_acc"])
''')
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, cwd=REPO,
                          env={"PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "PATH": ""},
                          timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.startswith("True ")


@pytest.fixture(scope="module")
def smoke_data(tmp_path_factory):
    from actionpose.data import synthetic

    root = tmp_path_factory.mktemp("data") / "puppet-smoke"
    synthetic.generate(root, synthetic.synth_config("smoke", num_classes=2, clips_per_class=4), workers=1)
    return root


def test_list_shows_families_and_their_pose_modes():
    done = subprocess.run([sys.executable, "-m", "actionpose", "list"], capture_output=True,
                          text=True, cwd=REPO, timeout=120)
    assert done.returncode == 0, done.stderr
    for fam in registry.FAMILIES.values():
        assert any(line.split()[:1] == [fam.name] and ", ".join(fam.pose_modes) in line
                   for line in done.stdout.splitlines()), fam.name
