"""The main job through ROS, on a tiny budget: `mairl-ros-demo` records demos over the
topics, trains, evaluates through policy server + safety + sim, and writes results.json;
run again, it reuses what is there."""

from __future__ import annotations

import json
import subprocess
import sys

import yaml
from _ros_helpers import REPO, node_env


def test_ros_demo_pipeline_small(tmp_path):
    data = yaml.safe_load((REPO / "config" / "reach_train.yaml").read_text())
    data["demos"]["n_demos"] = 2
    data["algo"].update(
        n_envs=1,
        model_steps=2,
        policy_steps=2,
        disc_steps=2,
        rollout_batch=16,
        batch_size=64,
        env_steps=200,
        policy_hidden=[8, 8],
        reward_hidden=[8, 8],
    )
    cfg = tmp_path / "tiny.yaml"
    cfg.write_text(yaml.safe_dump(data))
    out = tmp_path / "demo"
    cmd = [
        sys.executable,
        "-m",
        "ur5_bringup.demo",
        "--out",
        str(out),
        "--config",
        str(cfg),
        "--episodes",
        "2",
        "--no-progress",
    ]
    # run from outside the repository: the commit recorded is still the code's, not the cwd's
    first = subprocess.run(cmd, env=node_env(), capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert first.returncode == 0, first.stdout + first.stderr
    res = json.loads((out / "results.json").read_text())
    assert res["benchmark"] == "demo" and len(res["rows"]) == 2
    assert res["real_time_factor"] == 4.0  # evaluated on the sim's clock, 4x real time
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True
    ).stdout.strip()
    assert res["git_commit"].split("-")[0] == head and res["machine"].endswith(")")
    ros, local = res["rows"]
    assert ros["episodes"] == local["episodes"] == 2 and ros["demos"] == 2
    assert len(res["final_distances_ros"]) == 2
    assert sorted(p.name for p in (out / "demos").iterdir()) == ["episode_000", "episode_001"]
    assert (out / "policy" / "reach_mairl.pt").is_file() and (out / "final_distance.png").is_file()
    # recorded, like evaluated, with the sim at 4x real time and the other nodes on its clock
    assert "recording 2 scripted-teleop demos over ROS" in first.stdout
    assert "the sim at 4x real time" in first.stdout.split("[2/3]")[0]
    again = subprocess.run(cmd, env=node_env(), capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stdout + again.stderr
    assert again.stdout.count("kept)") == 2  # the demos and the policy are reused
