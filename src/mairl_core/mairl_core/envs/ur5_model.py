"""The UR5 (CB3) arm: DH forward kinematics and a MuJoCo model built from the same numbers.

Both read ``config/ur5.yaml``. Each MJCF body sits at the DH frame of the joint
that moves it (joint axis = local z), and the next body is offset by
Tz(d) Tx(a) Rx(alpha) — so MuJoCo's kinematics is the DH chain by construction,
and a test checks it. Geometry is primitive capsules sized to the UR5's links.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass
class UR5Config:
    """Kinematics and limits of the arm (``config/ur5.yaml``)."""

    joint_names: list[str]
    dh_d: list[float]
    dh_a: list[float]
    dh_alpha: list[float]
    joint_lower: list[float]
    joint_upper: list[float]
    max_joint_speed: float = math.pi
    tool_offset: float = 0.0

    def __post_init__(self) -> None:
        for name in ("joint_names", "dh_d", "dh_a", "dh_alpha", "joint_lower", "joint_upper"):
            if len(getattr(self, name)) != 6:
                raise ValueError(f"{name} must have 6 entries, got {len(getattr(self, name))}")
        if any(lo >= hi for lo, hi in zip(self.joint_lower, self.joint_upper)):
            raise ValueError("every joint_lower must be below its joint_upper")
        if self.max_joint_speed <= 0:
            raise ValueError("max_joint_speed must be > 0")


def load_ur5(path: str = "ur5") -> UR5Config:
    from ..config import load_config

    return load_config(UR5Config, path)


def _dh_chain(cfg: UR5Config, qs, cos, sin) -> tuple:
    """The chain product Rz(q) Tz(d) Tx(a) Rx(alpha) written out element-wise: the columns
    x, y, z of the tool's rotation and its translation p (tool point included), each as three
    values. ``qs`` is six joint angles, floats (``cos``/``sin``: math's) or same-shaped
    tensors (torch's), so one text serves the safety check and batched, differentiable use."""
    x0, x1, x2, y0, y1, y2, z0, z1, z2 = 1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0
    p0 = p1 = p2 = 0.0
    for qi, d, a, al in zip(qs, cfg.dh_d, cfg.dh_a, cfg.dh_alpha):
        cq, sq, ca, sa = cos(qi), sin(qi), math.cos(al), math.sin(al)
        # Rz(q): x, y turn by q; Tz(d) Tx(a): p moves d along z and a along the new x;
        # Rx(alpha): y, z turn by alpha
        x0, x1, x2, y0, y1, y2 = (
            x0 * cq + y0 * sq, x1 * cq + y1 * sq, x2 * cq + y2 * sq,
            y0 * cq - x0 * sq, y1 * cq - x1 * sq, y2 * cq - x2 * sq,
        )  # fmt: skip
        p0, p1, p2 = p0 + a * x0 + d * z0, p1 + a * x1 + d * z1, p2 + a * x2 + d * z2
        y0, y1, y2, z0, z1, z2 = (
            y0 * ca + z0 * sa, y1 * ca + z1 * sa, y2 * ca + z2 * sa,
            z0 * ca - y0 * sa, z1 * ca - y1 * sa, z2 * ca - y2 * sa,
        )  # fmt: skip
    t = cfg.tool_offset  # the tool point sits t along the flange's z
    return (x0, x1, x2), (y0, y1, y2), (z0, z1, z2), (p0 + t * z0, p1 + t * z1, p2 + t * z2)


def dh_forward(cfg: UR5Config, q: np.ndarray) -> np.ndarray:
    """Pose (4x4) of the tool point for joint angles ``q`` (standard DH: Rz(q) Tz(d) Tx(a) Rx(alpha)).

    The chain product on floats: the safety check evaluates it along every command's path
    (tens of times per control step), and six 4x4 numpy products cost four times as much;
    the two agree to rounding (a test holds them to 1e-12)."""
    (x0, x1, x2), (y0, y1, y2), (z0, z1, z2), (p0, p1, p2) = _dh_chain(
        cfg, np.asarray(q, float).tolist(), math.cos, math.sin
    )
    return np.array([[x0, y0, z0, p0], [x1, y1, z1, p1], [x2, y2, z2, p2], [0.0, 0.0, 0.0, 1.0]])


def fingertip_positions(cfg: UR5Config, q):
    """Tool-point positions (..., 3) of a torch tensor of joint angles (..., 6): batched and
    differentiable (the discriminator's task inputs, ``UR5ReachEnv.task_features``)."""
    import torch

    p = _dh_chain(cfg, q.unbind(-1), torch.cos, torch.sin)[3]
    return torch.stack([pi if torch.is_tensor(pi) else torch.full(q.shape[:-1], pi) for pi in p], -1)


def _quat_rx(alpha: float) -> str:
    return f"{math.cos(alpha / 2):.17g} {math.sin(alpha / 2):.17g} 0 0"


def ur5_mjcf(
    cfg: UR5Config,
    kp: float = 1000.0,
    extra_worldbody: str = "",
    timestep: float = 0.002,
    tool_body: str = "",
    extra_actuators: str = "",
    damping: float = 2.0,
    payload: float = 0.0,
) -> str:
    """MJCF of the arm on a fixed base: position-controlled joints with the configured limits.

    The links are gravity-compensated (``gravcomp``), as the UR controller compensates
    gravity itself; the position servos (critically damped) then track without sag.
    ``tool_body`` is XML placed in the flange frame at the tool point (e.g. a suction cup),
    ``extra_actuators`` XML appended to the actuators. ``kp`` (servo stiffness, N m/rad),
    ``damping`` (joint damping, N m s/rad) and ``payload`` (kg at the tool point, *not*
    gravity-compensated) let a config describe a changed robot.
    """
    radius = (0.06, 0.054, 0.04, 0.035, 0.035, 0.03)
    parts = []
    for i in range(6):
        # body i rotates about its local z (joint i); its child is offset by Tz(d_i) Tx(a_i) Rx(alpha_i)
        d, a = cfg.dh_d[i], cfg.dh_a[i]
        seg = (
            f'<geom type="capsule" fromto="0 0 0 {a:.17g} 0 {d:.17g}" size="{radius[i]}"/>'
            if abs(a) + abs(d) > 1e-9
            else f'<geom type="sphere" size="{radius[i]}"/>'
        )
        parts.append(
            f'<body name="link{i + 1}" gravcomp="1">'
            f'<joint name="{cfg.joint_names[i]}" axis="0 0 1" range="{cfg.joint_lower[i]:.17g} '
            f'{cfg.joint_upper[i]:.17g}" damping="{damping:.6g}" armature="0.1"/>'
            f'{seg}<inertial pos="{a / 2:.17g} 0 {d / 2:.17g}" mass="{2.0 if i < 3 else 0.8}" '
            f'diaginertia="0.01 0.01 0.01"/>'
            f'<body name="frame{i + 1}" pos="{a:.17g} 0 {d:.17g}" quat="{_quat_rx(cfg.dh_alpha[i])}">'
        )
    tool = f'<site name="tool" pos="0 0 {cfg.tool_offset:.17g}" size="0.01"/>'
    if tool_body:
        tool += f'<body name="tool_body" pos="0 0 {cfg.tool_offset:.17g}">{tool_body}</body>'
    if payload > 0:
        tool += (
            f'<body name="payload" pos="0 0 {cfg.tool_offset:.17g}"><inertial pos="0 0 0" '
            f'mass="{payload:.6g}" diaginertia="1e-4 1e-4 1e-4"/></body>'
        )
    chain = "".join(parts) + tool + "</body></body>" * 6
    actuators = "".join(
        f'<position name="{n}_pos" joint="{n}" kp="{kp}" kv="{2 * math.sqrt(kp):.6g}" '
        f'ctrlrange="{lo:.17g} {hi:.17g}"/>'
        for n, lo, hi in zip(cfg.joint_names, cfg.joint_lower, cfg.joint_upper)
    )
    return (
        f'<mujoco model="ur5"><option timestep="{timestep}"/>'
        f'<compiler angle="radian" autolimits="true"/>'
        # a 1024 px shadow map (MuJoCo's default is 4096): the same picture at 320 x 240, and a
        # headless software renderer draws a frame in 0.04 s instead of 0.13 s
        f'<visual><headlight ambient="0.35 0.35 0.35" diffuse="0.5 0.5 0.5"/>'
        f'<quality shadowsize="1024"/></visual>'
        f'<default><geom contype="0" conaffinity="0" rgba="0.7 0.7 0.75 1"/></default>'
        f'<worldbody><light pos="0.5 -0.5 2.5" dir="-0.2 0.2 -1" directional="true"/>'
        # the table the arm stands on (top at the base plane) and the floor
        f'<geom name="table" type="box" pos="0 -0.3 -0.02" size="0.7 0.7 0.02" '
        f'rgba="0.55 0.45 0.35 1"/>'
        f'<geom name="floor" type="plane" pos="0 0 -0.75" size="3 3 0.1" rgba="0.3 0.32 0.35 1"/>'
        f'<body name="base">{chain}</body>{extra_worldbody}'
        f"</worldbody>"
        f"<actuator>{actuators}{extra_actuators}</actuator></mujoco>"
    )
