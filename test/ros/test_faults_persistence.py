"""Fault injection on what the stack writes (issue 20): the recorder killed with SIGKILL
mid-episode, the disk filling while it records, and the trainer killed mid-iteration while
the policy server keeps serving. Real node processes over real DDS (loopback), real MCAP
bags, real checkpoints. Each test prints its figure.
"""

from __future__ import annotations

import contextlib
import os
import resource
import signal
import subprocess
import sys
import threading

import numpy as np
import pytest
from _ros_helpers import REPO, NodeProcess, Probe, interrupt, node_env

pytest.importorskip("rclpy")

from geometry_msgs.msg import PointStamped  # noqa: E402
from sensor_msgs.msg import JointState  # noqa: E402
from test_recorder import _event_probe  # noqa: E402
from test_trainer import small_config  # noqa: E402

from mairl_core.data.bags import read_dataset  # noqa: E402
from mairl_core.data.recorder import next_episode_index, staging_dir  # noqa: E402
from mairl_ros.node import joint_state_msg, point_msg  # noqa: E402

sys.path.insert(0, str(REPO / "test" / "core"))

STEPS = 40
SEED = 6


def _stack(tmp_path, tag: str) -> list[NodeProcess]:
    """sim (seeded blocks), safety node and the scripted operator."""
    return [
        NodeProcess("sim_node", tmp_path / f"{tag}-sim.log", seed=SEED),
        NodeProcess("safety_node", tmp_path / f"{tag}-safety.log"),
        NodeProcess("teleop", tmp_path / f"{tag}-teleop.log", mode="scripted", seed=1),
    ]


def _recorder_params(data, episodes: int) -> dict:
    return {
        "dataset": str(data),
        "episodes": episodes,
        "episode_steps": STEPS,
        "reset_service": "/mairl/sim/reset",
    }


def _blocks(n: int) -> list[np.ndarray]:
    """The sim's blocks 0..n-1 (env.reset(seed=SEED + i))."""
    from mairl_core.envs.ur5_reach import UR5ReachEnv

    env = UR5ReachEnv()
    out = []
    for i in range(n):
        env.reset(seed=SEED + i)
        out.append(env.target.copy())
    return out


def test_recorder_killed_mid_episode_keeps_a_consistent_dataset(tmp_path):
    """kill -9 while episode 1 is being recorded: the dataset holds episode_000 only, which
    opens; the partial episode is discarded (it was only in memory). A bag a kill during a
    write left in the staging directory is removed by the next recorder, which records the
    rest (episodes:=3 in total) with blocks 1 and 2."""
    data = tmp_path / "demos"
    probe, events = _event_probe("mairl_test_kill_recorder_probe")
    procs = _stack(tmp_path, "kill")
    rec = NodeProcess("recorder", tmp_path / "rec.log", **_recorder_params(data, 3))
    try:
        probe.wait_for(lambda: "start 1" in events, 90.0, "episode 1 to start", procs=(*procs, rec))
        probe.spin(0.6)  # part of episode 1's 1.6 s
        rec.proc.send_signal(signal.SIGKILL)
        assert rec.proc.wait(timeout=10) == -signal.SIGKILL
        assert "saved 1" not in events
        rec.stop()
        bags = sorted(p.name for p in data.iterdir())
        read_dataset(data)  # every saved bag opens
        print(
            f"killed mid-episode 1: {len(bags)} bag(s) in the dataset {bags}, next index "
            f"{next_episode_index(data)}"
        )
        assert bags == ["episode_000"] and next_episode_index(data) == 1
        # what a kill during the next write would leave: a half-written bag in the staging dir
        half = staging_dir(data) / "episode_001"
        half.mkdir(parents=True)
        mcap = next((data / "episode_000").glob("*.mcap"))
        (half / "episode_001.mcap").write_bytes(mcap.read_bytes()[: mcap.stat().st_size // 2])
        again = NodeProcess("recorder", tmp_path / "rec2.log", **_recorder_params(data, 3))
        try:
            again.proc.wait(timeout=90)
        finally:
            again.stop()
        assert again.proc.returncode == 0, again.output()
        assert "removed episode_001: its bag was left unfinished" in again.output()
    finally:
        rec.stop()
        for p in procs:
            p.stop()
        probe.close()
    eps = read_dataset(data)
    assert sorted(p.name for p in data.iterdir()) == ["episode_000", "episode_001", "episode_002"]
    assert not staging_dir(data).exists()
    for i, (ep, block) in enumerate(zip(eps, _blocks(3))):
        assert np.allclose(ep.target, block, atol=1e-9), f"episode {i}: block {ep.target} != {block}"


class _PipedNode:
    """A node process whose output goes through a pipe (a file-size limit on the process must
    not stop its log) and that ignores SIGXFSZ (a write over the limit then fails with EFBIG
    instead of killing it)."""

    def __init__(self, module: str, **params):
        from _ros_helpers import _param

        args = [sys.executable, "-m", f"mairl_ros.{module}", "--ros-args"]
        for k, v in params.items():
            args += ["-p", f"{k}:={_param(v)}"]
        self.proc = subprocess.Popen(
            args,
            env=node_env(),
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            preexec_fn=lambda: signal.signal(signal.SIGXFSZ, signal.SIG_IGN),
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=lambda: self.lines.extend(self.proc.stdout), daemon=True)
        self._reader.start()

    def output(self) -> str:
        return "".join(self.lines)

    def stop(self) -> int:
        interrupt(self.proc)
        self._reader.join(timeout=5)
        return self.proc.returncode


@contextlib.contextmanager
def _small_disk(path):
    """A 4 MiB tmpfs at ``path`` if this process may mount one (root), else None."""
    path.mkdir()
    mounted = (
        os.geteuid() == 0
        and subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(path)], capture_output=True
        ).returncode
        == 0
    )
    try:
        yield mounted
    finally:
        if mounted:
            subprocess.run(["umount", "-l", str(path)], check=False)


def _fill(path) -> int:
    """Write a file at ``path`` until the file system is full; its size."""
    chunk, size = b"\0" * 65536, 0
    with open(path, "wb", buffering=0) as f:
        while True:
            try:
                size += f.write(chunk)
            except OSError:
                break
        with contextlib.suppress(OSError):
            while f.write(b"\0"):  # the last partial page
                size += 1
    return size


def test_a_full_disk_stops_the_recorder_in_one_line_and_keeps_what_is_saved(tmp_path):
    """The disk fills while episode 1 is recorded (a 4 MiB tmpfs filled up, or where no tmpfs
    can be mounted, a file-size limit on the recorder): saving episode 1 fails, the recorder
    says so in one line and exits 1; episode_000 is intact, nothing of episode 1 is left."""
    disk = tmp_path / "disk"
    data = disk / "demos"
    probe, events = _event_probe("mairl_test_full_disk_probe")
    procs = _stack(tmp_path, "full")
    with _small_disk(disk) as tmpfs:
        rec = _PipedNode("recorder", **_recorder_params(data, 3))
        try:
            probe.wait_for(lambda: "saved 0" in events, 90.0, "episode 0 to be saved", procs=procs)
            if tmpfs:
                filled = _fill(disk / "filler")
                how = f"tmpfs full ({filled} bytes of filler, {os.statvfs(disk).f_bavail} blocks free)"
            else:
                resource.prlimit(rec.proc.pid, resource.RLIMIT_FSIZE, (512, resource.RLIM_INFINITY))
                how = "RLIMIT_FSIZE 512 bytes on the recorder"
            probe.wait_for(
                lambda: rec.proc.poll() is not None and "failed 1" in events,
                60.0,
                "the recorder to fail on episode 1 and exit",
                procs=procs,
            )
            code = rec.proc.returncode
        finally:
            rec.stop()
            for p in procs:
                p.stop()
            probe.close()
        log = rec.output()
        errors = [line for line in log.splitlines() if "[ERROR]" in line]
        print(f"{how}: recorder exit {code}; {errors}")
        assert code == 1, log
        assert len(errors) == 1 and "cannot save episode_001" in errors[0], log
        assert "No space left on device" in errors[0] or "File too large" in errors[0], errors[0]
        assert "failed 1" in events and "saved 1" not in events
        assert sorted(p.name for p in data.iterdir()) == ["episode_000"]
        assert not staging_dir(data).exists()
        assert len(read_dataset(data)) == 1  # the saved episode opens


# ----- the trainer -----


def _max_weight_difference(a: dict, b: dict) -> float:
    return max(
        float((a[m][k].double() - b[m][k].double()).abs().max())
        for m in a
        for k in a[m]
        if a[m][k].is_floating_point()
    )


def test_trainer_killed_mid_iteration_resumes_exactly_while_the_server_serves(tmp_path):
    """mairl-trainer (collect:=sim, a checkpoint every 2 iterations) is killed with SIGKILL in
    the iteration after its first checkpoint; the policy server keeps serving the last
    checkpoint's policy (also when a half-written file lands on its path: the reload fails and
    it keeps the policy in use); resume:=true ends bit for bit where an uninterrupted run ends."""
    from _helpers import assert_tree_equal

    from mairl_core.checkpoint import load_checkpoint
    from mairl_core.data.operator import generate_demos
    from mairl_core.deploy import PolicyRunner
    from mairl_core.envs.ur5_model import load_ur5
    from mairl_core.envs.ur5_reach import UR5ReachEnv

    demos = tmp_path / "demos"
    generate_demos(demos, 3, seed=0, progress=False)
    cfg = small_config(tmp_path, env_steps=800)  # 8 iterations of one 100-step episode
    params = dict(demos=str(demos), config=str(cfg), collect="sim", checkpoint_every=2)

    ref = NodeProcess("trainer", tmp_path / "ref.log", policy=str(tmp_path / "ref" / "reach.pt"), **params)
    ref.proc.wait(timeout=180)
    assert ref.stop() == 0, ref.output()
    expected = load_checkpoint(tmp_path / "ref" / "mairl_run" / "checkpoint.pt")["state"]

    policy = tmp_path / "run" / "reach.pt"
    run_ckpt = tmp_path / "run" / "mairl_run" / "checkpoint.pt"
    server = NodeProcess("policy_server", tmp_path / "server.log", policy=str(policy), wait=True)
    probe = Probe("mairl_test_trainer_kill_probe")
    probe.listen(JointState, "/mairl/command")
    q, target = UR5ReachEnv().q_start.copy(), np.array([0.3, -0.45, 0.35])
    js_pub = probe.node.create_publisher(JointState, "/joint_states", 10)
    tgt_pub = probe.node.create_publisher(PointStamped, "/mairl/target", 10)
    robot = load_ur5()

    def publish_state():
        js_pub.publish(joint_state_msg(probe.node, robot.joint_names, q, np.zeros(6)))
        tgt_pub.publish(point_msg(probe.node, target))

    probe.node.create_timer(0.02, publish_state)

    def served_command() -> np.ndarray:
        probe.latest.pop("/mairl/command", None)
        probe.wait_for(
            lambda: "/mairl/command" in probe.latest, 10.0, "a command from the server", procs=(server,)
        )
        return np.array(probe.latest["/mairl/command"].position)

    trainer = NodeProcess("trainer", tmp_path / "run.log", policy=str(policy), **params)
    try:
        probe.wait_for(lambda: policy.exists(), 120.0, "the first checkpoint", procs=(trainer, server))
        probe.spin(0.05)  # into the next iteration
        trainer.proc.send_signal(signal.SIGKILL)
        assert trainer.proc.wait(timeout=10) == -signal.SIGKILL
        at = int(load_checkpoint(run_ckpt)["state"]["iteration"])
        assert at == 2, f"the kill came after iteration {at}, not between checkpoints 2 and 4"
        # the server serves the last checkpoint's policy
        probe.wait_for(
            lambda: "serving reach policy" in server.output(),
            20.0,
            "the server to load the checkpoint",
            procs=(server,),
        )
        want = PolicyRunner(policy).decide(q, np.zeros(6), target).command
        got = served_command()
        assert np.allclose(got, want, atol=1e-9), (got, want)
        # a half-written file on its path (what a non-atomic writer would leave) is not loaded
        good = policy.read_bytes()
        policy.write_bytes(good[: len(good) // 2])
        probe.wait_for(
            lambda: "reload failed, keeping the policy in use" in server.output(),
            20.0,
            "the server to refuse the half-written file",
            procs=(server,),
        )
        got_after = served_command()
        print(
            f"killed after iteration {at} of 8; served command vs the checkpoint's policy: max "
            f"difference {np.abs(got_after - want).max()} (also with a half-written file on "
            f"its path)"
        )
        assert np.allclose(got_after, want, atol=1e-9)
        policy.write_bytes(good)
        trainer.stop()
        trainer = NodeProcess("trainer", tmp_path / "resume.log", policy=str(policy), resume=True, **params)
        trainer.proc.wait(timeout=180)
        assert trainer.stop() == 0, trainer.output()
        probe.spin(2.5)  # the server's watch reloads the final policy
        final = PolicyRunner(policy).decide(q, np.zeros(6), target).command
        assert np.allclose(served_command(), final, atol=1e-9)
        assert server.alive()
    finally:
        trainer.stop()
        server.stop()
        probe.close()
    resumed = load_checkpoint(run_ckpt)["state"]
    diff = _max_weight_difference(expected["modules"], resumed["modules"])
    print(f"resumed vs uninterrupted: max weight difference {diff}")
    assert diff == 0.0, f"max weight difference resumed vs uninterrupted: {diff}"
    assert_tree_equal(expected, resumed)  # optimisers, RNGs, buffers, counters, curve
