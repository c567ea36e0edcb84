"""`mairl data`: info, validate, delete-episode and merge on real MCAP demo datasets."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from mairl_core.cli import main
from mairl_core.data import bags
from mairl_core.data.bags import BagError, Episode, bag_meta, read_dataset, read_episode, write_episode
from mairl_core.data.operator import generate_demos
from mairl_core.data.recorder import EpisodeRecorder
from mairl_core.data.tools import dataset_info, delete_episode, merge_datasets, validate_dataset


@pytest.fixture(scope="module")
def demos(tmp_path_factory):
    """Three scripted reach demos (successful by construction), made once."""
    d = tmp_path_factory.mktemp("data") / "demos"
    generate_demos(d, n=3, seed=4, progress=False)
    return d


@pytest.fixture
def dataset(demos, tmp_path):
    d = tmp_path / "demos"
    shutil.copytree(demos, d)
    return d


def test_info_counts_steps_success_and_operator(dataset, capsys):
    info = dataset_info(dataset)
    assert info["episodes"] == info["readable"] == 3
    assert info["tasks"] == ["reach"]
    assert info["steps"] == {"min": 100, "max": 100, "mean": 100.0}
    assert info["success_rate"] == 1.0
    assert info["operators"] == {"scripted": 3}
    topics = info["bags"][0]["topics"]
    assert topics["/joint_states"] == {"type": "sensor_msgs/msg/JointState", "count": 101}
    assert topics["/mairl/command"]["count"] == 100
    assert info["bags"][0]["duration_s"] == pytest.approx(100 * 0.04)

    assert main(["data", "info", str(dataset)]) == 0
    out = capsys.readouterr().out
    assert "3 episodes (3 readable)" in out and "success rate: 1.00" in out
    assert "episode_002" in out and "scripted" in out
    assert main(["data", "info", str(dataset), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["episodes"] == 3


def test_info_reports_a_failed_episode_and_an_unreadable_bag(dataset):
    ep = read_episode(dataset / "episode_001")
    ep.target = ep.target + np.array([0.3, 0.0, 0.0])  # the fingertip ends 30 cm from it
    shutil.rmtree(dataset / "episode_001")
    write_episode(dataset / "episode_001", ep)  # no metadata: operator unknown
    mcap = next((dataset / "episode_002").glob("*.mcap"))
    mcap.write_bytes(mcap.read_bytes()[:500])
    info = dataset_info(dataset)
    assert info["readable"] == 2 and info["success_rate"] == 0.5
    assert info["operators"] == {"scripted": 2, "unknown": 1}
    assert [b["success"] for b in info["bags"]] == [True, False, None]
    assert "episode_002" in info["bags"][2]["error"]


def test_validate_passes_a_sound_dataset(dataset, capsys):
    assert validate_dataset(dataset) == []
    assert main(["data", "validate", str(dataset)]) == 0
    assert "3 episodes, valid" in capsys.readouterr().err


def _backwards_stamps(monkeypatch, at_ns: int):
    """write_episode with the header stamp of the messages logged at ``at_ns`` set to 0."""
    real = bags._stamp
    monkeypatch.setattr(bags, "_stamp", lambda ts, t_ns: real(ts, 0 if t_ns == at_ns else t_ns))


def test_validate_lists_every_problem_and_exits_1(dataset, monkeypatch, capsys):
    mcap = next((dataset / "episode_000").glob("*.mcap"))
    mcap.write_bytes(mcap.read_bytes()[: mcap.stat().st_size // 2])
    ep = read_episode(dataset / "episode_001")
    shutil.rmtree(dataset / "episode_001")
    with monkeypatch.context() as m:
        _backwards_stamps(m, at_ns=int(round(7 * ep.period * 1e9)))
        write_episode(dataset / "episode_001", ep)
    short = Episode(ep.joint_names, ep.q[:51], ep.qdot[:51], ep.commands[:50], ep.target, ep.period)
    write_episode(dataset / "episode_003", short)
    problems = validate_dataset(dataset)
    assert len(problems) == 3, problems
    assert "episode_000" in problems[0] and "cannot read bag" in problems[0]
    assert "episode_001" in problems[1] and "header stamps do not increase at message 7" in problems[1]
    assert "100 steps" in problems[2] and "50 steps" in problems[2]
    assert all("\n" not in p for p in problems)

    assert main(["data", "validate", str(dataset)]) == 1
    out, err = capsys.readouterr()
    assert out.splitlines() == problems and "4 episodes, 3 problems" in err


def test_trainers_refuse_stamps_that_go_back(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    q = rng.uniform(-1, 1, (9, 6))
    ep = Episode(list(bags_names()), q, np.zeros_like(q), q[1:].copy(), np.zeros(3), 0.04)
    with monkeypatch.context() as m:
        _backwards_stamps(m, at_ns=int(round(3 * 0.04 * 1e9)))
        write_episode(tmp_path / "bag", ep)
    with pytest.raises(BagError, match="/joint_states header stamps do not increase at message 3"):
        read_episode(tmp_path / "bag")


def bags_names():
    from mairl_core.envs.ur5_model import load_ur5

    return load_ur5().joint_names


def test_validate_and_info_refuse_a_missing_directory_in_one_line(tmp_path, capsys):
    for cmd in ("validate", "info"):
        assert main(["data", cmd, str(tmp_path / "nope")]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "does not exist" in err


def test_delete_episode_by_index_and_name(dataset, capsys):
    bag, left = delete_episode(dataset, "1")
    assert bag.name == "episode_001" and left == 2 and not bag.exists()
    assert main(["data", "delete-episode", str(dataset), "episode_002"]) == 0
    assert "1 episodes remain" in capsys.readouterr().out
    assert [p.name for p in bags.list_bags(dataset)] == ["episode_000"]
    assert not list(dataset.parent.glob(".*partial"))  # nothing left behind
    assert main(["data", "delete-episode", str(dataset), "episode_009"]) == 2
    assert "no episode 'episode_009'" in capsys.readouterr().err
    # the recorder continues after the highest index, never reusing a deleted one's name
    rec = EpisodeRecorder(dataset, bags_names(), 0.04, steps=2)
    assert rec.index == 1


def test_merge_renumbers_and_keeps_metadata(dataset, tmp_path, capsys):
    other = tmp_path / "other"
    shutil.copytree(dataset, other)
    delete_episode(other, "0")
    out = tmp_path / "merged"
    assert main(["data", "merge", str(dataset), str(other), "--out", str(out)]) == 0
    assert "merged 5 episodes from 2 datasets" in capsys.readouterr().out
    assert [p.name for p in bags.list_bags(out)] == [f"episode_{i:03d}" for i in range(5)]
    merged = read_dataset(out)
    np.testing.assert_array_equal(merged[3].q, read_episode(dataset / "episode_001").q)
    assert bag_meta(out / "episode_004") == {"task": "reach", "operator": "scripted"}
    # a second merge into the same directory is refused, the first one untouched
    assert main(["data", "merge", str(dataset), "--out", str(out)]) == 2
    assert "not empty" in capsys.readouterr().err and len(bags.list_bags(out)) == 5


def test_merge_checks_every_bag_before_writing(dataset, tmp_path, capsys):
    mcap = next((dataset / "episode_002").glob("*.mcap"))
    mcap.write_bytes(b"garbage")
    out = tmp_path / "merged"
    assert main(["data", "merge", str(dataset), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "episode_002" in err and "nothing merged" in err and err.count("\n") == 1
    assert not out.exists() and not list(tmp_path.glob(".merged*"))


def test_merge_refuses_mixed_lengths(dataset, tmp_path):
    ep = read_episode(dataset / "episode_000")
    short = tmp_path / "short"
    write_episode(
        short / "episode_000",
        Episode(ep.joint_names, ep.q[:11], ep.qdot[:11], ep.commands[:10], ep.target, ep.period),
    )
    with pytest.raises(BagError, match="mix tasks or episode lengths"):
        merge_datasets([dataset, short], tmp_path / "merged")
    assert not (tmp_path / "merged").exists()


def test_recorder_writes_operator_into_each_bag(tmp_path):
    rec = EpisodeRecorder(tmp_path / "d", bags_names(), 0.04, steps=2, meta={"operator": "keyboard"})
    rec.start()
    q = np.zeros(6)
    for _ in range(3):
        rec.tick(q, q, np.array([0.4, 0.1, 0.3]), last_command=q)
    assert rec.holds == 0
    path = rec.save()
    assert bag_meta(path) == {"task": "reach", "operator": "keyboard"}
    # a command not forwarded before the next tick is recorded as a hold, and counted
    rec.start()
    for cmd in (None, q + 0.1, None):  # the first tick's command is ignored
        rec.tick(q, q, np.array([0.4, 0.1, 0.3]), last_command=cmd)
    assert rec.holds == 1 and np.array_equal(rec.commands[-1], q + 0.1)
