"""The ``mairl bench`` benchmarks, and the process pool they share."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any, TypeVar

J = TypeVar("J")


def run_stem(method: str, seed: int) -> str:
    """A run's file name stem: its table row and seed, e.g. ``MAIRL_s_a_seed0``."""
    return re.sub(r"[^A-Za-z0-9]+", "_", method).strip("_") + f"_seed{seed}"


def run_parallel(fn: Callable[[J], dict[str, Any]], jobs: Sequence[J], *, workers: int | None,
                 progress: bool, desc: str, unit: str = "run",
                 postfix: Callable[[dict[str, Any]], str] = lambda r: "") -> list[dict[str, Any]]:
    """``fn(job)`` for every job, results in job order, over ``workers`` processes (default:
    one per core, at most one per job; 1 runs in this process). The progress bar's postfix
    describes the last finished result. ``fn`` must be a module-level function (it is pickled)."""
    from tqdm import tqdm

    workers = workers or min(len(jobs), os.cpu_count() or 1)
    out: list[dict[str, Any]] = []
    with tqdm(total=len(jobs), desc=desc, unit=unit, disable=not progress) as bar:
        if workers <= 1:
            results = map(fn, jobs)
            pool = None
        else:
            pool = ProcessPoolExecutor(workers)
            results = pool.map(fn, jobs)
        try:
            for r in results:
                out.append(r)
                bar.set_postfix_str(postfix(r))
                bar.update()
        finally:
            if pool is not None:
                pool.shutdown(cancel_futures=True)
    return out
