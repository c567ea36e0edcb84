"""mairl-ros-up: the launch files' nodes without ``ros2 launch`` (which is not installable
from PyPI): the same executables, parameter file and arguments (``ur5_bringup.stack``).

  mairl-ros-up reaching --sim true --mode deploy --policy bench/checkpoints/reach_mairl.pt
  mairl-ros-up reaching --mode record --operator scripted --episodes 5 --dataset demos/ros
  mairl-ros-up grasping --mode record                 # keyboard teleop (in this terminal)

Every node runs as its own process on loopback DDS (the current ROS_DOMAIN_ID) with its
output prefixed by its name; Ctrl-C stops them all. The real robot (``--sim false``) needs
ur_robot_driver, which only a ROS 2 install has: use ``ros2 launch ur5_bringup
reaching.launch.py sim:=false robot_ip:=...`` there.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import threading
import time

from .stack import ARGUMENTS, CHOICES, JOBS, params_file, stack


def command_line(spec, params: str) -> list[str]:
    """The process of one node: ``python -m mairl_ros.<module> --ros-args ...``."""
    args = [sys.executable, "-m", spec.module, "--ros-args", "--params-file", params]
    if spec.name:  # a composed executable's nodes keep their own names
        args[-2:-2] = ["-r", f"__node:={spec.name}"]
    for k, v in spec.parameters.items():
        if isinstance(v, bool):
            v = str(v).lower()
        elif isinstance(v, (list, tuple)):
            v = "[" + ",".join(repr(float(x)) for x in v) + "]"
        args += ["-p", f"{k}:={v}"]
    return args


def _pump(proc: subprocess.Popen, name: str, sink) -> None:
    for line in proc.stdout:
        sink(f"[{name}] {line}")


def start_nodes(
    specs, params: str, keyboard: str | None = None, sink=None
) -> list[tuple[str, subprocess.Popen]]:
    """Start every node of ``specs`` on loopback DDS; each output line goes to ``sink``
    (default: printed) prefixed with the node name. ``keyboard``: the node that gets the
    terminal's input, if any."""
    from mairl_ros.dds import loopback_env

    sink = sink or (lambda line: print(line, end="", flush=True))
    env = {**os.environ, **loopback_env()}
    procs = []
    for spec in specs:
        proc = subprocess.Popen(
            command_line(spec, params),
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            stdin=None if spec.name == keyboard else subprocess.DEVNULL,
        )
        threading.Thread(target=_pump, args=(proc, spec.label, sink), daemon=True).start()
        procs.append((spec.label, proc))
    return procs


def stop_nodes(procs) -> None:
    """SIGINT (what Ctrl-C sends) to every node still running, then wait; kill stragglers."""
    for _, p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGINT)
    for _, p in procs:
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(timeout=10)


def _interrupt(signum, frame):  # noqa: ARG001
    raise KeyboardInterrupt


def main(argv=None) -> int:
    # Ctrl-C and SIGTERM stop every node, also when this process started with SIGINT ignored
    # (Python then installs no handler: a background job of a non-interactive shell, some CI
    # runners), which left the nodes running
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    ap = argparse.ArgumentParser(
        prog="mairl-ros-up",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("\n\n", 1)[1],
    )
    ap.add_argument("job", choices=sorted(JOBS))
    for name, (default, help_text) in ARGUMENTS.items():
        ap.add_argument(
            f"--{name.replace('_', '-')}",
            dest=name,
            default=default,
            choices=CHOICES.get(name),
            help=f"{help_text} (default: {default!r})",
        )
    ap.add_argument("--print", action="store_true", help="print the node command lines and exit")
    args = ap.parse_args(argv)
    values = {k: getattr(args, k) for k in ARGUMENTS}
    if str(values["sim"]).lower() in ("false", "0", "no"):
        print(
            "error: --sim false drives the real UR5 through ur_robot_driver, which needs a ROS 2 "
            "install: there run `ros2 launch ur5_bringup "
            f"{args.job}.launch.py sim:=false robot_ip:=... target:=x,y,z`",
            file=sys.stderr,
        )
        return 2
    try:
        specs = stack(args.job, **values)
        params = str(params_file(args.job))
    except (ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    lines = [(s.label, command_line(s, params)) for s in specs]
    if args.print:
        for name, cmd in lines:
            print(f"{name}: {' '.join(cmd)}")
        return 0
    # the terminal goes to the keyboard teleop (its keys include next / re-record), else to
    # the recorder's prompt
    keyboard = (
        ("mairl_teleop" if values["operator"] == "keyboard" else "mairl_recorder")
        if sys.stdin.isatty()
        else None
    )
    if values["mode"] == "record" and values["operator"] == "joy":
        print(
            "mairl-ros-up: operator joy reads /joy: start ROS's joystick driver beside it "
            "(`ros2 run joy joy_node --ros-args -p autorepeat_rate:=25.0`; not on PyPI, so not "
            "started here)",
            flush=True,
        )
    procs = start_nodes(specs, params, keyboard)
    print(
        f"mairl-ros-up {args.job}: {', '.join(n for n, _ in lines)} "
        f"(ROS_DOMAIN_ID={os.environ.get('ROS_DOMAIN_ID', '0')}); Ctrl-C stops",
        flush=True,
    )
    code = 0
    try:
        while True:
            ended = [(n, p.returncode) for n, p in procs if p.poll() is not None]
            if ended:
                name, rc = ended[0]
                # a recorder that finished its episodes ends the session normally
                code = 0 if rc == 0 else rc
                print(f"mairl-ros-up: {name} exited ({rc}); stopping the others", flush=True)
                break
            time.sleep(0.2)
    except KeyboardInterrupt:
        pass
    stop_nodes(procs)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
