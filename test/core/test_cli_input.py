"""Bad command-line values and bad config files: one clear line on stderr and exit code 2,
never a traceback (issue 20, defect 5); and `mairl eval` reports safety-rejected steps
(defect 7)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch
from _helpers import CONFIG_DIR, REPO_ROOT

from mairl_core.algos.adversarial import make_policy
from mairl_core.benchmarks.gridworld import load_experiment
from mairl_core.checkpoint import save_checkpoint
from mairl_core.cli import main
from mairl_core.envs.ur5_reach import UR5ReachEnv
from mairl_core.robot import load_robot_experiment
from mairl_core.training import policy_meta


def _policy_checkpoint(path, task: str, fill: float | None = None):
    """An untrained policy of ``task`` saved as `mairl train` saves one (weights set to
    ``fill`` when given: NaN makes a policy whose every action is NaN)."""
    torch.manual_seed(0)
    if task == "gridworld":
        cfg = load_experiment("gridworld").algo
        policy = make_policy(cfg, 25, 5, True)
    else:
        cfg = load_robot_experiment(f"{task}_train").algo
        env = UR5ReachEnv
        policy = make_policy(
            cfg, env.obs_dim, env.act_dim, False, torch.full((env.act_dim,), env.step_bound())
        )
    if fill is not None:
        with torch.no_grad():
            for p in policy.parameters():
                p.fill_(fill)
    return save_checkpoint(
        path,
        {"modules": {"policy": policy.state_dict()}},
        task=task,
        method="bc",
        mode="s",
        seed=0,
        **policy_meta(cfg, policy),
    )


@pytest.fixture(scope="module")
def policies(tmp_path_factory):
    d = tmp_path_factory.mktemp("policies")
    return {
        "gridworld": _policy_checkpoint(d / "gw.pt", "gridworld"),
        "reach": _policy_checkpoint(d / "reach.pt", "reach"),
    }


def _config(tmp_path, text: str, base: str | None = None):
    """A config file: ``text`` alone, or config/BASE.yaml with ``text`` appended."""
    p = tmp_path / "bad.yaml"
    p.write_text(((CONFIG_DIR / f"{base}.yaml").read_text() + "\n" if base else "") + text)
    return str(p)


def _run(argv) -> tuple[int, str]:
    """main(argv)'s exit status, whether it returns it or argparse raises SystemExit."""
    try:
        return main(argv), ""
    except SystemExit as exc:
        return exc.code, ""


def _absent(t):  # noqa: N802
    """A config that does not exist, beside a bad value: the value must be refused first,
    before any work (and the old code then failed fast instead of running a benchmark)."""
    return ["--config", str(t / "absent.yaml")]


# (argv builder, what the one line must name). Builders get (tmp_path, policies).
CASES = {
    # config files
    "algo section not a mapping": (
        lambda t, p: [
            "train",
            "--task",
            "gridworld",
            "--config",
            _config(t, "algo: 5\n", "gridworld"),
            "--out",
            str(t / "o"),
        ],
        "algo",
    ),
    "robot algo section not a mapping": (
        lambda t, p: [
            "train",
            "--task",
            "reach",
            "--demos",
            str(t),
            "--config",
            _config(t, "algo: 5\n", "reach_train"),
            "--out",
            str(t / "o"),
        ],
        "algo",
    ),
    "demos section not a mapping": (
        lambda t, p: [
            "train",
            "--task",
            "reach",
            "--demos",
            str(t),
            "--config",
            _config(t, "demos: 5\n", "reach_train"),
            "--out",
            str(t / "o"),
        ],
        "demos",
    ),
    "negative n_demos in a config": (
        lambda t, p: [
            "train",
            "--task",
            "reach",
            "--demos",
            str(t),
            "--config",
            _config(t, "demos: {n_demos: -1}\n", "reach_train"),
            "--out",
            str(t / "o"),
        ],
        "n_demos",
    ),
    "zero bench seeds in a config": (
        lambda t, p: [
            "bench",
            "gridworld",
            "--config",
            _config(t, "bench: {seeds: 0}\n", "gridworld"),
            "--out",
            str(t / "o"),
        ],
        "seeds",
    ),
    "NaN learning rate in a config": (
        lambda t, p: [
            "train",
            "--task",
            "gridworld",
            "--config",
            _config(t, "algo: {policy_lr: .nan, env_steps: 640}\n", "gridworld"),
            "--out",
            str(t / "o"),
            "--no-progress",
        ],
        "policy_lr",
    ),
    "zero policy steps in a config": (
        lambda t, p: [
            "train",
            "--task",
            "gridworld",
            "--config",
            _config(t, "algo: {policy_steps: 0, env_steps: 640}\n", "gridworld"),
            "--out",
            str(t / "o"),
            "--no-progress",
        ],
        "policy_steps",
    ),
    # command-line values
    "--checkpoint-every 0": (
        lambda t, p: [
            "train",
            "--task",
            "gridworld",
            "--env-steps",
            "640",
            "--checkpoint-every",
            "0",
            "--out",
            str(t / "o"),
            "--no-progress",
        ],
        "--checkpoint-every",
    ),
    "--env-steps 0": (
        lambda t, p: ["train", "--task", "gridworld", "--env-steps", "0", *_absent(t), "--out", str(t / "o")],
        "--env-steps",
    ),
    "train --seed -1": (
        lambda t, p: [
            "train",
            "--task",
            "gridworld",
            "--seed",
            "-1",
            "--env-steps",
            "640",
            "--out",
            str(t / "o"),
            "--no-progress",
        ],
        "--seed",
    ),
    "--n-demos -2": (
        lambda t, p: [
            "train",
            "--task",
            "reach",
            "--algo",
            "bc",
            "--demos",
            str(t / "d"),
            "--n-demos",
            "-2",
            "--out",
            str(t / "o"),
        ],
        "--n-demos",
    ),
    "bench --n-demos 0": (
        lambda t, p: ["bench", "ur5", "--n-demos", "0", *_absent(t), "--out", str(t / "o")],
        "--n-demos",
    ),
    "eval --episodes 0": (
        lambda t, p: [
            "eval",
            "--task",
            "gridworld",
            "--policy",
            str(p["gridworld"]),
            "--episodes",
            "0",
            "--out",
            str(t / "o"),
        ],
        "--episodes",
    ),
    "eval --episodes -3": (
        lambda t, p: [
            "eval",
            "--task",
            "reach",
            "--policy",
            str(p["reach"]),
            "--episodes",
            "-3",
            "--out",
            str(t / "o"),
        ],
        "--episodes",
    ),
    "eval --seed -1": (
        lambda t, p: [
            "eval",
            "--task",
            "reach",
            "--policy",
            str(p["reach"]),
            "--episodes",
            "1",
            "--seed",
            "-1",
            "--out",
            str(t / "o"),
        ],
        "--seed",
    ),
    "eval --episodes x": (
        lambda t, p: [
            "eval",
            "--task",
            "gridworld",
            "--policy",
            str(p["gridworld"]),
            "--episodes",
            "x",
            "--out",
            str(t / "o"),
        ],
        "--episodes",
    ),
    "demos --n 0": (lambda t, p: ["demos", "--n", "0", "--out", str(t / "o")], "--n"),
    "bench --seeds 0": (
        lambda t, p: ["bench", "gridworld", "--seeds", "0", *_absent(t), "--out", str(t / "o")],
        "--seeds",
    ),
    "bench --workers 0": (
        lambda t, p: ["bench", "gridworld", "--workers", "0", *_absent(t), "--out", str(t / "o")],
        "--workers",
    ),
    "bench --seed -5": (
        lambda t, p: ["bench", "gridworld", "--seed", "-5", *_absent(t), "--out", str(t / "o")],
        "--seed",
    ),
    "dynamics --attention-blocks -1": (
        lambda t, p: ["bench", "dynamics", "--attention-blocks", "-1", "--out", str(t / "o")],
        "--attention-blocks",
    ),
    "expert --eval-every 0": (
        lambda t, p: ["expert", "train", "--env", "Ant-v5", "--eval-every", "0", "--out", str(t / "o")],
        "--eval-every",
    ),
    # mairl eval --config for reach: it used to be ignored
    "eval --config with an unknown key": (
        lambda t, p: [
            "eval",
            "--task",
            "reach",
            "--policy",
            str(p["reach"]),
            "--episodes",
            "1",
            "--config",
            _config(t, "eval: {episode: 3}\n", "reach_train"),
            "--out",
            str(t / "o"),
        ],
        "episode",
    ),
    "eval --config missing": (
        lambda t, p: [
            "eval",
            "--task",
            "reach",
            "--policy",
            str(p["reach"]),
            "--episodes",
            "1",
            "--config",
            str(t / "absent.yaml"),
            "--out",
            str(t / "o"),
        ],
        "absent.yaml",
    ),
    "eval --config bad YAML": (
        lambda t, p: [
            "eval",
            "--task",
            "reach",
            "--policy",
            str(p["reach"]),
            "--episodes",
            "1",
            "--config",
            _config(t, "eval: [1, 2\n"),
            "--out",
            str(t / "o"),
        ],
        "invalid YAML",
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_is_one_line_and_exit_2(case, tmp_path, policies, capsys):
    build, names = CASES[case]
    argv = build(tmp_path, policies)
    code, _ = _run(argv)
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2, f"exit {code}; stderr:\n{err}"
    assert len(lines) == 1, f"expected one line on stderr, got:\n{err}"
    assert "Traceback" not in err and names in lines[0], lines[0]
    assert not (tmp_path / "o" / "results.json").exists()
    assert not (tmp_path / "o" / "checkpoint.pt").exists()


def test_eval_config_sets_the_episodes(tmp_path, policies, capsys):
    """reach/grasp: --config's eval section gives the defaults of --episodes and --seed."""
    cfg = _config(tmp_path, "eval: {episodes: 2, seed: 7}\n", "reach_train")
    assert (
        main(
            [
                "eval",
                "--task",
                "reach",
                "--policy",
                str(policies["reach"]),
                "--config",
                cfg,
                "--out",
                str(tmp_path / "e"),
            ]
        )
        == 0
    )
    row = json.loads((tmp_path / "e" / "results.json").read_text())["rows"][0]
    assert row["episodes"] == 2 and row["eval_seed"] == 7
    assert "2 episodes, seed 7" in capsys.readouterr().out


def test_bad_input_from_the_installed_command(tmp_path):
    """The real `mairl` process: exit 2 and one line, nothing else on stderr."""
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "mairl_core.cli",
            "train",
            "--checkpoint-every",
            "0",
            "--out",
            str(tmp_path / "o"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO_ROOT,
    )
    assert res.returncode == 2, res.stderr
    assert len(res.stderr.strip().splitlines()) == 1 and "--checkpoint-every" in res.stderr
    assert "Traceback" not in res.stderr


@pytest.mark.parametrize(
    "argv, names",
    [
        (["latency", "--duration", "-1"], "--duration"),
        (["latency", "--duration", "nan"], "--duration"),
        (["latency", "--seed", "-2"], "--seed"),
        (["soak", "--minutes", "0"], "--minutes"),
        (["soak", "--seed", "-3"], "--seed"),
        (["soak", "--estop-every", "nan"], "--estop-every"),
    ],
)
def test_bad_input_to_the_ros_benches(tmp_path, argv, names):
    """`mairl bench latency|soak` forward to mairl_ros's own parsers: the same one-line rule."""
    res = subprocess.run(
        [sys.executable, "-m", "mairl_core.cli", "bench", *argv, "--out", str(tmp_path / "o")],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO_ROOT,
    )
    assert res.returncode == 2, res.stderr
    assert len(res.stderr.strip().splitlines()) == 1 and names in res.stderr, res.stderr
    assert "Traceback" not in res.stderr and not (tmp_path / "o").exists()


def test_the_parser_and_the_ros_benches_start_without_torch(tmp_path):
    """`mairl --help` and a ROS bench's bad value answer without importing torch (seconds on a
    small machine): the parser is built from torch-free names, the ROS benches' arguments go to
    their own process first."""
    code = (
        "import sys; from mairl_core import cli; cli.build_parser(); "
        "rc = cli.main(['bench', 'latency', '--duration', '-1', '--out', sys.argv[1]]); "
        "print(rc, 'torch' in sys.modules)"
    )
    res = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "o")],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO_ROOT,
    )
    assert res.stdout.split() == ["2", "False"], res.stdout + res.stderr
    assert "--duration must be" in res.stderr and not (tmp_path / "o").exists()


def test_eval_reports_safety_rejected_steps(tmp_path, capsys):
    """A policy whose every action is NaN: every step is rejected by the safety layer (the arm
    holds), and the evaluation says so instead of only 'success 0.00, 0 clipped steps'."""
    ckpt = _policy_checkpoint(tmp_path / "nan.pt", "reach", fill=float("nan"))
    assert (
        main(
            [
                "eval",
                "--task",
                "reach",
                "--policy",
                str(ckpt),
                "--episodes",
                "2",
                "--out",
                str(tmp_path / "e"),
            ]
        )
        == 0
    )
    row = json.loads((tmp_path / "e" / "results.json").read_text())["rows"][0]
    steps = 2 * UR5ReachEnv().cfg.episode_steps
    assert row["safety_rejected_steps"] == steps
    assert row["safety_clipped_steps"] == 0 and row["success_rate"] == 0.0
    out = capsys.readouterr().out
    assert f"{steps} of {steps} steps rejected" in out
