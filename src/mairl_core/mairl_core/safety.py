"""The one safety function every joint command passes (env and safety node alike).

``safe_command(q_now, q_cmd, limits)`` turns a requested absolute joint command
into one that is safe to send, or rejects it:

- rejects: wrong length, NaN or inf in the command or the measured state;
- limits the goal to the safe joint range, then the step towards it to the
  stricter of the per-step limit and max joint speed x control period (each
  joint moves towards its goal, never past it);
- keeps the fingertip in the workspace box: a step whose fingertip would end
  outside the box (or, if it is already outside, farther from it) is shortened
  to the largest safe fraction (bisection on forward kinematics), down to
  holding position.

Pure: no state, no I/O; the caller holds position when it gets ``None``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np


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
    except KeyError as exc:
        raise ConfigError(f"{path}: missing key {exc}") from None
    if lower.shape != (6,) or upper.shape != (6,) or np.any(lower >= upper):
        raise ConfigError(f"{path}: joint_lower/joint_upper must be 6 values with lower < upper")
    if box_lo.shape != (3,) or box_hi.shape != (3,) or np.any(box_lo >= box_hi):
        raise ConfigError(f"{path}: box_lower/box_upper must be 3 values with lower < upper")
    if step <= 0:
        raise ConfigError(f"{path}: max_step and control_period must be > 0")
    return SafetyLimits(lower, upper, step, box_lo, box_hi, period)


def box_excess(p: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> float:
    """Distance from point ``p`` to the box (0 inside)."""
    return float(np.linalg.norm(np.maximum(0.0, np.maximum(lo - p, p - hi))))


def safe_command(q_now: Sequence[float], q_cmd: Sequence[float], limits: SafetyLimits,
                 fingertip: Callable[[np.ndarray], np.ndarray], bisections: int = 12) -> SafetyResult:
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
        clipped.append(f"step limit {limits.max_step:.3f} rad on joints "
                       f"{np.nonzero(step != goal - now)[0].tolist()}")
    out = np.where(step == goal - now, goal, now + step)  # land exactly on the goal when in reach
    here = box_excess(fingertip(now), limits.box_lower, limits.box_upper)

    def ok(q: np.ndarray) -> bool:
        e = box_excess(fingertip(q), limits.box_lower, limits.box_upper)
        return e == 0.0 or e <= here

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
