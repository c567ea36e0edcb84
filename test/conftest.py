"""Session-wide test setup: keep ROS 2 / Fast DDS on loopback, clean up its shared memory,
one torch thread per process.

Before any test: the loopback environment of ``mairl_ros.dds`` with a ROS domain id of
its own for this run (so parallel runs on one host do not see each other). After the
last test: the ``/dev/shm`` files Fast DDS created during this run and no live process
still maps are removed (killed participants leave them behind).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
SHM_DIR = Path("/dev/shm")
SHM_PATTERNS = ("fastdds_*", "sem.fastdds_*")

# Test the checkout's mairl_ros, not an installed copy (only mairl_core is pip-installed).
sys.path.insert(0, str(REPO_ROOT / "src" / "mairl_ros"))

from mairl_ros.dds import apply_loopback_env  # noqa: E402

# One torch (OpenMP) thread in this process, the benches it runs (benchmarks.run_parallel
# reads it when --threads is not given) and every node or worker it starts: the networks
# are tiny, and on a 2-core machine where other processes run (the suite starts nodes, a
# CI host may run more) two threads stall for seconds at a time. A quick GridWorld sweep
# took over 300 s with two beside one other process, 32 s with one.
os.environ["OMP_NUM_THREADS"] = "1"

# MuJoCo picks its GL back-end when it is first imported, and mairl_core.envs picks headless
# EGL where there is no display: import it before any test module imports mujoco itself (run
# alone, test_ur5_model was collected first and every later render failed, then aborted).
import mairl_core.envs  # noqa: E402,F401

_shm_at_start: set[Path] = set()


def run_domain_id(pid: int | None = None) -> int:
    """A ROS domain id in 1..101 derived from the pid (0 is everyone's default). Under
    pytest-xdist (``make test`` runs two workers) worker gwN takes the pytest controller's pid
    plus N, so the workers of one run never share a domain."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    if pid is None and worker.startswith("gw") and worker[2:].isdigit():
        pid = os.getppid() + int(worker[2:])
    return 1 + (os.getpid() if pid is None else pid) % 101


def _fastdds_shm_files() -> set[Path]:
    if not SHM_DIR.is_dir():
        return set()
    return {p for pattern in SHM_PATTERNS for p in SHM_DIR.glob(pattern)}


def _shm_files_in_use_by_others() -> set[Path]:
    """/dev/shm files another live process maps or holds open (never remove those)."""
    in_use: set[Path] = set()
    me = str(os.getpid())
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or proc.name == me:
            continue
        try:
            for line in (proc / "maps").read_text().splitlines():
                if "/dev/shm/" in line:
                    in_use.add(Path(line[line.index("/dev/shm/") :].split(" (deleted)")[0]))
            for fd in (proc / "fd").iterdir():
                target = os.readlink(fd)
                if target.startswith("/dev/shm/"):
                    in_use.add(Path(target))
        except OSError:  # the process ended, or is not ours to read
            continue
    return in_use


def pytest_sessionstart(session) -> None:  # noqa: ARG001 - pytest hook signature
    _shm_at_start.clear()
    _shm_at_start.update(_fastdds_shm_files())
    apply_loopback_env(domain_id=run_domain_id())


def pytest_sessionfinish(session, exitstatus) -> None:  # noqa: ARG001 - pytest hook signature
    created = _fastdds_shm_files() - _shm_at_start
    for path in created - _shm_files_in_use_by_others():
        try:
            path.unlink()
        except FileNotFoundError:
            pass
