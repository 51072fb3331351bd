"""The installed versions of the libraries that shape what a model says.

A saved bundle records them and ``load`` compares (``io._check_versions``); a model card lists
them too. Kept apart from the card code so that loading a bundle without a card does not import
it (the command line's cold start).
"""

from __future__ import annotations

import importlib.metadata

__all__ = ["LIBRARIES", "library_versions"]

LIBRARIES = ("explainscore", "scikit-learn", "numpy", "pandas", "shap", "xgboost", "lightgbm")


def library_versions() -> dict[str, str]:
    """Versions of the libraries that shape a model's behaviour, as installed now."""
    found = {}
    for name in LIBRARIES:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return found
