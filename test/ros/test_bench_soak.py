"""`mairl bench soak` quick: the deploy graph (sim, safety node, policy server) runs a few
episodes with e-stops under a message flood; memory, command rate and e-stop holds are
written to results.json and a plot (figures reported, not asserted). Its own file, not
beside the fault tests of test_faults.py, which run alone (their bounds are on timing)."""

from __future__ import annotations

from _ros_helpers import run_ros_bench

from mairl_ros import bench_soak


def test_bench_soak_quick_writes_results(tmp_path, capsys):
    assert bench_soak.main(["--minutes", "0"]) == 2
    assert bench_soak.main(["--minutes", "soon"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and all(line.startswith("error: --minutes must be") for line in err), err
    out = tmp_path / "soak"
    proc, res = run_ros_bench("soak", out, "--minutes", "0.2", "--sample-every", "2", "--estop-every", "1")
    print(proc.stdout)
    assert res["benchmark"] == "soak" and res["error"] is None and res["episodes"] >= 1
    assert {r["node"] for r in res["rows"]} == {"mairl_sim", "mairl_safety", "mairl_policy_server"}
    assert all(0 < r["rss_start_mb"] <= r["rss_max_mb"] for r in res["rows"])
    assert res["command_rate"]["windows"] >= 3 and res["command_rate"]["mean_hz"] > 0
    assert [e["flood_hz"] for e in res["estop"]] == [0.0, 1000.0]  # e-stops alternate
    assert all(e["trials"] >= 1 and e["no_hold_seen"] == 0 for e in res["estop"])
    assert set(res["exit_codes"].values()) == {0}
    assert (out / "soak.png").stat().st_size > 0 and (out / "nodes.log").exists()
