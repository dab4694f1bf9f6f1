"""Running independent tasks in this process, in joblib worker processes or on a dask.distributed cluster.

:func:`run_tasks` is the one way the package spreads work (chunks of simulated trials,
bootstrap samples): it yields ``(index, function(*task))`` as tasks finish, so that callers
collect the results by index whatever the order of completion.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

from dosefinding.errors import InputError

__all__ = ["run_tasks"]

R = TypeVar("R")


def _indexed(function: Callable[..., R], index: int, task: Sequence[Any]) -> tuple[int, R]:
    return index, function(*task)


def run_tasks(function: Callable[..., R], tasks: Sequence[Sequence[Any]], *, jobs: int = 1,
              scheduler: str | None = None, update: Callable[[int], None] | None = None,
              jobs_argument: str = "jobs") -> Iterator[tuple[int, R]]:
    """Yield ``(i, function(*tasks[i]))`` for every task, in the order they finish.

    Parameters
    ----------
    function
        A module-level function (workers import it by name).
    tasks
        The argument tuples.
    jobs
        1: in this process, in order; more: that many joblib (loky) worker processes, one
        BLAS thread each.
    scheduler
        The address of a dask.distributed scheduler (``jobs`` is then not used).
    update
        Called with the number of tasks done after each one (a progress bar).
    jobs_argument
        The caller's name for ``jobs``, for the error when joblib is missing.

    Examples
    --------
    >>> sorted(run_tasks(pow, [(2, 3), (3, 2)]))
    [(0, 8), (1, 9)]
    """
    tell = update if update is not None else (lambda done: None)
    if scheduler is not None:
        try:
            from dask.distributed import Client, as_completed
        except ImportError:
            raise InputError("scheduler: needs dask.distributed (pip install 'dosefinding[dask]')") from None
        with Client(scheduler) as client:
            futures = client.map(_indexed, [function] * len(tasks), range(len(tasks)), tasks, pure=False)
            for done, future in enumerate(as_completed(futures), start=1):
                yield future.result()
                tell(done)
        return
    if jobs == 1:
        for done, (index, task) in enumerate(enumerate(tasks), start=1):
            yield _indexed(function, index, task)
            tell(done)
        return
    try:
        from joblib import Parallel, delayed, parallel_config
    except ImportError:
        raise InputError(f"{jobs_argument}: more than one worker needs joblib (pip install joblib)") from None
    with parallel_config(backend="loky", inner_max_num_threads=1):
        results = Parallel(n_jobs=jobs, return_as="generator_unordered")(
            delayed(_indexed)(function, index, task) for index, task in enumerate(tasks))
        for done, result in enumerate(results, start=1):
            yield result
            tell(done)
