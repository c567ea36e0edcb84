"""The nodes' logic without ROS: the safety gate (stale input, e-stop, rejection, hold),
the sim arm driven like ur_robot_driver, and the policy runner's observation (the env's own)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from mairl_core.checkpoint import CheckpointError
from mairl_core.deploy import PolicyRunner
from mairl_core.envs.kinematics import fingertip_position
from mairl_core.envs.sim_arm import SimArm
from mairl_core.envs.ur5_model import load_ur5
from mairl_core.safety import SafetyGate, load_safety_limits, order_by_name

UR5 = load_ur5()
LIMITS = load_safety_limits()
NAMES = list(UR5.joint_names)
REPO = Path(__file__).resolve().parents[2]
Q0 = SimArm("reach").positions
DQ = np.array([-0.01, 0, 0, 0, 0, 0.01])  # a small step that keeps the fingertip in the box


def gate(timeout=0.1):
    return SafetyGate(LIMITS, NAMES, lambda q: fingertip_position(UR5, q), timeout)


def test_order_by_name_reorders_and_rejects_bad_names():
    rev = NAMES[::-1]
    q, why = order_by_name(rev, [6, 5, 4, 3, 2, 1], NAMES)
    assert why is None and q.tolist() == [1, 2, 3, 4, 5, 6]
    assert order_by_name([], [1] * 6, NAMES)[0].tolist() == [1] * 6
    for names, vals, msg in [
        (NAMES[:5] + ["gripper_joint"], [0] * 6, "unknown joint"),
        (NAMES[:5], [0] * 5, "missing joint"),
        (NAMES[:5] + NAMES[:1], [0] * 6, "repeated"),
        (NAMES, [0] * 5, "6 joint names but 5"),
        ([], [0] * 7, "7 positions without names"),
    ]:
        q, why = order_by_name(names, vals, NAMES)
        assert q is None and msg in why


def test_gate_limits_a_step_and_forwards_a_safe_command():
    g = gate()
    g.on_joint_state(NAMES, Q0, 0.0)
    out = g.on_command(NAMES, Q0 + [0, 0, 0, 0, 0, 1.0], 0.01)  # +1 rad on wrist 3
    assert out.level == "clipped" and "step limit" in out.message
    assert out.command[5] - Q0[5] == pytest.approx(LIMITS.max_step)
    out = g.on_command(NAMES, Q0 + [1.0, 0, 0, 0, 0, 0], 0.05)  # pan: out of the box at once
    assert "fingertip box" in out.message and out.command[0] == pytest.approx(Q0[0])
    small = Q0 + [-0.01, 0, 0, 0, 0, 0.01]
    out = g.on_command(NAMES, small, 0.09)
    assert out.level == "ok" and np.array_equal(out.command, small)
    assert g.tick(0.12) is None  # fresh: nothing to add


def test_gate_limits_the_speed_of_a_command_stream_faster_than_the_control_rate():
    """A stiff servo (the measured state is the last command) and commands every 2 ms, each
    asking for 1 rad on wrist 3: judged only from the measured state, each would be a full
    step and the arm would turn at 20x the speed limit. The target may move only as far from
    the last command as the speed limit allows in 2 ms; a command a full period later gets a
    full step again."""
    g = gate()
    period, dt = LIMITS.control_period, 0.002
    g.on_joint_state(NAMES, Q0, 0.0)
    far = Q0 + [0, 0, 0, 0, 0, 1.0]
    out = g.on_command(NAMES, far, 0.0)  # the first command: a full step
    assert out.command[5] - Q0[5] == pytest.approx(LIMITS.max_step)
    t, last = 0.0, out.command
    for _ in range(50):  # 0.1 s
        t += dt
        g.on_joint_state(NAMES, last, t)  # the servo got there
        out = g.on_command(NAMES, far, t)
        assert out.level == "clipped" and "rate limit" in out.message
        assert out.command[5] - last[5] == pytest.approx(LIMITS.max_step * dt / period)
        last = out.command
    speed = LIMITS.max_step / period
    assert last[5] - Q0[5] == pytest.approx(LIMITS.max_step + speed * 0.1)  # not 50 full steps
    out = g.on_command(NAMES, far, t + period)  # a full period later: a full step
    assert out.command[5] - g.q[5] == pytest.approx(LIMITS.max_step)
    back = g.on_command(NAMES, Q0, t + period)  # at the same instant: the target stays
    np.testing.assert_array_equal(back.command, out.command)


@pytest.mark.parametrize("bad, why", [([np.nan] + [0.0] * 5, "NaN"), ([0.0] * 5, "missing joint")])
def test_gate_rejects_and_holds_where_the_arm_is(bad, why):
    g = gate()
    g.on_joint_state(NAMES, Q0, 0.0)
    names = NAMES if len(bad) == 6 else NAMES[:5]
    out = g.on_command(names, bad, 0.01)
    assert out.level == "rejected" and why in out.message
    np.testing.assert_array_equal(out.command, Q0)
    later = Q0 + 0.05
    g.on_joint_state(NAMES, later, 0.02)  # the arm moved on (a servo settling, freedrive)
    assert g.tick(0.03) is None and g.holding  # the hold was sent once; a position servo keeps it
    out = g.on_command(names, bad, 0.035)  # the next hold is where the arm is now
    np.testing.assert_array_equal(out.command, later)
    np.testing.assert_array_equal(g.hold_point, later)
    assert g.on_command(NAMES, later, 0.04).level == "ok"  # a valid command ends the hold
    assert g.tick(0.05) is None


def test_a_hold_after_the_arm_was_moved_by_something_else_does_not_jump_it():
    """The reported defect: the base moved by -1 rad by a trajectory (a reset), then one NaN
    command; the hold used to send the pose from before the move (a 1.0 rad step)."""
    g = gate()
    g.on_joint_state(NAMES, Q0, 0.0)
    g.on_command(NAMES, [np.nan] * 6, 0.01)  # a hold begins at Q0
    q = Q0.copy()
    for i in range(1, 41):  # the trajectory moves the base 1 rad at 0.025 rad per state
        q[0] = Q0[0] - 0.025 * i
        g.on_joint_state(NAMES, q, 0.01 + 0.008 * i)
    out = g.on_command(NAMES, [np.nan] * 6, 0.4)
    assert out.level == "rejected"
    np.testing.assert_array_equal(out.command, q)  # where the arm is, not Q0
    out = g.on_command(NAMES, [0.0] * 6, 0.41)  # a stale/bad pose request: limited from q
    assert np.all(np.abs(out.command - q) <= LIMITS.max_step + 1e-12)


def test_gate_holds_on_stale_commands_and_stale_joint_states():
    g = gate(timeout=0.1)
    g.on_joint_state(NAMES, Q0, 0.0)
    assert g.tick(0.5) is None  # no command stream yet: nothing to hold against
    g.on_command(NAMES, Q0 + DQ, 0.0)
    assert g.tick(0.09) is None
    moved = Q0 + 2 * DQ
    g.on_joint_state(NAMES, moved, 0.1)
    out = g.tick(0.11)
    assert out.level == "stale" and "no command" in out.message
    np.testing.assert_array_equal(out.command, moved)
    out = g.on_command(NAMES, Q0, 0.5)  # joint state now 0.4 s old
    assert out.level == "stale" and "no joint state" in out.message


def test_estop_latches_until_a_deliberate_release_with_the_arm_at_rest():
    g = gate()
    g.on_joint_state(NAMES, Q0, 0.0)
    out = g.set_estop()
    assert out.level == "estop"
    np.testing.assert_array_equal(out.command, Q0)
    assert g.set_estop() is None  # already latched
    with pytest.raises(ValueError, match="release"):
        g.set_estop(False)
    for t in (0.01, 0.02):
        out = g.on_command(NAMES, Q0 + DQ, t)
        assert out.level == "estop"
        np.testing.assert_array_equal(out.command, Q0)
    assert g.tick(5.0) is None and g.holding
    ok, why = g.release(5.0, "cell checked by JD")
    assert not ok and "no joint state" in why  # the last state is 5 s old
    moving = Q0 + [0.002, 0, 0, 0, 0, 0]
    g.on_joint_state(NAMES, moving, 5.0)
    ok, why = g.release(5.01, "cell checked by JD")
    assert not ok and "moving" in why
    g.on_joint_state(NAMES, moving, 5.6)
    assert g.release(5.6, "  ") == (False, g.release(5.6, "")[1]) and not g.release(5.6, "")[0]
    assert g.estopped and g.on_command(NAMES, moving + DQ, 5.6).level == "estop"
    ok, why = g.release(5.6, "cell checked by JD")
    assert ok and "cell checked by JD" in why and not g.estopped and g.holding
    assert g.release(5.6, "again")[0] is False  # nothing latched
    assert g.on_command(NAMES, moving + DQ, 5.61).level == "ok"


def test_a_slowly_moving_arm_is_not_at_rest():
    """0.1 rad/s at 125 Hz moves each joint 0.8 mrad per state, under the 1 mrad tolerance: the
    release used to pass, judging rest from one state to the next instead of over the window."""
    g = gate()
    g.on_joint_state(NAMES, Q0, 0.0)
    g.set_estop()
    t = 0.0
    for i in range(1, 126):  # one second of states
        t = i / 125
        g.on_joint_state(NAMES, Q0 + [0.1 * t, 0, 0, 0, 0, 0], t)
    ok, why = g.release(t, "cell checked")
    assert not ok and "moving" in why
    for i in range(1, 70):  # then still (sensor noise of 0.2 mrad) for 0.55 s
        g.on_joint_state(NAMES, Q0 + [0.1 + 2e-4 * (i % 2), 0, 0, 0, 0, 0], t + i / 125)
    assert g.release(t + 69 / 125, "cell checked")[0]


def test_joint_states_stamped_too_long_ago_are_stale():
    """A steady 0.3 s delay: each state arrives on time but is 0.3 s old; judged by arrival it
    was never stale and the gate stepped from where the arm was 0.3 s before."""
    g = gate(timeout=0.1)
    out = g.on_joint_state(NAMES, Q0, 0.0, age=0.3)
    assert out.level == "ignored" and "0.300 s ago" in out.message and g.q is None
    assert g.on_command(NAMES, Q0 + DQ, 0.01).level == "stale"
    assert g.on_joint_state(NAMES, Q0, 0.02, age=-0.5).level == "ignored"  # from the future
    assert g.on_joint_state(NAMES, Q0, 0.03, age=0.004) is None
    assert g.on_command(NAMES, Q0 + DQ, 0.04).level == "ok"
    g.on_joint_state(NAMES, Q0 + DQ, 0.05, age=0.3)  # the stream falls behind: the last good
    out = g.on_command(NAMES, Q0 + 2 * DQ, 0.2)  # state goes stale, the arm holds
    assert out.level == "stale"


def test_a_joint_state_jump_that_was_not_commanded_holds_and_is_reported():
    """A spoofed /joint_states (or a second publisher) that jumps 0.96 rad: nothing is
    forwarded while the states disagree; after they agree again the arm holds where it is."""
    g = gate()
    g.on_joint_state(NAMES, Q0, 0.0)
    assert g.on_command(NAMES, Q0 + DQ, 0.001).level == "ok"
    fake = Q0 + [0.96, 0, 0, 0, 0, 0]
    t = 0.0
    for i in range(10):  # the real arm and a spoofer publish in turn
        t += 0.004
        out = g.on_joint_state(NAMES, fake if i % 2 == 0 else Q0, t)
        assert out is not None and out.level == "suspect" and "jumped 0.960 rad" in out.message
        cmd = g.on_command(NAMES, fake + DQ, t)  # a command made from the fake state
        assert cmd.level == "suspect" and cmd.command is None and g.tick(t) is None
    for _ in range(g.settle_states):  # the spoofer stops
        t += 0.008
        out = g.on_joint_state(NAMES, Q0, t)
    assert out is not None and "agree again" in out.message and g.holding
    out = g.on_command(NAMES, [np.nan] * 6, t)
    np.testing.assert_array_equal(out.command, Q0)
    assert g.on_command(NAMES, Q0 + DQ, t + LIMITS.control_period).level == "ok"


inside = st.tuples(
    *[st.floats(float(lo), float(hi)) for lo, hi in zip(LIMITS.joint_lower, LIMITS.joint_upper)]
).map(np.array)
anything = st.lists(
    st.one_of(st.floats(-10, 10), st.just(float("nan")), st.just(float("inf"))), min_size=6, max_size=6
)
event = st.one_of(
    st.tuples(st.just("state"), inside),
    st.tuples(st.just("command"), anything),
    # a command near the arm (the fingertip box rarely cuts it short): q + delta
    st.tuples(st.just("delta"), st.lists(st.floats(-0.3, 0.3), min_size=6, max_size=6).map(np.array)),
    st.tuples(st.just("tick"), st.none()),
    st.tuples(st.just("estop"), st.none()),
    st.tuples(st.just("release"), st.none()),
)


@settings(max_examples=200, deadline=None)
@given(
    start=st.one_of(inside, st.just(Q0)),  # anywhere, or the fingertip inside the box
    events=st.lists(
        st.tuples(event, st.one_of(st.floats(0, 0.3), st.floats(0, 0.005))), min_size=1, max_size=12
    ),
)
def test_gate_output_never_violates_a_limit_from_the_current_state(start, events):
    """Whatever arrives, in any order and at any time, the arm moved anywhere in between (sim
    resets, trajectories, spoofed states): every command sent is finite, within the step limit
    of the latest measured state and inside the joint range, and no farther from the last
    command sent than the speed limit allows in the time between (commands faster than the
    control rate), unless towards the measured state; a hold is that state itself."""
    g = gate()
    g.on_joint_state(NAMES, start, 0.0)
    t, sent, sent_t = 0.0, None, -np.inf
    for (kind, value), dt in events:
        t += dt
        q = g.q.copy()
        if kind == "state":
            g.on_joint_state(NAMES, value, t)
            continue
        out = {
            "command": lambda: g.on_command(NAMES, value, t),  # noqa: B023
            "delta": lambda: g.on_command(NAMES, q + value, t),  # noqa: B023
            "tick": lambda: g.tick(t),  # noqa: B023
            "estop": g.set_estop,
            "release": lambda: g.release(t, "test") and None,  # noqa: B023
        }[kind]()
        if out is None or out.command is None:
            continue
        c = out.command
        assert np.all(np.isfinite(c))
        assert np.all(np.abs(c - q) <= LIMITS.max_step + 1e-9)
        assert np.all(c >= np.minimum(LIMITS.joint_lower, q) - 1e-12)
        assert np.all(c <= np.maximum(LIMITS.joint_upper, q) + 1e-12)
        if out.level not in ("ok", "clipped"):
            np.testing.assert_array_equal(c, q)
        elif t - sent_t < LIMITS.control_period:
            # within the speed limit of the last command sent, or back towards the arm
            r = LIMITS.max_step * (t - sent_t) / LIMITS.control_period
            assert np.all(c >= np.minimum(q, sent - r) - 1e-9)
            assert np.all(c <= np.maximum(q, sent + r) + 1e-9)
        sent, sent_t = c, t


# ----- the sim arm -----


def test_sim_arm_follows_commands_and_trajectories():
    arm = SimArm("reach", seed=3)
    q = arm.positions
    goal = q + [0.2, -0.1, 0.1, 0.0, 0.1, 0.0]
    arm.command(goal)
    arm.advance(1.0)
    np.testing.assert_allclose(arm.positions, goal, atol=2e-3)
    arm.follow([(0.5, q + 0.05), (1.0, q)])
    arm.advance(0.5)
    np.testing.assert_allclose(arm.data.ctrl[:6], q + 0.05, atol=2e-3)  # at t = 0.498 s
    arm.advance(1.0)
    np.testing.assert_allclose(arm.positions, q, atol=2e-3)
    assert arm.time == pytest.approx(2.5)
    with pytest.raises(ValueError, match="finite"):
        arm.command([np.nan] * 6)
    with pytest.raises(ValueError, match="increasing"):
        arm.follow([(1.0, q), (0.5, q)])
    with pytest.raises(ValueError, match="suction"):
        arm.set_suction(True)


def test_sim_arm_blocks_come_from_its_seed_and_it_starts_where_the_env_does():
    a, b = SimArm("reach", seed=5), SimArm("reach", seed=5)
    assert np.array_equal(a.target, b.target)
    from mairl_core.envs.ur5_reach import UR5ReachEnv

    env = UR5ReachEnv()
    for i in range(3):  # episode i's block is env.reset(seed=seed + i)'s: `mairl eval` targets
        env.reset(seed=5 + i)
        np.testing.assert_array_equal(a.target if i == 0 else a.reset(), env.target)
        if i == 0:
            np.testing.assert_array_equal(a.reset(), env.target)
    np.testing.assert_array_equal(a.reset([0.1, -0.5, 0.2]), [0.1, -0.5, 0.2])
    np.testing.assert_allclose(a.positions, a.env.q_start)


def test_sim_arm_grasp_lifts_the_block_by_suction():
    arm = SimArm("grasp", seed=0)
    block = arm.reset([0.0, -0.5])
    from mairl_core.envs.kinematics import solve_position_ik

    top = block + [0, 0, arm.env.cfg.object_size + arm.env.cfg.cup_radius - 0.004]
    q_top, err = solve_position_ik(UR5, top, arm.positions)
    q_up, _ = solve_position_ik(UR5, top + [0, 0, 0.1], q_top)
    assert err < 1e-3
    arm.follow([(1.0, q_top)])
    arm.advance(1.2)
    arm.set_suction(True)
    arm.advance(0.2)
    arm.follow([(1.0, q_up)])
    arm.advance(1.2)
    assert arm.suction and arm.target[2] > block[2] + 0.05 and arm.is_success()


# ----- the policy runner -----


def test_policy_runner_sees_what_the_env_sees_and_commands_absolute_positions():
    ckpt = REPO / "bench" / "checkpoints" / "reach_mairl.pt"
    runner = PolicyRunner(ckpt)
    assert runner.task == "reach"
    arm = SimArm("reach", seed=1)
    arm.command(arm.positions + 0.05)
    arm.advance(0.02)  # moving: velocities matter too
    obs = runner.observation(arm.positions, arm.velocities, arm.target)
    np.testing.assert_allclose(obs, arm.observation(), atol=1e-6)
    d = runner.decide(arm.positions, arm.velocities, arm.target)
    act = runner.policy.act(torch.as_tensor(obs)[None], True)[0].numpy()
    np.testing.assert_allclose(d.command, arm.positions + act, atol=1e-6)
    assert d.suction is None
    with pytest.raises(ValueError, match="NaN"):
        runner.decide(arm.positions, arm.velocities, [np.nan, 0, 0])


def test_policy_runner_errors_are_clear_and_keep_the_loaded_policy(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        PolicyRunner(tmp_path / "missing.pt")
    ckpt = REPO / "bench" / "checkpoints" / "reach_mairl.pt"
    with pytest.raises(ValueError, match="a reach policy, but this server runs grasp"):
        PolicyRunner(ckpt, task="grasp")
    runner = PolicyRunner(ckpt)
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    before = runner.policy
    with pytest.raises(CheckpointError):
        runner.load(bad)
    assert runner.policy is before and runner.path == ckpt
