"""Lazy imports of optional dependencies with errors that name the fix."""

from __future__ import annotations

import importlib
from types import ModuleType

from .exceptions import MissingDependencyError

__all__ = ["import_optional"]


def import_optional(module: str, *, extra: str, purpose: str) -> ModuleType:
    """Import ``module`` or raise :class:`MissingDependencyError` naming the extra to install.

    Parameters
    ----------
    module : str
        Dotted module name, such as ``"lime.lime_tabular"``.
    extra : str
        The explainscore extra that installs it, such as ``"lime"``.
    purpose : str
        What needs it, for the message, such as ``"method='lime'"``.
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        top = module.split(".")[0]
        raise MissingDependencyError(
            f"{purpose} needs the optional package {top!r}, which is not installed. "
            f'Install it with: pip install "explainscore[{extra}]"'
        ) from exc
