"""UR5 reach training and evaluation from the command line: BC, an adversarial method,
resume, evaluation with results.json and a headless GIF, and clear errors."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest
import torch
import yaml

from mairl_core.cli import main


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("demos")
    assert (
        main(["demos", "--task", "reach", "--n", "4", "--seed", "1", "--out", str(out), "--no-progress"]) == 0
    )
    return out


@pytest.fixture
def small_config(tmp_path):
    """reach_train.yaml with a budget a test can afford."""
    from _helpers import small_robot_config

    return small_robot_config(tmp_path, "reach_train", n_demos=4, bc_steps=200, agent_recent=400)


def test_bc_train_and_eval_with_video(tmp_path, demo_dir, small_config, capsys):
    out = tmp_path / "bc"
    assert (
        main(
            [
                "train",
                "--task",
                "reach",
                "--algo",
                "bc",
                "--demos",
                str(demo_dir),
                "--config",
                str(small_config),
                "--out",
                str(out),
            ]
        )
        == 0
    )
    ev = tmp_path / "eval"
    assert (
        main(
            [
                "eval",
                "--task",
                "reach",
                "--policy",
                str(out / "checkpoint.pt"),
                "--episodes",
                "4",
                "--seed",
                "10000",
                "--out",
                str(ev),
                "--video",
            ]
        )
        == 0
    )
    res = json.loads((ev / "results.json").read_text())
    row = res["rows"][0]
    assert row["method"] == "BC" and row["episodes"] == 4 and row["n_demos"] == 4
    assert 0.0 <= row["success_rate"] <= 1.0 and len(row["final_distances"]) == 4
    assert row["final_distance_quantiles"]["0.5"] == pytest.approx(row["final_distance_median"])
    gif = ev / "episodes.gif"
    assert gif.stat().st_size > 10_000
    from PIL import Image

    with Image.open(gif) as im:
        assert im.n_frames > 50 and im.size == (320, 240)
    # the same seed gives the same episodes (deterministic policy, seeded targets)
    ev2 = tmp_path / "eval2"
    assert (
        main(
            [
                "eval",
                "--task",
                "reach",
                "--policy",
                str(out / "checkpoint.pt"),
                "--episodes",
                "4",
                "--seed",
                "10000",
                "--out",
                str(ev2),
            ]
        )
        == 0
    )
    assert (
        json.loads((ev2 / "results.json").read_text())["rows"][0]["final_distances"] == row["final_distances"]
    )


def test_bc_policy_is_better_than_standing_still(demo_dir, small_config):
    """A BC policy from 4 demos moves the fingertip towards the targets: the median final
    distance is clearly below the median start distance (standing still: equal; random: above)."""
    from mairl_core import robot

    exp = robot.load_robot_experiment(small_config)
    policy, _ = robot.train_bc(exp, robot.load_robot_demos(demo_dir), seed=0, steps=1500)
    res = robot.evaluate_robot(policy, 8, seed=20_000)
    from mairl_core.envs.ur5_reach import UR5ReachEnv

    start = [UR5ReachEnv().reset(seed=20_000 + i)[1]["distance"] for i in range(8)]
    assert res["final_distance_median"] < 0.75 * float(torch.tensor(start).median())


def test_adversarial_train_resume_eval(tmp_path, demo_dir, small_config):
    out = tmp_path / "mairl"
    args = [
        "train",
        "--task",
        "reach",
        "--algo",
        "mairl",
        "--demos",
        str(demo_dir),
        "--config",
        str(small_config),
        "--out",
        str(out),
        "--no-progress",
        "--checkpoint-every",
        "1",
    ]
    assert main([*args, "--env-steps", "200"]) == 0
    assert main([*args, "--env-steps", "400", "--resume"]) == 0
    from mairl_core.checkpoint import load_checkpoint
    from mairl_core.training import load_policy

    state = load_checkpoint(out / "checkpoint.pt")["state"]
    assert state["env_steps"] == 400 and "obs_norm" in state["modules"]
    policy, meta = load_policy(out / "checkpoint.pt")
    assert meta["task"] == "reach" and len(meta["action_scale"]) == 6
    # the deployed policy takes raw observations and returns joint steps inside the bound
    obs = torch.zeros(3, 15)
    act = policy.act(obs)
    from mairl_core.envs.ur5_reach import UR5ReachEnv

    assert act.shape == (3, 6) and bool((act.abs() <= UR5ReachEnv.step_bound() + 1e-6).all())
    assert (
        main(
            [
                "eval",
                "--task",
                "reach",
                "--policy",
                str(out / "checkpoint.pt"),
                "--episodes",
                "2",
                "--out",
                str(tmp_path / "ev"),
            ]
        )
        == 0
    )


def test_reach_errors(tmp_path, demo_dir, small_config, capsys):
    base = ["train", "--task", "reach", "--algo", "bc", "--config", str(small_config)]
    with pytest.raises(SystemExit, match="--demos"):
        main([*base, "--out", str(tmp_path / "a")])
    assert main([*base, "--demos", str(tmp_path / "nope"), "--out", str(tmp_path / "b")]) == 2
    assert "does not exist" in capsys.readouterr().err
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main([*base, "--demos", str(empty), "--out", str(tmp_path / "c")]) == 2
    assert "no episode bags" in capsys.readouterr().err
    assert main([*base, "--demos", str(demo_dir), "--n-demos", "9", "--out", str(tmp_path / "d")]) == 2
    assert "9 demos asked for, 4 recorded" in capsys.readouterr().err
    with pytest.raises(SystemExit, match="reach"):
        main(["train", "--task", "gridworld", "--algo", "bc", "--out", str(tmp_path / "e")])


def test_bench_ur5_quick(tmp_path, demo_dir, small_config):
    """`mairl bench ur5 --quick` runs every kind of method end to end and writes its files;
    `--resume` then trains nothing again and writes the same rows."""
    out = tmp_path / "bench"
    quick = "bench ur5 --task reach --quick --workers 1 --no-progress".split()
    quick += ["--config", str(small_config), "--demos", str(demo_dir)]
    argv = [*quick, "--methods", "Expert,Random,BC,GAIL,AIRL,MAIRL", "--out", str(out), "--threads", "1"]
    assert main(argv) == 0
    res = json.loads((out / "results.json").read_text())
    assert res["quick"] is True and res["benchmark"] == "ur5-reach"
    rows = {r["method"]: r for r in res["rows"]}
    assert set(rows) == {"Expert", "Random", "BC", "GAIL", "AIRL", "MAIRL"}
    assert rows["Expert"]["success_rate"] >= 0.75  # the scripted operator reaches
    assert rows["Random"]["success_rate"] == 0.0
    assert rows["MAIRL"]["env_steps"] == rows["AIRL"]["env_steps"] >= 1600  # same budget
    assert rows["MAIRL"]["demos"] == 4 and rows["MAIRL"]["robot"] == "nominal"
    assert 0.0 <= rows["MAIRL"]["stable_frac"] <= 1.0
    runs = json.loads((out / "runs.json").read_text())
    assert any(r["curve"] for r in runs if r["method"] == "MAIRL")
    # each curve point keeps the learner's state (what a collapse is read from)
    train = next(r for r in runs if r["method"] == "MAIRL")["curve"][-1]["train"]
    assert {"disc/accuracy", "disc/loss", "policy/objective"} <= set(train)
    assert all(map(np.isfinite, train.values()))
    assert (out / "success_curves.png").stat().st_size > 5_000
    ckpt = out / "checkpoints" / "reach_mairl_seed0.pt"
    assert ckpt.exists()
    # --resume: every run is in OUT/runs, so nothing trains again and the rows are the same
    stamp = ckpt.stat().st_mtime_ns
    assert main([*argv, "--resume"]) == 0
    again = json.loads((out / "results.json").read_text())
    assert json.loads((out / "runs.json").read_text()) == runs
    assert [{k: v for k, v in r.items() if "wall" not in k} for r in again["rows"]] == [
        {k: v for k, v in r.items() if "wall" not in k} for r in res["rows"]
    ]
    assert ckpt.stat().st_mtime_ns == stamp
    assert (
        main(
            [
                "bench",
                "ur5",
                "--methods",
                "Nope",
                "--quick",
                "--out",
                str(tmp_path / "x"),
                "--demos",
                str(demo_dir),
                "--config",
                str(small_config),
            ]
        )
        == 2
    )
    # the demo-count sweep: the same bench on the first N demos
    assert main([*quick, "--methods", "BC", "--n-demos", "2", "--out", str(tmp_path / "n2")]) == 0
    assert (
        json.loads((tmp_path / "n2" / "results.json").read_text())["config"]["experiment"]["demos"]["n_demos"]
        == 2
    )
    # reward transfer from these checkpoints to the changed robot
    tr_out = tmp_path / "transfer"
    assert (
        main(
            [
                "bench",
                "transfer",
                "--task",
                "reach",
                "--source",
                str(out),
                "--quick",
                "--config",
                str(small_config),
                "--out",
                str(tr_out),
                "--workers",
                "1",
                "--no-progress",
            ]
        )
        == 0
    )
    res = json.loads((tr_out / "results.json").read_text())
    assert res["benchmark"] == "ur5-reach-transfer" and res["quick"] is True
    rows = {r["method"]: r for r in res["rows"]}
    assert set(rows) == {"Expert", "BC moved", "MAIRL moved", "MAIRL reward", "GAIL reward"}
    assert rows["MAIRL reward"]["env_steps"] == rows["GAIL reward"]["env_steps"] >= 1600
    assert rows["BC moved"]["env_steps"] == 0
    assert (
        rows["BC moved"]["variant"] == "policy-moved"
        and rows["GAIL reward"]["variant"] == "reward-retrained"
        and all(r["robot"] == "changed" for r in rows.values())
    )
    assert (tr_out / "success_curves.png").stat().st_size > 5_000
    # each new policy is kept (as `mairl eval` loads it); no run state is left behind
    from mairl_core.training import load_policy

    assert {p.name for p in (tr_out / "checkpoints").iterdir()} == {
        "reach_MAIRL_reward_seed0.pt",
        "reach_GAIL_reward_seed0.pt",
    }
    assert load_policy(tr_out / "checkpoints" / "reach_MAIRL_reward_seed0.pt")[0] is not None
    assert not list((tr_out / "runs").glob("*.pt"))
    # --resume: every run's record is in OUT/runs, so nothing trains again
    tr_runs = json.loads((tr_out / "runs.json").read_text())
    tr_argv = ["bench", "transfer", "--task", "reach", "--source", str(out), "--quick", "--config"]
    tr_argv += [str(small_config), "--out", str(tr_out), "--workers", "1", "--no-progress", "--resume"]
    assert main(tr_argv) == 0
    assert json.loads((tr_out / "runs.json").read_text()) == tr_runs
    assert (
        main(
            [
                "bench",
                "transfer",
                "--source",
                str(tmp_path / "nothing"),
                "--quick",
                "--config",
                str(small_config),
                "--out",
                str(tmp_path / "y"),
            ]
        )
        == 2
    )


def test_bench_ur5_keeps_going_when_a_run_diverges(tmp_path, demo_dir, small_config, monkeypatch, capsys):
    """A UR5 run that diverges before its first curve point has no policy to test, save or
    publish: its row is NaN and names the seed, and the bench's other runs are written."""
    from mairl_core.algos.adversarial import AdversarialTrainer, TrainingDiverged

    real = AdversarialTrainer._iteration

    def breaks_in_mairl(self):
        if self.method == "mairl":
            raise TrainingDiverged("training diverged in iteration 0 (test)")
        return real(self)

    monkeypatch.setattr(AdversarialTrainer, "_iteration", breaks_in_mairl)
    out = tmp_path / "bench"
    assert (
        main(
            [
                "bench",
                "ur5",
                "--task",
                "reach",
                "--quick",
                "--config",
                str(small_config),
                "--demos",
                str(demo_dir),
                "--methods",
                "MAIRL,GAIL",
                "--out",
                str(out),
                "--workers",
                "1",
                "--no-progress",
                "--publish",
                str(tmp_path / "pub"),
            ]
        )
        == 0
    )
    rows = {r["method"]: r for r in json.loads((out / "results.json").read_text())["rows"]}
    assert rows["MAIRL"]["diverged_seeds"] == [0] and np.isnan(rows["MAIRL"]["success_rate"])
    assert rows["GAIL"]["diverged_seeds"] == [] and 0.0 <= rows["GAIL"]["success_rate"] <= 1.0
    assert (out / "checkpoints" / "reach_gail_seed0.pt").exists()
    assert not (out / "checkpoints" / "reach_mairl_seed0.pt").exists()
    assert not (tmp_path / "pub").exists() and "nothing published" in capsys.readouterr().err


def test_transferred_reward_is_frozen_and_needs_no_demos(tmp_path, demo_dir, small_config):
    """The reward-transfer trainer loads the learned reward, never updates it, uses no demos,
    and runs on the changed robot (the config's payload is in its model)."""
    from mairl_core import robot
    from mairl_core.benchmarks.transfer import reward_trainer
    from mairl_core.checkpoint import load_checkpoint

    out = tmp_path / "src"
    assert (
        main(
            [
                "bench",
                "ur5",
                "--task",
                "reach",
                "--quick",
                "--config",
                str(small_config),
                "--demos",
                str(demo_dir),
                "--methods",
                "MAIRL",
                "--out",
                str(out),
                "--workers",
                "1",
                "--no-progress",
                "--publish",
                str(tmp_path / "pub"),
            ]
        )
        == 0
    )
    ckpt = out / "checkpoints" / "reach_mairl_seed0.pt"
    assert (tmp_path / "pub" / "reach_mairl.pt").read_bytes() == ckpt.read_bytes()
    exp = robot.load_robot_experiment(small_config)
    tr = reward_trainer(exp, ckpt, seed=1, task="reach", env_config="ur5_reach_changed")
    assert tr.expert is None and tr.cfg.freeze_reward and tr.cfg.rollout_expert_frac == 0
    assert tr.env.env.envs[0].cfg.payload == 0.5
    saved = load_checkpoint(ckpt)["state"]["modules"]["disc"]
    before = {k: v.clone() for k, v in tr.policy.state_dict().items()}
    m = tr.train_iteration()
    assert "disc/loss" not in m and "policy/objective" in m
    for k, v in tr.disc.state_dict().items():
        assert torch.equal(v, saved[k]), k
    assert any(not torch.equal(v, before[k]) for k, v in tr.policy.state_dict().items())
    # the control row: the task's own reward, -distance / radius, in the same coordinates
    true = reward_trainer(exp, ckpt, seed=1, task="reach", env_config="ur5_reach_changed", true_reward=True)
    obs = true.collect().next_obs[:, :3]  # normalised, as the model's rollouts see them
    raw = true.obs_norm.inverse(obs)
    r = true.disc.policy_reward(obs, None, obs, None, torch.zeros(obs.shape[:2]), 0.1)
    torch.testing.assert_close(r, -raw[..., 12:15].norm(dim=-1) / 0.05)
    assert "policy/objective" in true.train_iteration()
    with pytest.raises(ValueError, match="reach only"):
        reward_trainer(exp, ckpt, seed=1, task="grasp", env_config=None, true_reward=True)


def test_demo_runs_the_reach_pipeline_and_resumes(tmp_path, small_config, capsys):
    """`mairl demo` (the in-process pipeline; `make demo` runs it through ROS): demos -> MAIRL ->
    BC -> test, with a GIF; run again, it reuses the demos and the finished training run."""
    data = yaml.safe_load(small_config.read_text())
    data["algo"]["env_steps"] = 400
    data["eval"]["episodes"] = 3
    cfg = tmp_path / "demo.yaml"
    cfg.write_text(yaml.safe_dump(data))
    out = tmp_path / "demo"
    assert main(["demo", "--config", str(cfg), "--out", str(out), "--no-progress"]) == 0
    res = json.loads((out / "results.json").read_text())
    assert res["benchmark"] == "demo-ur5-reach" and not res["quick"]
    rows = {r["method"]: r for r in res["rows"]}
    assert set(rows) == {"MAIRL", "BC"} and rows["MAIRL"]["env_steps"] == 400
    assert all(len(r["final_distances"]) == 3 for r in rows.values())
    assert (out / "mairl_episodes.gif").stat().st_size > 10_000
    assert len(list((out / "demos").glob("episode_*"))) == 4
    stamp = (out / "demos" / "episode_000").stat().st_mtime_ns
    assert main(["demo", "--config", str(cfg), "--out", str(out), "--no-progress"]) == 0
    assert (out / "demos" / "episode_000").stat().st_mtime_ns == stamp
    again = {r["method"]: r for r in json.loads((out / "results.json").read_text())["rows"]}
    assert again["MAIRL"]["final_distances"] == rows["MAIRL"]["final_distances"]


def test_policy_selection_keeps_the_best_and_breaks_ties_late():
    from mairl_core.benchmarks.ur5 import PolicySelection

    sel = PolicySelection(2)
    r = lambda s, d: {"success_rate": s, "final_distance_median": d}  # noqa: E731
    assert sel.offer(r(0.5, 0.10))  # the first is the best so far
    assert not sel.offer(r(0.25, 0.01))  # lower success: not served, however close
    assert sel.offer(r(0.5, 0.05))  # same success, closer
    assert not sel.offer(r(0.5, 0.06))
    assert sel.offer(r(0.5, 0.05))  # a tie goes to the later policy
    assert sel.best == (0.5, -0.05)
    resumed = PolicySelection(2, best=PolicySelection.key(r(1.0, 0.02)))  # a resumed run's mark
    assert not resumed.offer(r(0.5, 0.0)) and resumed.offer(r(1.0, 0.01))
    with pytest.raises(ValueError, match="at least one episode"):
        PolicySelection(0)
    # evaluate: the bench's training-seed targets, figures for offer
    res = sel.evaluate(_StandStill())
    assert set(res) >= {"success_rate", "final_distance_median"} and res["success_rate"] == 0.0


class _StandStill(torch.nn.Module):
    """A policy that never moves the arm."""

    obs_dim, act_dim = 15, 6

    def act(self, obs, deterministic=True):
        return torch.zeros(obs.shape[0], 6)


@pytest.fixture
def tiny_scratch_config(tmp_path):
    """reach_scratch (the SVG learner) small enough for a test: 5 iterations of 200 env
    steps, a curve point every iteration, a checkpoint every 2nd."""
    small = {"hidden": [16, 16], "batch_size": 32, "model_d": 16, "model_warmup": 200}
    small.update(reward_hidden=[16, 16], updates_per_step=0.05)
    cfg = tmp_path / "c.yaml"
    cfg.write_text(
        yaml.safe_dump(
            {
                "base": "reach_scratch",
                "demos": {"n_demos": 4},
                "algo": {
                    "n_envs": 2,
                    "env_steps": 1000,
                    "disc_steps": 2,
                    "batch_size": 64,
                    "agent_recent": 400,
                    "policy_hidden": [16, 16],
                    "reward_hidden": [16, 16],
                    "svg": small,
                },
                "eval": {"episodes": 2},
                "bench": {"eval_every": 1, "checkpoint_every": 2, "curve_episodes": 1},
            }
        )
    )
    return cfg


def _die_after_first_checkpoint(monkeypatch, ur5):
    """Make ``ur5.save_run`` raise right after its first save (a run killed at iteration 2);
    returns what it saved and the real function."""
    real_save, saved = ur5.save_run, {}

    def save_then_die(*a):
        real_save(*a)
        saved["wall_s"] = a[2]["wall_s"]
        raise KeyboardInterrupt

    monkeypatch.setattr(ur5, "save_run", save_then_die)
    return saved, real_save


def _count_iterations(monkeypatch) -> list[int]:
    from mairl_core.algos.adversarial import AdversarialTrainer

    ran, real_iteration = [], AdversarialTrainer.train_iteration
    monkeypatch.setattr(
        AdversarialTrainer, "train_iteration", lambda tr: ran.append(tr.iteration) or real_iteration(tr)
    )
    return ran


def test_a_stopped_ur5_run_resumes_exactly(tmp_path, demo_dir, tiny_scratch_config, monkeypatch):
    """`bench ur5 --resume`: a training run killed right after a checkpoint and resumed gives
    the record an uninterrupted run gives (curve with the learner's state, selected and last
    policies' figures); the bench's job then drops the checkpoint beside the finished record."""
    from mairl_core.benchmarks import ur5

    cfg = tiny_scratch_config
    exp, bench = ur5.load_bench(str(cfg))
    args = (exp, bench, "MAIRL", 0, str(demo_dir), None, "reach")
    full = ur5.run_one(*args)
    work = tmp_path / "runs"
    work.mkdir()
    saved, real_save = _die_after_first_checkpoint(monkeypatch, ur5)
    with pytest.raises(KeyboardInterrupt):
        ur5.run_one(*args, work, False)
    ckpt = work / "MAIRL_seed0.pt"
    assert ckpt.is_file()
    monkeypatch.setattr(ur5, "save_run", real_save)
    ran = _count_iterations(monkeypatch)
    t0 = time.perf_counter()
    resumed = ur5._job((*args, work, True))
    resumed_for = time.perf_counter() - t0
    assert ran == [2, 3, 4]  # it went on from the checkpoint, not from the start
    # its wall time counts the time before the stop too (the resumed call alone took less)
    assert saved["wall_s"] > 0 and resumed["wall_s"] > resumed_for
    for rec in (full, resumed):
        rec.pop("wall_s")
    assert len(full["curve"]) == 5 and "train" in full["curve"][-1]
    assert resumed == full
    assert (work / "MAIRL_seed0.json").is_file() and not ckpt.exists()


def test_a_stopped_ur5_sweep_run_resumes_exactly(tmp_path, demo_dir, tiny_scratch_config, monkeypatch):
    """`mairl sweep --resume` on a UR5 task: a run killed after its first checkpoint continues
    from it (each setting's checkpoint in a folder of its own) and gives the uninterrupted
    run's record; the folder is gone once the record is written."""
    from mairl_core.benchmarks import sweep, ur5

    exp, bench = ur5.load_bench(str(tiny_scratch_config))

    def job(work, resume):
        return sweep.SweepJob("reach", exp, bench, "MAIRL", {"svg.tau": 0.01}, 0, str(demo_dir), work, resume)

    full = sweep._run_job(job(None, False))
    work = tmp_path / "runs"
    _die_after_first_checkpoint(monkeypatch, ur5)
    with pytest.raises(KeyboardInterrupt):
        sweep._run_job(job(work, True))
    (ckpt,) = work.glob("*/MAIRL_seed0.pt")
    assert ckpt.parent.name == "MAIRL_svg_tau_0_01_seed0"
    monkeypatch.undo()
    ran = _count_iterations(monkeypatch)
    resumed = sweep._run_job(job(work, True))
    assert ran == [2, 3, 4]  # from the checkpoint, not from the start
    for rec in (full, resumed):
        rec.pop("wall_s")
    assert resumed == full and resumed["values"]["success_rate"] is not None
    assert (work / "MAIRL_svg_tau_0_01_seed0.json").is_file() and not ckpt.parent.exists()


def test_a_stopped_transfer_run_resumes_exactly(tmp_path, demo_dir, tiny_scratch_config, monkeypatch):
    """`bench transfer --resume`: a new policy's run killed right after a checkpoint goes on
    from it and gives the uninterrupted run's record; the finished run keeps its policy in
    OUT/checkpoints (as `mairl eval` loads it) and drops the training state."""
    from mairl_core.benchmarks import transfer, ur5
    from mairl_core.training import load_policy

    exp, bench = ur5.load_bench(str(tiny_scratch_config))
    src = tmp_path / "source"
    ur5.run_one(exp, bench, "MAIRL", 0, str(demo_dir), str(src / "checkpoints"), "reach")
    args = (exp, bench, "MAIRL reward", 0, str(src), "reach", None)
    full = transfer.run_one(*args)
    work = tmp_path / "out" / "runs"
    work.mkdir(parents=True)
    _die_after_first_checkpoint(monkeypatch, ur5)
    with pytest.raises(KeyboardInterrupt):
        transfer.run_one(*args, work, False)
    assert (work / "MAIRL_reward_seed0.pt").is_file()
    monkeypatch.undo()
    ran = _count_iterations(monkeypatch)
    resumed = transfer._job((*args, work, True))
    assert ran == [2, 3, 4]  # from the checkpoint, not from the start
    for rec in (full, resumed):
        rec.pop("wall_s")
    assert resumed == full and len(full["curve"]) == 5
    assert (work / "MAIRL_reward_seed0.json").is_file() and not (work / "MAIRL_reward_seed0.pt").exists()
    policy, _ = load_policy(tmp_path / "out" / "checkpoints" / "reach_MAIRL_reward_seed0.pt")
    assert policy is not None


def test_true_reach_reward_is_the_distance_to_the_target_in_radii():
    """The transfer bench's control row: -|fingertip - target| / radius at the next state, read
    back through the observation normaliser, less alpha log pi."""
    from mairl_core.algos.normalize import ObsNorm
    from mairl_core.benchmarks.transfer import TrueReachReward

    g = torch.Generator().manual_seed(0)
    raw = torch.randn(64, 15, generator=g)
    norm = ObsNorm.fit(3.0 * raw + 1.0, torch.randn(64, 6, generator=g))
    r = TrueReachReward(norm, radius=0.05)
    log_pi = torch.randn(8, generator=g)
    nxt = raw[:8]
    got = r.policy_reward(None, None, norm(nxt), None, log_pi, alpha=0.2)
    want = -nxt[:, 12:15].norm(dim=-1) / 0.05 - 0.2 * log_pi
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-4)


def test_select_explorer_without_an_explorer_is_a_config_error(tmp_path):
    """``bench.select_explorer`` where no row has an explorer would do nothing: refused when
    the config loads, naming the setting."""
    from mairl_core.benchmarks import ur5
    from mairl_core.config import ConfigError

    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump({"base": "reach_scratch", "bench": {"select_explorer": True}}))
    with pytest.raises(ConfigError, match="select_explorer"):
        ur5.load_bench(str(cfg))
    cfg.write_text(
        yaml.safe_dump(
            {
                "base": "reach_scratch",
                "bench": {"select_explorer": True, "algo_by_method": {"MAIRL": {"explorer_negatives": 0.25}}},
            }
        )
    )
    assert ur5.load_bench(str(cfg))[1].select_explorer  # one row with an explorer is enough


@pytest.mark.parametrize("explorer_wins", [True, False])
def test_select_explorer_offers_the_explorers_policy_and_the_agent_wins_ties(
    tmp_path, demo_dir, tiny_scratch_config, monkeypatch, explorer_wins
):
    """`bench.select_explorer`: at every evaluation the explorer's policy is a candidate of
    SELECTION_RULE beside the agent's. Where it scores higher it is the tested and saved policy
    (``selected_policy`` "explorer"); on a tie the agent's policy wins. The row's stability is
    that of the selected policy's curve."""
    from mairl_core.benchmarks import ur5
    from mairl_core.checkpoint import load_checkpoint
    from mairl_core.training import load_policy

    cfg = yaml.safe_load(tiny_scratch_config.read_text())
    cfg["algo"].update(explorer_negatives=0.25, explorer_window=0, explorer_horizon=1)
    cfg["bench"]["select_explorer"] = True
    tiny_scratch_config.write_text(yaml.safe_dump(cfg))
    exp, bench = ur5.load_bench(str(tiny_scratch_config))
    trainers, real_make = [], ur5.make_robot_trainer
    monkeypatch.setattr(
        ur5, "make_robot_trainer", lambda *a, **k: trainers.append(real_make(*a, **k)) or trainers[-1]
    )

    def score(self, policy):  # the explorer's policy succeeds; the agent's only where it ties
        mine = policy.policy is trainers[0].explorer.policy
        return {"success_rate": 1.0 if mine or not explorer_wins else 0.0, "final_distance_median": 0.01}

    monkeypatch.setattr(ur5.PolicySelection, "evaluate", score)
    rec = ur5.run_one(exp, bench, "MAIRL", 0, str(demo_dir), str(tmp_path / "ckpt"), "reach")
    tr = trainers[0]
    assert all("explorer_eval_success" in p for p in rec["curve"]) and len(rec["curve"]) >= 2
    assert rec["selected_policy"] == ("explorer" if explorer_wins else "agent")
    assert rec["selected_at_env_steps"] == tr.env_steps  # the last of equal candidates
    saved = load_checkpoint(tmp_path / "ckpt" / "reach_mairl_seed0.pt")["state"]["modules"]["policy"]
    chosen = (tr.explorer.policy if explorer_wins else tr.deployable_policy().policy).state_dict()
    assert all(torch.equal(saved[k], chosen[k]) for k in chosen)
    served, _ = load_policy(tmp_path / "ckpt" / "reach_mairl_seed0.pt")  # as the policy server loads it
    assert all(torch.equal(served.policy.state_dict()[k], chosen[k]) for k in chosen)
    # mairl-trainer serves a picked explorer's policy from a run checkpoint whatever that holds
    # (here the agent's where it won): in the explorer's own shape (its std is not state-dependent)
    ur5.write_served(
        tmp_path / "served.pt",
        tmp_path / "ckpt" / "reach_mairl_seed0.pt",
        tr,
        ("explorer", tr.deployable_explorer()),
        {"policy": "explorer"},
    )
    served, meta = load_policy(tmp_path / "served.pt")
    mine = tr.explorer.policy.state_dict()
    assert meta["selection"] == {"policy": "explorer"} and meta["state_std"] is False
    assert all(torch.equal(served.policy.state_dict()[k], mine[k]) for k in mine)
    row = ur5.summarise(bench, [rec])[0]
    assert row["explorer_selected_seeds"] == ([0] if explorer_wins else [])
    assert row["stable_frac"] == 1.0  # judged on the selected policy's curve, not the agent's
