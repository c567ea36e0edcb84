"""Users bring their own demos: a .npz of obs, acts, next_obs (episodes x steps x dim, or flat
with episode_lengths), optional returns; any gymnasium MuJoCo env id, v4 ones included."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from mairl_core.experts import DEMO_DIR, ExpertError, load_demos

OURS = DEMO_DIR / "HalfCheetah-v5.npz"


def _ours_as_user_arrays(n=3):
    demos = load_demos(OURS, "HalfCheetah-v5")
    t = demos.transitions(n)
    steps = len(demos.act[0])
    shape = (n, steps, -1)
    return demos, {
        "obs": t["obs"].reshape(shape),
        "acts": t["act"].reshape(shape),
        "next_obs": t["next_obs"].reshape(shape),
    }


def test_a_3d_file_loads_as_the_same_transitions(tmp_path):
    demos, arrays = _ours_as_user_arrays()
    path = tmp_path / "mine.npz"
    np.savez(path, **arrays, returns=demos.returns[:3])
    mine = load_demos(path, "HalfCheetah-v5")
    for k, v in mine.transitions().items():
        np.testing.assert_array_equal(v, demos.transitions(3)[k])
    np.testing.assert_array_equal(mine.returns, demos.returns[:3])
    assert mine.env_id == "HalfCheetah-v5"  # none in the file: the one asked for


def test_a_flat_file_with_episode_lengths_loads(tmp_path):
    demos, arrays = _ours_as_user_arrays(2)
    flat = {k: v.reshape(-1, v.shape[-1])[:1500] for k, v in arrays.items()}
    path = tmp_path / "flat.npz"
    np.savez(path, **flat, episode_lengths=np.array([1000, 500]), env_id="HalfCheetah-v5")
    mine = load_demos(path)
    assert [len(a) for a in mine.act] == [1000, 500] and mine.returns is None
    np.testing.assert_array_equal(mine.transitions()["next_obs"], flat["next_obs"])


@pytest.mark.parametrize(
    "change, match",
    [
        (lambda a: a.pop("next_obs"), "not a demo file"),
        (lambda a: a.update(acts=a["acts"][:, :-1]), "same episodes and steps"),
        (lambda a: a.update(obs=a["obs"].reshape(-1)), "must be"),
        (lambda a: a.update(obs=a["obs"].reshape(-1, 17)), "need episode_lengths"),
        (lambda a: a.update(returns=np.ones(7)), "one finite number per episode"),
        (lambda a: a.update(env_id="Ant-v5"), "demos of Ant-v5, not HalfCheetah-v5"),
        (lambda a: a["obs"].__setitem__((0, 3, 2), np.nan), "NaN or inf"),
    ],
)
def test_a_bad_user_file_is_one_clear_error(tmp_path, change, match):
    _, arrays = _ours_as_user_arrays(2)
    change(arrays)
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    with pytest.raises(ExpertError, match=match) as exc:
        load_demos(path, "HalfCheetah-v5")
    assert str(path) in str(exc.value) and "\n" not in str(exc.value)


def test_the_mujoco_bench_takes_a_users_demos_on_a_v4_env(tmp_path):
    """`mairl bench mujoco --env HalfCheetah-v4 --demos FILE` (the v5 demos' arrays, which match
    v4's observations): the expert return for normalising comes from the file's returns."""
    demos, arrays = _ours_as_user_arrays(2)
    path = tmp_path / "mine.npz"
    np.savez(path, **arrays, returns=demos.returns[:2])
    out = tmp_path / "out"
    cmd = [
        sys.executable,
        "-m",
        "mairl_core.cli",
        "bench",
        "mujoco",
        "--env",
        "HalfCheetah-v4",
        "--demos",
        str(path),
        "--methods",
        "BC,AIRL (SAC)",
        "--quick",
        "--no-progress",
        "--workers",
        "1",
        "--out",
        str(out),
    ]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    rows = {r["method"]: r for r in json.loads((out / "results.json").read_text())["rows"]}
    assert set(rows) == {"BC", "AIRL (SAC)"}
    assert rows["BC"]["expert_return"] == pytest.approx(float(np.mean(demos.returns[:2])))
    assert rows["BC"]["env"] == "HalfCheetah-v4"
    bad = subprocess.run(
        cmd[:-2] + ["--out", str(tmp_path / "o2"), "--env", "NoSuchEnv-v1"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1, bad.stderr
    assert Path(path).exists()


def test_mairl_train_takes_a_users_demos_on_a_gymnasium_env(tmp_path):
    demos, arrays = _ours_as_user_arrays(2)
    path = tmp_path / "mine.npz"
    np.savez(path, **arrays)  # no returns: nothing to normalise by, training does not need it
    out = tmp_path / "run"
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "mairl_core.cli",
            "train",
            "--task",
            "mujoco",
            "--env",
            "HalfCheetah-v4",
            "--demos",
            str(path),
            "--n-demos",
            "2",
            "--algo",
            "mairl",
            "--mode",
            "s,a",
            "--env-steps",
            "1000",
            "--no-progress",
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    assert (out / "checkpoint.pt").is_file() and "1000 env steps" in res.stdout
