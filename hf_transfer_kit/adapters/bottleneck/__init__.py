"""Bottleneck adapters (Houlsby, Pfeiffer, parallel) as a PEFT method named ``bottleneck``.

Importing this package registers the method, so ``peft.get_peft_model``, ``PeftModel.from_pretrained`` and
``AutoPeftModel*`` handle :class:`BottleneckConfig` like a built-in PEFT config.
"""

from peft.utils import PeftType, register_peft_method

from .config import PEFT_TYPE_NAME, BottleneckConfig
from .layer import BottleneckMergeError
from .model import BottleneckModel

__all__ = ["BottleneckConfig", "BottleneckMergeError", "BottleneckModel"]


def _add_peft_type(name: str) -> None:
    """Add member ``name`` to ``peft.PeftType``.

    ``register_peft_method`` only accepts names already in that closed enum, and PEFT looks configs up
    by it when loading. Python enums cannot be extended through a public API, so this fills the same
    tables ``enum`` fills at class creation (checked on CPython 3.11; the tests cover it).
    """
    if name in PeftType.__members__:
        return
    member = str.__new__(PeftType, name)
    member._name_ = name
    member._value_ = name
    member.__objclass__ = PeftType
    member._sort_order_ = len(PeftType._member_names_)
    PeftType._member_names_.append(name)
    PeftType._member_map_[name] = member
    PeftType._value2member_map_[name] = member
    type.__setattr__(PeftType, name, member)


_add_peft_type(PEFT_TYPE_NAME)
register_peft_method(name=PEFT_TYPE_NAME.lower(), config_cls=BottleneckConfig, model_cls=BottleneckModel,
                     prefix=BottleneckModel.prefix)
