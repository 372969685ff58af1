"""The task registry: every task (a :class:`~hf_transfer_kit.tasks.base.Recipe` subclass) registers itself here.

    @register_task
    class AudioClassificationRecipe(Recipe):
        task = "audio-classification"
        ...

Tasks are found through the ``hf_transfer_kit.tasks`` entry-point group, the kit's own as well as a third-party
package's (``[project.entry-points."hf_transfer_kit.tasks"] my-task = "my_package.my_task"``): looking a task up
imports every module of the group once, and each module's ``@register_task`` classes land here. Everything that asks
a task question (inference, predict, evaluate, cards, the Hub push) asks :func:`get_task`, never a table of task
names, so a new task is one folder and one entry point.

This module sits at the bottom of the package (it imports nothing of the kit but its errors): the config loader and
the cards ask it without depending on the tasks themselves.
"""

from __future__ import annotations

import sys
from importlib.metadata import entry_points
from typing import Any, TypeVar

from .errors import ConfigError, closest

ENTRY_POINT_GROUP = "hf_transfer_kit.tasks"

#: task name or alias -> task class
TASKS: dict[str, Any] = {}
_discovered = False
T = TypeVar("T")


def register_task(cls: T) -> T:
    """Class decorator: make ``cls`` (its ``task`` and every name in ``aliases``) selectable by ``task:``."""
    names = (cls.task, *getattr(cls, "aliases", ()))  # type: ignore[attr-defined]
    for name in names:
        known = TASKS.get(name)
        if known is not None and known is not cls and f"{known.__module__}.{known.__qualname__}" != \
                f"{cls.__module__}.{cls.__qualname__}":  # a module reloaded (tests) re-registers itself
            raise ValueError(f"task {name!r} is already registered by {known.__module__}.{known.__qualname__}")
    for name in names:
        TASKS[name] = cls
    return cls


def discover() -> dict[str, Any]:
    """Import every module of the ``hf_transfer_kit.tasks`` entry-point group once (the kit's own tasks included)."""
    global _discovered
    if not _discovered:
        _discovered = True
        for point in entry_points(group=ENTRY_POINT_GROUP):
            try:
                point.load()
            except Exception as err:  # a broken plug-in must not take the kit's own tasks down with it
                print(f"[hf_transfer_kit] could not load task plug-in {point.name!r} ({point.value}): {err}",
                      file=sys.stderr, flush=True)
    return TASKS


def get_task(name: str) -> Any:
    """The task class registered under ``name`` (a task or an alias); unknown names name the closest one."""
    if name not in TASKS:
        discover()
    if not TASKS:
        raise ConfigError("task", name, f"no task is registered: the installed metadata of hf-transfer-kit lists no "
                          f"'{ENTRY_POINT_GROUP}' entry points (an install made before they existed, or a stale "
                          "*.egg-info folder next to the sources); reinstall with `pip install -e .`.")
    if name not in TASKS:
        raise ConfigError("task", name, f"unknown task.{closest(str(name), TASKS)} Available: {available()}."
                          " A task from another package is found through its 'hf_transfer_kit.tasks' entry point "
                          "(is that package installed?).")
    return TASKS[name]


def available() -> str:
    """The registered tasks for a message: ``fill-mask (alias pretrain), image-classification, ...``."""
    tasks = sorted({cls.task: cls for cls in TASKS.values()}.items())
    return ", ".join(name + (f" (alias {', '.join(cls.aliases)})" if getattr(cls, "aliases", ()) else "")
                     for name, cls in tasks)
