"""Run by test_ray_backend.py inside a loopback-only network namespace: six jobs on a local
Ray instance through ``run_parallel``; job 1's worker process is killed (SIGKILL) once while
it runs, job 4's kills itself every time, job 5 raises. Prints the results and the failed
runs as JSON."""

import json
import os
import signal
import sys
import threading
import time
from pathlib import Path

from mairl_core import benchmarks

work = Path(sys.argv[1])


def job(i: int) -> dict:
    (work / f"pid{i}-{os.getpid()}").write_text("")
    if i == 1 and not (work / "killed").exists():
        time.sleep(120)  # the watcher kills this worker first
    if i == 4:
        os.kill(os.getpid(), signal.SIGKILL)  # every try: fails after the retries
    if i == 5:
        raise ValueError("job 5 is broken")  # the job's own error: not retried
    return {"method": "m", "seed": i, "value": i * i, "env_steps": 10}


def watch() -> None:
    while True:
        for p in work.glob("pid1-*"):
            (work / "killed").write_text("")
            os.kill(int(p.name.split("-")[1]), signal.SIGKILL)
            return
        time.sleep(0.05)


if __name__ == "__main__":
    benchmarks.set_backend("ray")
    threading.Thread(target=watch, daemon=True).start()
    out = benchmarks.run_parallel(
        job, list(range(6)), workers=None, progress=False, desc="kill", name=lambda i: f"job {i}"
    )
    print("RESULT " + json.dumps({"results": out, "failed": benchmarks.take_failed_runs()}))
