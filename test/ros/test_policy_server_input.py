"""The policy server given a bad checkpoint (issue 20, defect 4): a real node process says
what is wrong in one line and exits with status 2 -- no traceback -- for a truncated, an
empty, a random-bytes and a malicious-pickle file; random bytes are called corrupt, and the
malicious pickle's code never runs."""

from __future__ import annotations

import os
import pickle
import random

import pytest
from _ros_helpers import REPO, NodeProcess

pytest.importorskip("rclpy")


class _Evil:
    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _bad_file(kind: str, tmp_path):
    path = tmp_path / f"{kind}.pt"
    good = (REPO / "bench" / "checkpoints" / "reach_mairl.pt").read_bytes()
    if kind == "truncated":
        path.write_bytes(good[: len(good) // 2])
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "random":
        path.write_bytes(random.Random(0).randbytes(4096))
    else:
        path.write_bytes(pickle.dumps({"format": 1, "meta": {}, "state": {"x": _Evil(tmp_path / "ran")}}))
    return path


@pytest.mark.parametrize(
    "kind,says",
    [
        ("truncated", "corrupt or truncated"),
        ("empty", "empty"),
        ("random", "corrupt or truncated"),
        ("malicious", "refused"),
    ],
)
def test_policy_server_with_a_bad_checkpoint_says_so_in_one_line(tmp_path, kind, says):
    path = _bad_file(kind, tmp_path)
    server = NodeProcess("policy_server", tmp_path / "p.log", policy=str(path))
    server.proc.wait(timeout=60)
    code = server.stop()
    out = server.output()
    lines = [line for line in out.splitlines() if line.strip()]
    assert code == 2, out
    assert "Traceback" not in out and len(lines) == 1, out
    assert "cannot start" in lines[0] and path.name in lines[0] and says in lines[0], lines[0]
    if kind == "random":
        assert "code" not in lines[0]  # not "may contain code": it is not a pickle at all
    assert not (tmp_path / "ran").exists()
