"""The ``mairl bench`` benchmarks, the process pool they share, and what each leaves for
results.json (``BenchReport``, written by ``finish_bench``).

Each benchmark module's ``run_bench`` runs its jobs and writes its own files beside
results.json (runs.json, plots, demos, checkpoints); ``mairl bench`` only turns the command
line into its config and calls it.
"""

from __future__ import annotations

import contextlib
import copy
import json
import multiprocessing
import os
import re
import sys
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from ..config import with_overrides

J = TypeVar("J")

_report: Callable[[int], None] | None = None
"""Where ``report_steps`` goes: the step bar's update (in this process) or a queue to it."""

_threads_asked: int | None = None
"""``--threads``: torch threads per job (None: the cores shared among the jobs running at once)."""

BACKENDS = ("pool", "ray")
_backend: tuple[str, str | None] = ("pool", None)
"""``--backend`` and ``--address``: where ``run_parallel`` runs its jobs."""

RAY_RETRIES = 3
"""How often Ray re-runs a job whose worker process or node died (an exception raised by the
job itself is not retried: a bench's errors are deterministic)."""


_failed_runs: list[dict[str, str]] = []
"""Runs that raised (after Ray's retries), recorded by ``run_parallel`` and reported by
``finish_bench``: {"run": name, "error": one line}."""


TRAIN_DIAGNOSTICS = (
    "disc/accuracy",
    "disc/loss",
    "critic/loss",
    "policy/alpha",
    "policy/entropy",
    "policy/objective",
    "model/nll",
)
"""Training metrics each curve point of a run record keeps (the iteration's values)."""


def train_diagnostics(metrics: dict[str, Any]) -> dict[str, float]:
    """The TRAIN_DIAGNOSTICS among one iteration's training metrics, as floats."""
    return {k: float(v) for k, v in metrics.items() if k in TRAIN_DIAGNOSTICS}


def take_failed_runs() -> list[dict[str, str]]:
    """The failed runs ``run_parallel`` recorded since the last call, and forget them."""
    out = list(_failed_runs)
    _failed_runs.clear()
    return out


@dataclass
class BenchReport:
    """A finished benchmark: what ``finish_bench`` writes to results.json and prints."""

    name: str
    """results.json's ``benchmark``"""
    rows: list[dict[str, Any]]
    table: str
    """the rows as the text table printed at the end"""
    plots: list[Path]
    config: dict[str, Any]
    wall_s: float
    extra: dict[str, Any] = field(default_factory=dict)
    """more results.json fields (``evaluation``, ``base_seed``, ...)"""
    error: str | None = None
    """something that failed after the rows were written (e.g. peer rows): exit status 2"""


def write_runs(out: str | os.PathLike, runs: list[dict[str, Any]]) -> Path:
    """Every run's record, as the bench returned them: ``out/runs.json`` (the plots and the
    table are made from it, and a bench can be re-summarised from it)."""
    path = Path(out) / "runs.json"
    path.write_text(json.dumps(runs) + "\n")
    return path


def finish_bench(report: BenchReport, out: str | os.PathLike, *, quick: bool, commit_at_start: str) -> int:
    """Write results.json, print the table and where everything went; the exit status."""
    from ..eval.results import write_results

    failed = take_failed_runs()
    if failed:
        report.extra = {**report.extra, "failed_runs": failed}
        report.table += "\n" + "\n".join(f"FAILED: {f['run']}: {f['error']}" for f in failed)
        if report.error is None:
            report.error = f"{len(failed)} run(s) failed; the table is over the others (FAILED lines above)"
    path = write_results(
        out,
        report.name,
        report.rows,
        quick=quick,
        wall_s=report.wall_s,
        config=json.loads(json.dumps(report.config, default=str)),
        commit_at_start=commit_at_start,
        **report.extra,
    )
    print()
    print(report.table)
    print(
        f"\n{'QUICK ' if quick else ''}results: {path}  plots: "
        f"{', '.join(map(str, report.plots))}  ({report.wall_s:.0f} s)"
    )
    if report.error is not None:
        print(f"mairl: error: {report.error}", file=sys.stderr)
        return 2
    return 0


def _env_threads() -> int | None:
    """``OMP_NUM_THREADS`` when it is a positive count: a machine's owner who set it (the
    test suite sets 1) keeps it. Two torch threads on 2 cores that another process also
    uses stall for seconds at a time: a quick GridWorld sweep took over 300 s beside one
    benchmark run, 32 s with one thread."""
    value = os.environ.get("OMP_NUM_THREADS", "").strip()
    return int(value) if value.isdigit() and int(value) > 0 else None


def set_job_threads(n: int | None) -> None:
    """Torch threads per job for the next ``run_parallel`` (None: its share of the cores)."""
    global _threads_asked
    _threads_asked = n


def set_backend(kind: str = "pool", address: str | None = None) -> None:
    """Where the next ``run_parallel`` runs its jobs: ``pool`` (processes on this machine) or
    ``ray`` (a local Ray instance started for the run and stopped after it, or the cluster
    at ``address``). Ray missing is one clear error (RuntimeError), before any job runs."""
    global _backend
    if kind not in BACKENDS:
        raise ValueError(f"unknown backend '{kind}' ({', '.join(BACKENDS)})")
    if address is not None and kind != "ray":
        raise ValueError("--address is a Ray cluster's address: it needs --backend ray")
    if kind == "ray":
        try:
            import ray  # noqa: F401
        except ImportError:
            raise RuntimeError(
                "--backend ray needs Ray: pip install 'mairl_core[ray]' (make venv installs it)"
            ) from None
    _backend = (kind, address)


def report_steps(n: int) -> None:
    """A job's progress: ``n`` more env steps done (a resumed job reports what it had done).
    Shown, with the rate, by ``run_parallel``'s env-step bar; a no-op outside one."""
    if _report is not None and n > 0:
        _report(int(n))


def row_overrides(
    by_method: dict[str, dict[str, Any]],
    spec: Callable[[str], tuple[str, bool]],
    algo_name: str,
    state_only: bool,
) -> dict[str, Any]:
    """A bench's ``algo_by_method`` changes for a trainer method run outside the bench (`mairl
    train`): those of the first row whose ``spec(row)`` is (``algo_name``, ``state_only``)."""
    return next((over for row, over in by_method.items() if spec(row) == (algo_name, state_only)), {})


def check_row_settings(algo: Any, by_method: dict[str, dict[str, Any]], where: Any) -> None:
    """Apply each row's ``algo_by_method`` changes once, so that a bad setting fails when the
    config loads, not hours into a bench (ConfigError naming the row)."""
    for row, over in by_method.items():
        with_overrides(algo, over, f"{where}:bench.algo_by_method.{row}")


def _worker_init(queue, threads: int) -> None:
    global _report
    import torch

    torch.set_num_threads(threads)
    if queue is not None:
        _report = queue.put


def run_stem(method: str, seed: int) -> str:
    """A run's file name stem: its table row and seed, e.g. ``MAIRL_s_a_seed0``."""
    return re.sub(r"[^A-Za-z0-9]+", "_", method).strip("_") + f"_seed{seed}"


def save_run(path: Path, trainer: Any, record: dict[str, Any], best: dict[str, Any]) -> None:
    """A stopped run's checkpoint: the trainer's whole state, its record so far and its selected
    policy (``best['policy']``, a deployable module) with the rest of ``best`` (plain values)."""
    from ..checkpoint import save_checkpoint

    state = {"trainer": trainer.state_dict()}
    if best.get("policy") is not None:
        state["best_policy"] = best["policy"].state_dict()
    save_checkpoint(
        path,
        state,
        record=json.dumps(record),
        best=json.dumps({k: v for k, v in best.items() if k != "policy"}),
    )


def load_run(path: Path, trainer: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """``save_run``'s checkpoint into ``trainer``: (the record so far, the selection with its
    policy rebuilt as a copy of the trainer's deployable policy)."""
    from ..checkpoint import load_checkpoint

    payload = load_checkpoint(path)
    trainer.load_state_dict(payload["state"]["trainer"])
    record, best = json.loads(payload["meta"]["record"]), json.loads(payload["meta"]["best"])
    if "best_policy" in payload["state"]:
        best["policy"] = copy.deepcopy(trainer.deployable_policy())
        best["policy"].load_state_dict(payload["state"]["best_policy"])
    return record, best


def finished_run(work: Path | None, method: str, seed: int, resume: bool) -> dict[str, Any] | None:
    """With ``resume``, the record a stopped bench left in ``work`` for this run when it
    finished (its env steps reported to the progress bar); else None."""
    done = None if work is None else work / f"{run_stem(method, seed)}.json"
    if not resume or done is None or not done.is_file():
        return None
    rec = json.loads(done.read_text())
    report_steps(rec.get("env_steps", 0))
    return rec


def save_finished(work: Path | None, rec: dict[str, Any]) -> None:
    """Keep a finished run's record in ``work`` (``finished_run`` reads it back); the record
    holds it all now, so a stopped run's checkpoint beside it (``RUN.pt``) goes."""
    if work is not None:
        work.mkdir(parents=True, exist_ok=True)
        stem = run_stem(rec["method"], rec["seed"])
        (work / f"{stem}.json").write_text(json.dumps(rec) + "\n")
        (work / f"{stem}.pt").unlink(missing_ok=True)


def run_or_resume(
    work: Path | None, method: str, seed: int, resume: bool, run: Callable[..., dict[str, Any]], *args: Any
) -> dict[str, Any]:
    """``run(*args)``, its record kept in ``work``; with ``resume``, the record a stopped bench
    left there for (``method``, ``seed``) instead of running it again."""
    if (rec := finished_run(work, method, seed, resume)) is not None:
        return rec
    rec = run(*args)
    save_finished(work, rec)
    return rec


def run_parallel(
    fn: Callable[[J], dict[str, Any]],
    jobs: Sequence[J],
    *,
    workers: int | None,
    progress: bool,
    desc: str,
    unit: str = "run",
    postfix: Callable[[dict[str, Any]], str] = lambda r: "",
    env_steps: int | None = None,
    name: Callable[[J], str] | None = None,
) -> list[dict[str, Any]]:
    """``fn(job)`` for every job, results in job order, over ``workers`` processes (default:
    one per core, at most one per job; 1 runs in this process). A job that raises (on Ray:
    after ``RAY_RETRIES`` retries of a dead worker) is left out of the results and recorded,
    by ``name(job)``, for ``finish_bench`` to report (a FAILED line under the table, results.json's
    ``failed_runs``, exit status 2); the others go on. If every job fails, the first error
    is raised (a bad setting or input fails every run alike). The progress bar's postfix
    describes the last finished result. With ``env_steps`` (all jobs' budgets together) a
    second bar counts the env steps the jobs report (``report_steps``) and shows their rate.
    Each job runs with ``--threads`` torch threads (``set_job_threads``), else
    ``OMP_NUM_THREADS``'s, else the cores shared among the workers: one job alone on 2 cores
    runs SVG(1)'s update on HalfCheetah 1.45x as fast with 2 threads as with 1 (33.6 -> 23.2
    ms; SAC's 1.28x). ``fn`` must be a module-level function (it is pickled)."""
    global _report
    import torch

    if _backend[0] == "ray":
        return _run_ray(
            fn, jobs, progress=progress, desc=desc, unit=unit, postfix=postfix, env_steps=env_steps, name=name
        )
    workers = workers or min(len(jobs), os.cpu_count() or 1)
    threads = (
        _threads_asked or _env_threads() or max(1, (os.cpu_count() or 1) // min(workers, max(1, len(jobs))))
    )
    here = torch.get_num_threads()
    out: list[dict[str, Any]] = []
    queue = drain = manager = None
    with _bars(len(jobs), desc, desc, unit, progress, env_steps) as (bar, steps):
        if workers <= 1:
            _report = steps.update
            torch.set_num_threads(threads)
            results = (_outcome(fn, job) for job in jobs)
            pool = None
        else:
            if env_steps and progress:
                manager = multiprocessing.Manager()
                queue = manager.Queue()
                drain = threading.Thread(target=_drain, args=(queue, steps), daemon=True)
                drain.start()
            pool = ProcessPoolExecutor(workers, initializer=_worker_init, initargs=(queue, threads))
            futures = [pool.submit(fn, job) for job in jobs]
            results = (_outcome(f.result) for f in futures)
        try:
            failures: list[tuple[J, Exception]] = []
            for job, (r, exc) in zip(jobs, results):
                bar.update()
                if exc is not None:
                    failures.append((job, exc))
                    continue
                out.append(r)
                bar.set_postfix_str(postfix(r))
            _record_failures(failures, len(jobs), name)
        finally:
            _report = None
            torch.set_num_threads(here)
            if pool is not None:
                pool.shutdown(cancel_futures=True)
            if drain is not None:
                queue.put(None)
                drain.join(timeout=5)
                manager.shutdown()
    return out


def _outcome(
    call: Callable[..., dict[str, Any]], *args: Any
) -> tuple[dict[str, Any] | None, Exception | None]:
    try:
        return call(*args), None
    except Exception as exc:  # recorded; KeyboardInterrupt and SystemExit still stop the bench
        return None, exc


def _record_failures(
    failures: list[tuple[Any, Exception]], n_jobs: int, name: Callable[[Any], str] | None
) -> None:
    """Keep the failed jobs for ``finish_bench`` (one line each, also printed now), or raise
    the first error if no job succeeded."""
    if not failures:
        return
    if len(failures) == n_jobs:
        raise failures[0][1]
    for i, (job, exc) in enumerate(failures):
        what = name(job) if name is not None else f"job {i + 1} of {n_jobs}"
        error = f"{type(exc).__name__}: {' '.join(str(exc).split())[:300]}"
        _failed_runs.append({"run": what, "error": error})
        print(f"mairl: warning: run {what} failed: {error}", file=sys.stderr)


@contextlib.contextmanager
def _bars(n_jobs: int, desc: str, steps_desc: str, unit: str, progress: bool, env_steps: int | None):
    """The two progress bars of a fan-out: finished jobs, and the env steps they report."""
    from tqdm import tqdm

    with (
        tqdm(total=n_jobs, desc=desc, unit=unit, position=0, disable=not progress) as bar,
        tqdm(
            total=env_steps,
            desc=f"{steps_desc} env steps",
            unit="step",
            unit_scale=True,
            position=1,
            disable=not progress or not env_steps,
        ) as steps,
    ):
        yield bar, steps


def _ray_job(fn: Callable[[J], dict[str, Any]], job: J, threads: int) -> dict[str, Any]:
    import torch

    torch.set_num_threads(threads)
    return fn(job)


def ray_init_kwargs(address: str | None) -> dict[str, Any]:
    """``ray.init``'s arguments: join ``address``, or start a local instance on 127.0.0.1 with
    the cores of this machine, no dashboard, no usage report, and its workers at the priority
    of the pool's processes (Ray's default nice 15 starved them beside other work: a quick
    GridWorld bench ran more than 10x as long as on the pool)."""
    if address is not None:
        return {"address": address, "log_to_driver": False}
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    return {
        "address": "local",
        "num_cpus": os.cpu_count() or 1,
        "include_dashboard": False,
        "_node_ip_address": "127.0.0.1",
        "log_to_driver": False,
        "configure_logging": False,
        "_system_config": {"worker_niceness": 0},
    }


def _check_reachable(address: str | None) -> None:
    """A HOST:PORT address nothing listens at is one clear error now (Ray itself retries for
    minutes before it gives up)."""
    import socket

    host, sep, port = (address or "").rpartition(":")
    if not sep or not port.isdigit() or "://" in host:
        return  # a local start, "auto", or a ray:// client address: Ray checks those
    try:
        socket.create_connection((host, int(port)), timeout=5).close()
    except OSError as exc:
        raise RuntimeError(
            f"could not join the Ray cluster at {address}: nothing answers there ({exc.strerror or exc}); "
            f"start its head with `ray start --head --port={port}`"
        ) from None


def _run_ray(
    fn: Callable[[J], dict[str, Any]],
    jobs: Sequence[J],
    *,
    progress: bool,
    desc: str,
    unit: str,
    postfix: Callable[[dict[str, Any]], str],
    env_steps: int | None,
    name: Callable[[J], str] | None,
) -> list[dict[str, Any]]:
    """``run_parallel`` on Ray: one task per job, each asking for ``--threads`` CPUs (1 by
    default) and running that many torch threads, retried ``RAY_RETRIES`` times if its
    worker dies; results in job order. The env-step bar counts a job's steps when it ends."""
    import ray

    threads = _threads_asked or 1
    started = not ray.is_initialized()
    if started:
        _check_reachable(_backend[1])
        try:
            ray.init(**ray_init_kwargs(_backend[1]))
        except Exception as exc:  # a wrong address, a token missing: one line, not Ray's traceback
            where = f"join the Ray cluster at {_backend[1]}" if _backend[1] else "start a local Ray instance"
            detail = " ".join(str(exc).split())[:300]
            raise RuntimeError(f"could not {where}: {type(exc).__name__}: {detail}") from None
    try:
        task = ray.remote(num_cpus=threads, max_retries=RAY_RETRIES, retry_exceptions=False)(_ray_job)
        refs = [task.remote(fn, job, threads) for job in jobs]
        where = {ref: i for i, ref in enumerate(refs)}
        out: list[dict[str, Any] | None] = [None] * len(jobs)
        with _bars(len(jobs), f"{desc} (ray)", desc, unit, progress, env_steps) as (bar, steps):
            pending = list(refs)
            failed: dict[int, Exception] = {}
            while pending:
                done, pending = ray.wait(pending, num_returns=1)
                for ref in done:
                    bar.update()
                    r, exc = _outcome(ray.get, ref)
                    if exc is not None:
                        failed[where[ref]] = getattr(exc, "cause", None) or exc  # the job's own error
                        continue
                    out[where[ref]] = r
                    bar.set_postfix_str(postfix(r))
                    steps.update(int(r.get("env_steps", 0) or 0))
        _record_failures([(jobs[i], failed[i]) for i in sorted(failed)], len(jobs), name)
        return [r for r in out if r is not None]
    finally:
        if started:
            ray.shutdown()


def _drain(queue, bar) -> None:
    while (n := queue.get()) is not None:
        bar.update(n)
