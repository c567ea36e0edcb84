"""Helper process for test_dds_loopback: a real rclpy talker on std_msgs/String.

Usage: python loopback_talker.py TOPIC

Prints one JSON line with the DDS-related environment it got, waits (bounded) for a
subscriber to match, then publishes "loopback <n>" at 20 Hz until SIGTERM or 60 s.
"""

import json
import os
import signal
import sys
import time

import rclpy
from rclpy.signals import SignalHandlerOptions
from std_msgs.msg import String

ENV_KEYS = (
    "ROS_DOMAIN_ID",
    "ROS_AUTOMATIC_DISCOVERY_RANGE",
    "FASTDDS_DEFAULT_PROFILES_FILE",
    "RMW_IMPLEMENTATION",
)


def main() -> int:
    topic = sys.argv[1]
    stop = False

    def on_term(signum, frame):  # noqa: ARG001
        nonlocal stop
        stop = True

    print(json.dumps({k: os.environ.get(k) for k in ENV_KEYS}), flush=True)

    # Our own SIGTERM handler, not rclpy's: rclpy's would invalidate the context under us.
    rclpy.init(signal_handler_options=SignalHandlerOptions.NO)
    signal.signal(signal.SIGTERM, on_term)
    node = rclpy.create_node("mairl_loopback_talker")
    publisher = node.create_publisher(String, topic, 10)
    deadline = time.monotonic() + 60.0
    while not stop and time.monotonic() < deadline and publisher.get_subscription_count() == 0:
        time.sleep(0.02)
    print("matched" if publisher.get_subscription_count() else "unmatched", flush=True)

    n = 0
    while not stop and time.monotonic() < deadline:
        publisher.publish(String(data=f"loopback {n}"))
        n += 1
        time.sleep(0.05)
    # A clean shutdown lets Fast DDS remove its /dev/shm segments.
    node.destroy_node()
    rclpy.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
