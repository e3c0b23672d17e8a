"""carve_validation: per class, deterministic, disjoint, order-free."""
import pytest

from actionpose.data.validation import carve_validation
from actionpose.errors import ConfigError


def _split():
    videos = [f"c{c}_v{i:02d}" for c in range(4) for i in range(10 + c)]
    labels = [int(v[1]) for v in videos]
    return videos, labels


def test_per_class_disjoint_and_complete():
    videos, labels = _split()
    train, val = carve_validation(videos, labels, 0.2, seed=0)
    assert not set(train) & set(val) and sorted(train + val) == sorted(videos)
    for c in range(4):
        n = 10 + c
        assert sum(v.startswith(f"c{c}_") for v in val) == round(0.2 * n)
    assert train == [v for v in videos if v in set(train)]  # the given order is kept


def test_deterministic_and_independent_of_order():
    videos, labels = _split()
    a = carve_validation(videos, labels, 0.3, seed=5)
    assert a == carve_validation(videos, labels, 0.3, seed=5)
    pairs = list(zip(videos, labels))[::-1]
    b = carve_validation([p[0] for p in pairs], [p[1] for p in pairs], 0.3, seed=5)
    assert sorted(a[1]) == sorted(b[1])
    assert sorted(carve_validation(videos, labels, 0.3, seed=6)[1]) != sorted(a[1])


def test_small_classes():
    train, val = carve_validation(["a", "b", "c"], ["x", "y", "y"], 0.01, seed=0)
    assert "a" in train and len(val) == 1  # one video: stays in training; two: one each
    train, val = carve_validation(["b", "c"], ["y", "y"], 0.99, seed=0)
    assert len(train) == 1 and len(val) == 1  # never a whole class


@pytest.mark.parametrize("fraction", [0, 1, -0.1, float("nan"), True, "0.2"])
def test_bad_fraction(fraction):
    with pytest.raises(ConfigError, match="fraction"):
        carve_validation(["a", "b"], [0, 0], fraction)


def test_bad_lists():
    with pytest.raises(ConfigError, match="2 videos but 1 labels"):
        carve_validation(["a", "b"], [0], 0.5)
    with pytest.raises(ConfigError, match="listed twice: a"):
        carve_validation(["a", "a"], [0, 0], 0.5)
