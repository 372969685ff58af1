"""One error type for every bad input the kit can detect before it spends compute.

Why a dedicated class: users (and the bad-input catalogue tests) need every message to carry
the same three facts -- which parameter, which value, how to fix it -- so the message is built
from those parts instead of being free text at each raise site.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from typing import Any


# Keys whose values must never be echoed back (a token pasted into a config or override): a whole word of the name
# (``hub.token``, ``training.hub_token``, ``HF_TOKEN``), not a part of one (``data.max_new_tokens``, ``tokens_column``).
_SECRET = re.compile(r"(?:^|[._-])(?:token|secret|password|api_key)(?:$|[._-])", re.IGNORECASE)


def is_secret(name: str) -> bool:
    """True for parameter names whose values must never be echoed (``hub.token``, ``training.hub_token``...)."""
    return bool(_SECRET.search(name))


class ConfigError(ValueError):
    """A user-facing input error raised before any training starts.

    Subclasses ``ValueError`` so callers that already catch ``ValueError`` keep working.
    """

    def __init__(self, param: str, value: Any, fix: str) -> None:
        self.param = param
        placeholder = value in (None, "") or isinstance(value, str) and value.startswith("<")
        self.value = value if placeholder or not _SECRET.search(param) else "<redacted>"
        self.fix = fix
        super().__init__(f"{param}={self.value!r}: {fix}")


def closest(name: str, choices: Iterable[str]) -> str:
    """Return a " Did you mean 'x'?" hint for ``name`` among ``choices`` (or '')."""
    match = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.6)
    return f" Did you mean {match[0]!r}?" if match else ""


class TrainingInterrupted(RuntimeError):
    """Raised after Ctrl-C / SIGTERM once a resumable checkpoint is on disk; the CLI exits 130 with it."""
