"""mairl_core: pip-installable on its own (`pip install src/mairl_core`) and buildable by colcon.

torch is deliberately NOT in install_requires: pip would resolve a plain `torch`
to a multi-GB CUDA build. Install `torch==2.13.0` first (the Makefile does).
"""

from setuptools import find_packages, setup

PACKAGE = "mairl_core"

setup(
    name=PACKAGE,
    version="0.1.0",
    description="MAIRL core: models, algorithms, envs, datasets and the `mairl` CLI (no ROS).",
    license="Apache-2.0",
    maintainer="mairl maintainers",
    python_requires=">=3.10",
    packages=find_packages(exclude=["test", "test.*"]),
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
    ],
    install_requires=[
        "numpy",
        "pyyaml",
        "tqdm",
        "matplotlib",
        "gymnasium>=1.0,<2",
        "mujoco>=3",
        "rosbags>=0.11",
        "safetensors",
        "tensorboard>=2.16",
    ],
    # `mairl expert ...` (Table II's SAC experts): pip install "mairl_core[experts]";
    # `--backend ray` / `--address` (docs/cluster.md): pip install "mairl_core[ray]"
    extras_require={
        "experts": ["stable-baselines3>=2.7,<3", "imageio>=2.14,<3"],
        "ray": ["ray>=2.50,<3"],
    },
    zip_safe=True,
    entry_points={
        "console_scripts": [
            "mairl = mairl_core.cli:main",
        ],
    },
)
