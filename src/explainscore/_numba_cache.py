"""Where numba keeps explainscore's compiled kernels.

numba's ``cache=True`` writes next to the source file (``__pycache__`` in site-packages), which
may be read-only in an image, a shared install or a Spark executor. explainscore sends the
cache to a per-user directory instead, by setting ``NUMBA_CACHE_DIR`` before numba is imported,
unless the user has set it:

1. ``NUMBA_CACHE_DIR``, if set (then numba's own choice for every library in the process);
2. ``$EXPLAINSCORE_CACHE_DIR/numba``;
3. ``$XDG_CACHE_HOME/explainscore/numba``;
4. ``~/.cache/explainscore/numba``.

numba files each source file's kernels in a subfolder named after the file's directory and a
hash of its full path, so two installs (two virtualenvs) never share a cache entry; entries are
keyed on the source file's time stamp and size, the Python version and the CPU.

If the directory cannot be created or written, the kernels still run but are compiled in each
new process (``cache=False``): one :class:`~explainscore.exceptions.ExplainScoreWarning` says so.

:func:`configure_numba_cache` only sets an environment variable (no file system access, no
numba import): ``import explainscore`` calls it. :func:`kernel_cache` is read by each kernel
module as it is imported, that is when a model first needs one of its kernels.
"""

from __future__ import annotations

import os
import sys
import warnings
from pathlib import Path

__all__ = ["cache_dir", "configure_numba_cache", "kernel_cache"]

#: Environment variable naming explainscore's cache directory (the kernels go to ``numba/``).
CACHE_ENV = "EXPLAINSCORE_CACHE_DIR"

_state: dict[str, bool] = {}


def default_cache_dir() -> Path:
    """explainscore's numba cache directory, from the environment (not created)."""
    own = os.environ.get(CACHE_ENV)
    if own:
        return Path(own).expanduser() / "numba"
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "explainscore" / "numba"


def configure_numba_cache() -> None:
    """Set ``NUMBA_CACHE_DIR`` to explainscore's cache directory unless the user set it.

    Called on ``import explainscore``; cheap (one environment lookup, no file access).
    """
    if os.environ.get("NUMBA_CACHE_DIR"):
        return
    try:
        target = default_cache_dir()
    except RuntimeError:  # no home directory to expand: leave numba its defaults
        return
    os.environ["NUMBA_CACHE_DIR"] = str(target)


def cache_dir() -> Path | None:
    """The directory numba caches the kernels in (``NUMBA_CACHE_DIR``), or None if unset."""
    value = os.environ.get("NUMBA_CACHE_DIR")
    return Path(value) if value else None


def _writable(path: Path) -> bool:
    import tempfile

    try:
        path.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=path).close()
    except OSError:
        return False
    return True


def kernel_cache() -> bool:
    """The ``cache=`` flag for explainscore's ``@njit`` kernels, decided once per process.

    True when the cache directory can be written. Otherwise False, with one warning: a
    ``cache=True`` function with nowhere to write makes numba raise at import.
    """
    if "enabled" in _state:
        return _state["enabled"]
    configure_numba_cache()
    target = cache_dir()
    config = sys.modules.get("numba.core.config")
    if config is not None:
        # numba was imported before explainscore set the variable: it re-reads NUMBA_*
        # variables when they change, but only at its next compilation; locators are chosen
        # when a kernel is decorated, so bring its configuration up to date now.
        config.reload_config()
    enabled = target is not None and _writable(target)
    if not enabled:
        from .exceptions import ExplainScoreWarning

        where = str(target) if target is not None else "no cache directory"
        warnings.warn(
            f"explainscore cannot write its compiled-kernel cache ({where}); kernels are "
            f"compiled in each new process. Set {CACHE_ENV} (or NUMBA_CACHE_DIR) to a "
            "writable directory, or run 'explainscore warmup' where it is writable.",
            ExplainScoreWarning,
            stacklevel=2,
        )
    _state["enabled"] = enabled
    return enabled
