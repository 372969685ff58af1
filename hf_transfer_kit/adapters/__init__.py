"""Adapter methods PEFT does not ship, registered with PEFT when this package is imported."""

from .bottleneck import BottleneckConfig, BottleneckMergeError, BottleneckModel

__all__ = ["BottleneckConfig", "BottleneckMergeError", "BottleneckModel"]
