"""mairl-trainer: Algorithm 1 on a robot (sim or real), from demo bags.

Reads the demo bags in ``demos`` (``mairl-recorder`` or ``mairl demos``), then repeats:
collect episodes on the robot, train the forward model F, the discriminator D and the
policy pi (``mairl_core``'s trainer, unchanged), write ``policy`` and ask the policy server
to reload it. Progress goes to the ROS log and to ``/mairl/trainer/progress``
(diagnostic_msgs/DiagnosticStatus, transient-local: ``env_steps`` and the latest success,
true return and discriminator accuracy as values), TensorBoard to ``<policy dir>/tb``.

``collect:=ros``: episodes run over the topics, through the safety node to the robot:
``RosRobotEnv`` resets the arm (``reset_service``: the sim's; on a real arm, a joint
trajectory to the start pose), publishes the policy's commands on ``/mairl/command`` once
per control period and builds the observations from ``/joint_states`` + ``/mairl/target``
with the envs' own function. The trainer acts with its own copy of the policy
(stochastic, as Algorithm 1 collects, with the exact log-probabilities the discriminator
needs); the policy server is paused meanwhile and serves each new checkpoint.
``collect:=sim``: an in-process copy of the same MuJoCo sim gathers the on-policy data
(much faster than real time; the demos still come from the bags); ``algo:=bc`` trains
from the bags alone. Ends after the config's env-step budget (``env_steps`` to change
it).

The run's checkpoint, ``<policy dir>/<algo>_run/checkpoint.pt``, is written every
``checkpoint_every`` iterations (and at the end) and copied to ``policy`` (``select_episodes``
> 0: only when its policy is the best so far on that many episodes of an in-process copy of
the sim, training-seed targets, the benchmarks' selection rule, so the server keeps the best
policy rather than the last; with the config's ``bench.select_explorer`` the explorer's policy
is a candidate too, as in the benchmarks; 0 serves the last); both writes are
atomic (a temporary file renamed over the old one), so the policy server, which reloads
``policy`` when it changes, never reads half a file and keeps serving the last complete
one. ``resume:=true`` continues a stopped (even killed) run from its last checkpoint; with
``collect:=sim`` it ends bit for bit where an uninterrupted run ends (``mairl_core.training
.train_run``). A checkpoint of another method, seed or config is refused in one line (exit 2).
"""

from __future__ import annotations

import dataclasses
import os
import time
from pathlib import Path

import numpy as np
from diagnostic_msgs.msg import DiagnosticStatus, KeyValue
from rclpy.node import Node
from std_srvs.srv import SetBool, Trigger

from mairl_core import robot as core
from mairl_core.algos.adversarial import AdversarialTrainer
from mairl_core.config import with_overrides
from mairl_core.training import train_run

from .node import SuctionState, event_qos, joint_state_arrays, param, point_array, run_node


class RosRobotEnv:
    """The trainer's VecEnv (one env) backed by a robot over ROS topics."""

    discrete = False
    dynamics_head = "gaussian"
    n_envs = 1

    def __init__(
        self,
        node,
        executor,
        task: str,
        episode_steps: int,
        reset_service: str,
        success_radius: float,
        timeout: float = 10.0,
    ):
        import torch
        from geometry_msgs.msg import PointStamped
        from sensor_msgs.msg import JointState
        from std_srvs.srv import SetBool, Trigger

        from mairl_core.deploy import robot_observation
        from mairl_core.envs.tasks import task_env_cls
        from mairl_core.envs.ur5_model import load_ur5
        from mairl_core.safety import load_safety_limits

        self.torch, self.node, self.executor, self.task = torch, node, executor, task
        self.robot, self.limits = load_ur5(), load_safety_limits()
        env_cls = task_env_cls(task)
        self.obs_dim, self.act_dim = env_cls.obs_dim, env_cls.act_dim
        self.horizon, self.success_radius, self.timeout = episode_steps, success_radius, timeout
        self.action_scale = self.limits.max_step
        self._observe = robot_observation
        self.q = self.qdot = self.target = None
        self.stamp = 0
        node.create_subscription(JointState, "/joint_states", self._on_js, 10)
        node.create_subscription(PointStamped, "/mairl/target", self._on_target, 10)
        self.cup = SuctionState(node)
        self.pub = node.create_publisher(JointState, "/mairl/command", 10)
        self.reset_client = node.create_client(Trigger, reset_service) if reset_service else None
        self.suction_client = node.create_client(SetBool, "/mairl/suction/set")
        self._Trigger, self._SetBool, self._JointState = Trigger, SetBool, JointState
        self.next_tick = 0.0
        from trajectory_msgs.msg import JointTrajectory

        self.traj_pub = node.create_publisher(
            JointTrajectory, "/scaled_joint_trajectory_controller/joint_trajectory", 10
        )
        self.q_start = env_cls().q_start  # the envs' start pose (fingertip mid right edge of the box)

    def _on_js(self, msg):
        q, qd = joint_state_arrays(msg, self.robot.joint_names)
        if q is not None:
            self.q, self.qdot, self.stamp = q, qd, self.stamp + 1

    def _on_target(self, msg):
        self.target = point_array(msg)

    def _spin_until(self, cond, what: str) -> None:
        end = time.monotonic() + self.timeout
        while not cond():
            if time.monotonic() > end:
                raise TimeoutError(f"no {what} within {self.timeout} s: is the robot (sim) running?")
            self.executor.spin_once(timeout_sec=0.005)

    def _obs(self):
        return self.torch.as_tensor(
            self._observe(self.task, self.robot, self.q, self.qdot, self.target, self.cup.on, self.cup.vacuum)
        )[None]

    def _call(self, client, request, what: str):
        self._spin_until(client.service_is_ready, f"{what} service")
        future = client.call_async(request)
        self._spin_until(future.done, f"{what} reply")
        return future.result()

    def reset(self):
        if self.reset_client is not None:
            res = self._call(self.reset_client, self._Trigger.Request(), "reset")
            if not res.success:
                raise RuntimeError(f"reset failed: {res.message}")
        else:  # a real arm: home to the start pose (MoveIt if installed, else a trajectory)
            self._home()
        if self.task == "grasp" and self.cup.on:
            self._call(self.suction_client, self._SetBool.Request(data=False), "suction")
        seen = self.stamp
        self._spin_until(
            lambda: self.stamp > seen + 1 and self.target is not None, "joint state after the reset"
        )
        self.next_tick = time.monotonic()
        return self._obs()

    def _home(self) -> None:
        from .home import moveit_available, moveit_home, trajectory_home

        self._spin_until(lambda: self.q is not None, "joint state")
        if moveit_available():
            moveit_home(self.q_start)
            return
        msg, duration = trajectory_home(
            self.robot.joint_names, self.q, self.q_start, self.robot.max_joint_speed
        )
        self.traj_pub.publish(msg)
        end = time.monotonic() + duration + 0.5
        self._spin_until(lambda: time.monotonic() >= end, "the move home")

    def step(self, env_actions):
        a = env_actions[0].numpy().astype(float)
        msg = self._JointState()
        msg.header.stamp = self.node.get_clock().now().to_msg()
        msg.name = list(self.robot.joint_names)
        msg.position = [float(v) for v in self.q + a[:6]]
        self.pub.publish(msg)
        if self.task == "grasp" and (a[6] > 0) != self.cup.on and self.suction_client.service_is_ready():
            self.suction_client.call_async(self._SetBool.Request(data=bool(a[6] > 0)))
        self.next_tick += self.limits.control_period  # one control period per step, like the env
        self._spin_until(lambda: time.monotonic() >= self.next_tick, "control tick")
        obs = self._obs()
        return obs, np.array([-self.distance()]), False

    def distance(self) -> float:
        from mairl_core.envs.kinematics import fingertip_position

        tip = fingertip_position(self.robot, self.q)
        return float(np.linalg.norm(tip - self.target))

    def success_rate(self) -> float:
        return float(self.distance() <= self.success_radius)

    def step_from(self, obs, env_actions):
        raise NotImplementedError("a robot cannot be reset to an arbitrary state: rollout_mode 'imagined'")

    def rng_state(self) -> dict:
        return {}

    def set_rng_state(self, state: dict) -> None:
        pass


class Trainer(Node):
    def __init__(self):
        super().__init__("mairl_trainer")
        self.task = param(self, "task", "reach")
        self.algo = param(self, "algo", "mairl")
        demos = param(self, "demos", "")
        policy = param(self, "policy", "")
        if not demos or not policy:
            raise ValueError(
                "parameters 'demos' (demo bags) and 'policy' (the checkpoint to write) are required"
            )
        self.collect = param(self, "collect", "ros")
        if self.collect not in ("ros", "sim"):
            raise ValueError(f"collect must be ros or sim, got {self.collect!r}")
        threads = int(
            param(
                self,
                "threads",
                0,
                "torch threads; 0: 2 with collect:=sim (nothing else runs then), 1 with collect:=ros",
                allowed=">= 0",
            )
        )
        import torch

        # measured on reach_table3, 2 cores: 2 threads 20 % faster per iteration than 1 (2026-12-07)
        torch.set_num_threads(threads or (min(2, os.cpu_count() or 1) if self.collect == "sim" else 1))
        from mairl_core.benchmarks import ur5
        from mairl_core.robot import DEFAULT_CONFIGS

        self.exp, bench = ur5.load_bench(param(self, "config", DEFAULT_CONFIGS[self.task]))
        self.bench = bench
        self.select_explorer = bench.select_explorer  # its explorer's policy may be served too
        self.overrides = ur5.trainer_overrides(bench, self.algo, False)  # the bench row's settings
        self.env_config = ur5.bench_env_config(self.task, bench)  # its `bench: env:` changes (sim)
        self.seed = int(param(self, "seed", 0))
        self.env_steps = int(param(self, "env_steps", 0)) or None
        self.resume = bool(param(self, "resume", False))
        self.checkpoint_every = int(param(self, "checkpoint_every", 20))
        if self.checkpoint_every < 1:
            raise ValueError(f"checkpoint_every must be >= 1, got {self.checkpoint_every}")
        self.reset_service = param(self, "reset_service", "")
        episodes = int(
            param(
                self,
                "select_episodes",
                0,
                "0: serve the last policy; N: the best on N sim episodes",
                allowed=">= 0",
            )
        )
        self.selection = ur5.PolicySelection(episodes, self.task, self.env_config) if episodes > 0 else None
        self.policy = Path(policy)
        self.expert = core.load_robot_demos(demos, self.exp.demos.n_demos, task=self.task)
        self.reload = self.create_client(Trigger, "/mairl/policy/reload")
        self.enable = self.create_client(SetBool, "/mairl/policy/enable")
        self._Trigger, self._SetBool = Trigger, SetBool
        self.progress = self.create_publisher(DiagnosticStatus, "/mairl/trainer/progress", event_qos())
        self.demos = demos
        source = (
            "over ROS (policy -> safety -> robot)"
            if self.collect == "ros"
            else "an in-process copy of the sim"
        )
        self.get_logger().info(
            f"{self.algo} on {self.task} from {len(self.expert)} demo episodes in {demos}; "
            f"on-policy data: {source}"
        )

    def log(self, m: dict, steps: int) -> None:
        parts = [
            f"{k.split('/')[-1]} {v:.3g}"
            for k, v in m.items()
            if k in ("env/success", "env/true_return", "disc/accuracy")
        ]
        self.get_logger().info(f"{int(steps)} env steps: " + ", ".join(parts))
        self.publish_progress(int(steps), m)

    def publish_progress(self, steps: int, m: dict, done: bool = False) -> None:
        msg = DiagnosticStatus(name="mairl_trainer", hardware_id=self.algo)
        msg.message = f"{'done: ' if done else ''}{steps} env steps"
        msg.values = [KeyValue(key="env_steps", value=str(steps))] + [
            KeyValue(key=k.split("/")[-1], value=f"{v:.6g}")
            for k, v in m.items()
            if k in ("env/success", "env/true_return", "disc/accuracy")
        ]
        self.progress.publish(msg)

    def checkpoint(self, path: Path, trainer=None) -> None:
        """Serve the run's checkpoint ``path``: copy it to ``policy`` and tell the server to
        reload, unless selection is on and ``trainer``'s policy is not the best so far."""
        from mairl_core.benchmarks import ur5

        picked, selected = None, None
        if self.selection is not None and trainer is not None:
            picked, r, rx = ur5.offer_policies(self.selection, trainer, self.select_explorer)
            n, steps = self.selection.episodes, trainer.env_steps
            if rx is not None:
                self.get_logger().info(
                    f"{steps} env steps: the explorer's policy: success {rx['success_rate']:.2f} "
                    f"on {n} sim episodes"
                )
            whose = "the explorer's policy " if picked is not None and picked[0] == "explorer" else ""
            self.get_logger().info(
                f"{steps} env steps: success {r['success_rate']:.2f} on {n} sim episodes"
                + (
                    f" (best so far: {whose}served)"
                    if picked
                    else f" (kept the best, {self.selection.best[0]:.2f})"
                )
            )
            if picked is None:
                return
            figures = rx if picked[0] == "explorer" else r
            selected = {
                "env_steps": int(steps),
                "policy": picked[0],
                **{k: float(figures[k]) for k in ("success_rate", "final_distance_median")},
            }
        ur5.write_served(self.policy, path, trainer, picked, selected)
        if self.reload.service_is_ready():
            self.reload.call_async(self._Trigger.Request())

    def _resumed_selection(self) -> None:
        """A resumed run keeps the figures of the policy it already serves as the ones to beat."""
        if self.selection is None or not self.resume or not self.policy.is_file():
            return
        from mairl_core.checkpoint import CheckpointError, load_checkpoint

        try:
            sel = load_checkpoint(self.policy)["meta"].get("selection")
        except CheckpointError:
            return
        if isinstance(sel, dict) and {"success_rate", "final_distance_median"} <= set(sel):
            self.selection.best = self.selection.key(sel)

    def train(self, executor):
        """The whole run, in the caller's thread; ``executor`` spins this node meanwhile."""
        from mairl_core.benchmarks import ur5
        from mairl_core.training import remove_unfinished_saves

        out = self.policy.parent
        out.mkdir(parents=True, exist_ok=True)
        remove_unfinished_saves(self.policy)  # a copy a killed trainer never finished
        meta = {"method": self.algo, "task": self.task, "demos": self.demos, "seed": self.seed}
        if self.algo == "bc":
            policy, state = core.train_bc(self.exp, self.expert, self.seed)
            from mairl_core.checkpoint import save_checkpoint
            from mairl_core.training import policy_meta

            save_checkpoint(
                self.policy,
                state,
                method="bc",
                task=self.task,
                **policy_meta(self.exp.algo, policy.policy),
            )
            self.checkpoint(self.policy)
            self.publish_progress(0, {}, done=True)
            self.get_logger().info(f"wrote {self.policy}")
            return
        if self.collect == "sim":
            trainer = ur5.config_trainer(  # as the bench trains the row
                self.exp, self.bench, self.algo, self.expert, self.seed, False, task=self.task
            )
        else:
            env_cfg = self.env_config  # episode length and success radius as the config sets them
            cfg = with_overrides(
                dataclasses.replace(self.exp.algo, state_only=False, n_envs=1), self.overrides, self.algo
            )
            env = RosRobotEnv(
                self,
                executor,
                self.task,
                env_cfg.episode_steps,
                self.reset_service,
                env_cfg.success_radius,
            )
            trainer = AdversarialTrainer(self.algo, cfg, env, self.expert, seed=self.seed)
            if self.enable.service_is_ready():  # the trainer drives; the server waits
                self.enable.call_async(self._SetBool.Request(data=False))
        trainer.log_fn = self.log
        self._resumed_selection()
        train_run(
            trainer,
            out / f"{self.algo}_run",
            meta=meta,
            env_steps=self.env_steps,
            checkpoint_every=self.checkpoint_every,
            resume=self.resume,
            progress=False,
            on_checkpoint=lambda path: self.checkpoint(path, trainer),
        )
        self.publish_progress(trainer.env_steps, {}, done=True)
        self.get_logger().info(f"done: {trainer.env_steps} env steps; policy {self.policy}")


def make_node():
    """The node (``main`` spins it)."""
    return Trainer()


def _train(node, executor) -> int:
    from mairl_core.checkpoint import CheckpointError

    try:
        node.train(executor)
    except (CheckpointError, FileExistsError) as exc:  # bad input: nothing was written
        node.get_logger().error(f"cannot train: {exc}")
        return 2
    except (TimeoutError, RuntimeError, ValueError, OSError) as exc:
        node.get_logger().error(f"training stopped: {exc}")
        return 1
    except KeyboardInterrupt:
        node.get_logger().warning("interrupted: the last checkpoint is kept (resume:=true)")
        return 130
    return 0


def main(args=None) -> int:
    """Not ``run_node``'s spin loop: training runs in this thread and spins the node itself
    while it waits for the robot. The node sets torch's threads (its ``threads`` parameter)."""
    return run_node(make_node, args, body=_train)


if __name__ == "__main__":
    raise SystemExit(main())
