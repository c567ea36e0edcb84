"""`--backend ray` and `--address`: the same rows as the process pool, a job whose worker is
killed is retried with nothing else lost. Ray's own servers listen on every interface (Ray
2.60, measured with ss), so each test runs its Ray processes inside a new network namespace
whose only interface is loopback (`unshare -rn`): nothing they open is reachable from outside."""

from __future__ import annotations

import json
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from _ros_helpers import REPO, node_env

pytest.importorskip("ray", reason="Ray is an extra: pip install 'mairl_core[ray]' (make venv installs it)")

HERE = Path(__file__).resolve().parent
LOOPBACK_ONLY = ["unshare", "-rn", "sh", "-c", 'ip link set lo up && exec "$0" "$@"']


def _netns_ok() -> bool:
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        return False
    return subprocess.run([*LOOPBACK_ONLY, "true"], capture_output=True).returncode == 0


pytestmark = pytest.mark.skipif(
    not _netns_ok(), reason="needs unprivileged user + network namespaces (unshare -rn) for loopback-only Ray"
)


def _env() -> dict[str, str]:
    """Ray's token authentication on, with a token made for this test (head and client)."""
    return {**node_env(), "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(16)}


def _run(cmd: list[str], timeout: int = 600, loopback: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        [*LOOPBACK_ONLY, *cmd] if loopback else cmd,
        env=_env(),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc


def _rows(out: Path) -> list[dict]:
    """results.json's rows without the wall-clock fields."""
    rows = json.loads((out / "results.json").read_text())["rows"]
    return [{k: v for k, v in r.items() if "wall" not in k} for r in rows]


def _mairl(*args: str) -> list[str]:
    return [sys.executable, "-m", "mairl_core.cli", *args]


def test_quick_gridworld_through_a_running_cluster_gives_the_pool_s_rows(tmp_path):
    cfg = tmp_path / "gw.yaml"
    cfg.write_text(f"base: {REPO / 'config' / 'gridworld.yaml'}\nbench:\n  methods: [Expert, MAIRL(s)]\n")
    common = ["bench", "gridworld", "--config", str(cfg), "--quick", "--seeds", "1", "--no-progress"]
    _run(_mairl(*common, "--workers", "2", "--out", str(tmp_path / "pool")), loopback=False)
    # a head started on 127.0.0.1 inside the namespace, the bench joins it, the head stops
    script = (
        "set -e; ray start --head --node-ip-address=127.0.0.1 --port=6390 --num-cpus=2 "
        "--include-dashboard=false --disable-usage-stats "
        "--system-config='{\"worker_niceness\": 0}' >/dev/null; "
        'trap "ray stop --force >/dev/null" EXIT; "$@"'
    )
    ray_bin = str(Path(sys.executable).parent / "ray")
    proc = _run(
        [
            "sh",
            "-c",
            script.replace("ray ", f"{ray_bin} "),
            "sh",
            *_mairl(*common, "--address", "127.0.0.1:6390", "--out", str(tmp_path / "ray")),
        ]
    )
    assert "results:" in proc.stdout
    assert _rows(tmp_path / "ray") == _rows(tmp_path / "pool")


def test_quick_ur5_reach_on_a_local_ray_gives_the_pool_s_rows(tmp_path):
    # BC only: the adversarial learners through Ray are the GridWorld test's; this one is the
    # MuJoCo env, its demos and its checkpoints in Ray's workers
    common = ["bench", "ur5", "--task", "reach", "--quick", "--no-progress", "--methods", "BC"]
    _run(_mairl(*common, "--workers", "2", "--out", str(tmp_path / "pool")), loopback=False)
    shutil.copytree(tmp_path / "pool" / "demos", tmp_path / "demos")  # the same demos, made once
    proc = _run(
        _mairl(
            *common, "--demos", str(tmp_path / "demos"), "--backend", "ray", "--out", str(tmp_path / "ray")
        )
    )
    assert "(ray)" not in proc.stdout  # no progress bars asked for
    assert _rows(tmp_path / "ray") == _rows(tmp_path / "pool")


def test_a_job_whose_worker_is_killed_is_retried_and_no_other_result_is_lost(tmp_path):
    from mairl_core.benchmarks import RAY_RETRIES

    proc = _run([sys.executable, str(HERE / "_kill_script.py"), str(tmp_path)], timeout=300)
    out = json.loads(proc.stdout.split("RESULT ", 1)[1])
    assert [r["value"] for r in out["results"]] == [0, 1, 4, 9]  # every other job's result, in job order
    started = sorted(p.name.split("-")[0] for p in tmp_path.glob("pid*"))
    assert started == ["pid0", "pid1", "pid1", "pid2", "pid3"] + ["pid4"] * (RAY_RETRIES + 1) + ["pid5"]
    assert (tmp_path / "killed").exists()
    assert [f["run"] for f in out["failed"]] == ["job 4", "job 5"]
    assert out["failed"][1]["error"] == "ValueError: job 5 is broken"  # the job's error, not Ray's wrapper
    assert "job 4 failed" in proc.stderr and "job 5 failed" in proc.stderr


def test_bad_backend_arguments_are_one_line_and_exit_2(tmp_path):
    proc = subprocess.run(
        _mairl(
            "bench",
            "gridworld",
            "--quick",
            "--address",
            "127.0.0.1:1",
            "--backend",
            "pool",
            "--out",
            str(tmp_path),
        ),
        env=node_env(),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "mairl: error: --address is a Ray cluster's address: it needs --backend ray"
    ]
    # nothing listens there: one line, exit 2
    cmd = _mairl("bench", "gridworld", "--quick", "--address", "127.0.0.1:9", "--out", str(tmp_path))
    loop = [*LOOPBACK_ONLY, *cmd]
    proc = subprocess.run(loop, env=_env(), cwd=REPO, capture_output=True, text=True, timeout=90)
    assert proc.returncode == 2, proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("mairl: error: could not join the Ray cluster at 127.0.0.1:9: nothing answers")
    assert "Traceback" not in proc.stderr
