"""mairl-trainer over real DDS: Algorithm 1 with its on-policy episodes collected through the
topics (trainer -> /mairl/command -> safety -> sim -> /joint_states), a checkpoint written
and the policy server told to reload it; and the in-process (collect:=sim) and bc modes."""

from __future__ import annotations

import re
import sys

import pytest
import yaml
from _ros_helpers import REPO, NodeProcess, Probe

pytest.importorskip("rclpy")


from diagnostic_msgs.msg import DiagnosticStatus  # noqa: E402

from mairl_core.data.operator import generate_demos  # noqa: E402
from mairl_core.training import load_policy  # noqa: E402
from mairl_ros.node import event_qos  # noqa: E402

sys.path.insert(0, str(REPO / "test" / "core"))


def small_config(tmp_path, env_steps: int):
    data = yaml.safe_load((REPO / "config" / "reach_train.yaml").read_text())
    data["demos"]["n_demos"] = 3
    data["bc_steps"] = 20
    data["algo"].update(
        n_envs=1,
        model_steps=2,
        policy_steps=2,
        disc_steps=2,
        rollout_batch=16,
        batch_size=64,
        env_steps=env_steps,
        policy_hidden=[8, 8],
        reward_hidden=[8, 8],
    )
    path = tmp_path / "reach_train_small.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.fixture(scope="module")
def demos(tmp_path_factory):
    d = tmp_path_factory.mktemp("demos")
    generate_demos(d, 3, seed=0, progress=False)
    return d


def test_trainer_collects_over_ros_and_serves_each_checkpoint(tmp_path, demos):
    cfg = small_config(tmp_path, env_steps=200)  # two 100-step episodes over the topics
    policy = tmp_path / "policy" / "reach.pt"
    probe = Probe("mairl_test_trainer_probe")
    progress = []  # what a progress bar (mairl-ros-demo's) follows: the trainer's progress topic
    probe.node.create_subscription(
        DiagnosticStatus,
        "/mairl/trainer/progress",
        lambda m: progress.append({kv.key: kv.value for kv in m.values}),
        event_qos(),
    )
    procs = [
        NodeProcess("sim_node", tmp_path / "sim.log", seed=2),
        NodeProcess("safety_node", tmp_path / "safety.log"),
        NodeProcess("policy_server", tmp_path / "server.log", policy=str(policy), wait=True, enabled=False),
    ]
    trainer = None
    try:
        trainer = NodeProcess(
            "trainer",
            tmp_path / "trainer.log",
            demos=str(demos),
            policy=str(policy),
            config=str(cfg),
            collect="ros",
            reset_service="/mairl/sim/reset",
        )
        trainer.proc.wait(timeout=180)
        assert trainer.proc.returncode == 0, trainer.output()
        probe.wait_for(
            lambda: "serving reach policy" in procs[2].output(),
            20.0,
            "the policy server to load the new checkpoint",
            procs=tuple(procs),
        )
        probe.wait_for(lambda: progress and progress[-1]["env_steps"] == "200", 10.0, "the final progress")
    finally:
        if trainer is not None:
            trainer.stop()
        for p in procs:
            p.stop()
        probe.close()
    log = trainer.output()
    assert "over ROS" in log and "200 env steps" in log, log
    pol, meta = load_policy(policy)
    assert meta["method"] == "mairl" and meta["obs_dim"] == 15
    # the episodes really ran on the sim: the sim was reset once per episode
    assert (tmp_path / "policy" / "mairl_run" / "checkpoint.pt").is_file()


def train_in_sim(tmp_path, demos, cfg, **params) -> tuple[str, dict]:
    """The trainer node with ``collect:=sim``, each checkpoint scored on 2 sim episodes: its
    log and the served checkpoint's metadata."""
    policy = tmp_path / "out" / "reach.pt"
    trainer = NodeProcess(
        "trainer",
        tmp_path / "trainer.log",
        demos=str(demos),
        policy=str(policy),
        config=str(cfg),
        collect="sim",
        select_episodes=2,  # serve the best checkpoint on 2 sim episodes, not the last
        checkpoint_every=1,
        **params,
    )
    trainer.proc.wait(timeout=180)
    assert trainer.stop() == 0, trainer.output()
    return trainer.output(), load_policy(policy)[1]


@pytest.mark.parametrize("algo", ["mairl", "bc"])
def test_trainer_offline_modes(tmp_path, demos, algo):
    log, meta = train_in_sim(tmp_path, demos, small_config(tmp_path, env_steps=400), algo=algo)
    assert meta["method"] == algo
    if algo == "mairl":
        assert "in-process copy" in log
        scored = re.findall(r"(\d+) env steps: success ([\d.]+) on 2 sim episodes \((best so far)?", log)
        assert len(scored) == 4, log  # 4 iterations of 100 steps, one checkpoint each
        # the served policy is the last of the best-scoring ones (SELECTION_RULE)
        assert meta["selection"]["success_rate"] == max(float(s) for _, s, _ in scored)
        assert meta["selection"]["env_steps"] == [int(n) for n, _, best in scored if best][-1]


def test_trainer_offers_the_explorers_policy_when_the_config_selects_it(tmp_path, demos):
    """With the config's ``bench.select_explorer`` each checkpoint scores the explorer's policy
    too (before the agent's, which wins ties), as the benchmarks do, and the served file's
    metadata names the policy picked. (On this budget the agent wins every time; the file a
    picked explorer is served in is tested in test_reach_training, ``ur5.write_served``.)"""
    cfg = small_config(tmp_path, env_steps=800)  # 4 iterations: 100 agent + 100 explorer steps each
    data = yaml.safe_load(cfg.read_text())
    data["algo"]["explorer_negatives"] = 0.25
    data.setdefault("bench", {})["select_explorer"] = True
    cfg.write_text(yaml.safe_dump(data))
    log, meta = train_in_sim(tmp_path, demos, cfg)
    xs = re.findall(r"(\d+) env steps: the explorer's policy: success ([\d.]+) on 2 sim episodes", log)
    ags = re.findall(
        r"(\d+) env steps: success ([\d.]+) on 2 sim episodes \((best so far: )?(the explorer's)?", log
    )
    assert len(xs) == len(ags) == 4, log
    assert [n for n, _ in xs] == [n for n, *_ in ags]
    sel = meta["selection"]
    assert sel["success_rate"] == max(float(s) for _, s in xs + [(n, s) for n, s, *_ in ags])
    served = [(int(n), "explorer" if ex else "agent") for n, _, best, ex in ags if best][-1]
    assert (sel["env_steps"], sel["policy"]) == served


def test_trainer_without_demos_says_so(tmp_path):
    trainer = NodeProcess(
        "trainer", tmp_path / "t.log", demos=str(tmp_path / "none"), policy=str(tmp_path / "p.pt")
    )
    trainer.proc.wait(timeout=60)
    assert trainer.stop() == 2
    assert "cannot start" in trainer.output() and "does not exist" in trainer.output()
