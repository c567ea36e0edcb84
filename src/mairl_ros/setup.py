"""mairl_ros: ament_python package of the MAIRL rclpy nodes."""

from setuptools import find_packages, setup

PACKAGE = "mairl_ros"

setup(
    name=PACKAGE,
    version="0.1.0",
    description="Thin rclpy nodes of the MAIRL stack; DDS loopback helpers.",
    license="Apache-2.0",
    maintainer="mairl maintainers",
    python_requires=">=3.10",
    packages=find_packages(exclude=["test", "test.*"]),
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
    ],
    # rclpy and the message packages come from ROS (apt or the ros-* wheels in
    # requirements.txt), not from install_requires.
    install_requires=[],
    zip_safe=True,
    entry_points={
        "console_scripts": [
            "mairl-sim = mairl_ros.sim_node:main",
            "mairl-safety = mairl_ros.safety_node:main",
            "mairl-policy-server = mairl_ros.policy_server:main",
            "mairl-control = mairl_ros.control:main",
            "mairl-recorder = mairl_ros.recorder:main",
            "mairl-teleop = mairl_ros.teleop:main",
            "mairl-trainer = mairl_ros.trainer:main",
            "mairl-target = mairl_ros.target:main",
            "mairl-suction-io = mairl_ros.suction_io:main",
        ],
    },
)
