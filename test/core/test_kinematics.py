"""Differential IK of the fingertip: Jacobian, twist mapping, position IK."""

from __future__ import annotations

import mujoco
import numpy as np

from mairl_core.envs.kinematics import (
    fingertip_position,
    position_jacobian,
    solve_position_ik,
    twist_to_joint_command,
)
from mairl_core.envs.ur5_model import load_ur5, ur5_mjcf

UR5 = load_ur5()
HOME = np.array([0.0, -1.57, 1.57, -1.57, -1.57, 0.0])


def test_jacobian_matches_mujoco():
    model = mujoco.MjModel.from_xml_string(ur5_mjcf(UR5))
    data = mujoco.MjData(model)
    rng = np.random.default_rng(1)
    for _ in range(20):
        q = rng.uniform(-np.pi, np.pi, 6)
        data.qpos[:] = q
        mujoco.mj_forward(model, data)
        jacp = np.zeros((3, model.nv))
        mujoco.mj_jacSite(model, data, jacp, None, model.site("tool").id)
        np.testing.assert_allclose(position_jacobian(UR5, q), jacp, atol=1e-6)


def test_twist_moves_fingertip_along_it():
    rng = np.random.default_rng(2)
    for _ in range(20):
        q = HOME + rng.uniform(-0.4, 0.4, 6)
        v = rng.uniform(-0.2, 0.2, 3)
        dt = 0.04
        moved = fingertip_position(UR5, twist_to_joint_command(UR5, q, v, dt)) - fingertip_position(UR5, q)
        # first order: the fingertip moves by v dt (damping shortens it slightly)
        assert np.linalg.norm(moved - v * dt) < 0.15 * np.linalg.norm(v * dt) + 1e-5


def test_position_ik_reaches_reachable_targets():
    rng = np.random.default_rng(3)
    for _ in range(20):
        q_true = HOME + rng.uniform(-0.8, 0.8, 6)
        target = fingertip_position(UR5, q_true)
        q, err = solve_position_ik(UR5, target, HOME)
        assert err < 1e-3 and np.linalg.norm(fingertip_position(UR5, q) - target) < 1e-3


def test_unreachable_target_reports_error():
    q, err = solve_position_ik(UR5, np.array([3.0, 0.0, 0.0]), HOME, max_iters=50)
    assert err > 1.0 and np.all(np.isfinite(q))
