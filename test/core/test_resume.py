"""Exact resumes (issue 20, defect 6): a MAIRL run killed with SIGKILL, at a checkpoint or
between two, and resumed with ``--resume`` ends bit for bit where an uninterrupted run of
the same seed ends (every tensor of the state, the random streams, the buffers and the
curve). UR5 reach is the run: its normalised Gaussian dynamics are scaled once, on the
first fit (``ImaginedLearner.model_scaled``), which GridWorld's categorical model never is.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
import torch
from _helpers import REPO_ROOT, assert_tree_equal, make_trainer, small_robot_config

from mairl_core.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from mairl_core.cli import main

ITERATION_STEPS = 200  # small_robot_config: 2 envs x 100-step episodes
BUDGET = 8 * ITERATION_STEPS


@pytest.fixture(scope="module")
def reach(tmp_path_factory):
    """(demos, small config) for UR5 reach MAIRL runs of a few iterations."""
    tmp = tmp_path_factory.mktemp("resume")
    demos = tmp / "demos"
    mp = pytest.MonkeyPatch()
    mp.setenv("MAIRL_CONFIG_DIR", str(REPO_ROOT / "config"))
    try:
        assert (
            main(
                ["demos", "--task", "reach", "--n", "4", "--seed", "1", "--out", str(demos), "--no-progress"]
            )
            == 0
        )
        cfg = small_robot_config(tmp, "reach_train", n_demos=4, bc_steps=200, agent_recent=400)
    finally:
        mp.undo()
    return demos, cfg


def _train_cmd(reach, out, *extra) -> list[str]:
    demos, cfg = reach
    return [
        sys.executable,
        "-m",
        "mairl_core.cli",
        "train",
        "--task",
        "reach",
        "--algo",
        "mairl",
        "--demos",
        str(demos),
        "--config",
        str(cfg),
        "--out",
        str(out),
        "--seed",
        "3",
        "--env-steps",
        str(BUDGET),
        "--no-progress",
        *extra,
    ]


def _env() -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": str(REPO_ROOT / "src" / "mairl_core"),
        "MAIRL_CONFIG_DIR": str(REPO_ROOT / "config"),
    }


def _run(cmd) -> None:
    res = subprocess.run(cmd, env=_env(), capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]


@pytest.fixture(scope="module")
def uninterrupted(reach, tmp_path_factory):
    """The final checkpoint state of an uninterrupted run."""
    out = tmp_path_factory.mktemp("uninterrupted")
    _run(_train_cmd(reach, out))
    return load_checkpoint(out / "checkpoint.pt")["state"]


def _max_weight_difference(a: dict, b: dict) -> float:
    return max(
        float((a[m][k].double() - b[m][k].double()).abs().max())
        for m in a
        for k in a[m]
        if a[m][k].is_floating_point()
    )


def _kill_after_first_checkpoint(cmd, ckpt, delay: float) -> int:
    """Start ``cmd``, SIGKILL it ``delay`` s after ``ckpt`` appears; the iteration it holds."""
    proc = subprocess.Popen(cmd, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        end = time.monotonic() + 240
        while not ckpt.exists():
            assert proc.poll() is None, proc.stderr.read().decode()[-3000:]
            assert time.monotonic() < end, "no checkpoint within 240 s"
            time.sleep(0.01)
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        assert proc.wait(timeout=30) == -signal.SIGKILL  # killed, not finished
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stderr.close()
    return int(load_checkpoint(ckpt)["state"]["iteration"])


@pytest.mark.parametrize("every, delay", [(1, 0.0), (3, 0.1)], ids=["at-checkpoint", "mid-iteration"])
def test_killed_run_resumes_bit_for_bit(reach, uninterrupted, tmp_path, every, delay):
    """kill -9 right after the first checkpoint is written (every iteration checkpointed), or
    during the iteration after it (the kill falls between two checkpoints: the work since the
    last one is lost and redone); ``--resume`` then ends identical to the uninterrupted run."""
    out = tmp_path / "killed"
    cmd = _train_cmd(reach, out, "--checkpoint-every", str(every))
    at = _kill_after_first_checkpoint(cmd, out / "checkpoint.pt", delay)
    assert at == every, f"the kill came after iteration {at}, not between checkpoints {every} and {2 * every}"
    assert at * ITERATION_STEPS < BUDGET
    _run([*cmd, "--resume"])
    resumed = load_checkpoint(out / "checkpoint.pt")["state"]
    diff = _max_weight_difference(uninterrupted["modules"], resumed["modules"])
    print(
        f"killed after iteration {at} of {BUDGET // ITERATION_STEPS}: max weight difference "
        f"resumed vs uninterrupted {diff}"
    )
    assert diff == 0.0, f"max weight difference resumed vs uninterrupted: {diff}"
    assert len(resumed["curve"]) == BUDGET // ITERATION_STEPS
    assert_tree_equal(uninterrupted, resumed)  # + optimisers, RNGs, buffers, counters, curve


def test_a_checkpoint_of_an_older_mairl_resumes_exactly(reach, uninterrupted, tmp_path):
    """A version-1 checkpoint (no state version, no learner state, no numpy / Python random
    state, no curve) still resumes, and exactly: F was scaled iff an iteration ran."""
    out = tmp_path / "old"
    cmd = _train_cmd(reach, out, "--checkpoint-every", "2")
    _run([*cmd, "--env-steps", str(2 * ITERATION_STEPS)])  # the last --env-steps counts
    payload = load_checkpoint(out / "checkpoint.pt")
    state = {k: v for k, v in payload["state"].items() if k not in ("version", "learner", "curve")}
    state["rng"] = {k: v for k, v in state["rng"].items() if k in ("torch", "gen", "env")}
    save_checkpoint(out / "checkpoint.pt", state, **payload["meta"])
    _run([*cmd, "--resume"])
    resumed = load_checkpoint(out / "checkpoint.pt")["state"]
    diff = _max_weight_difference(uninterrupted["modules"], resumed["modules"])
    assert diff == 0.0, f"max weight difference resumed (old checkpoint) vs uninterrupted: {diff}"


@pytest.fixture
def gridworld_args(tmp_path):
    return [
        "train",
        "--task",
        "gridworld",
        "--algo",
        "mairl",
        "--out",
        str(tmp_path / "gw"),
        "--seed",
        "0",
        "--env-steps",
        "1280",
        "--no-progress",
    ]


def test_resuming_another_run_says_so_in_one_line_and_keeps_the_checkpoint(gridworld_args, tmp_path, capsys):
    assert main(gridworld_args) == 0
    ckpt = tmp_path / "gw" / "checkpoint.pt"
    before = ckpt.read_bytes()
    capsys.readouterr()
    for change, needle in (
        (["--seed", "1"], "seed '0' run; asked to resume seed '1'"),
        (["--mode", "s,a"], "mode 's' run"),
        (["--algo", "airl"], "method 'mairl' run"),
    ):
        assert main([*gridworld_args, *change, "--resume"]) == 2
        err = capsys.readouterr().err
        assert needle in err and err.count("\n") == 1, err
        assert ckpt.read_bytes() == before


def test_an_old_checkpoint_lacking_needed_state_fails_in_one_line(
    gridworld_experiment, expert_demos, tmp_path
):
    """A checkpoint of an explorer run that lacks the explorer's buffer cannot be resumed
    exactly, and says so (nothing is written)."""
    from mairl_core.training import train_run

    kw = dict(explorer_negatives=0.25)
    tr = make_trainer(gridworld_experiment, expert_demos, seed=2, **kw)
    meta = {"method": "mairl", "task": "gridworld"}
    train_run(
        tr, tmp_path, meta=meta, env_steps=tr.cfg.n_envs * tr.env.horizon, progress=False, tensorboard=False
    )
    ckpt = tmp_path / "checkpoint.pt"
    payload = load_checkpoint(ckpt)
    state = payload["state"]
    del state["explorer_buffer"], state["modules"]["explorer"], state["optimizers"]["explorer_opt"]
    save_checkpoint(ckpt, state, **payload["meta"])
    before = ckpt.read_bytes()
    fresh = make_trainer(gridworld_experiment, expert_demos, seed=2, **kw)
    with pytest.raises(CheckpointError) as err:
        train_run(fresh, tmp_path, meta=meta, resume=True, progress=False, tensorboard=False)
    msg = str(err.value)
    assert "module 'explorer'" in msg and "optimiser 'explorer_opt'" in msg and "explorer's buffer" in msg
    assert "\n" not in msg and ckpt.read_bytes() == before


def test_the_explorer_resumes_exactly(gridworld_experiment, expert_demos):
    """The explorer's policy, optimiser, buffer and learner are in the state: a restored
    trainer takes the next iteration exactly as the original."""
    import io

    kw = dict(explorer_negatives=0.25)
    a = make_trainer(gridworld_experiment, expert_demos, seed=3, **kw)
    a.train_iteration()
    a.train_iteration()
    buf = io.BytesIO()
    torch.save(a.state_dict(), buf)
    buf.seek(0)
    state = torch.load(buf, weights_only=True)
    a.train_iteration()
    b = make_trainer(gridworld_experiment, expert_demos, seed=3, **kw)
    b.load_state_dict(state)
    b.train_iteration()
    assert_tree_equal(
        {k: m.state_dict() for k, m in a.modules().items()},
        {k: m.state_dict() for k, m in b.modules().items()},
    )
    assert "explorer" in b.modules()
