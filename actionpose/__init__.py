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


def __getattr__(name: str):
    # lazy: `import actionpose` stays light; actionpose.predict(run, video) loads torch on use
    if name == "predict":
        from actionpose.use.predict import predict

        return predict
    raise AttributeError(f"module 'actionpose' has no attribute {name!r}")
__all__ = [
    "ActionposeError",
    "CheckpointError",
    "ConfigError",
    "DataError",
    "PoseError",
    "WeightsError",
    "__version__",
    "predict",
]
