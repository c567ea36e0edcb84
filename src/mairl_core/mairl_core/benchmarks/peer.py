"""Peer rows for Table II: the `imitation` library's GAIL and AIRL on the same demos.

imitation 1.0.1 pins gymnasium 0.29 and stable-baselines3 2.2, which cannot share our
venv, so it runs from its own (``.peer-venv`` beside ``.venv``, built here on first use:
torch==2.13.0 first, then ``bench/peer/requirements.txt``) by the script
``bench/peer/imitation_run.py``, one process per (algorithm, seed), each writing a JSON
record in the shape of our runs. Its envs are gymnasium 0.29's v4 tasks.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from ..experts import DEMO_DIR

PEER_DIR = DEMO_DIR.parent / "peer"  # bench/peer of this checkout
PEER_VENV = DEMO_DIR.parents[1] / ".peer-venv"  # beside .venv
TORCH_VERSION = "2.13.0"
PEERS = {"imitation GAIL": "gail", "imitation AIRL": "airl"}


class PeerError(RuntimeError):
    """The peer venv could not be built or a peer run failed (the message says which)."""


def _python(venv: Path) -> Path:
    return venv / "bin" / "python"


def ensure_venv(venv: Path = PEER_VENV, log=print) -> Path:
    """The peer venv's python, building the venv first if its stamp is missing or older than
    the requirements file."""
    req = PEER_DIR / "requirements.txt"
    stamp = venv / ".installed"
    if stamp.exists() and stamp.stat().st_mtime >= req.stat().st_mtime:
        return _python(venv)
    log(f"building the peer venv {venv} (torch=={TORCH_VERSION} first, then {req}); a few minutes, once")
    steps = [
        [sys.executable, "-m", "venv", "--clear", str(venv)],
        [str(_python(venv)), "-m", "pip", "install", "-q", f"torch=={TORCH_VERSION}"],
        [str(_python(venv)), "-m", "pip", "install", "-q", "-r", str(req)],
    ]
    for cmd in steps:
        res = subprocess.run(cmd, capture_output=True, text=True)
        if res.returncode != 0:
            raise PeerError(
                f"building the peer venv failed at `{' '.join(cmd)}`:\n{res.stderr.strip()[-2000:]}"
            )
    stamp.touch()
    return _python(venv)


def run_peer(
    python: Path,
    method: str,
    env_id: str,
    demos: Path,
    n_demos: int,
    env_steps: int,
    seed: int,
    out_dir: Path,
    curve_episodes: int,
    test_episodes: int,
    curve_seed: int,
    test_seed: int,
) -> dict[str, Any]:
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = f"{PEERS[method]}_seed{seed}"
    record, log = out_dir / f"{stem}.json", out_dir / f"{stem}.log"
    cmd = [
        str(python),
        str(PEER_DIR / "imitation_run.py"),
        "--algo",
        PEERS[method],
        "--env",
        env_id,
        "--demos",
        str(demos),
        "--n-demos",
        str(n_demos),
        "--env-steps",
        str(env_steps),
        "--seed",
        str(seed),
        "--curve-episodes",
        str(curve_episodes),
        "--test-episodes",
        str(test_episodes),
        "--curve-seed",
        str(curve_seed),
        "--test-seed",
        str(test_seed),
        "--out",
        str(record),
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": ""}
    with open(log, "w") as f:
        code = subprocess.call(cmd, stdout=f, stderr=subprocess.STDOUT, env=env)
    if code != 0 or not record.exists():
        tail = log.read_text().strip().splitlines()[-15:]
        raise PeerError(f"{method} seed {seed} failed (exit {code}); {log}:\n" + "\n".join(tail))
    return json.loads(record.read_text())


def run_peers(
    env_id: str,
    demos: Path,
    n_demos: int,
    env_steps: int,
    seeds: list[int],
    out_dir: Path,
    workers: int | None,
    curve_episodes: int,
    test_episodes: int,
    curve_seed: int,
    test_seed: int,
    log=print,
) -> list[dict[str, Any]]:
    python = ensure_venv(log=log)
    jobs = [(m, s) for s in seeds for m in PEERS]
    with ThreadPoolExecutor(workers or os.cpu_count() or 1) as pool:
        return list(
            pool.map(
                lambda j: run_peer(
                    python,
                    j[0],
                    env_id,
                    demos,
                    n_demos,
                    env_steps,
                    j[1],
                    out_dir,
                    curve_episodes,
                    test_episodes,
                    curve_seed,
                    test_seed,
                ),
                jobs,
            )
        )
