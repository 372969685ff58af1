"""Fine-tuning strategies, selected by ``strategy.name``. Importing this package registers them all."""

from . import adapter, full, partial, peft_method  # noqa: F401  (registration side effects)
from .base import (
    STRATEGIES, ParameterReport, Strategy, StrategyConfig, build_strategy_config, get_strategy, parameter_report,
    register_strategy,
)

__all__ = [
    "STRATEGIES", "ParameterReport", "Strategy", "StrategyConfig", "build_strategy_config", "get_strategy",
    "parameter_report", "register_strategy",
]
