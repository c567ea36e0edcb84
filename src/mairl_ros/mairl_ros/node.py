"""What every mairl node shares: loopback DDS, the executor, clean shutdown, and the message
conversions between ROS types and the core's numpy arrays."""

from __future__ import annotations

import os
import re
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence

import numpy as np

from mairl_core.checkpoint import CheckpointError
from mairl_core.safety import order_by_name

from .dds import apply_loopback_env


def run_node(
    make_node: Callable[[], object],
    args: Sequence[str] | None = None,
    stop_when: Callable[[object], bool] | None = None,
    body: Callable[[object, object], int] | None = None,
) -> int:
    """Start rclpy on loopback DDS (the domain id of the environment), build the node and spin
    it until Ctrl-C / SIGTERM (or ``stop_when(node)`` is true). A node that cannot start (bad
    parameter, missing or bad checkpoint) logs one clear line and exits with status 2.

    ``make_node`` may return a list of nodes: they share the process and one executor (ROS 2
    composition, ``mairl-control``); ``stop_when`` and ``body`` then get the first. A node with
    an ``rt_priority`` attribute > 0 (its parameter) makes the process real-time
    (:func:`make_realtime`), at the highest priority any of its nodes asks for.

    ``body(node, executor)``: run this instead of spinning (it spins the executor itself when
    it waits) and exit with what it returns."""
    apply_loopback_env()  # before rclpy.init(): Fast DDS reads its profile once
    import rclpy
    from rclpy.executors import ExternalShutdownException

    interrupted: list[int] = []
    previous: dict = {}
    own_signals = body is None and threading.current_thread() is threading.main_thread()
    if own_signals:
        # Ctrl-C and SIGTERM are ours, not rclpy's. rclpy's handler shuts the context down
        # from its own thread, whenever the signal lands: inside the EventsExecutor's update
        # of its entities that left a callback registered behind the executor's back and the
        # process aborted on the way out ("Destroying callback manager with callbacks
        # remaining"; once in a make test under load; Python's KeyboardInterrupt raised
        # there did the same). Here a signal only sets a flag; the loop below ends on it and
        # the context is shut down last, in this thread, after the executor and the nodes.
        # A second signal raises as before (a node stuck on its way out). ``body`` (the
        # trainer) keeps rclpy's handler and KeyboardInterrupt: it interrupts training.
        def on_signal(signum, frame):
            interrupted.append(signum)
            if len(interrupted) > 1:
                raise KeyboardInterrupt

        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, on_signal)
    from rclpy.signals import SignalHandlerOptions

    rclpy.init(
        signal_handler_options=SignalHandlerOptions.NO if own_signals else None,
        args=list(sys.argv if args is None else args),
    )
    nodes: list = []
    executor = None
    try:
        try:
            made = make_node()
            nodes = list(made) if isinstance(made, (list, tuple)) else [made]
            priority = max(int(getattr(n, "rt_priority", 0)) for n in nodes)
            realtime = make_realtime(priority) if priority else None  # threads made later inherit it
        except Exception as exc:
            if not isinstance(exc, (ValueError, OSError, CheckpointError)):  # bad input, not a bug
                raise
            print(f"[mairl] cannot start: {exc}", file=sys.stderr, flush=True)
            return 2
        node = nodes[0]
        if realtime is not None:
            ok, message = realtime
            (node.get_logger().info if ok else node.get_logger().warning)(message)
        executor = make_executor()
        for n in nodes:
            executor.add_node(n)
        if body is not None:
            return body(node, executor)
        while rclpy.ok() and not interrupted and not (stop_when is not None and stop_when(node)):
            try:
                executor.spin_once(timeout_sec=0.1)
            except Exception:
                if rclpy.ok():
                    raise
                break  # the context was shut down (rclpy.shutdown elsewhere) while a callback published
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        if executor is not None:
            # let go of the nodes and stop the executor before the nodes are destroyed (as
            # rclpy.spin does), not whenever the garbage collector gets to it (with gc.freeze()
            # in a real-time process: at exit, after the nodes' clocks; rcl then said "jump
            # callback was not found" and mairl-control segfaulted)
            for n in nodes:
                executor.remove_node(n)
            executor.shutdown(timeout_sec=1.0)
        for n in reversed(nodes):
            close = getattr(n, "close", None)
            if close is not None:
                close()
            n.destroy_node()
        rclpy.try_shutdown()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0


def make_realtime(priority: int) -> tuple[bool, str]:
    """Make this process a real-time one, as a robot driver's control loop is: SCHED_FIFO at
    ``priority`` (1-99) for every thread it has (Fast DDS's receive threads included; threads
    started later inherit it), its memory locked (no page faults in the loop) and the
    objects built so far frozen out of the garbage collector's scans (a full collection then
    walks only what the loop allocates). Returns (whether FIFO scheduling was granted, a line
    for the log). Needs CAP_SYS_NICE or an ``rtprio`` limit (``/etc/security/limits.conf``);
    without, the process runs on as it was and the line says why."""
    import ctypes
    import gc

    if not 1 <= priority <= 99:
        raise ValueError(f"rt_priority must be 0 (off) or 1..99, got {priority}")
    gc.freeze()
    if not hasattr(os, "sched_setscheduler"):
        return False, "rt_priority: this OS has no SCHED_FIFO; running without real-time scheduling"
    try:
        for tid in os.listdir("/proc/self/task"):
            os.sched_setscheduler(int(tid), os.SCHED_FIFO, os.sched_param(priority))
    except PermissionError:
        return False, (
            f"rt_priority {priority}: SCHED_FIFO refused (needs CAP_SYS_NICE or an rtprio "
            "limit in /etc/security/limits.conf); running without real-time scheduling"
        )
    mcl_current, mcl_future = 1, 2
    libc = ctypes.CDLL(None, use_errno=True)
    locked = libc.mlockall(mcl_current | mcl_future) == 0
    return True, (
        f"real-time: SCHED_FIFO priority {priority} on every thread, memory "
        f"{'locked' if locked else 'not locked (mlockall refused)'}, GC frozen"
    )


def event_qos():
    """QoS of event topics (``/mairl/episode/event``): reliable and transient-local with a
    history of 100, so a subscriber that joins late (discovery takes up to seconds) still
    gets the events it missed."""
    from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy

    return QoSProfile(
        depth=100, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL
    )


def make_executor(context=None):
    """rclpy's EventsExecutor (a C++ event queue: far less Python per message, which is most of
    a node's latency here) where this rclpy has it and ``MAIRL_EXECUTOR`` is not 'single';
    else a SingleThreadedExecutor (MultiThreadedExecutor starves subscriptions in this
    rclpy, docs/architecture.md)."""
    from rclpy.executors import SingleThreadedExecutor

    if os.environ.get("MAIRL_EXECUTOR", "events") != "single":
        try:
            from rclpy.experimental import EventsExecutor

            return EventsExecutor(context=context)
        except ImportError:
            pass
    return SingleThreadedExecutor(context=context)


def param(
    node,
    name: str,
    default,
    description: str = "",
    read_only: bool = True,
    allowed: str | tuple | None = None,
):
    """Declare a parameter with its default and return its value. Parameters are read-only by
    default: a node reads them once at start, so setting one live (``ros2 param set``) fails
    with "read-only" instead of reporting a success that changes nothing.

    A read-only parameter takes an integer where the default is a double (``timeout:=1``);
    any other type than the default's is refused with a ValueError of one line (the node
    then exits with status 2), not rclpy's traceback. Live parameters keep rclpy's static
    type check, since their callbacks read them later.

    ``allowed``: a range (``"> 0"``, ``">= 1"``, ``"0..99"``, inclusive) or a tuple of the
    values it may take; it is checked at start (one line naming the parameter) and shown by
    ``ros2 param describe`` (the descriptor's additional constraints)."""
    from rcl_interfaces.msg import ParameterDescriptor
    from rclpy.exceptions import ParameterException

    shown = "one of: " + ", ".join(map(str, allowed)) if isinstance(allowed, tuple) else (allowed or "")
    descriptor = ParameterDescriptor(
        description=description, read_only=read_only, dynamic_typing=read_only, additional_constraints=shown
    )
    try:
        value = node.declare_parameter(name, default, descriptor).value
    except ParameterException as exc:
        raise ValueError(f"parameter {name!r}: {' '.join(str(exc).split())}") from None
    if not read_only:
        return value
    value = coerce_param(name, value, default)
    check_allowed(name, value, allowed)
    return value


_RANGE = re.compile(r"^(>=|>|<=|<)\s*(-?[0-9.]+)$|^(-?[0-9.]+)\s*\.\.\s*(-?[0-9.]+)$")


def check_allowed(name: str, value, allowed: str | tuple | None) -> None:
    """ValueError of one line if ``value`` is outside ``allowed`` (see ``param``)."""
    if allowed is None:
        return
    if isinstance(allowed, tuple):
        if value not in allowed:
            raise ValueError(
                f"parameter {name!r} must be one of {', '.join(map(str, allowed))}, got {value!r}"
            )
        return
    m = _RANGE.match(allowed.strip())
    if m is None:
        raise ValueError(f"bad range {allowed!r} for parameter {name!r}")  # a bug, not input
    if m.group(1):
        op, bound = m.group(1), float(m.group(2))
        ok = {">=": value >= bound, ">": value > bound, "<=": value <= bound, "<": value < bound}[op]
    else:
        ok = float(m.group(3)) <= value <= float(m.group(4))
    if not ok:
        raise ValueError(f"parameter {name!r} must be {allowed}, got {value!r}")


def _kind(v) -> str:
    return {bool: "a bool", int: "an integer", float: "a double", str: "a string"}.get(
        type(v), type(v).__name__
    )


def coerce_param(name: str, value, default):
    """``value`` as the type of ``default`` (an integer for a double, element-wise in arrays),
    or a ValueError of one line naming the parameter, what it got and an example."""
    if isinstance(default, (list, tuple)) and isinstance(value, (list, tuple)):
        if not default:
            return list(value)
        try:
            return [coerce_param(name, v, default[0]) for v in value]
        except ValueError:
            shown = ", ".join(map(str, default))
            raise ValueError(
                f"parameter {name!r} must be a list like its default, of {_kind(default[0]).split()[-1]}s "
                f"({name}:=[{shown}]), got {list(value)!r}"
            ) from None
    if isinstance(default, bool) or isinstance(value, bool):
        if type(value) is type(default):
            return value
    elif isinstance(default, float) and isinstance(value, (int, float)):
        return float(value)
    elif type(value) is type(default):
        return value
    example = {bool: "true", int: "3", float: "1.0", str: "'text'"}.get(type(default), repr(default))
    raise ValueError(
        f"parameter {name!r} must be {_kind(default)} (e.g. {name}:={example}), got {value!r} "
        f"({_kind(value)})"
    )


def now_s() -> float:
    """Monotonic seconds: staleness is measured on this clock, whatever ROS time says."""
    return time.monotonic()


def node_clock(node) -> Callable[[], float]:
    """The clock a node times its limits and staleness on, read once at start: monotonic
    seconds (:func:`now_s`), or with the node's ``use_sim_time`` the ROS clock, which then
    follows the sim node's ``/clock`` (physics time, at the sim's ``real_time_factor``).
    Under sim time a clock that stops stops the arm too: the safety gate lets a command move
    at most ``max_step * dt / control_period`` from the last one sent, and dt is then 0."""
    if not node.get_parameter("use_sim_time").value:
        return now_s
    clock = node.get_clock()
    return lambda: clock.now().nanoseconds * 1e-9


def joint_state_msg(node, names: Sequence[str], positions, velocities=None, stamp=None):
    """A JointState stamped ``stamp`` (a builtin_interfaces Time; None: the node's clock now)."""
    from sensor_msgs.msg import JointState

    msg = JointState()
    msg.header.stamp = node.get_clock().now().to_msg() if stamp is None else stamp
    msg.name = list(names)
    msg.position = [float(x) for x in positions]
    if velocities is not None:
        msg.velocity = [float(x) for x in velocities]
    return msg


def point_msg(node, xyz, frame: str = "base", stamp=None):
    from geometry_msgs.msg import PointStamped

    msg = PointStamped()
    msg.header.stamp = node.get_clock().now().to_msg() if stamp is None else stamp
    msg.header.frame_id = frame
    msg.point.x, msg.point.y, msg.point.z = (float(v) for v in xyz)
    return msg


def stamp_s(msg) -> float:
    """A stamped message's header stamp in seconds."""
    return msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9


def joint_state_arrays(msg, names: Sequence[str]) -> tuple[np.ndarray | None, np.ndarray | None]:
    """(positions, velocities) of a JointState in the order of ``names`` (velocities zero when
    the message has none usable); (None, None) when its joint names do not fit."""
    q, _ = order_by_name(msg.name, list(msg.position), names)
    if q is None:
        return None, None
    qd, _ = order_by_name(msg.name, list(msg.velocity), names)
    return q, np.zeros(len(names)) if qd is None else qd


def point_array(msg) -> np.ndarray:
    return np.array([msg.point.x, msg.point.y, msg.point.z], float)


SUCTION_TOPIC, VACUUM_TOPIC = "/mairl/suction", "/mairl/suction/vacuum"


class SuctionState:
    """The suction switch (``/mairl/suction``) and the vacuum sensor
    (``/mairl/suction/vacuum``: the block is on the cup) as last heard, both std_msgs/Bool;
    the grasp observation's last two entries."""

    def __init__(self, node, suction_topic: str = SUCTION_TOPIC, vacuum_topic: str = VACUUM_TOPIC):
        from std_msgs.msg import Bool

        self.on = self.vacuum = False
        node.create_subscription(Bool, suction_topic, self._on_suction, 10)
        node.create_subscription(Bool, vacuum_topic, self._on_vacuum, 10)

    def _on_suction(self, msg) -> None:
        self.on = bool(msg.data)

    def _on_vacuum(self, msg) -> None:
        self.vacuum = bool(msg.data)

    def clear(self) -> None:
        self.on = self.vacuum = False
