"""mairl-control: ``mairl-policy-server`` and ``mairl-safety`` in one process (ROS 2
composition), for high control rates (an e-Series UR's 500 Hz).

The two nodes are unchanged and keep their names (``mairl_policy_server``,
``mairl_safety``), topics and services: the policy's ``/mairl/command`` still goes through
the safety node's subscription, and every other command source (recorder, trainer) still
reaches the safety node over DDS. What changes is the hop between them: Fast DDS delivers it
inside the process and one executor runs both callbacks, so there is no second process to
wake up and no second pass through the network stack (measured in ``mairl bench latency
--layout composed``). What is given up: the two stop together if one crashes. The driver's
forward position controller then holds the last command, as it does when the safety node
alone stops.

Parameters by node name, from a parameter file (``--params-file config/ros_reaching.yaml``);
``-p name:=value`` on the command line reaches both nodes (each uses the ones it declares,
``policy`` the server, ``watchdog_rate`` the safety node). Do not rename the nodes with
``-r __node:=``: that would give both the same name. ``rt_priority`` (either node's, the
higher wins) makes the whole process real-time.
"""

from __future__ import annotations

from .node import run_node


def make_nodes() -> list:
    from . import policy_server, safety_node

    safety = safety_node.make_node()
    try:
        return [safety, policy_server.make_node()]
    except Exception:  # e.g. a missing checkpoint: run_node reports it; no node left behind
        safety.destroy_node()
        raise


def main(args=None) -> int:
    return run_node(make_nodes, args)


if __name__ == "__main__":
    raise SystemExit(main())
