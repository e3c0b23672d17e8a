"""Pose guidance wrappers: each equals its formula on a hand-made batch, in each space."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from actionpose.normalization import IMAGENET_MEAN, IMAGENET_STD
from actionpose.errors import ConfigError, InputError
from actionpose.models.guidance import BackgroundWeakened, MaskChannel


class Echo(nn.Module):
    """Returns what it is given, so a wrapper's effect on the input is visible."""

    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(torch.ones(()))

    def forward(self, x, extra=None):
        return x * self.scale if extra is None else (x * self.scale, extra)


def _batch():
    g = torch.Generator().manual_seed(0)
    video = torch.randn(2, 3, 2, 4, 5, generator=g)
    mask = (torch.rand(2, 1, 2, 4, 5, generator=g) > 0.5).float()
    mask[0, 0, 0, 0, 0] = 0.5  # a soft edge
    return video, mask


def test_weaken_normalised_is_the_formula():
    video, mask = _batch()
    a = 0.25
    got = BackgroundWeakened(Echo(), a, video_arg="x")(x=video, mask=mask)
    assert torch.equal(got, video * (mask + a * (1 - mask)))


def test_weaken_pixels_is_the_formula_on_the_image():
    video, mask = _batch()
    a = 0.25
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1, 1)
    pixels = video * std + mean
    want = (pixels * (mask + a * (1 - mask)) - mean) / std
    got = BackgroundWeakened(Echo(), a, space="pixels", video_arg="x")(x=video, mask=mask)
    assert torch.allclose(got, want, atol=1e-6)
    # the background goes toward black in pixel space, toward the mean colour when normalised
    background = (mask == 0).expand_as(video)
    dark = BackgroundWeakened(Echo(), 0.0, space="pixels", video_arg="x")(x=video, mask=mask)
    assert torch.allclose((dark * std + mean)[background], torch.zeros(()), atol=1e-6)
    grey = BackgroundWeakened(Echo(), 0.0, video_arg="x")(x=video, mask=mask)
    assert torch.equal(grey[background], torch.zeros_like(grey[background]))


def test_factor_one_leaves_the_clip_and_other_inputs_pass_through():
    video, mask = _batch()
    got, extra = BackgroundWeakened(Echo(), 1.0, video_arg="x")(x=video, extra="e", mask=mask)
    assert torch.equal(got, video) and extra == "e"


def test_mask_channel_appends_the_mask():
    video, mask = _batch()
    got = MaskChannel(Echo(), video_arg="x")(x=video, mask=mask)
    assert got.shape == (2, 4, 2, 4, 5)
    assert torch.equal(got, torch.cat([video, mask], 1))


def test_wrappers_compose_and_keep_state_dict_keys():
    inner = Echo()
    wrapped = BackgroundWeakened(MaskChannel(inner, video_arg="x"), 0.5, video_arg="x")
    assert list(wrapped.state_dict()) == ["scale"]
    wrapped.load_state_dict({"scale": torch.tensor(2.0)})
    assert inner.scale.item() == 2.0
    bare = Echo()
    bare.load_state_dict(wrapped.state_dict())
    video, mask = _batch()
    assert torch.equal(wrapped(x=video, mask=mask), torch.cat([video * (mask + 0.5 * (1 - mask)),
                                                                mask], 1) * 2.0)


def test_bad_arguments_are_config_errors():
    with pytest.raises(ConfigError, match="space"):
        BackgroundWeakened(Echo(), 0.5, space="rgb")
    with pytest.raises(ConfigError, match=r"\[0, 1\]"):
        BackgroundWeakened(Echo(), 1.5)
    with pytest.raises(InputError, match="'video' is missing"):
        BackgroundWeakened(Echo(), 0.5)(x=torch.zeros(1), mask=torch.zeros(1))


def test_a_clip_of_the_wrong_shape_is_an_input_error():
    from actionpose.models.c3d import c3d

    model = c3d(num_classes=2, width=0.125, fc_dim=8, num_frames=4, size=32)
    with pytest.raises(InputError, match=r"built for clips .* got \(1, 3, 4, 16, 16\)"):
        model(torch.zeros(1, 3, 4, 16, 16))


def test_one_normalisation_for_data_and_models():
    from actionpose.data import clips

    assert (tuple(clips.IMAGENET_MEAN), tuple(clips.IMAGENET_STD)) == (IMAGENET_MEAN, IMAGENET_STD)
