"""explainscore: exact, fast, auditable explanations for lead-scoring models."""

from ._version import __version__

__all__ = ["__version__"]
