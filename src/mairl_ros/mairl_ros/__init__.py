"""mairl_ros: thin rclpy nodes of the MAIRL stack (recorder, policy server, trainer, safety, sim).

Every node is an adapter: messages in, a ``mairl_core`` call, messages out.
``mairl_ros.dds`` keeps DDS traffic on the loopback interface.
"""

__version__ = "0.1.0"
