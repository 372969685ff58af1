"""Work that must not change what trains after it (baselines, the learning-rate range test) runs inside
:func:`kept_random_state`."""

from __future__ import annotations

import contextlib
import random
from collections.abc import Iterator

import numpy as np
import torch


@contextlib.contextmanager
def kept_random_state() -> Iterator[None]:
    """Leave Python's, NumPy's and torch's generators (CPU and accelerators) as they were before the block."""
    state = random.getstate(), np.random.get_state()
    try:
        with torch.random.fork_rng():
            yield
    finally:
        random.setstate(state[0])
        np.random.set_state(state[1])
