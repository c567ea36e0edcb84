"""mairl_core: everything of the MAIRL stack that is not ROS.

Models (policy, AIRL reward, forward dynamics), algorithms (MAIRL and the
adversarial baselines), environments, evaluation and the ``mairl`` CLI.
"""

__version__ = "0.1.0"
