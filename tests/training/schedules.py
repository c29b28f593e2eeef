"""Test helper: a learning-rate schedule read at given optimizer steps."""

import numpy as np


def learning_rate_at(schedule, steps) -> np.ndarray:
    """The schedule's learning rates at integer `steps`, as a NumPy array."""
    return np.array([float(schedule(s)) for s in np.asarray(steps).reshape(-1)], dtype=np.float64)
