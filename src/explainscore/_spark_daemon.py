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
when imported leaves the child with locks no thread will release. What is imported here
starts none: the numba kernels run on one thread, and the thread pools of numpy's BLAS and
of Arrow are created on first use and are fork-aware (OpenBLAS registers fork handlers).
``tests/spark`` runs every Spark test with this daemon too.
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
