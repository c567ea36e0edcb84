"""Demo bags: MCAP round trip with the contract's topics, and clear errors for bad bags."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from mairl_core.data.bags import BagError, Episode, read_episode, write_episode

NAMES = [
    "shoulder_pan_joint",
    "shoulder_lift_joint",
    "elbow_joint",
    "wrist_1_joint",
    "wrist_2_joint",
    "wrist_3_joint",
]


def _episode(T=12, seed=0):
    rng = np.random.default_rng(seed)
    q = rng.normal(size=(T + 1, 6))
    return Episode(NAMES, q, rng.normal(size=(T + 1, 6)), q[1:] + 0.01, rng.uniform(-1, 1, 3), 0.04)


def test_round_trip(tmp_path):
    ep = _episode()
    write_episode(tmp_path / "ep0", ep)
    assert list((tmp_path / "ep0").glob("*.mcap")) and (tmp_path / "ep0" / "metadata.yaml").exists()
    back = read_episode(tmp_path / "ep0")
    assert back.joint_names == NAMES
    np.testing.assert_array_equal(back.q, ep.q)
    np.testing.assert_array_equal(back.qdot, ep.qdot)
    np.testing.assert_array_equal(back.commands, ep.commands)
    np.testing.assert_array_equal(back.target, ep.target)
    assert back.period == pytest.approx(0.04)


def test_missing_bag(tmp_path):
    with pytest.raises(BagError, match="no such bag"):
        read_episode(tmp_path / "nope")


def test_corrupt_bag_names_the_file(tmp_path):
    write_episode(tmp_path / "ep", _episode())
    mcap = next((tmp_path / "ep").glob("*.mcap"))
    data = mcap.read_bytes()
    mcap.write_bytes(data[: len(data) // 2])  # truncated mid-file
    with pytest.raises(BagError, match=r"ep"):
        read_episode(tmp_path / "ep")


def test_missing_metadata(tmp_path):
    write_episode(tmp_path / "ep", _episode())
    (tmp_path / "ep" / "metadata.yaml").unlink()
    with pytest.raises(BagError, match="cannot read bag"):
        read_episode(tmp_path / "ep")


def test_wrong_topic_type(tmp_path):
    from rosbags.rosbag2 import StoragePlugin, Writer
    from rosbags.typesys import Stores, get_typestore

    ts = get_typestore(Stores.ROS2_KILTED)
    with Writer(tmp_path / "bad", version=9, storage_plugin=StoragePlugin.MCAP) as w:
        for topic, t in [
            ("/joint_states", "std_msgs/msg/Bool"),
            ("/mairl/target", "geometry_msgs/msg/PointStamped"),
            ("/mairl/command", "sensor_msgs/msg/JointState"),
        ]:
            w.add_connection(topic, t, typestore=ts)
    with pytest.raises(BagError, match="/joint_states has type std_msgs/msg/Bool"):
        read_episode(tmp_path / "bad")


def test_incomplete_and_nan(tmp_path):
    ep = _episode()
    write_episode(tmp_path / "short", Episode(NAMES, ep.q, ep.qdot, ep.commands[:-3], ep.target, 0.04))
    with pytest.raises(BagError, match="commands for"):
        read_episode(tmp_path / "short")
    q = ep.q.copy()
    q[3, 2] = np.nan
    write_episode(tmp_path / "nan", Episode(NAMES, q, ep.qdot, ep.commands, ep.target, 0.04))
    with pytest.raises(BagError, match="NaN"):
        read_episode(tmp_path / "nan")


def test_reading_never_modifies_the_bag(tmp_path):
    write_episode(tmp_path / "ep", _episode())
    shutil.copytree(tmp_path / "ep", tmp_path / "copy")
    read_episode(tmp_path / "ep")
    for f in (tmp_path / "copy").iterdir():
        assert f.read_bytes() == (tmp_path / "ep" / f.name).read_bytes()


# --- joints by name, limits (issue 20, defect 3) ------------------------------------------

ALPHABETICAL = sorted(NAMES)  # how the UR driver publishes /joint_states


def _reordered(ep: Episode, names: list[str]) -> Episode:
    """``ep`` with its joints listed in the order ``names`` (the values move with them)."""
    return _with_names(ep, list(names), [NAMES.index(n) for n in names])


def _with_names(ep: Episode, names: list[str], cols: list[int]) -> Episode:
    c = lambda a: np.ascontiguousarray(a[:, cols])  # noqa: E731 - as a recorder builds them
    return Episode(names, c(ep.q), c(ep.qdot), c(ep.commands), ep.target, ep.period)


def test_write_episode_accepts_strided_arrays(tmp_path):
    """A column-reordered array's rows are strided; rosbags needs contiguous ones."""
    ep = _episode()
    cols = [5, 4, 3, 2, 1, 0]
    strided = Episode(NAMES, ep.q[:, cols], ep.qdot[:, cols], ep.commands[:, cols], ep.target, 0.04)
    assert not strided.q[0].flags.c_contiguous
    write_episode(tmp_path / "ep", strided)
    np.testing.assert_array_equal(read_episode(tmp_path / "ep").q, ep.q[:, cols])


def test_joints_are_matched_by_name_to_the_robot_order(tmp_path):
    ep = _episode()
    write_episode(tmp_path / "alpha", _reordered(ep, ALPHABETICAL))
    back = read_episode(tmp_path / "alpha")
    assert back.joint_names == NAMES
    np.testing.assert_array_equal(back.q, ep.q)
    np.testing.assert_array_equal(back.qdot, ep.qdot)
    np.testing.assert_array_equal(back.commands, ep.commands)
    # each message by its own names: states alphabetical, commands reversed
    from mairl_core.benchmarks.fuzz_bags import episode_messages, write_messages

    msgs = episode_messages(_reordered(ep, ALPHABETICAL))
    for m in msgs:
        if m.topic == "/mairl/command":
            m.fields["name"], m.fields["position"] = m.fields["name"][::-1], m.fields["position"][::-1]
    write_messages(tmp_path / "mixed", msgs)
    back = read_episode(tmp_path / "mixed")
    np.testing.assert_array_equal(back.q, ep.q)
    np.testing.assert_array_equal(back.commands, ep.commands)


@pytest.mark.parametrize(
    "names, cols, why",
    [
        (NAMES[:5], [0, 1, 2, 3, 4], r"missing joint\(s\) \['wrist_3_joint'\]"),
        (NAMES + ["gripper_joint"], [0, 1, 2, 3, 4, 5, 0], r"unknown joint name\(s\) \['gripper_joint'\]"),
        (NAMES[:5] + ["wrist_2_joint"], [0, 1, 2, 3, 4, 4], "repeated joint names"),
        ([], [0, 1, 2, 3, 4, 5], "names no joints"),
        (NAMES[:5] + ["wrist\n3_joint"], [0, 1, 2, 3, 4, 5], r"unknown joint name\(s\) \['wrist\\n3"),
    ],
)
def test_missing_extra_repeated_or_unnamed_joints_are_refused(tmp_path, names, cols, why):
    write_episode(tmp_path / "ep", _with_names(_episode(), names, cols))
    with pytest.raises(BagError, match=why) as err:
        read_episode(tmp_path / "ep")
    assert str(tmp_path / "ep") in str(err.value) and "\n" not in str(err.value)


def test_joint_states_without_velocities_are_refused(tmp_path):
    from mairl_core.benchmarks.fuzz_bags import episode_messages, write_messages

    msgs = episode_messages(_episode())
    for m in msgs:
        m.fields.pop("velocity", None)
    write_messages(tmp_path / "ep", msgs)
    with pytest.raises(BagError, match="/joint_states message 0 has no velocity values"):
        read_episode(tmp_path / "ep")


@pytest.mark.parametrize(
    "field, joint, value, why",
    [
        ("q", 0, 1e6, r"/joint_states position of shoulder_pan_joint is 1e\+06 rad at step 3"),
        ("q", 2, np.pi + 0.2, "/joint_states position of elbow_joint"),
        ("commands", 4, -1e6, "/mairl/command position of wrist_2_joint"),
        ("qdot", 1, 50.0, "/joint_states velocity of shoulder_lift_joint is 50 rad/s"),
    ],
)
def test_values_beyond_the_robot_limits_are_refused(tmp_path, field, joint, value, why):
    ep = _episode()
    getattr(ep, field)[3, joint] = value
    write_episode(tmp_path / "ep", _reordered(ep, ALPHABETICAL))  # reported by name, not column
    with pytest.raises(BagError, match=why) as err:
        read_episode(tmp_path / "ep")
    assert "outside" in str(err.value) and str(tmp_path / "ep") in str(err.value)


def test_values_within_the_tolerance_of_the_limits_load(tmp_path):
    from mairl_core.data.bags import POSITION_TOLERANCE, SPEED_TOLERANCE

    ep = _episode()
    ep.q[3, 2] = np.pi + 0.5 * POSITION_TOLERANCE  # the elbow, just past its limit
    ep.qdot[4, 0] = -(np.pi + 0.5 * SPEED_TOLERANCE)
    write_episode(tmp_path / "ep", ep)
    np.testing.assert_array_equal(read_episode(tmp_path / "ep").q, ep.q)


# --- datasets through the CLI: one line, exit 2 (issue 20, defects 3 and 5) ---------------


def _dataset(root, episodes):
    root.mkdir()
    for i, ep in enumerate(episodes):
        write_episode(root / f"episode_{i:03d}", ep)
    return root


def _five_joints(ep):
    return _with_names(ep, NAMES[:5], [0, 1, 2, 3, 4])


@pytest.mark.parametrize(
    "case, why",
    [
        ("file", r"demos\.mcap: is a file, not a directory of demo bags"),
        ("one_bag", r"episode_000: is one bag, not a directory of demo bags"),
        ("five_joints", r"episode_000: /joint_states message 0 \(position\): missing joint"),
        ("mixed_5_6", r"episode_001: /joint_states message 0 \(position\): missing joint"),
        ("mixed_lengths", r"episode_002: 8 steps, but episode_000 has 12; trainers need episodes of one"),
        ("far_out", r"episode_001: /joint_states position of elbow_joint is 1e\+06 rad"),
    ],
)
def test_bad_demos_are_one_line_and_exit_2_from_the_cli(tmp_path, capsys, case, why):
    from _helpers import small_robot_config

    from mairl_core.cli import main

    eps = [_episode(seed=s) for s in range(3)]
    if case == "file":
        demos = tmp_path / "demos.mcap"
        write_episode(tmp_path / "bag", eps[0])
        demos.write_bytes(next((tmp_path / "bag").glob("*.mcap")).read_bytes())
    elif case == "one_bag":
        demos = _dataset(tmp_path / "d", eps) / "episode_000"
    elif case == "five_joints":
        demos = _dataset(tmp_path / "d", [_five_joints(e) for e in eps])
    elif case == "mixed_5_6":
        demos = _dataset(tmp_path / "d", [eps[0], _five_joints(eps[1]), eps[2]])
    elif case == "mixed_lengths":
        short = _episode(T=8, seed=2)
        demos = _dataset(tmp_path / "d", [eps[0], eps[1], short])
    else:
        eps[1].q[:, 2] = 1e6
        demos = _dataset(tmp_path / "d", eps)
    cfg = small_robot_config(tmp_path, "reach_train", n_demos=1 if case == "one_bag" else 3, bc_steps=1)
    out = tmp_path / "run"
    rc = main(
        [
            "train",
            "--task",
            "reach",
            "--algo",
            "bc",
            "--config",
            str(cfg),
            "--demos",
            str(demos),
            "--out",
            str(out),
        ]
    )
    err = capsys.readouterr().err
    assert rc == 2, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    import re

    assert re.search(why, err), err
    assert not out.exists()  # nothing written, so nothing lost


def test_read_dataset_reads_the_first_n_bags_in_name_order(tmp_path):
    from mairl_core.data.bags import read_dataset

    eps = [_episode(seed=s) for s in range(3)]
    d = _dataset(tmp_path / "d", eps)
    got = read_dataset(d, n=2)
    assert len(got) == 2
    np.testing.assert_array_equal(got[1].q, eps[1].q)
    for n, why in [(4, "4 demos asked for, 3 recorded"), (0, "at least 1 is needed")]:
        with pytest.raises(BagError, match=why):
            read_dataset(d, n=n)
    with pytest.raises(BagError, match="demo directory does not exist"):
        read_dataset(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(BagError, match="no episode bags in it"):
        read_dataset(tmp_path / "empty")
