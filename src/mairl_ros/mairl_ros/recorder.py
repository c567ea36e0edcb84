"""mairl-recorder: demo episodes as rosbag2 MCAP, from a person (or the scripted operator)
teleoperating the arm.

Every control period it turns the latest ``/mairl/teleop/twist`` (TwistStamped, fingertip
m/s) into an absolute joint command with the core's differential IK
(``twist_to_joint_command``, the code the scripted demos use) and publishes it on
``/mairl/command`` for the safety node; while recording, it samples ``/joint_states``,
``/mairl/target`` (grasp: ``/mairl/suction`` and ``/mairl/suction/vacuum``) and the safe
command the safety node forwarded (``/forward_position_controller/commands``), and after
``episode_steps`` commands saves the episode into ``dataset`` as ``episode_NNN``
(``mairl_core.data.recorder``; the format ``mairl train --demos`` reads). An existing dataset
is continued, not overwritten.

Services (std_srvs/Trigger): ``/mairl/episode/start`` (resets the sim first when
``reset_service`` is set), ``/mairl/episode/stop`` (save now if complete, else discard),
``/mairl/episode/discard``. ``/mairl/episode/event`` (std_msgs/String, transient-local:
late subscribers get the history) says "start N", "saved N", "discarded N", "failed N"
(it could not be saved) and "finished K" (the dataset holds K episodes).
``episodes`` > 0 records back to back until the dataset holds that many episodes *in
total*, then exits: running the same command again finishes an interrupted dataset, and
on a complete one records nothing (with ``require_success``, failed ones are re-recorded,
at most 3x the number still to record). ``prompt``: a keyboard prompt on the terminal
like LeRobot's: Enter = next episode, r = re-record, q = quit.

Blocks (sim): before each reset the recorder sets the sim node's ``episode`` parameter
(``sim_node``, default mairl_sim) to the episode's index, so episode N gets the sim's
block N, ``env.reset(seed=seed + N)``, whichever session records it: a resumed recording
draws new blocks instead of repeating the first ones, and a re-recorded episode gets its
own block again.

Faults: a recorder killed mid-episode loses that episode only (episodes are saved whole,
and a bag joins the dataset by an atomic rename; the next recorder removes what a kill
during a write left). A bag that cannot be written (a full disk) is removed, the error
is logged in one line, and the recorder exits with status 1; the saved episodes stay.
"""

from __future__ import annotations

import json
import sys
import threading

import numpy as np
from geometry_msgs.msg import PointStamped, TwistStamped
from rcl_interfaces.srv import SetParameters
from rclpy.node import Node
from rclpy.parameter import Parameter
from sensor_msgs.msg import JointState
from std_msgs.msg import Float64MultiArray, String
from std_srvs.srv import Trigger

from mairl_core.data.recorder import EpisodeRecorder, episode_success
from mairl_core.envs.kinematics import twist_to_joint_command
from mairl_core.envs.tasks import task_env_config
from mairl_core.envs.ur5_model import load_ur5
from mairl_core.safety import load_safety_limits

from .node import (
    SuctionState,
    event_qos,
    joint_state_arrays,
    joint_state_msg,
    node_clock,
    param,
    point_array,
    run_node,
    stamp_s,
)


class Recorder(Node):
    def __init__(self):
        super().__init__("mairl_recorder")
        self.task = param(self, "task", "reach", "what is recorded", allowed=("reach", "grasp"))
        dataset = param(self, "dataset", "")
        if not dataset:
            raise ValueError("parameter 'dataset' (a directory for the episode bags) is required")
        env_cfg = task_env_config(self.task)
        self.robot = load_ur5()
        self.period = load_safety_limits().control_period
        steps = (
            int(param(self, "episode_steps", 0, "commands per episode (0: the task's)", allowed=">= 0"))
            or env_cfg.episode_steps
        )
        operator = param(self, "operator", "unknown")  # into each bag's metadata
        self.rec = EpisodeRecorder(
            dataset,
            self.robot.joint_names,
            self.period,
            steps,
            grasp=self.task == "grasp",
            meta={"operator": operator},
        )
        self.success_radius = env_cfg.success_radius
        self.lift_height = getattr(env_cfg, "lift_height", 0.05)
        self.teleop = bool(param(self, "teleop", True))
        self.twist_timeout = float(
            param(self, "twist_timeout", 0.2, "s after which an old twist counts as zero", allowed="> 0")
        )
        self.to_record = int(
            param(
                self, "episodes", 0, "episodes in the dataset to record up to (0: until quit)", allowed=">= 0"
            )
        )  # in total, in the dataset
        if self.to_record < 0:
            raise ValueError(f"episodes must be >= 0 (0: until you quit), got {self.to_record}")
        self.first_index = self.rec.index
        self.require_success = bool(param(self, "require_success", False))
        self.attempts = self.saved = 0
        self.exit_code = 0
        reset_service = param(self, "reset_service", "")
        self.reset_client = self.create_client(Trigger, reset_service) if reset_service else None
        sim_node = param(self, "sim_node", "mairl_sim").strip("/")
        self.episode_client = (
            self.create_client(SetParameters, f"/{sim_node}/set_parameters") if reset_service else None
        )
        self._said_no_episode_param = False
        self.q = self.qdot = self.target = None
        self.clock = node_clock(self)  # with use_sim_time the sim's /clock (a fast sim)
        self.twist, self.twist_time = np.zeros(3), -1e9
        self.forwarded, self.forwarded_time = None, -1e9
        self.waiting_reset = None
        self.resetting = False
        self.ignore_before = 0.0
        self.hold_before_reset = float(
            param(self, "hold_before_reset", 0.25, "s of hold before a sim reset", allowed=">= 0")
        )
        self.create_subscription(JointState, "/joint_states", self.on_joint_state, 10)
        self.create_subscription(PointStamped, "/mairl/target", self.on_target, 10)
        self.cup = SuctionState(self)
        self.create_subscription(TwistStamped, "/mairl/teleop/twist", self.on_twist, 10)
        self.create_subscription(
            Float64MultiArray, "/forward_position_controller/commands", self.on_forwarded, 10
        )
        self.pub_cmd = self.create_publisher(JointState, "/mairl/command", 10)
        self.pub_event = self.create_publisher(String, "/mairl/episode/event", event_qos())
        self.create_service(Trigger, "/mairl/episode/start", self.srv_start)
        self.create_service(Trigger, "/mairl/episode/stop", self.srv_stop)
        self.create_service(Trigger, "/mairl/episode/discard", self.srv_discard)
        self._String, self._Trigger = String, Trigger
        self._SetParameters, self._Parameter = SetParameters, Parameter
        self._ik, self._success = twist_to_joint_command, episode_success
        self.create_timer(self.period, self.on_tick)
        self.done = False
        for name in self.rec.removed:
            self.get_logger().warning(
                f"removed {name}: its bag was left unfinished by an "
                f"interrupted recorder (it is recorded again)"
            )
        self.get_logger().info(
            f"recording {self.task} episodes of {steps} steps into {dataset}: {self.progress()}"
        )
        self._said_waiting = False
        if self.to_record and self.rec.index >= self.to_record:
            self.finish()  # already complete: nothing to do
        elif self.to_record:
            self.create_timer(0.5, self._auto_start_once)
        if bool(param(self, "prompt", False)) and sys.stdin.isatty():
            threading.Thread(target=self._prompt, daemon=True).start()

    # ----- inputs -----
    def on_joint_state(self, msg):
        if stamp_s(msg) < self.ignore_before:  # sent before the reset: the old pose
            return
        q, qd = joint_state_arrays(msg, self.robot.joint_names)
        if q is not None:
            self.q, self.qdot = q, qd

    def on_target(self, msg):
        if stamp_s(msg) < self.ignore_before:  # sent before the reset: the old block
            return
        self.target = point_array(msg)

    def on_twist(self, msg):
        v = msg.twist.linear
        self.twist, self.twist_time = np.array([v.x, v.y, v.z]), self.clock()

    def on_forwarded(self, msg):
        self.forwarded, self.forwarded_time = np.array(msg.data, float), self.clock()

    # ----- episodes -----
    def progress(self) -> str:
        """What the dataset holds and what is next, as the log and the prompt say it."""
        have = f"{self.rec.index} episode{'s' * (self.rec.index != 1)} in the dataset"
        if not self.to_record:
            return f"{have}; next: episode_{self.rec.index:03d} (until you quit)"
        left = self.to_record - self.rec.index
        if left <= 0:
            return f"{have}: complete (episodes:={self.to_record} in total), nothing to record"
        return (
            f"{have}; recording {left} more, up to episodes:={self.to_record} in total; "
            f"next: episode_{self.rec.index:03d}"
        )

    def event(self, text: str):
        self.pub_event.publish(self._String(data=text))
        self.get_logger().info(text)

    def start(self) -> str:
        if self.reset_client is not None:
            if not self.reset_client.service_is_ready():
                return "reset service not available"
            if not self.episode_client.service_is_ready():
                return (
                    f"the sim's parameter service {self.episode_client.srv_name} not "
                    f"available (is sim_node its node name?)"
                )
            # stop commanding first: the safety node then holds the arm where it is, so
            # nothing computed from the old pose reaches the arm after the reset
            self.q, self.resetting = None, True
            self.waiting_reset = True
            self._reset_timer = self.create_timer(self.hold_before_reset, self._call_reset)
            return "resetting, then recording"
        self._begin()
        return f"recording episode_{self.rec.index:03d}"

    def _call_reset(self):
        self._reset_timer.cancel()
        self.destroy_timer(self._reset_timer)
        req = self._SetParameters.Request(
            parameters=[
                self._Parameter(  # this index's block
                    "episode", self._Parameter.Type.INTEGER, self.rec.index
                ).to_parameter_msg()
            ]
        )
        self.episode_client.call_async(req).add_done_callback(self._on_episode_set)

    def _on_episode_set(self, future):
        ok = future.result() is not None and all(r.successful for r in future.result().results)
        if not ok and not self._said_no_episode_param:
            self._said_no_episode_param = True
            self.get_logger().warning(
                "the sim does not take the episode index (no 'episode' parameter): its "
                "blocks follow its own sequence, and a resumed recording may repeat them"
            )
        future = self.reset_client.call_async(self._Trigger.Request())
        future.add_done_callback(self._on_reset)

    def _on_reset(self, future):
        """The sim's reply names the new block: record that, and no joint state or target
        sent before the reply (one could still carry the old pose or block into the first
        tick)."""
        self.ignore_before = self.get_clock().now().nanoseconds * 1e-9
        self.target = None
        try:
            target = np.asarray(json.loads(future.result().message)["target"], float)
            if target.shape == (3,) and np.isfinite(target).all():
                self.target = target
        except (AttributeError, KeyError, TypeError, ValueError):
            pass  # a reset service that does not name the block: wait for a new target
        self._begin()

    def _begin(self):
        self.resetting = False
        self.waiting_reset = None
        self.q = None  # wait for a joint state from after the reset
        self.forwarded = None
        self.attempts += 1
        self.event(f"start {self.rec.start()}")

    def _pipeline_live(self) -> bool:
        """Automatic recording starts an episode only once the operator's twists arrive and
        the safety node forwards the commands made from them: an episode recorded before that
        held the arm still from start to end (a slow node start on a loaded machine; a safety
        node that has no joint state yet, because DDS has not matched it with the driver's
        publisher, holds every command)."""
        fresh = self.clock() - self.twist_timeout
        live = self.pub_cmd.get_subscription_count() > 0 and (
            not self.teleop or (self.twist_time >= fresh and self.forwarded_time >= fresh)
        )
        if not live and not self._said_waiting:
            self._said_waiting = True
            self.get_logger().info(
                "waiting for the operator's twists, and for the safety node to forward commands, "
                "before the first episode"
            )
        return live

    def _auto_start_once(self):
        if not self.rec.recording and self.waiting_reset is None and not self.done:
            if self.rec.index >= self.to_record or not self._pipeline_live():
                return
            wanted = self.to_record - self.first_index
            if self.attempts >= 3 * wanted:
                self.get_logger().error(
                    f"only {self.saved} of {wanted} episodes succeeded in {self.attempts} attempts"
                )
                self.finish()
                return
            self.start()

    def finish(self):
        self.done = True
        self.event(f"finished {self.rec.index}")

    def save_or_discard(self) -> str:
        index = self.rec.index
        if not self.rec.complete:
            self.rec.discard()
            self.event(f"discarded {index}")
            return f"episode {index} incomplete: discarded"
        ep = self.rec.episode()
        if self.require_success and not self._success(
            ep, self.task, self.robot, self.success_radius, self.lift_height
        ):
            self.rec.discard()
            self.event(f"discarded {index}")
            return f"episode {index} failed the task: discarded"
        holds = self.rec.holds
        try:
            path = self.rec.save()
        except OSError as exc:  # e.g. a full disk: stop, keep what is saved
            self.rec.discard()
            self.event(f"failed {index}")
            saved = f"the {index} episodes saved before are" if index != 1 else "the episode saved before is"
            msg = (
                f"cannot save episode_{index:03d} into {self.rec.dataset}: {exc}; nothing "
                f"of it was kept, {saved} intact; stopping (free space and start the "
                f"recorder again to continue at episode_{index:03d})"
            )
            self.get_logger().error(msg)
            self.exit_code = 1
            self.done = True
            return msg
        self.saved += 1
        if holds:  # a loaded machine, or a free-running sim too fast for it
            self.get_logger().warning(
                f"episode_{index:03d}: {holds} of {self.rec.steps} commands were not "
                f"forwarded before the next tick and are recorded as holds"
            )
        self.event(f"saved {index}")
        if self.to_record and self.rec.index >= self.to_record:
            self.finish()
        return f"saved {path}"

    def srv_start(self, req, res):  # noqa: ARG002
        res.message = self.start()
        res.success = "not available" not in res.message
        return res

    def srv_stop(self, req, res):  # noqa: ARG002
        res.message = self.save_or_discard() if self.rec.recording else "not recording"
        res.success = res.message.startswith("saved")
        return res

    def srv_discard(self, req, res):  # noqa: ARG002
        index = self.rec.index
        self.rec.discard()
        self.event(f"discarded {index}")
        res.success, res.message = True, f"discarded episode {index}"
        return res

    def _prompt(self):
        print(
            f"[recorder] {self.progress()}\n[recorder] Enter: next episode   r: re-record   q: quit",
            flush=True,
        )
        for line in sys.stdin:
            key = line.strip().lower()
            if key == "q":
                if self.rec.recording:
                    print(self.save_or_discard(), flush=True)
                self.done = True
                return
            if key == "r":
                self.rec.discard()
            print(self.start(), flush=True)

    # ----- the control loop -----
    def on_tick(self):
        if self.resetting or self.q is None or self.target is None:
            return
        if self.rec.recording:
            if self.rec.tick(self.q, self.qdot, self.target, self.cup.on, self.forwarded, self.cup.vacuum):
                self.save_or_discard()
            self.forwarded = None
        if self.teleop:
            v = self.twist if self.clock() - self.twist_time <= self.twist_timeout else np.zeros(3)
            cmd = self._ik(self.robot, self.q, v, self.period)
            self.pub_cmd.publish(joint_state_msg(self, self.robot.joint_names, cmd))


def make_node():
    """The node (``main`` spins it)."""
    return Recorder()


def main(args=None) -> int:
    made = []

    def make():
        made.append(make_node())
        return made[0]

    code = run_node(make, args, stop_when=lambda node: node.done)
    return code or (made[0].exit_code if made else 0)  # 1: an episode could not be saved


if __name__ == "__main__":
    raise SystemExit(main())
