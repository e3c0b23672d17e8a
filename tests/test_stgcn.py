"""ST-GCN on JHMDB-15 joints: graph, parameter count, forward/backward, missing joints."""
import pytest
import torch

from actionpose.errors import ConfigError
from actionpose.models.stgcn import STGCN, STGCN_CHANNELS, JointStream, graph_input, spatial_graph
from actionpose.pose.skeletons import JHMDB15

V = JHMDB15.num_joints


def test_spatial_partition():
    A = spatial_graph()
    assert A.shape == (3, V, V)
    assert torch.allclose(A.sum((0, 1)), torch.ones(V))  # each joint's incoming weights sum to 1
    neck, belly, face, lw = (JHMDB15.index(n) for n in ("neck", "belly", "face", "left_wrist"))
    assert A[0, neck, neck] > 0 and A[0].count_nonzero() == V  # root: only self (no ties here)
    assert A[1, face, neck] > 0 and A[2, belly, neck] > 0  # neck hears face (farther), belly (nearer)
    assert A[2, JHMDB15.index("left_elbow"), lw] > 0 and A[1, :, lw].sum() == 0  # a wrist is a leaf
    edges = {frozenset(l) for l in JHMDB15.limbs}
    nz = (A.sum(0) > 0) & ~torch.eye(V, dtype=torch.bool)
    assert {frozenset((int(a), int(b))) for a, b in nz.nonzero()} == edges
    with pytest.raises(ConfigError, match="centre"):
        spatial_graph(JHMDB15, centre="tail")


def _expected_params(in_channels, num_classes, width=1.0, K=3, kt=9):
    n = 2 * in_channels * V  # data_bn
    prev = in_channels
    for i, c in enumerate(STGCN_CHANNELS):
        ch = max(1, round(c * width))
        n += prev * ch * K + ch * K + K * V * V  # graph conv + edge importance
        n += 2 * ch + ch * ch * kt + ch + 2 * ch  # BN, temporal conv, BN
        stride = 2 if i > 0 and c > STGCN_CHANNELS[i - 1] else 1
        if i > 0 and (prev != ch or stride != 1):
            n += prev * ch + ch + 2 * ch  # residual conv + BN
        prev = ch
    return n + prev * num_classes + num_classes


@pytest.mark.parametrize("in_channels, width", [(3, 1.0), (2, 1.0), (3, 0.25)])
def test_parameter_count(in_channels, width):
    model = STGCN(num_classes=21, in_channels=in_channels, width=width)
    assert sum(p.numel() for p in model.parameters()) == _expected_params(in_channels, 21, width)
    if (in_channels, width) == (3, 1.0):
        assert sum(p.numel() for p in model.parameters()) == 3_076_749


def test_forward_backward_from_joints_with_missing_ones():
    torch.manual_seed(0)
    model = JointStream(num_classes=5, frame_size=(64, 48), width=0.125)
    joints = torch.rand(2, 12, V, 2) * torch.tensor([48.0, 64.0])
    conf = torch.rand(2, 12, V)
    joints[0, 3] = float("nan")  # a frame without a person, as pose extract writes it
    conf[0, 3] = 0
    joints[1, :, 2] = -1.0  # the Dataset's missing joint
    conf[1, :, 2] = 0
    logits = model(joints, conf)
    assert logits.shape == (2, 5) and torch.isfinite(logits).all()
    logits.logsumexp(1).sum().backward()
    grads = [p.grad for p in model.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert model.net.blocks[0].gcn.importance.grad.abs().sum() > 0


def test_graph_input():
    joints = torch.tensor([[[[0.0, 0.0], [47.0, 63.0]] + [[23.5, 31.5]] * (V - 2)]])  # (1, 1, V, 2)
    conf = torch.ones(1, 1, V)
    conf[0, 0, 2] = 0
    x = graph_input(joints, conf, frame_size=(64, 48))
    assert x.shape == (1, 3, 1, V)
    assert x[0, :2, 0, 0].tolist() == pytest.approx([-1 + 1 / 48, -1 + 1 / 64])
    assert x[0, :2, 0, 1].tolist() == pytest.approx([1 - 1 / 48, 1 - 1 / 64])
    assert x[0, :, 0, 2].tolist() == [0, 0, 0]  # missing: at the centre, confidence 0
    assert x[0, :2, 0, 3].tolist() == pytest.approx([0, 0])
    assert graph_input(joints, None, frame_size=(64, 48), with_confidence=False).shape == (1, 2, 1, V)


def test_bad_inputs_are_one_line():
    model = STGCN(num_classes=3, in_channels=3, width=0.125)
    with pytest.raises(ConfigError, match="ST-GCN takes"):
        model(torch.zeros(1, 2, 8, V))
    with pytest.raises(ConfigError, match="joints must be"):
        graph_input(torch.zeros(8, V, 2), frame_size=(8, 8))
    with pytest.raises(ConfigError, match="odd temporal_kernel"):
        STGCN(num_classes=3, temporal_kernel=4)
