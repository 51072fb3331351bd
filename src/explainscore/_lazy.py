"""Lazy public names for a package: ``import explainscore`` imports what the first call needs.

A package lists its public names and the private module each lives in; the module is imported
when the name is first read (PEP 562 ``__getattr__``), and the value is then stored in the
package so that later reads cost nothing. ``dir()`` lists the public names before any is read.
Type checkers and IDEs read the same names from the package's ``if TYPE_CHECKING:`` imports.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["attach"]


def attach(
    package: str, namespace: dict[str, Any], exports: Mapping[str, str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The ``__getattr__`` and ``__dir__`` of ``package``.

    ``exports`` maps each public name to the module it is imported from, relative to the
    package (``"._model"``).
    """

    def __getattr__(name: str) -> Any:  # noqa: N807 - the module hook's name
        where = exports.get(name)
        if where is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(where, package), name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:  # noqa: N807
        return sorted(set(namespace) | set(exports))

    return __getattr__, __dir__
