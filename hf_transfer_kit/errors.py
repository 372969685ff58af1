"""One error type for every bad input the kit can detect before it spends compute.

Why a dedicated class: users (and the bad-input catalogue tests) need every message to carry
the same three facts -- which parameter, which value, how to fix it -- so the message is built
from those parts instead of being free text at each raise site.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import Any


class ConfigError(ValueError):
    """A user-facing input error raised before any training starts.

    Subclasses ``ValueError`` so callers that already catch ``ValueError`` keep working.
    """

    def __init__(self, param: str, value: Any, fix: str) -> None:
        self.param = param
        self.value = value
        self.fix = fix
        super().__init__(f"{param}={value!r}: {fix}")


def closest(name: str, choices: Iterable[str]) -> str:
    """Return a " Did you mean 'x'?" hint for ``name`` among ``choices`` (or '')."""
    match = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.6)
    return f" Did you mean {match[0]!r}?" if match else ""
