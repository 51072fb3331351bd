"""Errors and warnings raised by explainscore.

Every error explainscore raises on purpose derives from :class:`ExplainScoreError`, so
``except ExplainScoreError`` catches them all. Each also derives from the built-in exception
a Python user would expect (``ValueError`` for bad values, ``TypeError`` for a wrong kind of
object, ``ImportError`` for a missing extra), so existing ``except ValueError`` code keeps
working.

Messages name the column or parameter at fault and say what to do. They never quote the
values of a lead: a message may end up in a log that must not hold personal data.

The tree::

    ExplainScoreError
    ├── InputError (ValueError)               rows given to fit / explain / predict
    │   ├── EmptyInputError                   no rows at all
    │   ├── MissingColumnError                a column the model needs is absent
    │   ├── UnexpectedColumnError             a column the model was not built on
    │   ├── ColumnTypeError                   a column of the wrong kind (text for a number, ...)
    │   └── NonFiniteValueError               NaN / inf where the model cannot take it
    ├── ParameterError (ValueError)           a parameter of explainscore out of range
    ├── KeyFileError (ValueError)             a signing key, public key or keyring file
    ├── ModelError (TypeError)                the wrapped model itself
    │   ├── NotFittedError                    the model has not been fitted
    │   └── UnsupportedModelError             no method can explain this model this way
    ├── ExplanationError (RuntimeError)       an explanation failed its own exactness check
    ├── PolicyViolationError (PermissionError) governance refuses the model or the input
    │   └── NotSignedOffError                 the model is not signed off (or was changed)
    ├── ScoringPausedError (RuntimeError)      the kill switch is engaged
    ├── AuditLogError (RuntimeError)           the audit log cannot be read or written
    └── MissingDependencyError (ImportError)  an optional extra is not installed

    ExplainScoreWarning (UserWarning)
    └── FallbackWarning                       a slower or less specific method was used
"""

from __future__ import annotations

__all__ = [
    "AuditLogError",
    "ColumnTypeError",
    "EmptyInputError",
    "ExplainScoreError",
    "ExplainScoreWarning",
    "ExplanationError",
    "FallbackWarning",
    "InputError",
    "KeyFileError",
    "MissingColumnError",
    "MissingDependencyError",
    "ModelError",
    "NonFiniteValueError",
    "NotFittedError",
    "NotSignedOffError",
    "ParameterError",
    "PolicyViolationError",
    "ScoringPausedError",
    "UnexpectedColumnError",
    "UnsupportedModelError",
]


class ExplainScoreError(Exception):
    """Root of every error explainscore raises on purpose."""


class InputError(ExplainScoreError, ValueError):
    """The rows passed to ``fit``, ``explain`` or ``predict`` cannot be used as they are."""


class EmptyInputError(InputError):
    """The input has no rows."""


class MissingColumnError(InputError):
    """A column the model was built on is absent from the input."""

    def __init__(self, message: str, *, columns: list[str]) -> None:
        super().__init__(message)
        self.columns = columns


class UnexpectedColumnError(InputError):
    """The input has a column the model was not built on."""

    def __init__(self, message: str, *, columns: list[str]) -> None:
        super().__init__(message)
        self.columns = columns


class ColumnTypeError(InputError):
    """A column holds values of the wrong kind, such as text where a number is expected."""

    def __init__(self, message: str, *, column: str) -> None:
        super().__init__(message)
        self.column = column


class NonFiniteValueError(InputError):
    """A column holds NaN or infinity where the model cannot take it."""

    def __init__(self, message: str, *, column: str, rows: list[int]) -> None:
        super().__init__(message)
        self.column = column
        self.rows = rows


class ParameterError(ExplainScoreError, ValueError):
    """A parameter passed to explainscore is out of its allowed range or of the wrong type."""


class KeyFileError(ExplainScoreError, ValueError):
    """A signing key, public key or keyring file cannot be used: missing, too large, not in
    its format, a wrong passphrase, or a public key whose id does not match its bytes.

    Messages name the file and what is wrong, never its contents.
    """


class ModelError(ExplainScoreError, TypeError):
    """The wrapped model cannot be used as it is."""


class NotFittedError(ModelError):
    """The wrapped model has not been fitted: fit it, or call ``ExplainedModel.fit``."""


class UnsupportedModelError(ModelError):
    """No explanation method supports this model with the options asked for."""


class ExplanationError(ExplainScoreError, RuntimeError):
    """An explanation failed its own exactness check (base value + sum of attributions
    did not equal the model output). This is a bug in explainscore: please report it."""


class PolicyViolationError(ExplainScoreError, PermissionError):
    """Governance refuses: a blocked feature, or a model not allowed to run.

    Messages never name a blocked or hidden feature; ``entry`` is the 1-based position in the
    policy's blocked list when a blocked feature was found.
    """

    def __init__(
        self, message: str, *, policy_version: str | None = None, entry: int | None = None
    ) -> None:
        super().__init__(message)
        self.policy_version = policy_version
        self.entry = entry


class NotSignedOffError(PolicyViolationError):
    """The model has no sign-off, or its fingerprint differs from the signed one."""


class ScoringPausedError(ExplainScoreError, RuntimeError):
    """The kill switch is engaged: no scores are produced until it is released."""


class AuditLogError(ExplainScoreError, RuntimeError):
    """The audit log cannot be read or written as asked: it is missing, locked past the busy
    timeout, not an explainscore audit log, or damaged where a write would extend it.

    A log that merely fails verification is *not* an error: ``AuditLog.verify`` reports it in
    its result. Messages name the file and the record number, never a lead's values.
    """


class MissingDependencyError(ExplainScoreError, ImportError):
    """An optional dependency is not installed; the message names the extra to install."""


class ExplainScoreWarning(UserWarning):
    """Root of the warnings explainscore issues."""


class FallbackWarning(ExplainScoreWarning):
    """explainscore used a slower or more general method than the one that would fit best,
    and says why."""
