"""Configuration of bottleneck adapters (Houlsby, Pfeiffer and parallel placement).

Every check that does not need the model happens in ``__post_init__`` so a bad value fails where it is
written, not halfway through wrapping a model. Checks that need the model (does ``reduction_factor``
divide the hidden size, do the targets exist, does a saved adapter fit this base) live in
:class:`~hf_transfer_kit.adapters.bottleneck.model.BottleneckModel`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Optional, Union

from peft.config import PeftConfig
from peft.utils import PeftType

from ...errors import ConfigError, closest

#: Value of ``peft_type`` in saved ``adapter_config.json`` files; added to ``peft.PeftType`` on import.
PEFT_TYPE_NAME = "BOTTLENECK"

#: Where adapters go, and what each placement means.
PLACEMENTS: dict[str, str] = {
    "houlsby": "after the attention output and after the FFN output",
    "pfeiffer": "after the FFN output only",
    "parallel": "beside the FFN, reading its input and adding to its output",
}
NON_LINEARITIES: tuple[str, ...] = ("relu", "gelu", "swish", "silu", "tanh")
DEFAULT_REDUCTION_FACTOR = 16


@dataclass
class BottleneckConfig(PeftConfig):
    """Bottleneck adapters: ``h + scaling * up(act(down(dropout(h))))`` inserted into each transformer layer.

    Set the adapter width with either ``bottleneck_size`` (units) or ``reduction_factor`` (hidden size /
    width); with neither, ``reduction_factor`` is 16. For sequence classification pass
    ``task_type="SEQ_CLS"``: PEFT then adds the usual head names (``classifier``, ``score``) to
    ``modules_to_save`` so the freshly initialised head is trained and saved with the adapter. For other
    heads (e.g. ``ViTForImageClassification``) pass ``modules_to_save=["classifier"]`` yourself.
    """

    bottleneck_size: Optional[int] = field(
        default=None,
        metadata={"help": "Units in the adapter's bottleneck. Mutually exclusive with reduction_factor."},
    )
    reduction_factor: Optional[float] = field(
        default=None,
        metadata={
            "help": "Hidden size divided by the bottleneck size; must divide the hidden size. Defaults to "
            f"{DEFAULT_REDUCTION_FACTOR} when bottleneck_size is not given."
        },
    )
    placement: str = field(
        default="houlsby",
        metadata={"help": "Where adapters go: " + "; ".join(f"'{k}': {v}" for k, v in PLACEMENTS.items()) + "."},
    )
    non_linearity: str = field(
        default="relu",
        metadata={"help": f"Activation between the down- and up-projection: one of {', '.join(NON_LINEARITIES)}."},
    )
    dropout: float = field(default=0.0, metadata={"help": "Dropout on the adapter input, in [0, 1)."})
    scaling: Union[float, str] = field(
        default=1.0,
        metadata={"help": "Multiplier of the adapter output: a positive number, or 'learned' for a trainable scalar "
                  "starting at 1."},
    )
    target_modules: Optional[Union[list[str], str]] = field(
        default=None,
        metadata={
            "help": "Modules to adapt. None: detected from the model type and placement. Otherwise module names "
            "(matched as suffixes) or one regex (matched against the full name): nn.Linear sublayer outputs for "
            "'houlsby'/'pfeiffer', FFN blocks for 'parallel'."
        },
    )
    modules_to_save: Optional[list[str]] = field(
        default=None,
        metadata={"help": "Modules trained in full and saved with the adapter, e.g. ['classifier'] for a new head. "
                  "task_type='SEQ_CLS' adds the usual head names automatically."},
    )
    init_weights: bool = field(
        default=True,
        metadata={"help": "True: zero the up-projection so the adapted model starts exactly equal to the base "
                  "model. False: random up-projection (only useful for tests)."},
    )
    base_model_type: Optional[str] = field(
        default=None,
        metadata={"help": "Filled in when the adapter is built (model.config.model_type); used to refuse loading "
                  "the adapter onto another architecture. Leave unset."},
    )
    base_hidden_size: Optional[int] = field(
        default=None,
        metadata={"help": "Filled in when the adapter is built (width of the adapted layers); used to refuse "
                  "loading the adapter onto a base of another size. Leave unset."},
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        self.peft_type = PeftType(PEFT_TYPE_NAME)
        self._check_size()
        if self.placement not in PLACEMENTS:
            choices = ", ".join(f"'{k}' ({v})" for k, v in PLACEMENTS.items())
            raise ConfigError("placement", self.placement,
                              f"unknown placement.{closest(str(self.placement), PLACEMENTS)} Valid: {choices}.")
        if self.non_linearity not in NON_LINEARITIES:
            raise ConfigError("non_linearity", self.non_linearity,
                              f"unknown activation.{closest(str(self.non_linearity), NON_LINEARITIES)} "
                              f"Valid: {', '.join(NON_LINEARITIES)}.")
        if not _is_number(self.dropout) or not 0.0 <= self.dropout < 1.0:
            raise ConfigError("dropout", self.dropout, "must be a probability in [0, 1), e.g. 0.1.")
        if self.scaling != "learned" and not (_is_number(self.scaling) and 0 < self.scaling < math.inf):
            raise ConfigError("scaling", self.scaling, "must be a positive number (e.g. 1.0) or 'learned'.")

    def _check_size(self) -> None:
        """Exactly one way to size the adapter; the model-dependent part is :meth:`bottleneck_size_for`."""
        if self.bottleneck_size is not None and self.reduction_factor is not None:
            raise ConfigError("bottleneck_size", self.bottleneck_size,
                              f"set either bottleneck_size or reduction_factor (got {self.reduction_factor}), "
                              "not both.")
        if self.bottleneck_size is not None:
            whole = isinstance(self.bottleneck_size, int) and not isinstance(self.bottleneck_size, bool)
            if not whole or self.bottleneck_size < 1:
                raise ConfigError("bottleneck_size", self.bottleneck_size,
                                  "must be a whole number of units >= 1, e.g. 64.")
            return
        if self.reduction_factor is None:
            self.reduction_factor = DEFAULT_REDUCTION_FACTOR
        if not _is_number(self.reduction_factor) or not 0 < self.reduction_factor < math.inf:
            raise ConfigError("reduction_factor", self.reduction_factor,
                              f"must be a positive number that divides the hidden size, e.g. "
                              f"{DEFAULT_REDUCTION_FACTOR}.")

    def bottleneck_size_for(self, hidden_size: int) -> int:
        """Return the bottleneck width for layers of ``hidden_size`` units.

        Raises :class:`ConfigError` when ``reduction_factor`` does not divide ``hidden_size`` exactly or leaves
        less than one unit, since silently rounding would make the saved adapter's width depend on rounding.
        """
        if self.bottleneck_size is not None:
            return self.bottleneck_size
        factor = self.reduction_factor
        width = hidden_size / factor
        if width < 1:
            raise ConfigError("reduction_factor", factor,
                              f"leaves a bottleneck of {hidden_size} / {factor:g} = {width:g} < 1 unit for hidden "
                              f"size {hidden_size}; use a reduction_factor <= {hidden_size} that divides it, or "
                              "set bottleneck_size.")
        if width != int(width):
            raise ConfigError("reduction_factor", factor,
                              f"does not divide the hidden size {hidden_size} ({hidden_size} / {factor:g} = "
                              f"{width:g}); use one that does, e.g. {_nearest_divisors(hidden_size, factor)}, or "
                              "set bottleneck_size.")
        return int(width)


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _nearest_divisors(n: int, target: float, count: int = 3) -> str:
    """The ``count`` divisors of ``n`` closest to ``target``, as a readable list (for error messages)."""
    divisors = [d for d in range(1, n + 1) if n % d == 0]
    return ", ".join(str(d) for d in sorted(sorted(divisors, key=lambda d: abs(d - target))[:count]))
