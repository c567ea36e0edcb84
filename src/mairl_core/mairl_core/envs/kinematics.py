"""Differential inverse kinematics of the fingertip position (damped least squares).

The teleop path (Cartesian velocity -> joint command), the scripted operator
and task resets all use these, in the env and in the ROS recorder alike.
Position only: the tool's orientation is left free (3 task dims, 6 joints).
"""

from __future__ import annotations

import numpy as np

from .ur5_model import UR5Config, dh_forward


def fingertip_position(cfg: UR5Config, q: np.ndarray) -> np.ndarray:
    return dh_forward(cfg, q)[:3, 3]


def position_jacobian(cfg: UR5Config, q: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """d p / d q (3 x 6), by central differences of the DH forward kinematics."""
    q = np.asarray(q, float)
    jac = np.zeros((3, len(q)))
    for i in range(len(q)):
        dq = np.zeros_like(q)
        dq[i] = eps
        jac[:, i] = (fingertip_position(cfg, q + dq) - fingertip_position(cfg, q - dq)) / (2 * eps)
    return jac


def dls_step(cfg: UR5Config, q: np.ndarray, dp: np.ndarray, damping: float = 0.05) -> np.ndarray:
    """Joint change that moves the fingertip by ``dp`` (damped least squares:
    dq = J^T (J J^T + lambda^2 I)^-1 dp, well-behaved near singularities)."""
    jac = position_jacobian(cfg, q)
    return jac.T @ np.linalg.solve(jac @ jac.T + damping**2 * np.eye(3), np.asarray(dp, float))


def twist_to_joint_command(
    cfg: UR5Config, q: np.ndarray, velocity: np.ndarray, dt: float, damping: float = 0.05
) -> np.ndarray:
    """Absolute joint command after one control period of Cartesian fingertip ``velocity`` (m/s)."""
    return np.asarray(q, float) + dls_step(cfg, q, np.asarray(velocity, float) * dt, damping)


def solve_position_ik(
    cfg: UR5Config,
    target: np.ndarray,
    q0: np.ndarray,
    *,
    tol: float = 1e-4,
    max_iters: int = 200,
    max_step: float = 0.2,
    damping: float = 0.05,
) -> tuple[np.ndarray, float]:
    """Iterate DLS steps from ``q0`` until the fingertip is within ``tol`` of ``target``;
    returns (q, remaining error in m)."""
    q = np.asarray(q0, float).copy()
    target = np.asarray(target, float)
    err = np.linalg.norm(target - fingertip_position(cfg, q))
    for _ in range(max_iters):
        if err <= tol:
            break
        dq = dls_step(cfg, q, target - fingertip_position(cfg, q), damping)
        q = q + np.clip(dq, -max_step, max_step)
        err = np.linalg.norm(target - fingertip_position(cfg, q))
    return q, float(err)
