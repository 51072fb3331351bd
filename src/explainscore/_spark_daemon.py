"""A PySpark daemon whose workers start with explainscore already imported and compiled.

PySpark starts one daemon per executor and forks a Python worker from it for each task
slot. A worker that explains leads then imports scikit-learn, the boosters and explainscore
and loads the numba kernels: seconds of work, paid again by every new worker (a task slot
after a crash, dynamic allocation, a new executor). With::

    spark.python.daemon.module   explainscore._spark_daemon

the daemon does that work once before it forks (:func:`explainscore._warmup.warmup`
without the kernels that start numba's thread pool, which must not run before a fork) and
every worker inherits it. Nothing else changes: the daemon is PySpark's own
(``pyspark.daemon.manager``), and a worker still runs ``pyspark.worker``.

PySpark's own daemon imports nothing before it forks, because a library that starts threads
when imported could leave the child with a lock no thread will release. What is imported here
does start threads: OpenBLAS starts its worker threads when numpy and scipy load, and
jemalloc (loaded with pyarrow) its background thread. Both libraries register fork handlers
that put their state right in the child, which is why forking after importing them (as
``multiprocessing`` does) is common practice. The numba kernels that would start numba's own
thread pool (``parallel=True``) are not run before the fork. The daemon is opt-in for that
reason, and ``tests/spark`` runs every Spark test with it.
"""

from __future__ import annotations

__all__ = ["main"]


def main() -> None:
    """Preload explainscore, then run PySpark's daemon (it forks the workers)."""
    import contextlib
    import sys

    from ._warmup import warmup

    # The daemon tells the JVM its port on stdout: nothing else may be written there.
    with contextlib.redirect_stdout(sys.stderr):
        try:
            warmup(parallel=False)
        except Exception as exc:  # a failed warm-up costs speed only: the workers still run
            print(f"explainscore._spark_daemon: warm-up skipped ({type(exc).__name__})")
    from pyspark.daemon import manager

    manager()


if __name__ == "__main__":
    main()
