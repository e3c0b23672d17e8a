"""`actionpose export`: TorchScript and ONNX files that reproduce the PyTorch logits."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from actionpose.use.model import load_model, open_run
from use_runs import cli, export_run, one_line_error, train_runs


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    return train_runs(tmp_path_factory.mktemp("use_export"))


def _test_batch(root, loaded, n=3):
    """The first ``n`` test clips as the model's inputs, preprocessed as in training."""
    from actionpose.models.registry import heatmap_size
    from actionpose.train.engine import build_datasets

    _, test = build_datasets(loaded.cfg, root, heatmap_size=heatmap_size(loaded.cfg))
    items = [test[i] for i in range(n)]
    names = {"video": "video", "mask": "mask", "heatmaps": "heatmaps", "flow": "flow"}
    return {k: torch.stack([it[names[k]] for it in items]) for k in loaded.spec.inputs}


@pytest.mark.parametrize("fmt", ["torchscript", "onnx"])
@pytest.mark.parametrize("exp", ["c3d-pose", "attention-pose"])
def test_export_matches_pytorch(trained, tmp_path, exp, fmt):
    root, runs = trained
    loaded = open_run(runs[exp])
    out, meta = export_run(runs[exp], fmt, tmp_path)
    assert meta["format"] == fmt and meta["classes"] == list(loaded.spec.classes)
    assert meta["inputs"] == list(loaded.spec.inputs) and meta["num_frames"] == 4 and meta["size"] == [32, 32]
    assert meta["pose_needed"] == (["mask"] if exp == "c3d-pose" else ["joints"])
    assert meta["mean"] == pytest.approx([0.485, 0.456, 0.406])

    batch = _test_batch(root, loaded)
    expected = loaded.logits(batch)
    if fmt == "torchscript":  # loaded as a user would, without actionpose
        with torch.no_grad():
            got = torch.jit.load(str(out))(*(batch[n] for n in meta["inputs"]))
    else:
        import onnxruntime

        session = onnxruntime.InferenceSession(str(out), providers=["CPUExecutionProvider"])
        got = torch.from_numpy(session.run(["logits"], {n: batch[n].numpy() for n in meta["inputs"]})[0])
    scale = max(1.0, float(expected.abs().max()))
    assert float((got - expected).abs().max()) / scale <= 1e-4
    assert torch.equal(got.argmax(1), expected.argmax(1))
    reloaded = load_model(out).logits(batch)  # what `predict FILE` uses
    assert np.allclose(reloaded.numpy(), got.numpy(), rtol=1e-6, atol=1e-6 * scale)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([out.name, out.name + ".json"])


def test_export_errors(trained, tmp_path):
    run = trained[1]["c3d-pose"]
    one_line_error(cli("export", run, "--out", tmp_path), str(tmp_path), "is a folder")
    one_line_error(cli("export", tmp_path / "missing", "--out", tmp_path / "m.pt"), "missing")
    assert cli("export", run, "--format", "tflite", "--out", tmp_path / "m").returncode == 2
    out = tmp_path / "m.onnx"
    assert cli("export", run, "--format", "onnx", "--out", out).returncode == 0
    out.write_bytes(out.read_bytes()[:1000])  # truncated
    with pytest.raises(Exception, match="m.onnx: cannot load the ONNX model"):
        load_model(out)
    out.with_name("m.onnx.json").write_text("{}")
    with pytest.raises(Exception, match="m.onnx.json: not an actionpose export description"):
        load_model(out)
