"""actionpose: pose-guided action recognition (a re-test of Yao, 2018) in PyTorch."""
from actionpose.errors import (
    ActionposeError,
    CheckpointError,
    ConfigError,
    DataError,
    PoseError,
    WeightsError,
)

__version__ = "0.1.0"
__all__ = [
    "ActionposeError",
    "CheckpointError",
    "ConfigError",
    "DataError",
    "PoseError",
    "WeightsError",
    "__version__",
]
