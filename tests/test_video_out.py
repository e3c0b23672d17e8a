"""Writing videos: OpenCV's writer (JHMDB's MJPG .avi, predict's mp4v fallback), atomically."""
from __future__ import annotations

import sys

import cv2
import numpy as np
import pytest

from actionpose.data import jhmdb
from actionpose.errors import DataError
from actionpose.use.video_out import write_mp4


def _count(path) -> int:
    cap = cv2.VideoCapture(str(path))
    n = 0
    while cap.read()[0]:
        n += 1
    cap.release()
    return n


def test_mp4v_fallback_without_imageio_ffmpeg_writes_every_frame(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "imageio_ffmpeg", None)  # import fails as if not installed
    frames = np.random.default_rng(0).integers(0, 256, (7, 48, 64, 3), dtype=np.uint8)
    assert write_mp4(tmp_path / "a.mp4", iter(frames), (48, 64), 25.0) == "mp4v"
    assert _count(tmp_path / "a.mp4") == 7 and "mp4v" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.mp4"]  # no temporaries left


def test_write_video_refuses_no_frames_and_leaves_nothing(tmp_path):
    with pytest.raises(DataError, match="no frames to write"):
        jhmdb.write_video(tmp_path / "v.avi", iter(()))
    assert list(tmp_path.iterdir()) == []
