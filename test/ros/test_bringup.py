"""Bring-up: the launch files and `mairl-ros-up` start the same nodes, and every executable,
parameter file, parameter and argument they name exists and matches what the nodes declare.
`ros2 launch` itself is not installable from PyPI: the launch files are also loaded with
`launch` when it imports (skipped, visibly, otherwise)."""

from __future__ import annotations

import ast
import configparser
import itertools
import os
import signal
import subprocess
import sys
import time

import pytest
import yaml
from _ros_helpers import REPO, Probe, node_env

sys.path.insert(0, str(REPO / "src" / "ur5_bringup"))
from ur5_bringup.stack import ARGUMENTS, COMPOSED, EXECUTABLE_MODULES, JOBS, MODES, stack  # noqa: E402

ROS_SRC = REPO / "src" / "mairl_ros" / "mairl_ros"


def console_scripts() -> dict[str, str]:
    tree = ast.parse((REPO / "src" / "mairl_ros" / "setup.py").read_text())
    scripts = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and " = mairl_ros." in node.value:
            name, target = (x.strip() for x in node.value.split("="))
            scripts[name] = target
    return scripts


def declared(module: str) -> tuple[str, set[str]]:
    """(node name, parameter names) a node module declares: its Node's name and every
    ``param(self, "name", ...)`` with a literal name."""
    tree = ast.parse((ROS_SRC / f"{module}.py").read_text())
    names, node_name = set(), None
    for call in ast.walk(tree):
        if not isinstance(call, ast.Call):
            continue
        f = call.func
        if isinstance(f, ast.Name) and f.id == "param" and isinstance(call.args[1], ast.Constant):
            names.add(call.args[1].value)
        if (
            isinstance(f, ast.Attribute)
            and f.attr == "__init__"
            and call.args
            and isinstance(call.args[0], ast.Constant)
        ):
            node_name = call.args[0].value
    return node_name, names


def all_stacks():
    for job, mode, sim, operator, composed in itertools.product(
        JOBS, MODES, ("true", "false"), ("keyboard", "scripted"), ("true", "false")
    ):
        args = {
            "mode": mode,
            "sim": sim,
            "operator": operator,
            "policy": "p.pt",
            "target": "0.1,-0.5,0.05",
            "composed": composed,
        }
        yield (job, args), stack(job, **args)
        fast_ok = mode == "deploy" or (mode == "record" and operator == "scripted")
        if fast_ok and sim == "true":  # the sim faster than real time, on its /clock
            args = {**args, "real_time_factor": "4"}
            yield (job, args), stack(job, **args)


#: parameters every rclpy node has without declaring them
BUILT_IN = {"use_sim_time"}


def nodes_of(executable: str) -> list[str]:
    """The node executables an executable runs: itself, or the ones it composes."""
    return list(COMPOSED.get(executable, (executable,)))


def test_every_executable_exists_and_is_a_console_script():
    scripts = console_scripts()
    assert set(EXECUTABLE_MODULES) == set(scripts)
    for exe, module in EXECUTABLE_MODULES.items():
        assert scripts[exe] == f"mairl_ros.{module}:main"
        assert (ROS_SRC / f"{module}.py").is_file()


@pytest.mark.parametrize("job", sorted(JOBS))
def test_parameter_files_match_what_the_nodes_declare(job):
    params = yaml.safe_load((REPO / "config" / f"ros_{job}.yaml").read_text())
    by_name = {declared(m)[0]: (m, declared(m)[1]) for m in EXECUTABLE_MODULES.values()}
    for section, body in params.items():
        assert set(body) == {"ros__parameters"}, section
        assert section in by_name, f"config/ros_{job}.yaml: no node is named {section}"
        module, names = by_name[section]
        unknown = set(body["ros__parameters"]) - names
        assert not unknown, f"{section} ({module}.py) does not declare {sorted(unknown)}"


def test_every_stack_names_real_nodes_and_declared_parameters():
    seen = set()
    for (job, args), specs in all_stacks():
        for s in specs:
            if s.executable in COMPOSED:  # its nodes keep their names; overrides reach them all
                assert s.name is None, (job, args, s)
                names = set().union(*(declared(EXECUTABLE_MODULES[e])[1] for e in nodes_of(s.executable)))
            else:
                node_name, names = declared(EXECUTABLE_MODULES[s.executable])
                assert s.name == node_name, (job, args, s)
            unknown = set(s.parameters) - names - BUILT_IN
            assert not unknown, f"{job} {args}: {s.executable} does not declare {sorted(unknown)}"
            seen.add(s.executable)
        # always the one path to the driver, in its own process or composed with the server
        assert sum(nodes_of(s.executable).count("mairl-safety") for s in specs) == 1
        assert any(s.executable in COMPOSED for s in specs) == (
            args["composed"] == "true" and args["mode"] != "record"
        )
        sim = args["sim"] == "true"
        assert any(s.executable == "mairl-sim" for s in specs) == sim
        # on sim time: the sim publishes /clock, every other node reads it
        fast = args.get("real_time_factor", "1") != "1"
        for s in specs:
            if s.executable == "mairl-sim":
                assert s.parameters.get("publish_clock", False) == fast
                assert s.parameters.get("lockstep", False) == fast
                assert s.parameters.get("real_time_factor", 1.0) == (4.0 if fast else 1.0)
            timed = s.executable != "mairl-sim"
            assert s.parameters.get("use_sim_time", False) == (fast and timed), (job, args, s)
    assert seen == set(EXECUTABLE_MODULES)


def test_impossible_combinations_say_why():
    with pytest.raises(ValueError, match="needs policy"):
        stack("reaching", mode="deploy")
    with pytest.raises(ValueError, match="target"):
        stack("reaching", mode="record", sim="false")
    with pytest.raises(ValueError, match="mode must be"):
        stack("reaching", mode="play")
    with pytest.raises(ValueError, match="unknown argument"):
        stack("reaching", use_sim="true")
    with pytest.raises(ValueError, match="operator must be one of keyboard, joy, spacemouse, scripted"):
        stack("reaching", mode="record", operator="mouse")
    # a person teleoperates in real time; the trainer times episodes on the wall clock
    for mode, operator in (("record", "keyboard"), ("record", "joy"), ("train", "scripted")):
        with pytest.raises(ValueError, match="needs sim:=true and mode:=deploy"):
            stack("reaching", mode=mode, operator=operator, policy="p.pt", real_time_factor="2")
    with pytest.raises(ValueError, match="needs sim:=true and mode:=deploy"):
        stack(
            "reaching",
            mode="record",
            operator="scripted",
            sim="false",
            target="0.1,-0.5,0.05",
            real_time_factor="2",
        )
    with pytest.raises(ValueError, match="needs sim:=true and mode:=deploy"):
        stack("reaching", policy="p.pt", sim="false", target="0.1,-0.5,0.05", real_time_factor="2")
    for bad in ("0", "-1", "nan", "inf", "fast"):
        with pytest.raises(ValueError, match="real_time_factor: expected a number > 0"):
            stack("reaching", policy="p.pt", real_time_factor=bad)


def test_declared_choices_are_what_the_stack_accepts():
    from ur5_bringup.stack import CHOICES

    assert set(CHOICES) <= set(ARGUMENTS)
    for name, values in CHOICES.items():
        assert ARGUMENTS[name][0] in values, name  # the default is a choice
        for v in values:
            args = {"mode": "record", name: v}
            if name == "sim" and v == "false":
                args["target"] = "0.1,-0.5,0.1"
            if name == "mode" and v != "record":
                args["policy"] = "p.pt"
            stack("reaching", **args)
    res = subprocess.run(
        [sys.executable, "-m", "ur5_bringup.up", "reaching", "--operator", "mouse", "--print"],
        env=node_env(),
        capture_output=True,
        text=True,
    )
    assert res.returncode == 2 and "invalid choice: 'mouse'" in res.stderr


@pytest.mark.parametrize("job", sorted(JOBS))
def test_launch_files_and_mairl_ros_up_take_the_same_arguments(job):
    launch = REPO / "launch" / f"{job}.launch.py"
    tree = ast.parse(launch.read_text())
    calls = [
        c
        for c in ast.walk(tree)
        if isinstance(c, ast.Call) and isinstance(c.func, ast.Name) and c.func.id == "generate"
    ]
    assert [c.args[0].value for c in calls] == [job]
    common = ast.parse((REPO / "src" / "ur5_bringup" / "ur5_bringup" / "launch_common.py").read_text())
    assert "DeclareLaunchArgument" in ast.dump(common) and "ARGUMENTS.items()" in ast.unparse(common)
    help_text = subprocess.run(
        [sys.executable, "-m", "ur5_bringup.up", "--help"],
        env=node_env(),
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for name in ARGUMENTS:
        assert f"--{name.replace('_', '-')}" in help_text


def test_bringup_package_installs_the_launch_files():
    cfg = configparser.ConfigParser()
    cfg.read(REPO / "src" / "ur5_bringup" / "setup.cfg")
    text = (REPO / "src" / "ur5_bringup" / "setup.py").read_text()
    assert 'tree_data_files("launch")' in text and 'tree_data_files("config")' in text
    assert "mairl-ros-up = ur5_bringup.up:main" in text


def test_launch_files_load_with_ros2_launch():
    # (not just `import launch`: from the repository root that finds the launch/ folder)
    pytest.importorskip(
        "launch.launch_description_sources",
        reason="`launch` (ros2 launch) is not installable from PyPI; a ROS 2 install runs this test",
    )
    import launch

    pytest.importorskip(
        "launch_ros",
        reason="`launch_ros` (ros2 launch) is not installable from PyPI; a ROS 2 install runs this test",
    )
    from launch.launch_description_sources import get_launch_description_from_python_launch_file

    for job in JOBS:
        ld = get_launch_description_from_python_launch_file(str(REPO / "launch" / f"{job}.launch.py"))
        assert {a.name for a in ld.get_launch_arguments()} == set(ARGUMENTS)
        assert isinstance(ld, launch.LaunchDescription)


@pytest.mark.parametrize("composed", [False, True])
def test_mairl_ros_up_runs_the_deploy_stack(tmp_path, composed):
    """`mairl-ros-up reaching --mode deploy`: sim, safety and policy server come up together
    (as separate processes, or the last two as one: --composed true), the safety node sends
    the driver commands, and Ctrl-C stops every node."""
    from geometry_msgs.msg import PointStamped
    from sensor_msgs.msg import JointState
    from std_msgs.msg import Float64MultiArray

    probe = Probe("mairl_test_up_probe")
    probe.listen(JointState, "/mairl/command")
    probe.listen(Float64MultiArray, "/forward_position_controller/commands")
    probe.listen(PointStamped, "/mairl/fingertip")
    up = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ur5_bringup.up",
            "reaching",
            "--mode",
            "deploy",
            "--policy",
            str(REPO / "bench" / "checkpoints" / "reach_mairl.pt"),
            "--composed",
            str(composed).lower(),
        ],
        env=node_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )  # its nodes share its process group
    topics = ("/mairl/command", "/forward_position_controller/commands", "/mairl/fingertip")
    try:
        end = time.monotonic() + 60
        while not all(t in probe.latest for t in topics):
            assert up.poll() is None, up.stdout.read()
            assert time.monotonic() < end, "no commands from the deploy stack"
            probe.spin(0.1)
    finally:
        up.send_signal(signal.SIGINT)
        try:
            out, _ = up.communicate(timeout=30)
        except subprocess.TimeoutExpired:  # never leave nodes behind to disturb later tests
            os.killpg(up.pid, signal.SIGKILL)
            raise
        finally:
            probe.close()
    assert up.returncode == 0, out
    for name in ("mairl_sim", *(("mairl-control",) if composed else ("mairl_safety", "mairl_policy_server"))):
        assert f"[{name}]" in out
    assert "serving reach policy" in out and "safety: step limit" in out


def test_rt_priority_makes_the_process_real_time(tmp_path):
    """rt_priority:=N puts every thread of mairl-control (both nodes' process, DDS threads
    included) on SCHED_FIFO at N, or, where the OS refuses, says so and runs on."""
    from _ros_helpers import NodeProcess

    node = NodeProcess(
        "control",
        tmp_path / "control.log",
        policy=str(REPO / "bench" / "checkpoints" / "reach_mairl.pt"),
        rt_priority=7,
    )
    try:
        end = time.monotonic() + 60
        while "real-time:" not in node.output() and "SCHED_FIFO refused" not in node.output():
            assert node.alive(), node.output()
            assert time.monotonic() < end, node.output()
            time.sleep(0.2)
        text = node.output()
        if "SCHED_FIFO refused" in text:
            pytest.skip("this machine refuses SCHED_FIFO (no CAP_SYS_NICE): the node said so and ran on")
        tids = os.listdir(f"/proc/{node.proc.pid}/task")
        assert len(tids) > 1
        for tid in tids:
            assert os.sched_getscheduler(int(tid)) == os.SCHED_FIFO, tid
            assert os.sched_getparam(int(tid)).sched_priority == 7
        assert "SCHED_FIFO priority 7 on every thread" in text
    finally:
        assert node.stop() == 0, node.output()
