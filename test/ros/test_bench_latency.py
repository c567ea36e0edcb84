"""`mairl bench latency --quick`: the policy server and safety node answer every joint state
over DDS, and the results follow BENCHMARKS.md (timings are reported, never asserted)."""

from __future__ import annotations

import json
import subprocess
import sys

from _ros_helpers import REPO, node_env


def test_bench_latency_quick_writes_results(tmp_path):
    out = tmp_path / "lat"
    proc = subprocess.run([sys.executable, "-m", "mairl_core.cli", "bench", "latency", "--quick",
                           "--out", str(out), "--no-progress"], env=node_env(), cwd=REPO,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    res = json.loads((out / "results.json").read_text())
    assert res["benchmark"] == "latency" and res["quick"] is True
    assert [r["hz"] for r in res["rows"]] == [125.0, 500.0]
    for r in res["rows"]:
        assert r["states"] >= 0.9 * 3 * r["hz"]  # 3 s of states went out
        assert r["commands"] >= 0.9 * r["states"]  # and (nearly) each got its safe command back
        assert 0 < r["p50_ms"] <= r["p99_ms"] <= r["max_ms"]
        assert set(r) >= {"p50_ms", "p99_ms", "max_ms", "missed", "hz"}
    assert (out / "latency_cdf.png").stat().st_size > 0
    assert "p99 ms" in proc.stdout
