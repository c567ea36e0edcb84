"""Teleop devices without ROS: the joystick's deadman, mapping and staleness, the
SpaceMouse's puck (a stand-in for the HID device) and its absence reported in one line."""

from __future__ import annotations

import math
import sys
from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from mairl_core.data.devices import DeviceError, JoyMapping, JoyTeleop, SpaceMouseTeleop

AXES = [0.0, 0.5, 0.0, 0.0, -1.0, 0.0]


def _buttons(*held, n=8):
    return [1 if i in held else 0 for i in range(n)]


def test_joystick_moves_only_with_the_deadman_held():
    joy = JoyTeleop(JoyMapping(), speed=0.1)
    joy.on_joy(AXES, _buttons(), now=0.0)
    assert joy.velocity(0.01).tolist() == [0.0, 0.0, 0.0]
    joy.on_joy(AXES, _buttons(4), now=0.1)
    np.testing.assert_allclose(joy.velocity(0.11), [0.05, 0.0, -0.1])  # axes 1, 0, 4
    joy.on_joy(AXES, _buttons(), now=0.2)  # let go
    assert joy.velocity(0.2).tolist() == [0.0, 0.0, 0.0]


def test_a_silent_pad_stops_the_arm():
    joy = JoyTeleop(JoyMapping(), speed=0.1, timeout=0.5)
    joy.on_joy(AXES, _buttons(4), now=1.0)
    assert joy.velocity(1.5).any()
    assert not joy.velocity(1.51).any()


def test_deadzone_signs_and_clipping():
    joy = JoyTeleop(JoyMapping(axes=(0, 1, 2), signs=(-1.0, 1.0, 1.0), deadzone=0.2), speed=1.0)
    joy.on_joy([0.5, 0.15, 7.0], _buttons(4), now=0.0)
    np.testing.assert_allclose(joy.velocity(0.0), [-0.5, 0.0, 1.0])


def test_buttons_fire_on_press_and_suction_needs_the_deadman():
    joy = JoyTeleop(JoyMapping(), speed=0.1)
    assert joy.on_joy(AXES, _buttons(0), 0.0) == []  # suction without the deadman
    assert joy.on_joy(AXES, _buttons(4), 0.1) == []
    assert joy.on_joy(AXES, _buttons(4, 0), 0.2) == ["suction"]
    assert joy.on_joy(AXES, _buttons(4, 0), 0.3) == []  # held, not pressed again
    assert joy.on_joy(AXES, _buttons(7), 0.4) == ["next"]
    assert joy.on_joy(AXES, _buttons(6, 7), 0.5) == ["rerecord"]


def test_a_small_pad_reads_missing_inputs_as_zero_and_says_which():
    joy = JoyTeleop(JoyMapping(), speed=0.1)
    joy.on_joy([1.0, 1.0], [0, 0, 0, 0, 1], now=0.0)  # 2 axes, 5 buttons
    np.testing.assert_allclose(joy.velocity(0.0), [0.1, 0.1, 0.0])
    assert joy.missing() == ["axis 4", "button 7", "button 6"]
    joy.on_joy([1.0, 1.0], [0, 0], now=0.1)  # no deadman button at all: never moves
    assert not joy.velocity(0.1).any()


@given(
    axes=st.lists(st.floats(allow_nan=True, allow_infinity=True, width=32), max_size=8),
    buttons=st.lists(st.integers(0, 1), max_size=10),
    speed=st.floats(0.001, 1.0),
)
def test_joystick_speed_is_bounded_and_finite(axes, buttons, speed):
    joy = JoyTeleop(JoyMapping(), speed=speed)
    joy.on_joy(axes, buttons, now=0.0)
    v = joy.velocity(0.0)
    assert np.all(np.isfinite(v)) and np.abs(v).max() <= speed + 1e-12
    if not (len(buttons) > 4 and buttons[4]):
        assert not v.any()


@pytest.mark.parametrize("kwargs", [dict(axes=(0, 1)), dict(deadman=-1), dict(deadzone=1.0)])
def test_bad_mappings_are_refused(kwargs):
    with pytest.raises(DeviceError):
        JoyMapping(**kwargs)


class FakePuck:
    def __init__(self):
        self.state = SimpleNamespace(x=0.0, y=0.0, z=0.0, buttons=[0, 0])

    def read(self):
        return self.state


def test_spacemouse_push_is_the_twist_and_buttons_are_events():
    puck = FakePuck()
    sm = SpaceMouseTeleop(speed=0.1, device=puck)
    assert sm.read(0.0) == [] and not sm.velocity(0.0).any()
    puck.state = SimpleNamespace(x=0.5, y=-1.0, z=0.05, buttons=[1, 0])
    assert sm.read(0.1) == ["suction"]
    np.testing.assert_allclose(sm.velocity(0.1), [0.05, -0.1, 0.0])
    puck.state = SimpleNamespace(x=math.nan, y=0.0, z=0.0, buttons=[1, 1])
    assert sm.read(0.2) == ["next"] and not sm.velocity(0.2).any()
    assert not sm.velocity(0.8).any()  # stale


def test_spacemouse_without_pyspacemouse_says_so(monkeypatch):
    monkeypatch.setitem(sys.modules, "pyspacemouse", None)  # import fails
    with pytest.raises(DeviceError, match="needs the pyspacemouse package"):
        SpaceMouseTeleop(speed=0.1)
