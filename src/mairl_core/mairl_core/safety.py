"""The one safety function every joint command passes (env and safety node alike).

``safe_command(q_now, q_cmd, limits)`` turns a requested absolute joint command
into one that is safe to send, or rejects it:

- rejects: wrong length, NaN or inf in the command or the measured state;
- limits the goal to the safe joint range, then the step towards it to the
  stricter of the per-step limit and max joint speed x control period (each
  joint moves towards its goal, never past it);
- keeps the fingertip in the workspace box: a step whose fingertip would end
  outside the box shrunk by ``box_margin`` (or, if it is already outside that,
  farther from it) is shortened to the largest safe fraction (bisection on
  forward kinematics), down to holding position. The margin is room for the
  servos' overshoot: a command on the shrunk box's face lands the fingertip a
  little beyond it, and that measured position is what the next command is
  judged from, so without the margin a fingertip pushed into a face creeps out
  of the box (measured on the sim: up to 1.9 mm).

Pure: no state, no I/O; the caller holds position when it gets ``None``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

PATH_POINTS = 4
"""Fingertip checks along a step's joint-space path (its end point included)."""


@dataclass(frozen=True)
class SafetyLimits:
    joint_lower: np.ndarray
    joint_upper: np.ndarray
    max_step: float
    """Largest joint change per control step (rad): min(per-step limit, speed x period)."""
    box_lower: np.ndarray
    box_upper: np.ndarray
    control_period: float
    """Seconds between commands (the speed limit's time base)."""
    box_margin: float = 0.0
    """Commands keep the fingertip this far (m) inside the box: room for servo overshoot."""


@dataclass
class SafetyResult:
    command: np.ndarray | None
    """The safe command, or None when rejected (hold position)."""
    clipped: list[str] = field(default_factory=list)
    """What was limited, and why (empty when the command passed unchanged)."""
    rejected: str | None = None


def load_safety_limits(safety: str = "safety", robot: str = "ur5") -> SafetyLimits:
    """Limits from ``config/safety.yaml`` and the robot's ``config/ur5.yaml``."""
    from .config import ConfigError, read_yaml, resolve_config
    from .envs.ur5_model import load_ur5

    ur5 = load_ur5(robot)
    path = resolve_config(safety)
    s = read_yaml(path)
    try:
        lower = np.maximum(np.asarray(s["joint_lower"], float), ur5.joint_lower)
        upper = np.minimum(np.asarray(s["joint_upper"], float), ur5.joint_upper)
        period = float(s["control_period"])
        step = min(float(s["max_step"]), ur5.max_joint_speed * period)
        box_lo, box_hi = np.asarray(s["box_lower"], float), np.asarray(s["box_upper"], float)
        margin = float(s.get("box_margin", 0.0))
    except KeyError as exc:
        raise ConfigError(f"{path}: missing key {exc}") from None
    values = np.concatenate([np.ravel(v) for v in (lower, upper, box_lo, box_hi, period, step, margin)])
    if not np.all(np.isfinite(values)):
        raise ConfigError(f"{path}: every limit must be a finite number (NaN or inf found)")
    if lower.shape != (6,) or upper.shape != (6,) or np.any(lower >= upper):
        raise ConfigError(f"{path}: joint_lower/joint_upper must be 6 values with lower < upper")
    if box_lo.shape != (3,) or box_hi.shape != (3,) or np.any(box_lo >= box_hi):
        raise ConfigError(f"{path}: box_lower/box_upper must be 3 values with lower < upper")
    if step <= 0:
        raise ConfigError(f"{path}: max_step and control_period must be > 0")
    if not 0.0 <= margin or np.any(box_hi - box_lo <= 2 * margin):
        raise ConfigError(f"{path}: box_margin must be >= 0 and leave a box inside it")
    return SafetyLimits(lower, upper, step, box_lo, box_hi, period, margin)


def box_excess(p: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> float:
    """Distance from point ``p`` to the box (0 inside)."""
    return float(np.linalg.norm(np.maximum(0.0, np.maximum(lo - p, p - hi))))


def safe_command(
    q_now: Sequence[float],
    q_cmd: Sequence[float],
    limits: SafetyLimits,
    fingertip: Callable[[np.ndarray], np.ndarray],
    bisections: int = 12,
) -> SafetyResult:
    """The safe version of ``q_cmd`` given the measured ``q_now`` (see the module docstring)."""
    n = len(limits.joint_lower)
    try:
        now = np.asarray(q_now, dtype=float)
        cmd = np.asarray(q_cmd, dtype=float)
    except (TypeError, ValueError):
        return SafetyResult(None, rejected="command or state is not numeric")
    if cmd.shape != (n,):
        return SafetyResult(None, rejected=f"command has shape {cmd.shape}, expected ({n},)")
    if now.shape != (n,):
        return SafetyResult(None, rejected=f"joint state has shape {now.shape}, expected ({n},)")
    if not np.all(np.isfinite(cmd)):
        return SafetyResult(None, rejected="command contains NaN or inf")
    if not np.all(np.isfinite(now)):
        return SafetyResult(None, rejected="joint state contains NaN or inf")
    clipped: list[str] = []
    goal = np.clip(cmd, limits.joint_lower, limits.joint_upper)
    if np.any(goal != cmd):
        clipped.append(f"joint limits on joints {np.nonzero(goal != cmd)[0].tolist()}")
    step = np.clip(goal - now, -limits.max_step, limits.max_step)
    if np.any(step != goal - now):
        joints = np.nonzero(step != goal - now)[0].tolist()
        clipped.append(f"step limit {limits.max_step:.3f} rad on joints {joints}")
    out = np.where(step == goal - now, goal, now + step)  # land exactly on the goal when in reach
    boxes = [
        (limits.box_lower + limits.box_margin, limits.box_upper - limits.box_margin),
        (limits.box_lower, limits.box_upper),
    ]  # the shrunk box, and the box itself
    tip_now = fingertip(now)
    here = [box_excess(tip_now, lo, hi) for lo, hi in boxes]

    # Outside a box: no farther out than now. The fingertip is checked along the straight
    # joint-space path to the command, not only at its end: the servos follow that path,
    # and its fingertip curve can bulge past a face its end point stays inside.
    def ok(q: np.ndarray) -> bool:
        for k in range(1, PATH_POINTS + 1):
            tip = fingertip(now + (k / PATH_POINTS) * (q - now))
            for (lo, hi), e_now in zip(boxes, here):
                e = box_excess(tip, lo, hi)
                if e > 0.0 and e > e_now:
                    return False
        return True

    if not ok(out):
        lo, hi = 0.0, 1.0  # ok at 0 (hold), not ok at 1: bisect the largest safe fraction
        for _ in range(bisections):
            mid = 0.5 * (lo + hi)
            lo, hi = (mid, hi) if ok(now + mid * step) else (lo, mid)
        out = now + lo * step
        clipped.append(f"fingertip box: step shortened to {lo:.3f} of its length")
    # guard against float rounding past a limit (a joint already outside its range may stay there)
    out = np.clip(out, np.minimum(limits.joint_lower, now), np.maximum(limits.joint_upper, now))
    return SafetyResult(out, clipped)


def order_by_name(
    names: Sequence[str], values: Sequence[float], expected: Sequence[str]
) -> tuple[np.ndarray | None, str | None]:
    """``values`` reordered to ``expected``'s joint order, or (None, why) when a name is unknown,
    missing or repeated, or the lengths differ. Empty ``names``: ``values`` already in order."""
    values = list(values)
    if not names:
        if len(values) != len(expected):
            return None, f"{len(values)} positions without names, expected {len(expected)}"
        return np.asarray(values, dtype=float), None
    if len(names) != len(values):
        return None, f"{len(names)} joint names but {len(values)} positions"
    unknown = [n for n in names if n not in expected]
    if unknown:
        return None, f"unknown joint name(s) {unknown}"
    if len(set(names)) != len(names):
        return None, "repeated joint names"
    missing = [n for n in expected if n not in names]
    if missing:
        return None, f"missing joint(s) {missing}"
    index = {n: i for i, n in enumerate(names)}
    return np.array([values[index[n]] for n in expected], dtype=float), None


@dataclass
class GateOutput:
    """What the safety node publishes for one input or watchdog tick."""

    command: np.ndarray | None
    """Joint positions for the driver; None: publish nothing."""
    level: str
    """'ok', 'clipped', 'rejected' (holding), 'stale' (holding), 'estop' (holding),
    'suspect' (a joint state the gate cannot trust: nothing forwarded) or 'ignored' (a joint
    state that was not used)."""
    message: str = ""


class SafetyGate:
    """The safety node's logic, without ROS: ``safe_command`` applied to each incoming command
    against the latest measured joint state, plus what a stream of commands needs. Times are
    seconds on one clock.

    - A command or joint state older than ``timeout``, or a rejected command: hold.
    - Rate: a command that comes ``dt`` < ``control_period`` after the last command sent (a
      hold included) may lie at most ``max_step * dt / control_period`` from that command,
      per joint, before ``safe_command`` judges it against the measured state. Each step is
      judged from the measured state, which lags the servo's target: without this, commands
      every 2 ms could each ask a full step past wherever the arm is, and a stiff servo
      would follow far faster than the speed limit. The target now moves no faster than the
      speed limit at any command rate (or back towards the measured state, which slows the
      arm).
    - Holding = commanding the arm's latest measured joint positions (never a pose remembered
      from earlier: something else may have moved the arm since, a sim reset, a homing
      trajectory, freedrive). Every command the gate sends, holds included, is within the step
      and speed limits of the latest measured state.
    - The e-stop latches a hold; :meth:`release` ends it only with the arm at rest (every joint
      within ``rest_tolerance`` of one pose for ``rest_time``), fresh joint states and a reason.
      After a release the arm keeps holding until the next valid command.
    - Cross-check of the joint states: a measured state that moved farther from the previous
      one than the arm can move between two states (``max_state_jump``, default twice the
      step limit) was not commanded: a sim reset, a spoofed ``/joint_states``, a second
      publisher, a glitch. The gate then forwards nothing (the driver keeps its last target,
      which was within the step limit of the last trusted state) and reports it, until
      ``settle_states`` consecutive states agree with each other again; after that the arm
      holds where it is until the next valid command. Two publishers of different poses keep
      the gate there for as long as both publish.
    """

    def __init__(
        self,
        limits: SafetyLimits,
        joint_names: Sequence[str],
        fingertip: Callable[[np.ndarray], np.ndarray],
        timeout: float = 0.1,
        max_state_jump: float | None = None,
        settle_states: int = 3,
        rest_tolerance: float = 1e-3,
        rest_time: float = 0.5,
    ):
        if timeout <= 0:
            raise ValueError(f"timeout must be > 0, got {timeout}")
        self.max_state_jump = 2.0 * limits.max_step if max_state_jump is None else float(max_state_jump)
        if self.max_state_jump <= 0 or settle_states < 1 or rest_tolerance <= 0 or rest_time < 0:
            raise ValueError(
                "max_state_jump and rest_tolerance must be > 0, settle_states >= 1, rest_time >= 0"
            )
        self.limits, self.names, self.fingertip, self.timeout = limits, list(joint_names), fingertip, timeout
        self.settle_states, self.rest_tolerance, self.rest_time = (
            int(settle_states),
            rest_tolerance,
            rest_time,
        )
        self.q: np.ndarray | None = None
        self.q_time = -np.inf
        self.cmd_time = -np.inf
        self.sent: np.ndarray | None = None  # the last command sent (a hold included) ...
        self.sent_time = -np.inf  # ... and when
        self.moved_time = -np.inf
        self.rest_pose: np.ndarray | None = None
        self.estopped = False
        self.held = False
        self.suspect: str | None = None
        self.agreeing = 0

    def on_joint_state(
        self, names: Sequence[str], positions: Sequence[float], t: float, age: float | None = None
    ) -> GateOutput | None:
        """Record a measured joint state received at ``t``; ``age``: how old its stamp says it
        is (None: not known). Returns what to report, if anything: the state was ignored
        ('ignored': bad, or stamped more than ``timeout`` ago or ahead — a delayed stream is
        stale however steadily it arrives), it jumped ('suspect'), or the states agree again
        ('stale': holding where the arm is now, nothing sent)."""
        q, why = order_by_name(names, positions, self.names)
        if q is None or not np.all(np.isfinite(q)):
            return GateOutput(None, "ignored", f"joint state ignored: {why or 'NaN or inf'}")
        if age is not None and not abs(age) <= self.timeout:
            return GateOutput(
                None,
                "ignored",
                f"joint state ignored: stamped {age:.3f} s ago, "
                f"more than the {self.timeout:.3f} s timeout (a delayed stream, or "
                "the publisher's clock is not this node's)",
            )
        report = None
        if self.rest_pose is None or np.max(np.abs(q - self.rest_pose)) > self.rest_tolerance:
            self.rest_pose, self.moved_time = q, t  # at rest: within the tolerance of one pose
        if self.q is not None:
            moved = np.abs(q - self.q)
            if np.max(moved) > self.max_state_jump:
                j = int(np.argmax(moved))
                self.suspect = (
                    f"joint state jumped {moved[j]:.3f} rad on {self.names[j]} (at most "
                    f"{self.max_state_jump:.3f} rad between states): not commanded; "
                    "forwarding nothing until the joint states agree again"
                )
                self.agreeing, self.held = 0, True
                report = GateOutput(None, "suspect", self.suspect)
            elif self.suspect is not None:
                self.agreeing += 1
                if self.agreeing >= self.settle_states:
                    self.suspect = None
                    report = GateOutput(
                        None,
                        "stale",
                        "joint states agree again: holding where the arm is until the next valid command",
                    )
        self.q, self.q_time = q, t
        return report

    def _hold(self, level: str, why: str, t: float | None = None) -> GateOutput:
        """Hold: the arm's latest measured position (nothing while it cannot be trusted);
        ``t``: when it is sent (the rate limit's anchor)."""
        self.held = True
        if self.q is None or self.suspect is not None:
            return GateOutput(None, level, why)
        if t is not None:
            self.sent, self.sent_time = self.q.copy(), t
        return GateOutput(self.q.copy(), level, why)

    def on_command(self, names: Sequence[str], positions: Sequence[float], t: float) -> GateOutput:
        """A requested absolute joint command (``/mairl/command``) -> what to send the driver."""
        if self.estopped:
            return self._hold("estop", "e-stop latched: command ignored", t)
        if self.q is None or t - self.q_time > self.timeout:
            return self._hold("stale", f"no joint state within {self.timeout:.3f} s: holding", t)
        if self.suspect is not None:
            return self._hold("suspect", f"command ignored: {self.suspect}", t)
        cmd, why = order_by_name(names, positions, self.names)
        if cmd is None:
            return self._hold("rejected", f"command rejected: {why}", t)
        rate = []
        since = t - self.sent_time
        if self.sent is not None and since < self.limits.control_period and np.all(np.isfinite(cmd)):
            r = self.limits.max_step * max(since, 0.0) / self.limits.control_period
            near = np.clip(cmd, self.sent - r, self.sent + r)
            if np.any(near != cmd):
                rate = [
                    f"rate limit {r:.4f} rad from the command sent {since * 1e3:.1f} ms ago "
                    f"on joints {np.nonzero(near != cmd)[0].tolist()}"
                ]
            cmd = near
        res = safe_command(self.q, cmd, self.limits, self.fingertip)
        if res.command is None:
            return self._hold("rejected", f"command rejected: {res.rejected}", t)
        self.cmd_time, self.held = t, False
        self.sent, self.sent_time = res.command.copy(), t
        if rate or res.clipped:
            return GateOutput(res.command, "clipped", "; ".join(rate + res.clipped))
        return GateOutput(res.command, "ok")

    def tick(self, t: float) -> GateOutput | None:
        """Watchdog at the control rate: when the command stream has gone stale, the hold
        command, once (a position controller keeps it; a trajectory sent for a reset may
        then move the arm); else None (commands are forwarded as they arrive)."""
        if self.holding:
            return None
        if np.isfinite(self.cmd_time) and t - self.cmd_time > self.timeout:
            return self._hold("stale", f"no command within {self.timeout:.3f} s: holding", t)
        return None

    @property
    def holding(self) -> bool:
        return self.estopped or self.held or self.suspect is not None

    @property
    def hold_point(self) -> np.ndarray | None:
        """Where a hold sent now would hold the arm (None: it would send nothing)."""
        if not self.holding or self.q is None or self.suspect is not None:
            return None
        return self.q.copy()

    def at_rest(self, t: float) -> bool:
        """Fresh joint states, every joint within ``rest_tolerance`` of one pose for ``rest_time``."""
        return (
            self.q is not None and t - self.q_time <= self.timeout and t - self.moved_time >= self.rest_time
        )

    def set_estop(self, on: bool = True) -> GateOutput | None:
        """Latch the e-stop (returns the hold command; None when it was already latched).
        Releasing is :meth:`release`, a separate and deliberate act."""
        if not on:
            raise ValueError("the e-stop is released with release(t, reason), not set_estop(False)")
        if self.estopped:
            return None
        self.estopped = True
        return self._hold("estop", "e-stop latched: holding")

    def release(self, t: float, reason: str) -> tuple[bool, str]:
        """Release a latched e-stop: needs a reason (what was checked, by whom), fresh joint
        states and the arm at rest. Returns (released, message for the log)."""
        reason = " ".join(str(reason).split())
        if not self.estopped:
            return False, "e-stop not latched: nothing to release"
        if len(reason) < 3:
            return False, "e-stop kept: give a reason for the release (what was checked, by whom)"
        if self.q is None or t - self.q_time > self.timeout:
            return False, f"e-stop kept: no joint state within {self.timeout:.3f} s"
        if self.suspect is not None:
            return False, f"e-stop kept: {self.suspect}"
        if not self.at_rest(t):
            return False, (
                f"e-stop kept: the arm is moving (a joint left a {self.rest_tolerance:g} "
                f"rad band around one pose in the last {self.rest_time:g} s)"
            )
        self.estopped, self.held = False, True  # holding until the next valid command
        return True, f"e-stop released ({reason}); holding until the next valid command"
