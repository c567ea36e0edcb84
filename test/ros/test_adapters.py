"""What cannot be installed here (ur_msgs for the real suction and its vacuum sensor) is
imported at run time, and its absence is said clearly."""

from __future__ import annotations

import importlib.util
from types import SimpleNamespace

import pytest
from _ros_helpers import NodeProcess

pytest.importorskip("rclpy")

from mairl_ros.suction_io import digital_input  # noqa: E402


def test_vacuum_sensor_is_read_from_the_named_digital_input():
    states = [SimpleNamespace(pin=p, state=s) for p, s in [(0, False), (1, True), (7, False)]]
    assert digital_input(states, 1) is True
    assert digital_input(states, 0) is False
    assert digital_input(states, 3) is None  # not reported: nothing is published


@pytest.mark.skipif(importlib.util.find_spec("ur_msgs") is not None, reason="ur_msgs is installed")
def test_suction_io_without_ur_msgs_exits_and_says_how_to_get_it(tmp_path):
    proc = NodeProcess("suction_io", tmp_path / "io.log")
    rc = proc.proc.wait(timeout=60)
    out = proc.output()
    proc.stop()
    assert rc == 2, out
    assert "ur_msgs is not installed" in out and "apt install ros-$ROS_DISTRO-ur-msgs" in out
