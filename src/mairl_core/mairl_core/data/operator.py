"""A scripted stand-in for a human teleoperator, and demo generation through the teleop path.

The operator looks at the fingertip and the block and pushes a Cartesian
velocity towards the block, like a person with a spacemouse: each episode has
its own top speed, the hand is noisy (a smoothly varying disturbance), and now
and then the operator hesitates for a few control periods. The twist goes
through the same differential IK as human teleop (``twist_to_joint_command``)
and the env applies the safety function, so demos carry the same
imperfections a recorded human's would.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..envs.kinematics import twist_to_joint_command
from .bags import Episode, write_episode


@dataclass
class OperatorStyle:
    speed_range: tuple[float, float] = (0.45, 0.9)
    """Top fingertip speed of an episode (m/s), drawn uniformly. An episode is 4 s and the
    servos lag each command, so an operator slower than this runs out of time on the far
    blocks, and policies learn the same slowness (with (0.3, 0.6) and gain 4: scripted
    success 0.94, BC 0.63, MAIRL 0.84-0.87, failures being far blocks still approached at
    the end; bench/NOTEBOOK.md)."""
    gain: float = 6.0
    """Commanded speed per metre of remaining distance (1/s), before the cap."""
    noise: float = 0.04
    """Std of the hand's velocity disturbance (m/s)."""
    noise_smoothing: float = 0.8
    """AR(1) coefficient of the disturbance (0: white)."""
    hesitate_prob: float = 0.04
    hesitate_steps: tuple[int, int] = (2, 6)


class ScriptedOperator:
    """Produces one Cartesian velocity per control period; reset per episode."""

    def __init__(self, style: OperatorStyle, rng: np.random.Generator):
        self.style, self.rng = style, rng
        self.reset()

    def reset(self) -> None:
        self.top_speed = self.rng.uniform(*self.style.speed_range)
        self.disturbance = np.zeros(3)
        self.paused = 0

    def velocity(self, fingertip: np.ndarray, target: np.ndarray) -> np.ndarray:
        s = self.style
        self.disturbance = s.noise_smoothing * self.disturbance + np.sqrt(
            1 - s.noise_smoothing**2
        ) * self.rng.normal(0, s.noise, 3)
        if self.paused > 0:
            self.paused -= 1
            return self.disturbance * 0.2
        if self.rng.random() < s.hesitate_prob:
            self.paused = int(self.rng.integers(s.hesitate_steps[0], s.hesitate_steps[1] + 1))
        v = s.gain * (np.asarray(target) - np.asarray(fingertip))
        speed = np.linalg.norm(v)
        if speed > self.top_speed:
            v *= self.top_speed / speed
        return v + self.disturbance


GRASP_STYLE = OperatorStyle(speed_range=(0.5, 0.9), gain=6.0)
"""Grasp demos move faster than reach demos: the servos lag each relative command, and the
operator must get there, come down, seal and lift within the episode."""


class GraspOperator:
    """The same hand, with a plan for suction grasping: move above the block, switch the
    suction on and come down onto it, wait a moment (a person checks the seal), lift once the
    vacuum sensor says the block is on the cup. Phase changes use what a person sees: the
    fingertip and the block.

    The suction goes on when the descent starts, not on touching: the cup only grips on
    contact, so switching early costs nothing, and it makes the switch a coarse decision
    ("above the block") a policy can learn from 50 demos, where "on at touch" asked for
    millimetre precision from about 50 positive examples (BC on the same 50 demos, seed 0,
    100 test episodes: 0.62 against 0.23; bench/NOTEBOOK.md)."""

    hover = 0.04
    """Height above the grasp point to aim for before coming down (m)."""
    lift = 0.12
    """How far to lift (m)."""
    press = 0.004
    """Aim this far into the block's top, so the cup seals (m)."""

    def __init__(self, style: OperatorStyle, rng: np.random.Generator):
        self.hand, self.rng = ScriptedOperator(style, rng), rng
        self.reset()

    def reset(self) -> None:
        self.hand.reset()
        self.phase, self.wait, self.lift_goal = "approach", 0, None

    def command(self, fingertip: np.ndarray, grasp_point: np.ndarray, held: bool) -> tuple[np.ndarray, bool]:
        """(Cartesian velocity, suction on) for this control period. ``held``: the block is
        on the cup (what a person sees, or a vacuum sensor reports)."""
        tip, top = np.asarray(fingertip), np.asarray(grasp_point) - [0.0, 0.0, self.press]
        above = top + [0.0, 0.0, self.hover]
        if self.phase == "approach" and (
            np.linalg.norm(tip[:2] - above[:2]) < 0.015 and abs(tip[2] - above[2]) < 0.03
        ):
            self.phase = "descend"
        if self.phase == "descend" and np.linalg.norm(tip - grasp_point) < 0.008:
            self.phase, self.wait = "attach", int(self.rng.integers(1, 4))
        if self.phase == "attach":
            self.wait -= 1
            if self.wait <= 0 and held:
                self.phase, self.lift_goal = "lift", top + [0.0, 0.0, self.lift]
        elif self.phase == "lift" and not held:  # lost it: start over
            self.phase = "approach"
        goal = {"approach": above, "descend": top, "attach": top}.get(self.phase, self.lift_goal)
        return self.hand.velocity(tip, goal), self.phase != "approach"


def run_teleop_episode(env, operator: ScriptedOperator | GraspOperator, seed: int) -> tuple[Episode, bool]:
    """One episode of ``UR5ReachEnv`` (``ScriptedOperator``) or ``UR5GraspEnv``
    (``GraspOperator``) driven through the teleop path."""
    env.reset(seed=seed)
    operator.reset()
    grasp = isinstance(operator, GraspOperator)
    period = env.substeps * env.model.opt.timestep
    qs, qds, cmds = [env.data.qpos[:6].copy()], [env.data.qvel[:6].copy()], []
    suction, path = [], [env.target.copy()]
    vacuum = [env.holding()] if grasp else []
    done, info = False, {}
    while not done:
        q = env.data.qpos[:6].copy()
        if grasp:
            v, on = operator.command(env._tip(q), env.grasp_point(), vacuum[-1])
            suction.append(on)
        else:
            v = operator.velocity(env._tip(q), env.target)
        cmd = twist_to_joint_command(env.robot, q, v, period)
        action = np.r_[cmd - q, env.step_bound() / 2 * (1 if on else -1)] if grasp else cmd - q
        _, _, _, done, info = env.step(action)
        cmds.append(info["command"])
        qs.append(env.data.qpos[:6].copy())
        qds.append(env.data.qvel[:6].copy())
        path.append(env.target.copy())
        if grasp:
            vacuum.append(info["holding"])
    ep = Episode(list(env.robot.joint_names), np.array(qs), np.array(qds), np.array(cmds), path[0], period)
    if grasp:
        ep.suction, ep.target_path, ep.vacuum = (
            np.array(suction, bool),
            np.array(path),
            np.array(vacuum, bool),
        )
    return ep, bool(info["is_success"])


def generate_demos(
    out_dir: str | Path,
    n: int,
    seed: int,
    task: str = "reach",
    style: OperatorStyle | None = None,
    progress: bool = True,
) -> dict[str, float]:
    """Write ``n`` successful scripted-operator episodes of ``task`` (reach or grasp) as bags
    ``out_dir/episode_NNN``.

    Like a person at the recorder, a failed episode is discarded and re-recorded
    (at most ``3 n`` attempts). Returns {'episodes', 'attempts', 'success_rate'}.
    """
    from tqdm import tqdm

    from ..envs.ur5_grasp import UR5GraspEnv
    from ..envs.ur5_reach import UR5ReachEnv

    if task not in ("reach", "grasp"):
        raise ValueError(f"task must be reach or grasp, got {task!r}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if any(out.glob("episode_*")):
        raise FileExistsError(f"{out} already holds episodes: choose another --out or remove them")
    env = UR5ReachEnv() if task == "reach" else UR5GraspEnv()
    operator = (ScriptedOperator if task == "reach" else GraspOperator)(
        style or (OperatorStyle() if task == "reach" else GRASP_STYLE), np.random.default_rng(seed)
    )
    saved = attempts = 0
    bar = tqdm(total=n, desc="demos", disable=not progress)
    while saved < n and attempts < 3 * n:
        ep, ok = run_teleop_episode(env, operator, seed=seed * 100_003 + attempts)
        attempts += 1
        if ok:
            write_episode(out / f"episode_{saved:03d}", ep, meta={"task": task, "operator": "scripted"})
            saved += 1
            bar.update()
    bar.close()
    if saved < n:
        raise RuntimeError(f"only {saved} of {n} demos succeeded in {attempts} attempts")
    return {"episodes": saved, "attempts": attempts, "success_rate": saved / attempts}
