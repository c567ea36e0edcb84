"""`colcon build` of src/ works and installs what the ROS side needs; it writes nothing into the repo."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("mairl_core", "mairl_ros", "ur5_bringup")


def _colcon() -> str:
    """The colcon of this interpreter's environment (the venv), else one on PATH."""
    candidate = Path(sys.executable).parent / "colcon"
    if candidate.is_file():
        return str(candidate)
    found = shutil.which("colcon")
    if found is None:
        pytest.fail(
            "colcon is not installed: expected it next to the test interpreter "
            f"({candidate}) or on PATH; `pip install colcon-common-extensions` "
            "(requirements.txt has it)",
            pytrace=False,
        )
    return found


def _repo_files() -> set[Path]:
    skip = {".git", ".venv", "__pycache__", ".hypothesis", ".pytest_cache", "runs"}
    files = set()
    for dirpath, dirnames, filenames in os.walk(REPO_ROOT):
        dirnames[:] = [d for d in dirnames if d not in skip]
        files.update(Path(dirpath, f) for f in filenames if not f.endswith(".pyc"))
    return files


@pytest.fixture(scope="module")
def colcon_install(tmp_path_factory) -> Path:
    work = tmp_path_factory.mktemp("colcon_ws")
    before = _repo_files()
    env = dict(os.environ, COLCON_LOG_PATH=str(work / "log"), PYTHONDONTWRITEBYTECODE="1")
    env.pop("COLCON_DEFAULTS_FILE", None)
    cmd = [
        _colcon(),
        "--log-base",
        str(work / "log"),
        "build",
        "--base-paths",
        str(REPO_ROOT / "src"),
        "--build-base",
        str(work / "build"),
        "--install-base",
        str(work / "install"),
        "--metas",
        str(REPO_ROOT / "colcon.meta"),
        "--event-handlers",
        "console_cohesion+",
    ]
    result = subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True, timeout=300, check=False)
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"colcon build failed ({result.returncode}):\n{output}"
    assert "Skipping metadata file" not in output, output
    new = sorted(str(p.relative_to(REPO_ROOT)) for p in _repo_files() - before)
    assert not new, f"colcon build wrote into the repository: {new}"
    return work / "install"


@pytest.mark.parametrize("pkg", PACKAGES)
def test_ament_index_marker_and_package_xml(colcon_install, pkg):
    share = colcon_install / pkg / "share"
    assert (share / "ament_index" / "resource_index" / "packages" / pkg).is_file()
    assert (share / pkg / "package.xml").is_file()


def test_ur5_bringup_installs_config_and_launch(colcon_install):
    share = colcon_install / "ur5_bringup" / "share" / "ur5_bringup"
    assert (share / "config" / "fastdds_loopback.xml").is_file()
    assert (share / "launch" / "README.md").is_file()
    # every file of the repo's config/ and launch/ arrives, same relative path
    for top in ("config", "launch"):
        for src in (REPO_ROOT / top).rglob("*"):
            if src.is_file() and not src.name.startswith(".") and "__pycache__" not in src.parts:
                assert (share / top / src.relative_to(REPO_ROOT / top)).is_file(), src


def test_mairl_ros_module_installed(colcon_install):
    site = colcon_install / "mairl_ros" / "lib"
    assert list(site.glob("python3*/site-packages/mairl_ros/dds.py")), sorted(site.rglob("*"))


def test_mairl_console_script_in_lib(colcon_install):
    # setup.cfg sends console scripts to $base/lib/<pkg>, where `ros2 run` looks.
    script = colcon_install / "mairl_core" / "lib" / "mairl_core" / "mairl"
    assert script.is_file(), sorted((colcon_install / "mairl_core").rglob("*"))
    assert os.access(script, os.X_OK)
    assert not (colcon_install / "mairl_core" / "bin" / "mairl").exists()


NODE_EXECUTABLES = (
    "mairl-sim",
    "mairl-safety",
    "mairl-policy-server",
    "mairl-recorder",
    "mairl-teleop",
    "mairl-control",
)


@pytest.mark.parametrize("name", NODE_EXECUTABLES)
def test_node_executables_where_ros2_run_looks(colcon_install, name):
    """`ros2 run mairl_ros <name>` runs install/mairl_ros/lib/mairl_ros/<name>."""
    script = colcon_install / "mairl_ros" / "lib" / "mairl_ros" / name
    assert script.is_file() and os.access(script, os.X_OK), sorted((colcon_install / "mairl_ros").rglob("*"))
    assert f"'console_scripts', '{name}'" in script.read_text()


def test_installed_mairl_ros_finds_installed_profile(colcon_install, tmp_path):
    """Outside the repo, mairl_ros.dds falls back to share/ur5_bringup via the ament index."""
    site = next((colcon_install / "mairl_ros" / "lib").glob("python3*/site-packages"))
    env = {k: v for k, v in os.environ.items() if k not in ("MAIRL_FASTDDS_PROFILE", "PYTHONPATH")}
    env["PYTHONPATH"] = str(site)
    env["AMENT_PREFIX_PATH"] = str(colcon_install / "ur5_bringup")
    code = "import json, mairl_ros.dds as d; print(json.dumps([d.__file__, d.loopback_env()]))"
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    module, loopback = json.loads(result.stdout)
    assert Path(module).is_relative_to(colcon_install)
    assert loopback["FASTDDS_DEFAULT_PROFILES_FILE"] == str(
        colcon_install / "ur5_bringup" / "share" / "ur5_bringup" / "config" / "fastdds_loopback.xml"
    )
