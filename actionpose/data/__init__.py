"""Data: JHMDB's on-disk format, the torch dataset, the embedded puppet world, optical flow."""
from actionpose.data.dataset import JHMDB

__all__ = ["JHMDB"]
