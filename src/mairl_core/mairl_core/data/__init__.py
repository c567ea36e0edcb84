"""Demonstrations: rosbag2 (MCAP) episodes and their conversion to training arrays."""
