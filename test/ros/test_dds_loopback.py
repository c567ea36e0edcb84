"""ROS 2 over Fast DDS stays on loopback: real rclpy talker (subprocess) and listener."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from mairl_ros import dds

REPO_ROOT = Path(__file__).resolve().parents[2]
PROFILE = REPO_ROOT / "config" / "fastdds_loopback.xml"
TALKER = Path(__file__).with_name("loopback_talker.py")
TIMEOUT_S = 20.0
LOOPBACK = "127.0.0.1"


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


# ---------------------------------------------------------------- the profile itself


def test_profile_whitelists_only_loopback():
    root = ET.parse(PROFILE).getroot()
    addresses = [el.text.strip() for el in root.iter() if _local(el.tag) == "address"]
    interfaces = [el for el in root.iter() if _local(el.tag) == "interface"]
    assert addresses, "the profile names no address at all"
    assert set(addresses) == {LOOPBACK}, addresses
    assert not interfaces, "interfaces must be given by address (127.0.0.1), not by name"

    descriptors = {
        d.find("{*}transport_id").text: d for d in root.iter() if _local(d.tag) == "transport_descriptor"
    }
    for transport_id, d in descriptors.items():
        if d.find("{*}type").text.startswith("UDP"):
            whitelist = d.find("{*}interfaceWhiteList")
            assert whitelist is not None, f"{transport_id} has no interfaceWhiteList"
            assert [a.text for a in whitelist] == [LOOPBACK]
    assert {d.find("{*}type").text for d in descriptors.values()} == {"SHM", "UDPv4"}

    participants = [p for p in root.iter() if _local(p.tag) == "participant"]
    default = [p for p in participants if p.get("is_default_profile") == "true"]
    assert len(default) == 1
    rtps = default[0].find("{*}rtps")
    assert rtps.find("{*}useBuiltinTransports").text.strip() == "false"
    used = [t.text for t in rtps.find("{*}userTransports")]
    assert sorted(used) == sorted(descriptors)
    builtin = rtps.find("{*}builtin")
    for name in ("initialPeersList", "metatrafficUnicastLocatorList"):
        assert builtin.find(f"{{*}}{name}") is not None, name
    assert rtps.find("{*}defaultUnicastLocatorList") is not None
    assert builtin.find("{*}metatrafficMulticastLocatorList") is None


# ---------------------------------------------------------------- mairl_ros.dds


def test_loopback_env_points_at_the_repo_profile(monkeypatch):
    monkeypatch.delenv(dds.PROFILE_ENV_VAR, raising=False)
    env = dds.loopback_env(domain_id=7)
    assert env == {
        "ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST",
        "FASTDDS_DEFAULT_PROFILES_FILE": str(PROFILE),
        "RMW_IMPLEMENTATION": "rmw_fastrtps_cpp",
        "ROS_DOMAIN_ID": "7",
    }
    monkeypatch.setenv("ROS_DOMAIN_ID", "42")
    assert dds.loopback_env()["ROS_DOMAIN_ID"] == "42"
    monkeypatch.delenv("ROS_DOMAIN_ID")
    assert "ROS_DOMAIN_ID" not in dds.loopback_env()
    with pytest.raises(ValueError):
        dds.loopback_env(domain_id=233)


def test_apply_loopback_env_sets_os_environ(monkeypatch):
    for key in ("ROS_AUTOMATIC_DISCOVERY_RANGE", "FASTDDS_DEFAULT_PROFILES_FILE", "ROS_DOMAIN_ID"):
        monkeypatch.delenv(key, raising=False)
    env = dds.apply_loopback_env(domain_id=3)
    assert all(os.environ[k] == v for k, v in env.items())


def test_profile_override_and_clear_error(monkeypatch, tmp_path):
    custom = tmp_path / "custom.xml"
    custom.write_text(PROFILE.read_text())
    monkeypatch.setenv(dds.PROFILE_ENV_VAR, str(custom))
    assert dds.find_loopback_profile() == custom.resolve()

    monkeypatch.setenv(dds.PROFILE_ENV_VAR, str(tmp_path / "missing.xml"))
    with pytest.raises(FileNotFoundError, match="missing.xml"):
        dds.find_loopback_profile()

    monkeypatch.delenv(dds.PROFILE_ENV_VAR)
    nowhere = [tmp_path / "a" / "config" / dds.PROFILE_NAME]
    monkeypatch.setattr(dds, "_repo_profile_candidates", lambda: nowhere)
    monkeypatch.setattr(dds, "_installed_profile", lambda: None)
    with pytest.raises(FileNotFoundError) as err:
        dds.find_loopback_profile()
    message = str(err.value)
    assert dds.PROFILE_ENV_VAR in message and str(nowhere[0]) in message
    assert "share/ur5_bringup/config" in message


# ---------------------------------------------------------------- real traffic


def _udp_sockets(pid: int) -> list[tuple[str, int]]:
    """(local address, port) of every UDP/IPv4 socket process `pid` holds (Linux /proc)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:[") : -1])
    sockets = []
    for line in Path(f"/proc/{pid}/net/udp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[9] in inodes:
            hex_ip, hex_port = fields[1].split(":")
            ip = ".".join(str(int(hex_ip[i : i + 2], 16)) for i in (6, 4, 2, 0))
            sockets.append((ip, int(hex_port, 16)))
    return sockets


@pytest.fixture
def talker():
    """The talker subprocess on a topic of this run; terminated (then killed) afterwards."""
    topic = f"/mairl_test/loopback_{os.getpid()}"
    proc = subprocess.Popen(
        [sys.executable, str(TALKER), topic],
        env=dict(os.environ),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        yield proc, topic
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        if proc.stdout:
            proc.stdout.close()


def test_talker_to_listener_over_loopback(talker):
    rclpy = pytest.importorskip("rclpy")
    from rclpy.executors import SingleThreadedExecutor
    from std_msgs.msg import String

    proc, topic = talker
    first_line = proc.stdout.readline()
    try:
        talker_env = json.loads(first_line)
    except json.JSONDecodeError:
        proc.wait(timeout=TIMEOUT_S)
        pytest.fail(f"talker did not start:\n{first_line}{proc.stdout.read()}")
    assert talker_env == {
        "ROS_DOMAIN_ID": os.environ["ROS_DOMAIN_ID"],
        "ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST",
        "FASTDDS_DEFAULT_PROFILES_FILE": str(PROFILE),
        "RMW_IMPLEMENTATION": "rmw_fastrtps_cpp",
    }
    assert 1 <= int(os.environ["ROS_DOMAIN_ID"]) <= 101

    context = rclpy.Context()
    rclpy.init(context=context)
    node = executor = None
    try:
        node = rclpy.create_node("mairl_loopback_listener", context=context)
        received: list[str] = []
        subscription = node.create_subscription(String, topic, lambda msg: received.append(msg.data), 10)
        executor = SingleThreadedExecutor(context=context)
        executor.add_node(node)

        deadline = time.monotonic() + TIMEOUT_S
        while subscription.get_publisher_count() == 0:
            assert proc.poll() is None, "talker exited early"
            assert time.monotonic() < deadline, f"no publisher matched on {topic} in {TIMEOUT_S} s"
            executor.spin_once(timeout_sec=0.05)
        deadline = time.monotonic() + TIMEOUT_S
        while len(received) < 5:
            assert time.monotonic() < deadline, f"only {received} arrived in {TIMEOUT_S} s"
            executor.spin_once(timeout_sec=0.05)

        assert all(m.startswith("loopback ") for m in received)
        counters = [int(m.split()[1]) for m in received]
        assert counters == sorted(counters)

        # The RTPS ports of this domain (7400 + 250 * domain, PB/DG/PG/d0..d3 offsets in
        # the 250-wide block) are bound on loopback only: the profile took effect.
        if Path(f"/proc/{proc.pid}/net/udp").exists():
            base = 7400 + 250 * int(os.environ["ROS_DOMAIN_ID"])
            rtps = [(ip, port) for ip, port in _udp_sockets(proc.pid) if base <= port < base + 250]
            assert rtps, "the talker holds no socket on the RTPS ports of its domain"
            assert {ip for ip, _ in rtps} == {LOOPBACK}, rtps
    finally:
        if executor is not None:
            executor.shutdown()
        if node is not None:
            node.destroy_node()
        rclpy.shutdown(context=context)


def test_dds_access_control_statement_matches_the_installed_fast_dds(tmp_path):
    """docs/safety.md says DDS access control is left to the deployment because the installed
    Fast DDS has no security plugins. The day it has them, this fails: then build the SROS2
    enclave set-up (keystore, permissions letting only the safety node publish the driver
    topic) with a test of its own, and change the docs."""
    library = dds.fastdds_library()
    assert library is not None, "no libfastdds in this environment"
    assert not dds.security_plugins_available(library), (
        f"{library} carries the DDS-Security plugins: provide the enclave set-up (docs/safety.md)"
    )
    assert "left to the deployment" in (REPO_ROOT / "docs" / "safety.md").read_text()
    secured = tmp_path / "libfastdds.so"  # what a build with the plugins names in its binary
    secured.write_bytes(b"\0dds.sec.auth.builtin.PKI-DH.identity_ca\0")
    assert dds.security_plugins_available(secured)
