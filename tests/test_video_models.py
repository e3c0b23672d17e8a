"""torchvision's video ResNets as families: parameter counts, forward/backward, pose modes,
Kinetics-400 weights from the hub cache (no network: downloads are made to fail), and
`actionpose train r2plus1d-pose --preset smoke`."""
from __future__ import annotations

import os
import subprocess
import sys
import urllib.error
from pathlib import Path

import pytest
import torch
import torchvision.models.video as tv

from actionpose.errors import ConfigError, WeightsError
from actionpose.models import registry
from actionpose.models.init import adapt_input_conv
from actionpose.models.video import ARCHITECTURES, video_resnet
from actionpose.train.experiments import make_config

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def offline(monkeypatch, tmp_path):
    """An empty torch hub cache, and every download fails as without network."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setattr(torch.hub, "_hub_dir", None)  # a set_dir elsewhere would win over TORCH_HOME

    def fail(url, dst, *args, **kwargs):
        raise urllib.error.URLError("no network in tests")
    monkeypatch.setattr(torch.hub, "download_url_to_file", fail)
    return tmp_path / "torch" / "hub" / "checkpoints"


@pytest.mark.parametrize("arch", list(ARCHITECTURES))
def test_parameter_count_is_torchvisions(arch):
    _, weights = ARCHITECTURES[arch]
    model = video_resnet(arch, num_classes=400)
    assert sum(p.numel() for p in model.parameters()) == weights.KINETICS400_V1.meta["num_params"]
    small = video_resnet(arch, num_classes=21)
    assert sum(p.numel() for p in small.parameters()) == weights.KINETICS400_V1.meta["num_params"] - 379 * 513


@pytest.mark.parametrize("arch", list(ARCHITECTURES))
@pytest.mark.parametrize("pose", ["none", "weaken", "mask_channel"])
def test_forward_backward_every_input_level_pose_mode(arch, pose):
    name = {"r3d_18": "r3d", "mc3_18": "mc3", "r2plus1d_18": "r2plus1d"}[arch]
    cfg = make_config(name, "smoke", pose=pose)
    torch.manual_seed(0)
    model = registry.build_model(cfg, 3)
    batch = {"video": torch.randn(2, 3, 4, 32, 32), "mask": torch.rand(2, 1, 4, 32, 32),
             "label": torch.tensor([0, 2])}
    out = registry.forward(cfg, model, batch)
    assert out["logits"].shape == (2, 3)
    registry.compute_loss(cfg, out, batch["label"]).backward()
    grads = [p.grad for p in model.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    stem = model.model.stem[0] if pose != "none" else model.stem[0]
    assert stem.in_channels == (4 if pose == "mask_channel" else 3)


def test_weights_file_adapts_the_stem_for_a_mask_channel(tmp_path):
    torch.manual_seed(0)
    source = tv.r2plus1d_18(weights=None)
    path = tmp_path / "r2plus1d.pt"
    torch.save(source.state_dict(), path)
    model = video_resnet("r2plus1d_18", num_classes=5, in_channels=4, weights=path)
    assert torch.equal(model.stem[0].weight, adapt_input_conv(source.stem[0].weight, 4))
    assert torch.equal(model.stem[3].weight, source.stem[3].weight)  # the rest is loaded as is
    assert model.fc.out_features == 5
    w = torch.randn(8, 3, 3, 7, 7)
    assert torch.allclose(adapt_input_conv(w, 4)[:, :3], w * 0.75)
    assert torch.equal(adapt_input_conv(w, 4)[:, 3], w[:, 0] * 0.75)


def test_kinetics_offline_names_the_file_to_place(offline):
    with pytest.raises(WeightsError) as err:
        video_resnet("r2plus1d_18", num_classes=5, weights="kinetics400")
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith(str(offline / "r2plus1d_18-91a641e6.pth"))
    assert "https://download.pytorch.org/models/r2plus1d_18-91a641e6.pth" in message


def test_kinetics_weights_are_read_from_the_hub_cache(offline):
    torch.manual_seed(1)
    cached = tv.mc3_18(weights=None)
    offline.mkdir(parents=True)
    torch.save(cached.state_dict(), offline / os.path.basename(tv.MC3_18_Weights.KINETICS400_V1.url))
    model = video_resnet("mc3_18", num_classes=400, weights="kinetics400")
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), cached.state_dict().values()))


def test_weights_a_family_cannot_load_are_refused():
    with pytest.raises(ConfigError, match="r2plus1d_18' loads kinetics400 or a file"):
        make_config("r2plus1d", "smoke", weights="imagenet")
    with pytest.raises(ConfigError, match="family 'c3d' trains from scratch"):
        make_config("c3d", "smoke", weights="kinetics400")
    assert make_config("r2plus1d", "paper").weights == "kinetics400"


def test_cpu_preset_is_small_enough_to_run():
    cfg = make_config("r2plus1d-pose", "cpu")
    assert cfg.weights is None and cfg.num_frames * cfg.size[0] * cfg.size[1] <= 8 * 64 * 64
    model = registry.build_model(cfg, 4)
    batch = {"video": torch.randn(1, 3, cfg.num_frames, *cfg.size),
             "mask": torch.rand(1, 1, cfg.num_frames, *cfg.size)}
    with torch.no_grad():
        assert registry.forward(cfg, model.eval(), batch)["logits"].shape == (1, 4)


def test_cli_trains_r2plus1d_pose_at_the_smoke_preset(tmp_path):
    from actionpose.data import synthetic

    root = tmp_path / "world"
    synthetic.generate(root, synthetic.synth_config("smoke", num_classes=2, clips_per_class=4), workers=1)
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1",
           "ACTIONPOSE_DATA": str(tmp_path / "data")}
    done = subprocess.run([sys.executable, "-m", "actionpose", "train", "r2plus1d-pose", "--preset",
                           "smoke", "--data", str(root), "--out", str(tmp_path / "runs"), "--quiet"],
                          capture_output=True, text=True, env=env, cwd=REPO, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    summary = next((tmp_path / "runs" / "r2plus1d-pose").glob("*/summary.json"))
    assert '"complete": true' in summary.read_text()
