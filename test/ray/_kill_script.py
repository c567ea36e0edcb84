"""Run by test_ray_backend.py inside a loopback-only network namespace: four jobs on a local
Ray instance through ``run_parallel``; job 1's worker process is killed (SIGKILL) while it
runs. Prints the results as JSON."""

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
    out = benchmarks.run_parallel(job, list(range(4)), workers=None, progress=False, desc="kill")
    print("RESULT " + json.dumps(out))
