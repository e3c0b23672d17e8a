"""Model builders: C3D, attention pooling, two-stream, pose-only (keyword-only arguments).

``from actionpose.models import c3d`` gives the builder; each builder's module has the model class.
"""
from __future__ import annotations

from actionpose.models.attention import AttentionPool, attention_pool
from actionpose.models.backbones import Backbone, build_backbone, feature_size
from actionpose.models.c3d import VideoConvNet, c3d
from actionpose.models.init import INIT_MODES, adapt_first_conv, replicate_first_conv
from actionpose.models.pose_only import pose_only
from actionpose.models.precision import keep_depthwise_fp32
from actionpose.models.two_stream import TwoStream, fuse_logits, two_stream

__all__ = [
    "c3d", "attention_pool", "two_stream", "pose_only", "build_backbone", "feature_size",
    "replicate_first_conv", "adapt_first_conv", "INIT_MODES", "fuse_logits", "keep_depthwise_fp32",
    "VideoConvNet", "AttentionPool", "TwoStream", "Backbone",
]
