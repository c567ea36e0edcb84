"""Teleop input devices beyond the keyboard, as fingertip twists for the recorder: a joystick
or gamepad (``sensor_msgs/Joy``, held deadman button) and a 3Dconnexion SpaceMouse
(``pyspacemouse``, imported only when used).

The node (``mairl_ros.teleop``) only moves messages; what a stick or puck means lives here,
so it is tested without ROS. Both give zero velocity unless their input is fresh
(``timeout``); the joystick also unless its deadman button is held at the latest message,
so letting go of the button stops the arm at the next control period.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


class DeviceError(ValueError):
    """A teleop device is missing or misconfigured; the message is one line saying what to do."""


@dataclass
class JoyMapping:
    """Which joystick axes and buttons do what (indices into ``sensor_msgs/Joy``; the
    defaults fit an Xbox-style pad under ROS's ``joy_node``: left stick x/y, right stick z,
    LB the deadman, A suction, Start next episode, Back re-record)."""

    axes: tuple[int, int, int] = (1, 0, 4)
    """the axes that drive fingertip x, y, z"""
    signs: tuple[float, float, float] = (1.0, 1.0, 1.0)
    """flip an axis with -1"""
    deadman: int = 4
    """the button that must be held for the arm to move"""
    suction: int = 0
    """toggles suction (grasp) on press, only while the deadman is held"""
    next_episode: int = 7
    rerecord: int = 6
    deadzone: float = 0.1
    """axis values below this (of 1) count as 0: a released stick rests near, not at, 0"""

    def __post_init__(self):
        if len(self.axes) != 3 or len(self.signs) != 3:
            raise DeviceError(
                f"joystick axes and signs need 3 entries (x, y, z), got "
                f"{list(self.axes)} and {list(self.signs)}"
            )
        if min(*self.axes, self.deadman, self.suction, self.next_episode, self.rerecord) < 0:
            raise DeviceError("joystick axis and button indices must be >= 0")
        if not 0 <= self.deadzone < 1:
            raise DeviceError(f"joystick deadzone must be in [0, 1), got {self.deadzone}")


def _axis(values, i: int) -> float:
    v = float(values[i]) if i < len(values) else 0.0
    return min(max(v, -1.0), 1.0) if math.isfinite(v) else 0.0


def _button(values, i: int) -> bool:
    return i < len(values) and bool(values[i])


def _pressed(before, now, i: int) -> bool:
    """Button ``i`` went down between two readings."""
    return _button(now, i) and not _button(before, i)


def _deadzoned(v: np.ndarray, deadzone: float) -> np.ndarray:
    """``v`` with the entries below ``deadzone`` (a released stick or puck) set to 0."""
    return np.where(np.abs(v) < deadzone, 0.0, v)


class JoyTeleop:
    """Joy messages -> a fingertip velocity and button events.

    ``on_joy`` takes each message (axes, buttons, the time it arrived) and returns the
    events of buttons pressed since the last one: "suction" (only while the deadman is
    held), "next", "rerecord". ``velocity(now)`` is ``speed`` m/s times the mapped stick
    deflection when the deadman is held in a message younger than ``timeout``, else zero.
    A stick outside [-1, 1] is clipped, NaN counts as 0, and an index the pad does not have
    reads as 0 / not pressed (``missing`` names those, for one warning)."""

    def __init__(self, mapping: JoyMapping, speed: float, timeout: float = 0.5):
        if not (speed > 0 and timeout > 0):
            raise DeviceError(f"speed and timeout must be > 0, got {speed}, {timeout}")
        self.map, self.speed, self.timeout = mapping, float(speed), float(timeout)
        self.axes: list[float] = []
        self.buttons: list[int] = []
        self.stamp = -math.inf

    @property
    def deadman_held(self) -> bool:
        return _button(self.buttons, self.map.deadman)

    def missing(self) -> list[str]:
        m = self.map
        out = [f"axis {i}" for i in m.axes if i >= len(self.axes)]
        out += [
            f"button {i}"
            for i in (m.deadman, m.suction, m.next_episode, m.rerecord)
            if i >= len(self.buttons)
        ]
        return out

    def on_joy(self, axes, buttons, now: float) -> list[str]:
        before = self.buttons
        self.axes, self.buttons, self.stamp = list(axes), [int(b) for b in buttons], now
        events = []
        if _pressed(before, self.buttons, self.map.suction) and self.deadman_held:
            events.append("suction")
        if _pressed(before, self.buttons, self.map.next_episode):
            events.append("next")
        if _pressed(before, self.buttons, self.map.rerecord):
            events.append("rerecord")
        return events

    def velocity(self, now: float) -> np.ndarray:
        if not self.deadman_held or now - self.stamp > self.timeout:
            return np.zeros(3)
        v = np.array([_axis(self.axes, i) * s for i, s in zip(self.map.axes, self.map.signs)])
        return self.speed * _deadzoned(v, self.map.deadzone)


class SpaceMouseTeleop:
    """A 3Dconnexion SpaceMouse through ``pyspacemouse``: the puck's translation (each in
    [-1, 1], springing back to 0 when let go) times ``speed`` is the fingertip velocity;
    button 0 toggles suction, button 1 starts the next episode. ``read(now)`` polls it."""

    def __init__(
        self, speed: float, signs=(1.0, 1.0, 1.0), deadzone: float = 0.1, timeout: float = 0.5, device=None
    ):
        if device is None:
            try:
                import pyspacemouse
            except ImportError:
                raise DeviceError(
                    "mode:=spacemouse needs the pyspacemouse package "
                    "(`pip install pyspacemouse`, and hidapi's libhidapi)"
                ) from None
            try:
                opened = pyspacemouse.open()
            except Exception as exc:  # noqa: BLE001 - hid raises its own kinds
                raise DeviceError(f"cannot open a SpaceMouse ({type(exc).__name__}: {exc})") from None
            if not opened:
                raise DeviceError(
                    "no 3Dconnexion SpaceMouse found (is it plugged in, and may this user read /dev/hidraw*?)"
                )
            device = pyspacemouse
        self.device, self.speed, self.signs = device, float(speed), np.asarray(signs, float)
        self.deadzone, self.timeout = deadzone, timeout
        self.v, self.buttons, self.stamp = np.zeros(3), [0, 0], -math.inf

    def read(self, now: float) -> list[str]:
        state = self.device.read()
        if state is None:
            return []
        raw = np.array([_axis([state.x, state.y, state.z], i) for i in range(3)]) * self.signs
        before, self.buttons = self.buttons, list(getattr(state, "buttons", [0, 0]))
        self.v, self.stamp = self.speed * _deadzoned(raw, self.deadzone), now
        return [e for e, i in (("suction", 0), ("next", 1)) if _pressed(before, self.buttons, i)]

    def velocity(self, now: float) -> np.ndarray:
        return self.v.copy() if now - self.stamp <= self.timeout else np.zeros(3)
