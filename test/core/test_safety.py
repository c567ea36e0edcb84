"""Property tests of the one safety function (mairl_core.safety.safe_command)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mairl_core.envs.kinematics import fingertip_position
from mairl_core.envs.ur5_model import load_ur5
from mairl_core.safety import box_excess, load_safety_limits, safe_command

UR5 = load_ur5()
LIMITS = load_safety_limits()
EPS = 1e-9


def fingertip(q):
    return fingertip_position(UR5, q)


joint = st.floats(-7.0, 7.0, allow_nan=False, allow_infinity=False)
q6 = st.lists(joint, min_size=6, max_size=6).map(np.array)
inside6 = st.tuples(
    *[st.floats(float(lo), float(hi)) for lo, hi in zip(LIMITS.joint_lower, LIMITS.joint_upper)]
).map(np.array)


def test_limits_come_from_config():
    assert LIMITS.max_step == pytest.approx(min(0.3, math.pi * 0.04))  # stricter of step and speed
    np.testing.assert_allclose(LIMITS.box_upper - LIMITS.box_lower, [0.7, 0.5, 0.4])
    assert np.all(LIMITS.joint_lower >= UR5.joint_lower) and np.all(LIMITS.joint_upper <= UR5.joint_upper)


@settings(max_examples=300, deadline=None)
@given(now=inside6, cmd=q6)
def test_output_never_violates_a_limit(now, cmd):
    res = safe_command(now, cmd, LIMITS, fingertip)
    out = res.command
    assert out is not None and out.shape == (6,) and np.all(np.isfinite(out))
    assert np.all(np.abs(out - now) <= LIMITS.max_step + EPS)  # step / speed
    assert np.all(out >= LIMITS.joint_lower) and np.all(out <= LIMITS.joint_upper)  # joint range
    before = box_excess(fingertip(now), LIMITS.box_lower, LIMITS.box_upper)
    after = box_excess(fingertip(out), LIMITS.box_lower, LIMITS.box_upper)
    assert after == 0.0 or after <= before + EPS  # fingertip stays in the box, or gets no farther out
    goal = np.clip(cmd, LIMITS.joint_lower, LIMITS.joint_upper)
    assert np.all((out - now) * (goal - now) >= -EPS)  # never moves away from the goal...
    assert np.all(np.abs(out - now) <= np.abs(goal - now) + EPS)  # ...nor past it


@settings(max_examples=200, deadline=None)
@given(now=q6, cmd=q6)
def test_step_limit_holds_from_any_state(now, cmd):
    out = safe_command(now, cmd, LIMITS, fingertip).command
    assert np.all(np.abs(out - now) <= LIMITS.max_step + EPS)


@settings(max_examples=100, deadline=None)
@given(now=inside6, delta=st.lists(st.floats(-0.05, 0.05), min_size=6, max_size=6).map(np.array))
def test_safe_commands_pass_unchanged(now, delta):
    """A command whose fingertip path (sampled finer than safe_command samples it) stays inside
    the box shrunk by the margin, or no farther out than now, passes exactly as asked."""
    cmd = np.clip(now + delta, LIMITS.joint_lower, LIMITS.joint_upper)
    m = LIMITS.box_margin
    boxes = [(LIMITS.box_lower + m, LIMITS.box_upper - m), (LIMITS.box_lower, LIMITS.box_upper)]

    def excess(q):
        return [box_excess(fingertip(q), lo, hi) for lo, hi in boxes]

    here = excess(now)
    path = [now + k / 8 * (cmd - now) for k in range(1, 9)]
    res = safe_command(now, cmd, LIMITS, fingertip)
    if all(e == 0.0 or e <= h for q in path for e, h in zip(excess(q), here)):
        assert np.array_equal(res.command, cmd) and res.clipped == []


@pytest.mark.parametrize(
    "cmd,why",
    [
        ([0.0] * 5, "shape"),
        ([0.0] * 7, "shape"),
        ([0.0] * 5 + [float("nan")], "NaN"),
        ([0.0] * 5 + [float("inf")], "inf"),
        (["a"] * 6, "numeric"),
        ([[0.0] * 6], "shape"),
    ],
)
def test_bad_commands_are_rejected(cmd, why):
    res = safe_command(np.zeros(6), cmd, LIMITS, fingertip)
    assert res.command is None and why in res.rejected


def test_bad_joint_state_is_rejected():
    res = safe_command([0.0] * 5 + [float("nan")], np.zeros(6), LIMITS, fingertip)
    assert res.command is None and "joint state" in res.rejected


def test_reports_what_was_clipped():
    now = np.array([0.0, -1.5, 1.5, -1.5, -1.5, 0.0])
    res = safe_command(now, now + np.array([1.0, 0, 0, 0, 0, 0]), LIMITS, fingertip)
    assert any("step limit" in c for c in res.clipped)
    res = safe_command(now, np.array([0.0, 1.0, 1.5, -1.5, -1.5, 0.0]), LIMITS, fingertip)
    assert any("joint limits" in c for c in res.clipped)


def _pose_inside_box(rng):
    for _ in range(20000):
        q = rng.uniform(LIMITS.joint_lower, LIMITS.joint_upper)
        if box_excess(fingertip(q), LIMITS.box_lower, LIMITS.box_upper) == 0.0:
            return q
    raise AssertionError("no configuration with the fingertip inside the box")


def test_box_shortens_steps_that_would_leave_it():
    rng = np.random.default_rng(0)
    shortened = 0
    for _ in range(30):
        now = _pose_inside_box(rng)
        cmd = now + rng.choice([-1.0, 1.0], 6) * LIMITS.max_step
        free = np.clip(cmd, LIMITS.joint_lower, LIMITS.joint_upper)
        res = safe_command(now, cmd, LIMITS, fingertip)
        assert box_excess(fingertip(res.command), LIMITS.box_lower, LIMITS.box_upper) == 0.0
        if box_excess(fingertip(free), LIMITS.box_lower, LIMITS.box_upper) > 0.0:
            shortened += 1
            assert any("fingertip box" in c for c in res.clipped)
            assert np.linalg.norm(res.command - now) < np.linalg.norm(free - now)
    assert shortened >= 3  # the case was really exercised


@pytest.mark.parametrize("axis, sign", [(2, -1), (2, 1), (0, 1), (0, -1), (1, 1), (1, -1)])
def test_box_holds_on_the_simulated_arm_pushed_into_a_face(axis, sign):
    """The measured fingertip, sampled at every physics step of the MuJoCo arm, stays inside the
    box while a teleop pushes into one face at 2 m/s (sliding along it), every command through
    safe_command from the measured state: the servos' overshoot stays within the box margin.
    (Without the margin the fingertip ended 1.5-1.9 mm past the floor, the ceiling and the -y
    face, judged from its own overshoot.)"""
    from mairl_core.envs.kinematics import twist_to_joint_command
    from mairl_core.envs.sim_arm import SimArm

    arm = SimArm("reach", seed=0)
    dt = arm.model.opt.timestep
    worst = 0.0
    for k in range(80):
        q = arm.positions
        v = np.zeros(3)
        v[axis], v[(axis + 1) % 3] = 2.0 * sign, 0.1 * math.sin(k / 10)
        res = safe_command(q, twist_to_joint_command(UR5, q, v, LIMITS.control_period), LIMITS, fingertip)
        arm.command(res.command)
        for _ in range(round(LIMITS.control_period / dt)):
            arm.advance(dt)
            worst = max(worst, box_excess(arm.fingertip, LIMITS.box_lower, LIMITS.box_upper))
    assert worst == 0.0, f"fingertip {worst * 1000:.2f} mm outside the box"


@pytest.mark.parametrize(
    "key, value",
    [
        ("max_step", ".nan"),
        ("control_period", ".nan"),
        ("box_margin", ".inf"),
        ("box_margin", "0.3"),
        ("joint_upper", "[.nan, 0, 2.8, 3, 3, 3]"),
        ("box_lower", "[-0.35, .nan, 0.05]"),
    ],
)
def test_limits_with_nan_inf_or_no_room_are_refused(tmp_path, key, value):
    """NaN passes every comparison: a NaN limit used to load, and then nothing was limited."""
    from mairl_core.config import ConfigError, read_yaml, resolve_config

    cfg = read_yaml(resolve_config("safety"))
    lines = [f"{k}: {v}" for k, v in cfg.items() if k != key] + [f"{key}: {value}"]
    path = tmp_path / "safety.yaml"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ConfigError, match="finite|box_margin"):
        load_safety_limits(str(path))
