"""UR5 grasping with a suction cup: the env API, the physics of suction, the scripted expert,
demo bags with the suction topic, and training/evaluation from the command line."""

from __future__ import annotations

import dataclasses
import json

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium.utils.env_checker import check_env

import mairl_core.envs  # noqa: F401 - registers the envs
from mairl_core.cli import main
from mairl_core.config import load_config
from mairl_core.data.bags import BagError, grasp_transitions, read_episode, write_episode
from mairl_core.data.operator import GRASP_STYLE, GraspOperator, generate_demos, run_teleop_episode
from mairl_core.envs.kinematics import twist_to_joint_command
from mairl_core.envs.ur5_grasp import GraspConfig, UR5GraspEnv
from mairl_core.envs.ur5_model import load_ur5


@pytest.fixture(scope="module")
def env():
    return UR5GraspEnv()


def test_env_checker_and_spaces():
    e = gym.make("mairl/UR5Grasp-v0", render_mode="rgb_array")
    check_env(e.unwrapped, skip_render_check=False)
    assert e.observation_space.shape == (17,) and e.action_space.shape == (7,)
    e.close()


def test_reset_places_block_on_the_table_under_the_box(env):
    lo, hi = np.array(env.limits.box_lower), np.array(env.limits.box_upper)
    for seed in range(10):
        obs, _ = env.reset(seed=seed)
        b = env.block_position()
        assert np.all(b[:2] >= lo[:2]) and np.all(b[:2] <= hi[:2])
        assert b[2] == pytest.approx(env.cfg.object_size, abs=1e-6)
        assert (
            obs[15] == 0.0
            and obs[16] == 0.0
            and not env.holding()
            and env.lift() == pytest.approx(0.0, abs=1e-6)
        )
        np.testing.assert_allclose(obs[12:15], env._tip(env.data.qpos[:6]) - b, atol=1e-6)


def _press_down(env, seed: int, suction: bool) -> None:
    """Come down onto the block with a plain P controller, wait 3 steps touching it (with
    ``suction``: until it is held), then go up 12 cm."""
    env.reset(seed=seed)
    touched, goal = None, None
    for t in range(env.cfg.episode_steps):
        q = env.data.qpos[:6].copy()
        tip = env._tip(q)
        if touched is None and np.linalg.norm(tip - env.grasp_point()) < 0.008:
            touched = t
        if touched is not None and goal is None and t >= touched + 3 and (env.holding() or not suction):
            goal = tip + [0.0, 0.0, 0.12]
        target = (env.grasp_point() - [0, 0, 0.004]) if goal is None else goal
        v = 6.0 * (target - tip)
        v *= min(1.0, 0.8 / max(np.linalg.norm(v), 1e-9))
        cmd = twist_to_joint_command(env.robot, q, v, 0.04)
        env.step(np.r_[cmd - q, 0.06 if suction and touched is not None else -0.06])
    assert goal is not None, "the controller never touched the block"


def test_suction_lifts_the_block_and_without_it_nothing_is_lifted(env):
    _press_down(env, seed=3, suction=True)
    assert env.holding() and env.lift() >= env.cfg.lift_height and env.is_success()
    assert env._obs()[15] == 1.0 and env._obs()[16] == 1.0  # switched on, and the sensor sees it
    _press_down(env, seed=3, suction=False)
    assert not env.holding() and env.lift() < 0.01 and not env.is_success()
    assert env._obs()[15] == 0.0 and env._obs()[16] == 0.0


def test_suction_releases_when_switched_off(env):
    _press_down(env, seed=4, suction=True)
    lifted = env.lift()
    assert lifted >= env.cfg.lift_height
    q = env.data.qpos[:6].copy()
    for _ in range(15):
        env.step(np.r_[np.zeros(6), -0.06])
    assert env.data.qpos[:6] == pytest.approx(q, abs=0.02)
    assert env.lift() < 0.01 and not env.holding()  # the block fell back to the table
    assert env._obs()[16] == 0.0  # and the vacuum sensor says so


def test_bad_suction_command_is_refused(env):
    env.reset(seed=0)
    _, _, _, _, info = env.step(np.r_[np.zeros(6), np.nan])
    assert "suction_rejected" in info and env.suction == 0.0


@pytest.mark.parametrize("shape", ["box", "cylinder", "sphere"])
def test_scripted_expert_grasps_every_shape(shape):
    cfg = dataclasses.replace(load_config(GraspConfig, "ur5_grasp"), object=shape)
    e = UR5GraspEnv(config=cfg)
    op = GraspOperator(GRASP_STYLE, np.random.default_rng(7))
    results = [run_teleop_episode(e, op, seed=500 + i)[1] for i in range(4)]
    assert sum(results) >= 3, results


def test_unknown_shape_is_a_clear_error():
    with pytest.raises(ValueError, match="box, cylinder, sphere"):
        GraspConfig(object="cone")


def test_grasp_bags_round_trip_and_transitions(tmp_path):
    stats = generate_demos(tmp_path / "d", n=2, seed=3, task="grasp", progress=False)
    assert stats["episodes"] == 2
    bags = sorted((tmp_path / "d").iterdir())
    ep = read_episode(bags[0], grasp=True)
    T = UR5GraspEnv().cfg.episode_steps
    assert ep.q.shape == (T + 1, 6) and ep.suction.shape == (T,) and ep.target_path.shape == (T + 1, 3)
    assert ep.suction.any() and not ep.suction[0]
    assert ep.vacuum.shape == (T + 1,) and ep.vacuum[-1] and not ep.vacuum[0]
    assert not (ep.vacuum[1:] & ~ep.suction).any()  # the sensor sees the block only when on
    assert ep.target_path[-1][2] - ep.target_path[0][2] >= 0.05  # the block went up with the cup
    # written again, read again: identical
    write_episode(tmp_path / "copy", ep)
    again = read_episode(tmp_path / "copy", grasp=True)
    np.testing.assert_array_equal(again.suction, ep.suction)
    np.testing.assert_allclose(again.target_path, ep.target_path)
    np.testing.assert_array_equal(again.vacuum, ep.vacuum)
    arr = grasp_transitions([ep], load_ur5(), suction_value=0.06)
    assert arr["obs"].shape == (1, T, 17) and arr["act"].shape == (1, T, 7)
    # the suction state observed is the previous command; the action's sign is the command
    np.testing.assert_array_equal(arr["obs"][0, 1:, 15], ep.suction[:-1].astype(np.float32))
    np.testing.assert_array_equal(arr["act"][0, :, 6] > 0, ep.suction)
    np.testing.assert_array_equal(arr["obs"][0, :, 16], ep.vacuum[:-1].astype(np.float32))
    np.testing.assert_allclose(arr["obs"][0, 1:], arr["next_obs"][0, :-1])
    # a reach bag is not a grasp bag
    generate_demos(tmp_path / "r", n=1, seed=0, task="reach", progress=False)
    with pytest.raises(BagError, match="/mairl/suction"):
        read_episode(next((tmp_path / "r").iterdir()), grasp=True)


@pytest.fixture(scope="module")
def grasp_demos(tmp_path_factory):
    out = tmp_path_factory.mktemp("grasp_demos")
    assert (
        main(["demos", "--task", "grasp", "--n", "3", "--seed", "2", "--out", str(out), "--no-progress"]) == 0
    )
    return out


def test_train_and_eval_grasp_from_the_cli(tmp_path, grasp_demos):
    from _helpers import small_robot_config

    cfg = small_robot_config(tmp_path, "grasp_train", n_demos=3, bc_steps=100, agent_recent=600)
    for algo in ("bc", "mairl"):
        out = tmp_path / algo
        assert (
            main(
                [
                    "train",
                    "--task",
                    "grasp",
                    "--algo",
                    algo,
                    "--demos",
                    str(grasp_demos),
                    "--config",
                    str(cfg),
                    "--out",
                    str(out),
                    "--env-steps",
                    "300",
                    "--no-progress",
                ]
            )
            == 0
        )
        ev = tmp_path / f"ev_{algo}"
        assert (
            main(
                [
                    "eval",
                    "--task",
                    "grasp",
                    "--policy",
                    str(out / "checkpoint.pt"),
                    "--episodes",
                    "2",
                    "--out",
                    str(ev),
                ]
            )
            == 0
        )
        row = json.loads((ev / "results.json").read_text())["rows"][0]
        assert row["env"] == "UR5Grasp-v0" and len(row["final_distances"]) == 2
        assert "final_lift_median" in row
    from mairl_core.training import load_policy

    policy, meta = load_policy(tmp_path / "mairl" / "checkpoint.pt")
    assert meta["task"] == "grasp"
    act = policy.act(torch.zeros(2, 17))
    assert act.shape == (2, 7) and bool((act.abs() <= UR5GraspEnv.step_bound() + 1e-6).all())
    # a reach policy is refused on grasp
    with pytest.raises(SystemExit, match="trained on task 'grasp', not 'reach'"):
        main(
            [
                "eval",
                "--task",
                "reach",
                "--policy",
                str(tmp_path / "bc" / "checkpoint.pt"),
                "--episodes",
                "1",
                "--out",
                str(tmp_path / "x"),
            ]
        )


def test_a_grasp_bench_reads_its_env_settings(tmp_path, grasp_demos, monkeypatch):
    """`bench: env: {...}`: every env of the run (training, the curve's and the held-out
    evaluations) gets the bench's env settings, from the env config read once at the run's
    start (a file edited during a run does not reach it); a misspelt env setting stops the
    bench before any run."""
    import yaml
    from _helpers import CONFIG_DIR

    import mairl_core.config
    from mairl_core.benchmarks import ur5
    from mairl_core.config import ConfigError

    reads, real_load = [], mairl_core.config.load_config
    monkeypatch.setattr(mairl_core.config, "load_config", lambda c, *a: reads.append(c) or real_load(c, *a))
    masses, real_init = [], UR5GraspEnv.__init__

    def init(self, *a, **k):
        real_init(self, *a, **k)
        masses.append(self.cfg.object_mass)

    monkeypatch.setattr(UR5GraspEnv, "__init__", init)

    data = {
        "base": str(CONFIG_DIR / "grasp_scratch.yaml"),
        "demos": {"n_demos": 3},
        "algo": {"n_envs": 2, "env_steps": 600, "buffer_size": 600, "batch_size": 64},
        "eval": {"episodes": 2},
        "bench": {"env": {"object_mass": 0.123}, "eval_every": 1, "curve_episodes": 1},
    }
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump(data))
    exp, bench = ur5.load_bench(str(cfg))
    rec = ur5.run_one(exp, bench, "MAIRL", 0, str(grasp_demos), str(tmp_path / "ck"), "grasp")
    assert rec["env_steps"] == 600 and len(rec["curve"]) == 2 and 0 <= rec["success_rate"] <= 1
    assert reads.count(GraspConfig) == 1
    # 2 training envs, 1 curve episode at each of 2 points, 2 held-out episodes at least
    assert len(masses) >= 6 and set(masses) == {0.123}
    (ckpt,) = (tmp_path / "ck").iterdir()
    # the held-out figures are the saved policy's, whether or not the bench reused the last
    # policy's test for them
    from mairl_core.robot import evaluate_robot
    from mairl_core.training import load_policy

    policy, _ = load_policy(ckpt)
    again = evaluate_robot(
        policy, 2, exp.eval.seed, task="grasp", env_config=ur5.bench_env_config("grasp", bench)
    )
    assert again["final_distances"] == rec["final_distances"]
    data["bench"]["env"] = {"object_mas": 0.1}
    cfg.write_text(yaml.safe_dump(data))
    exp, bench = ur5.load_bench(str(cfg))
    with pytest.raises(ConfigError, match="object_mas"):
        ur5.run_bench(exp, bench, tmp_path / "out", task="grasp", seed=0, workers=1, progress=False)
    assert not (tmp_path / "out").exists()


def test_train_and_eval_from_the_cli_use_the_configs_env_settings(tmp_path, grasp_demos, monkeypatch):
    """`mairl train` and `mairl eval` with a config that has `bench: env: {...}` train and test
    on that env, as the bench does (they read the task's env config without it before)."""
    import yaml
    from _helpers import small_robot_config

    masses, real_init = [], UR5GraspEnv.__init__

    def init(self, *a, **k):
        real_init(self, *a, **k)
        masses.append(self.cfg.object_mass)

    monkeypatch.setattr(UR5GraspEnv, "__init__", init)
    cfg = small_robot_config(tmp_path, "grasp_train", n_demos=3, bc_steps=100, agent_recent=600)
    data = yaml.safe_load(cfg.read_text())
    data["bench"]["env"] = {"object_mass": 0.123}
    cfg.write_text(yaml.safe_dump(data))
    common = ["--task", "grasp", "--config", str(cfg), "--no-progress"]
    out = tmp_path / "mairl"
    args = ["--algo", "mairl", "--demos", str(grasp_demos), "--out", str(out), "--env-steps", "200"]
    assert main(["train", *common, *args]) == 0
    assert masses and set(masses) == {0.123}
    masses.clear()
    ev = ["--policy", str(out / "checkpoint.pt"), "--episodes", "1", "--out", str(tmp_path / "ev")]
    assert main(["eval", *[a for a in common if a != "--no-progress"], *ev]) == 0
    assert masses and set(masses) == {0.123}


def test_a_task_input_discriminator_reads_the_grasp_not_the_arm_pose(env):
    """disc_inputs 'task': D's g and h read [fingertip - block, suction, vacuum, fingertip
    height] (standardised by the demos), through the observation's normalisation: the joint
    velocities and the base's turn (which moves neither the height nor the observed task
    entries) do not change f; the lift does, and its gradient reaches the joint angles."""
    from mairl_core.algos.normalize import ObsNorm
    from mairl_core.models.reward import TaskInputs, make_discriminator

    obs, _ = env.reset(seed=3)
    seen = [obs]
    for _ in range(30):
        obs, *_ = env.step(np.r_[env.np_random.uniform(-1.0, 1.0, 6) * UR5GraspEnv.step_bound(), 1.0])
        seen.append(obs)
    raw = torch.as_tensor(np.stack(seen))
    feats = env.task_features(raw)
    tips = np.stack([env._tip(o[:6]) for o in raw.numpy()])
    np.testing.assert_allclose(feats[:, :5].numpy(), raw[:, 12:17].numpy())
    np.testing.assert_allclose(feats[:, 5].numpy(), tips[:, 2], atol=1e-6)
    norm = ObsNorm.fit(raw, torch.randn(len(raw), 7, generator=torch.Generator().manual_seed(0)))
    inputs = TaskInputs(env.task_features, 17, norm).fit(norm(raw), 1e-2)
    assert abs(float(inputs(norm(raw)).mean())) < 1e-5  # standardised on the demos
    torch.manual_seed(0)
    disc = make_discriminator("airl", 17, 7, hidden=(16,), gamma=0.9, state_only=False, inputs=inputs)
    act, done = torch.zeros(len(raw), 7), torch.zeros(len(raw))

    def f(o):
        x = norm(o)
        return disc.f(x, act, x, done)

    moved = raw.clone()
    moved[:, 6:12] += 0.5  # velocities
    moved[:, 0] += 0.3  # the base turns: same height
    torch.testing.assert_close(f(moved), f(raw))
    lifted = raw.clone()
    lifted[:, 1] -= 0.2  # the shoulder lifts the fingertip
    assert not torch.allclose(f(lifted), f(raw))
    x = norm(raw).requires_grad_(True)
    (grad,) = torch.autograd.grad(disc.f(x, act, x, done).sum(), x)
    assert float(grad[:, 1:4].abs().sum()) > 0 and float(grad[:, 6:12].abs().sum()) == 0


def test_task_inputs_need_an_env_that_has_them(gridworld_experiment, expert_demos):
    from _helpers import make_trainer

    with pytest.raises(ValueError, match="task_features"):
        make_trainer(gridworld_experiment, expert_demos, disc_inputs="task")


def test_a_grasp_run_with_task_inputs_trains_and_saves_them(tmp_path, grasp_demos):
    """A short run with disc_inputs 'task' trains (D, model and policy updates) and its
    checkpoint carries D's task-input statistics, fitted on the demos' task features."""
    import yaml
    from _helpers import CONFIG_DIR

    from mairl_core.benchmarks import ur5
    from mairl_core.data.bags import read_dataset
    from mairl_core.envs.kinematics import fingertip_position

    data = {
        "base": str(CONFIG_DIR / "grasp_scratch.yaml"),
        "demos": {"n_demos": 3},
        "algo": {"n_envs": 2, "env_steps": 600, "buffer_size": 600, "batch_size": 64, "disc_inputs": "task"},
        "eval": {"episodes": 1},
        "bench": {"eval_every": 1, "curve_episodes": 1},
    }
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump(data))
    exp, bench = ur5.load_bench(str(cfg))
    rec = ur5.run_one(exp, bench, "MAIRL", 0, str(grasp_demos), str(tmp_path / "ck"), "grasp")
    assert rec["env_steps"] == 600
    (ckpt,) = (tmp_path / "ck").iterdir()
    state = torch.load(ckpt, weights_only=True)
    disc = state["state"]["modules"]["disc"]
    assert disc["inputs.mean"].shape == (6,)
    robot = load_ur5()
    q = np.concatenate([ep.q[:-1] for ep in read_dataset(grasp_demos, grasp=True)])
    height = np.array([fingertip_position(robot, qq)[2] for qq in q])
    np.testing.assert_allclose(float(disc["inputs.mean"][5]), height.mean(), atol=1e-4)
    floor = exp.algo.obs_std_min  # the standardisation floors stds as the obs normalisation does
    np.testing.assert_allclose(float(disc["inputs.std"][5]), max(height.std(), floor), atol=1e-4)
