"""Conformance work in one pool of worker processes: chunks of jobs, results in submission order.

A task is `(fn, jobs, *args)` where `fn(jobs, *args)` (a module-level function, so that a spawned worker
can import it) returns one result per job. The matrix and the models section submit their tasks to the
same pool, so a full run spawns its workers, and imports TensorFlow and torch in them, once.
"""
from typing import Callable, List, Optional, Sequence, Tuple

Task = Tuple  # (fn, jobs, *args)


def run_tasks(tasks: Sequence[Task], workers: int, frameworks: Sequence[str],
              progress: Optional[Callable] = None) -> List:
    """Every task's results, flattened in task order; `progress(done, total, result)` after each result.

    One process runs every job itself (one job per call, for a finer progress) when `workers` <= 1 or
    there is a single task; otherwise `workers` spawned processes, each limiting `frameworks` to one thread."""
    total = sum(len(task[1]) for task in tasks)
    done = 0
    if workers <= 1 or len(tasks) < 2:
        results = []
        for fn, jobs, *args in tasks:
            for job in jobs:
                results += fn([job], *args)
                done += 1
                if progress is not None:
                    progress(done, total, results[-1])
        return results
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    from .runner import quiet_threads
    ordered = [None] * len(tasks)
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(workers, mp_context=context, initializer=quiet_threads,
                             initargs=(list(frameworks),)) as pool:
        futures = {pool.submit(fn, list(jobs), *args): i for i, (fn, jobs, *args) in enumerate(tasks)}
        for future in as_completed(futures):
            ordered[futures[future]] = future.result()
            for result in ordered[futures[future]]:
                done += 1
                if progress is not None:
                    progress(done, total, result)
    return [r for chunk in ordered for r in chunk]
