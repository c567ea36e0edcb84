"""The UR5 model: MuJoCo's kinematics equals the DH chain; the position servos track."""

from __future__ import annotations

import dataclasses

import mujoco
import numpy as np
import pytest

from mairl_core.envs.ur5_model import UR5Config, dh_forward, load_ur5, ur5_mjcf


@pytest.fixture(scope="module")
def ur5():
    cfg = load_ur5()
    model = mujoco.MjModel.from_xml_string(ur5_mjcf(cfg))
    return cfg, model


def test_config_matches_published_ur5(ur5):
    cfg, model = ur5
    assert cfg.joint_names == [
        "shoulder_pan_joint",
        "shoulder_lift_joint",
        "elbow_joint",
        "wrist_1_joint",
        "wrist_2_joint",
        "wrist_3_joint",
    ]
    assert [model.joint(i).name for i in range(model.njnt)] == cfg.joint_names
    assert cfg.dh_d == [0.089159, 0.0, 0.0, 0.10915, 0.09465, 0.0823]
    assert cfg.dh_a == [0.0, -0.425, -0.39225, 0.0, 0.0, 0.0]
    # the UR5's well-known zero pose: arm stretched out along -x
    np.testing.assert_allclose(
        dh_forward(cfg, np.zeros(6))[:3, 3], [-0.81725, -0.19145, -0.005491], atol=1e-6
    )


def test_mujoco_forward_kinematics_matches_dh(ur5):
    cfg, model = ur5
    data = mujoco.MjData(model)
    rng = np.random.default_rng(0)
    lo, hi = np.array(cfg.joint_lower), np.array(cfg.joint_upper)
    for _ in range(200):
        q = rng.uniform(lo, hi)
        data.qpos[:] = q
        mujoco.mj_kinematics(model, data)
        pose = dh_forward(cfg, q)
        assert np.abs(data.site("tool").xpos - pose[:3, 3]).max() <= 1e-3  # issue: <= 1 mm
        np.testing.assert_allclose(data.site("tool").xmat.reshape(3, 3), pose[:3, :3], atol=1e-6)


def test_dh_forward_is_the_product_of_the_link_transforms():
    """The written-out chain equals Rz(q) Tz(d) Tx(a) Rx(alpha) multiplied as 4x4 matrices, a
    tool offset included, on angles beyond the joint limits too."""
    cfg = dataclasses.replace(load_ur5(), tool_offset=0.15)
    rng = np.random.default_rng(1)
    for q in rng.uniform(-7.0, 7.0, size=(300, 6)):
        t = np.eye(4)
        for qi, d, a, al in zip(q, cfg.dh_d, cfg.dh_a, cfg.dh_alpha):
            rz = np.eye(4)
            rz[:2, :2] = [[np.cos(qi), -np.sin(qi)], [np.sin(qi), np.cos(qi)]]
            rx = np.eye(4)
            rx[1:3, 1:3] = [[np.cos(al), -np.sin(al)], [np.sin(al), np.cos(al)]]
            move = np.eye(4)
            move[:3, 3] = [a, 0.0, d]  # Tz(d) Tx(a) commute
            t = t @ rz @ move @ rx
        tool = np.eye(4)
        tool[2, 3] = cfg.tool_offset
        np.testing.assert_allclose(dh_forward(cfg, q), t @ tool, rtol=0, atol=1e-12)


def test_batched_fingertip_positions_are_dh_forward_and_differentiable():
    """The torch chain (the discriminator's task inputs) gives dh_forward's tool point for
    every entry of a batch, and its gradient is that of the chain (central differences)."""
    import torch

    from mairl_core.envs.ur5_model import fingertip_positions

    cfg = dataclasses.replace(load_ur5(), tool_offset=0.15)
    q = torch.as_tensor(np.random.default_rng(2).uniform(-7.0, 7.0, size=(4, 5, 6)))
    ref = np.array([[dh_forward(cfg, qq)[:3, 3] for qq in row] for row in q.numpy()])
    np.testing.assert_allclose(fingertip_positions(cfg, q).numpy(), ref, rtol=0, atol=1e-12)
    x = q[0, 0].clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(fingertip_positions(cfg, x)[2], x)
    eps, q0 = 1e-6, q[0, 0].numpy()
    fd = [
        (dh_forward(cfg, q0 + eps * e)[2, 3] - dh_forward(cfg, q0 - eps * e)[2, 3]) / (2 * eps)
        for e in np.eye(6)
    ]
    np.testing.assert_allclose(grad.numpy(), fd, atol=1e-6)


def test_joint_limits_in_model(ur5):
    cfg, model = ur5
    np.testing.assert_allclose(model.jnt_range[:, 0], cfg.joint_lower)
    np.testing.assert_allclose(model.jnt_range[:, 1], cfg.joint_upper)
    np.testing.assert_allclose(model.actuator_ctrlrange[:, 0], cfg.joint_lower)


def test_position_servos_track_a_target(ur5):
    cfg, model = ur5
    data = mujoco.MjData(model)
    target = np.array([0.3, -1.2, 1.0, -1.4, -1.57, 0.2])
    data.ctrl[:] = target
    for _ in range(int(3.0 / model.opt.timestep)):
        mujoco.mj_step(model, data)
    assert np.abs(data.qpos - target).max() < 0.05
    assert np.abs(data.qvel).max() < 0.05


def test_config_rejects_bad_values():
    good = dict(
        joint_names=list("abcdef"),
        dh_d=[0.0] * 6,
        dh_a=[0.0] * 6,
        dh_alpha=[0.0] * 6,
        joint_lower=[-1.0] * 6,
        joint_upper=[1.0] * 6,
    )
    UR5Config(**good)
    with pytest.raises(ValueError, match="6 entries"):
        UR5Config(**{**good, "dh_d": [0.0] * 5})
    with pytest.raises(ValueError, match="below"):
        UR5Config(**{**good, "joint_lower": [1.0] * 6})
    with pytest.raises(ValueError, match="max_joint_speed"):
        UR5Config(**good, max_joint_speed=0.0)
