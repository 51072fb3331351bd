"""The access log keeps no query string: a token (or anything else) sent in the URL's query
is not written to the server's log.

Tokens are accepted only from the ``Authorization`` header, but a client may still put one in
the URL (``?token=...``, ``?access_token=...``) and uvicorn's access log writes the whole
request target. A filter on the ``uvicorn.access`` logger replaces the query of the logged
path with ``?[query redacted]``, whatever its keys: any query value may be a secret.
"""

from __future__ import annotations

import logging

__all__ = ["ACCESS_LOGGER", "REDACTED_QUERY", "RedactQueryFilter", "install_access_log_redaction"]

#: The logger uvicorn writes one line per request to.
ACCESS_LOGGER = "uvicorn.access"
REDACTED_QUERY = "?[query redacted]"


def redact_query(target: str) -> str:
    """``target`` (path and query) with the query replaced by :data:`REDACTED_QUERY`."""
    path, sep, _ = target.partition("?")
    return path + REDACTED_QUERY if sep else path


class RedactQueryFilter(logging.Filter):
    """Rewrites an access-log record's path so it carries no query string.

    uvicorn logs ``'%s - "%s %s HTTP/%s" %d'`` with (client, method, path with query, HTTP
    version, status); the third argument is rewritten. Any other string argument holding a
    ``?`` after a ``/`` is rewritten too, so a changed log call still redacts.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and args:
            record.args = tuple(
                redact_query(a) if isinstance(a, str) and a.startswith("/") and "?" in a else a
                for a in args
            )
        elif isinstance(record.msg, str) and "?" in record.msg and not args:
            record.msg = " ".join(
                redact_query(w) if w.startswith("/") else w for w in record.msg.split(" ")
            )
        return True


def install_access_log_redaction(logger_name: str = ACCESS_LOGGER) -> None:
    """Add :class:`RedactQueryFilter` to the access logger (once; idempotent).

    A logger's own filters survive uvicorn's logging setup (``dictConfig`` replaces handlers,
    not filters), so this holds however uvicorn is started: :func:`serve`, the workers, or a
    process manager running ``uvicorn --factory explainscore.service:app_factory``.
    """
    logger = logging.getLogger(logger_name)
    if not any(isinstance(f, RedactQueryFilter) for f in logger.filters):
        logger.addFilter(RedactQueryFilter())
