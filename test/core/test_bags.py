"""Demo bags: MCAP round trip with the contract's topics, and clear errors for bad bags."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from mairl_core.data.bags import BagError, Episode, read_episode, write_episode

NAMES = ["shoulder_pan_joint", "shoulder_lift_joint", "elbow_joint", "wrist_1_joint",
         "wrist_2_joint", "wrist_3_joint"]


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
        for topic, t in [("/joint_states", "std_msgs/msg/Bool"), ("/mairl/target", "geometry_msgs/msg/PointStamped"),
                         ("/mairl/command", "sensor_msgs/msg/JointState")]:
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
