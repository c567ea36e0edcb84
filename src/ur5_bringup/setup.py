"""ur5_bringup: installs the repository's launch/ and config/ into share/ur5_bringup.

launch/ and config/ sit at the repository root (one source of truth, read by the
envs and the tests too). The files are found from this file's location, not from the
working directory, and handed to setuptools relative to this directory
("../../config/..."): colcon rejects absolute data_files, and runs `setup.py install`
with this directory as its working directory.
"""

import os

from setuptools import find_packages, setup

PACKAGE = "ur5_bringup"
HERE = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))


def tree_data_files(name: str) -> list[tuple[str, list[str]]]:
    """(share/<pkg>/<name>/<subdir>, [files relative to HERE]) for every file under <repo>/<name>."""
    top = os.path.join(REPO_ROOT, name)
    if not os.path.isdir(top):
        raise FileNotFoundError(
            f"{PACKAGE} installs {top}, which does not exist: build it from the mairl "
            f"repository (src/{PACKAGE} two levels below the directory holding {name}/)"
        )
    entries = []
    for dirpath, dirnames, filenames in os.walk(top):
        dirnames[:] = sorted(d for d in dirnames if d != "__pycache__" and not d.startswith("."))
        files = sorted(
            os.path.relpath(os.path.join(dirpath, f), HERE)
            for f in filenames
            if not f.startswith(".") and not f.endswith((".pyc", "~"))
        )
        if files:
            rel = os.path.relpath(dirpath, top)
            dest = (
                os.path.join("share", PACKAGE, name)
                if rel == "."
                else os.path.join("share", PACKAGE, name, rel)
            )
            entries.append((dest, files))
    return entries


setup(
    name=PACKAGE,
    version="0.1.0",
    description="Launch files and configuration of the MAIRL UR5 reaching/grasping stack.",
    license="Apache-2.0",
    maintainer="mairl maintainers",
    python_requires=">=3.10",
    packages=find_packages(exclude=["test", "test.*"]),
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        *tree_data_files("launch"),
        *tree_data_files("config"),
    ],
    install_requires=[],
    zip_safe=True,
    entry_points={
        "console_scripts": ["mairl-ros-up = ur5_bringup.up:main", "mairl-ros-demo = ur5_bringup.demo:main"]
    },
)
