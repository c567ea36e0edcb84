"""Which nodes a job starts, with which parameters: one description for the ROS 2 launch
files (``launch/reaching.launch.py``, ``launch/grasping.launch.py``) and the pip-only
bring-up (``mairl-ros-up``), so the two cannot drift apart.

Parameters come from ``config/ros_<job>.yaml`` (ROS 2 parameter-file format, one
section per node name), plus the overrides the launch arguments imply.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

JOBS = {"reaching": "reach", "grasping": "grasp"}
MODES = ("record", "train", "deploy")
OPERATORS = ("keyboard", "joy", "spacemouse", "scripted")

# The launch arguments, their defaults and what they mean: launch files declare exactly
# these, and mairl-ros-up takes the same names as options.
ARGUMENTS: dict[str, tuple[str, str]] = {
    "sim": ("true", "true: the MuJoCo sim node; false: the real UR5 through ur_robot_driver"),
    "mode": ("deploy", "record (teleop demos), train (MAIRL on the robot) or deploy (serve a policy)"),
    "policy": ("", "checkpoint to serve (deploy) or to write and serve (train)"),
    "dataset": ("demos", "directory of demo bags: written by record, read by train"),
    "operator": (
        "keyboard",
        "record: keyboard teleop, joy (a gamepad on /joy, deadman held), "
        "spacemouse (3Dconnexion, pyspacemouse), or the scripted operator",
    ),
    "episodes": (
        "0",
        "record: stop once the dataset holds this many episodes in total (the same "
        "command again finishes an interrupted one; 0: until you quit)",
    ),
    "ur_type": ("ur5", "ur_robot_driver's ur_type (real robot)"),
    "robot_ip": ("192.168.1.102", "the robot's IP (real robot)"),
    "target": ("", "real robot: the block position 'x,y,z' in the base frame (m)"),
    "seed": (
        "0",
        "sim: blocks follow env.reset(seed=seed + i), i the episode's index when "
        "recording; the scripted operator's seed",
    ),
    "real_time_factor": (
        "1",
        "sim, deploy or record with operator:=scripted: sim seconds per wall second, at most; "
        "other than 1 the sim publishes /clock, the other nodes time on it (use_sim_time) and "
        "the sim waits for each period's command (lockstep)",
    ),
    "composed": (
        "false",
        "deploy/train: policy server and safety node in one process "
        "(mairl-control: one DDS hop less, for 500 Hz)",
    ),
}

#: the values a launch argument may take, where there is a fixed set (declared as choices)
CHOICES: dict[str, tuple[str, ...]] = {
    "sim": ("true", "false"),
    "mode": MODES,
    "operator": OPERATORS,
    "composed": ("true", "false"),
}

EXECUTABLE_MODULES = {
    "mairl-sim": "sim_node",
    "mairl-safety": "safety_node",
    "mairl-policy-server": "policy_server",
    "mairl-recorder": "recorder",
    "mairl-teleop": "teleop",
    "mairl-trainer": "trainer",
    "mairl-target": "target",
    "mairl-suction-io": "suction_io",
    "mairl-control": "control",
}
#: executables that run several nodes in one process, and which
COMPOSED = {"mairl-control": ("mairl-safety", "mairl-policy-server")}


@dataclass
class NodeSpec:
    executable: str
    """A console script of mairl_ros (``ros2 run mairl_ros <executable>``)."""
    name: str | None
    """The node name: its section in the parameter file (None: a composed executable, whose
    nodes keep their own names and sections)."""
    parameters: dict = field(default_factory=dict)
    """Overrides on top of the parameter file."""
    package: str = "mairl_ros"

    @property
    def label(self) -> str:
        """What its output lines and process are called: the node name, or the executable."""
        return self.name or self.executable

    @property
    def module(self) -> str:
        return f"mairl_ros.{EXECUTABLE_MODULES[self.executable]}"


def params_file(job: str) -> Path:
    from mairl_core.config import resolve_config

    return resolve_config(f"ros_{job}")


def _bool(v) -> bool:
    if isinstance(v, bool):
        return v
    if str(v).lower() in ("true", "1", "yes"):
        return True
    if str(v).lower() in ("false", "0", "no"):
        return False
    raise ValueError(f"expected true or false, got {v!r}")


def stack(job: str, **args) -> list[NodeSpec]:
    """The nodes of ``job`` (reaching | grasping) for the launch arguments ``args`` (names and
    string values of ``ARGUMENTS``; missing ones take their defaults). Raises ValueError with
    the reason for an impossible combination."""
    if job not in JOBS:
        raise ValueError(f"unknown job {job!r} ({', '.join(JOBS)})")
    unknown = set(args) - set(ARGUMENTS)
    if unknown:
        raise ValueError(f"unknown argument(s) {sorted(unknown)} (known: {', '.join(ARGUMENTS)})")
    a = {k: str(args.get(k, d)) for k, (d, _) in ARGUMENTS.items()}
    task, sim, mode = JOBS[job], _bool(a["sim"]), a["mode"]
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    if a["operator"] not in OPERATORS:
        raise ValueError(f"operator must be one of {', '.join(OPERATORS)}, got {a['operator']!r}")
    if mode in ("deploy", "train") and not a["policy"]:
        raise ValueError(
            f"mode:={mode} needs policy:=PATH (the checkpoint to "
            f"{'serve' if mode == 'deploy' else 'write and serve'})"
        )
    from mairl_core.cli import positive_float

    try:
        rtf = positive_float(a["real_time_factor"])
    except ValueError as exc:
        raise ValueError(f"real_time_factor: {exc}") from None
    sim_time = rtf != 1.0
    scripted_record = mode == "record" and a["operator"] == "scripted"
    if sim_time and not (sim and (mode == "deploy" or scripted_record)):
        raise ValueError(
            "real_time_factor other than 1 needs sim:=true and mode:=deploy, or mode:=record "
            "with operator:=scripted (a person teleoperates in real time; the trainer times "
            "its episodes on the wall clock)"
        )
    composed = _bool(a["composed"]) and mode != "record"
    nodes = [] if composed else [NodeSpec("mairl-safety", "mairl_safety")]
    if sim:
        # on sim time in lockstep: each period's command acts over the whole period, however
        # long the round trip through the nodes (free-running at 4x it landed 1-2 ticks late)
        clock = {"real_time_factor": rtf, "publish_clock": True, "lockstep": True} if sim_time else {}
        nodes.append(NodeSpec("mairl-sim", "mairl_sim", {"task": task, "seed": int(a["seed"]), **clock}))
    else:
        # the real arm: ur_robot_driver serves the driver names; the block comes from a
        # parameter and the fingertip from forward kinematics; suction is a digital output
        if not a["target"]:
            raise ValueError("sim:=false needs target:='x,y,z' (the block position, m)")
        xyz = [float(v) for v in a["target"].split(",")]
        if len(xyz) != 3:
            raise ValueError(f"target must be 'x,y,z', got {a['target']!r}")
        nodes.append(NodeSpec("mairl-target", "mairl_target", {"target": xyz}))
        if task == "grasp":
            nodes.append(NodeSpec("mairl-suction-io", "mairl_suction_io"))
    reset = {"reset_service": "/mairl/sim/reset"} if sim else {}
    if mode == "record":
        nodes.append(
            NodeSpec(
                "mairl-recorder",
                "mairl_recorder",
                {
                    "task": task,
                    "dataset": a["dataset"],
                    "episodes": int(a["episodes"]),
                    "operator": a["operator"],
                    "require_success": a["operator"] == "scripted",
                    **reset,
                },
            )
        )
        nodes.append(
            NodeSpec(
                "mairl-teleop", "mairl_teleop", {"task": task, "mode": a["operator"], "seed": int(a["seed"])}
            )
        )
    else:
        server = {"policy": a["policy"], "task": task, "enabled": mode == "deploy", "wait": mode == "train"}
        nodes.append(
            NodeSpec("mairl-control", None, server)
            if composed
            else NodeSpec("mairl-policy-server", "mairl_policy_server", server)
        )
    if sim_time:  # every node but the sim on its /clock
        for n in nodes:
            if n.executable != "mairl-sim":
                n.parameters["use_sim_time"] = True
    if mode == "train":
        nodes.append(
            NodeSpec(
                "mairl-trainer",
                "mairl_trainer",
                {"task": task, "demos": a["dataset"], "policy": a["policy"], **reset},
            )
        )
    return nodes


def driver_arguments(args: dict) -> dict[str, str]:
    """sim:=false: the arguments of ur_robot_driver's ur_control.launch.py."""
    return {
        "ur_type": str(args.get("ur_type", ARGUMENTS["ur_type"][0])),
        "robot_ip": str(args.get("robot_ip", ARGUMENTS["robot_ip"][0])),
        "initial_joint_controller": "forward_position_controller",
        "launch_rviz": "false",
    }
