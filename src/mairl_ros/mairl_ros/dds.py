"""Keep ROS 2 / Fast DDS traffic on this host.

Two settings are needed together (Kilted): ``ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST``
(``ROS_LOCALHOST_ONLY`` is gone and leaks multicast) and a Fast DDS profile that
limits the transports to shared memory plus UDPv4 on 127.0.0.1
(``config/fastdds_loopback.xml``, installed by ``ur5_bringup``).

The environment must be set before the first ``rclpy.init()`` of a process: Fast DDS
reads the profile file once, when its participant factory is created.
"""

from __future__ import annotations

import os
from pathlib import Path

PROFILE_ENV_VAR = "MAIRL_FASTDDS_PROFILE"
PROFILE_NAME = "fastdds_loopback.xml"
PROFILE_PACKAGE = "ur5_bringup"

# ROS 2 accepts domain ids 0..232 (0..101 is the range safe on every Linux port map).
_MAX_DOMAIN_ID = 232


def _repo_profile_candidates() -> list[Path]:
    """``<dir>/config/fastdds_loopback.xml`` for every directory above this module."""
    return [parent / "config" / PROFILE_NAME for parent in Path(__file__).resolve().parents]


def _installed_profile() -> Path | None:
    """The profile installed by colcon under ``share/ur5_bringup/config``, if any."""
    try:
        from ament_index_python.packages import (  # noqa: PLC0415 - optional dependency
            PackageNotFoundError,
            get_package_share_directory,
        )
    except ImportError:
        return None
    try:
        share = get_package_share_directory(PROFILE_PACKAGE)
    except (PackageNotFoundError, LookupError, ValueError, OSError):
        # OSError: AMENT_PREFIX_PATH unset (no workspace sourced)
        return None
    return Path(share) / "config" / PROFILE_NAME


def find_loopback_profile() -> Path:
    """Return the absolute path of the Fast DDS loopback profile.

    Looked for, in order: the file named by ``$MAIRL_FASTDDS_PROFILE`` (which must then
    exist), ``config/fastdds_loopback.xml`` in a directory above this module (a source
    checkout or a colcon workspace at the repository root), and
    ``share/ur5_bringup/config/fastdds_loopback.xml`` found through the ament index.

    Raises:
        FileNotFoundError: no profile was found; the message lists every place looked in.
    """
    override = os.environ.get(PROFILE_ENV_VAR)
    if override:
        path = Path(override).expanduser()
        if path.is_file():
            return path.resolve()
        raise FileNotFoundError(f"${PROFILE_ENV_VAR} names a Fast DDS profile that does not exist: {path}")

    looked_in: list[str] = [f"${PROFILE_ENV_VAR} (unset)"]
    for candidate in _repo_profile_candidates():
        if candidate.is_file():
            return candidate
        looked_in.append(str(candidate))

    installed = _installed_profile()
    if installed is not None and installed.is_file():
        return installed.resolve()
    looked_in.append(
        str(installed)
        if installed is not None
        else f"share/{PROFILE_PACKAGE}/config/{PROFILE_NAME} (package not in the ament index)"
    )
    raise FileNotFoundError(
        f"Fast DDS loopback profile {PROFILE_NAME} not found; looked in: " + ", ".join(looked_in)
    )


def loopback_env(domain_id: int | None = None) -> dict[str, str]:
    """Environment variables that keep ROS 2 on loopback.

    Args:
        domain_id: ``ROS_DOMAIN_ID`` to use; ``None`` keeps the current one (the key is
            present only if the variable is already set).

    Returns:
        ``ROS_AUTOMATIC_DISCOVERY_RANGE``, ``FASTDDS_DEFAULT_PROFILES_FILE``,
        ``RMW_IMPLEMENTATION`` and, when known, ``ROS_DOMAIN_ID``.
    """
    env = {
        "ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST",
        "FASTDDS_DEFAULT_PROFILES_FILE": str(find_loopback_profile()),
        "RMW_IMPLEMENTATION": "rmw_fastrtps_cpp",
    }
    if domain_id is not None:
        if isinstance(domain_id, bool) or not isinstance(domain_id, int):
            raise TypeError(f"domain_id must be an int, got {domain_id!r}")
        if not 0 <= domain_id <= _MAX_DOMAIN_ID:
            raise ValueError(f"domain_id must be in 0..{_MAX_DOMAIN_ID}, got {domain_id}")
        env["ROS_DOMAIN_ID"] = str(domain_id)
    elif "ROS_DOMAIN_ID" in os.environ:
        env["ROS_DOMAIN_ID"] = os.environ["ROS_DOMAIN_ID"]
    return env


def apply_loopback_env(domain_id: int | None = None) -> dict[str, str]:
    """Set :func:`loopback_env` in ``os.environ`` (call before ``rclpy.init()``); return it."""
    env = loopback_env(domain_id)
    os.environ.update(env)
    return env


def fastdds_library() -> Path | None:
    """The Fast DDS shared library this Python environment loads (None: not found)."""
    import sys

    for lib in (Path(sys.prefix) / "lib", Path(sys.prefix) / "lib64"):
        for path in sorted(lib.glob("libfastdds.so*")):
            if path.is_file():
                return path
    return None


def security_plugins_available(library: Path | None = None) -> bool:
    """Whether the Fast DDS build carries the DDS-Security plugins (authentication by PKI-DH,
    access control by signed permissions) that SROS2 enclaves need. The PyPI wheels of ROS 2
    are built without them: a build with them names its plugins' properties in the binary."""
    library = library or fastdds_library()
    if library is None:
        return False
    data = library.read_bytes()
    return b"dds.sec.auth.builtin.PKI-DH" in data or b"dds.sec.access.builtin.Access-Permissions" in data
