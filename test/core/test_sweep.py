"""`mairl sweep`: a grid of algorithm settings x seeds -> a table per setting, a plot, per-run
records that --resume reads back; bad grids are one line and exit 2."""

from __future__ import annotations

import json

import pytest

from mairl_core.benchmarks import sweep
from mairl_core.cli import main


def test_parse_grid_reads_yaml_scalars_and_nests_dotted_keys():
    grid = sweep.parse_grid(["algo.svg.horizon=0,1", "policy_lr=1e-3,3.0e-4", "learner=svg"])
    assert grid == {"svg.horizon": [0, 1], "policy_lr": [1e-3, 3e-4], "learner": ["svg"]}
    points = sweep.settings(grid)
    assert len(points) == 4 and points[1] == {"svg.horizon": 0, "policy_lr": 3e-4, "learner": "svg"}
    assert sweep.nested(points[1]) == {"svg": {"horizon": 0}, "policy_lr": 3e-4, "learner": "svg"}
    for bad in (["horizon"], ["=1,2"], ["a=1", "a=2"], []):
        with pytest.raises(Exception, match="grid"):
            sweep.parse_grid(bad)


def test_a_quick_gridworld_sweep_writes_its_table_and_plot_and_resumes(tmp_path, capsys, monkeypatch):
    out = tmp_path / "sw"
    args = ["sweep", "--task", "gridworld", "--config", "gridworld_svg", "--method", "MAIRL(s)"]
    args += ["--grid", "svg.horizon=0,1", "--seeds", "1", "--quick", "--workers", "1", "--no-progress"]
    assert main([*args, "--out", str(out)]) == 0
    doc = json.loads((out / "results.json").read_text())
    assert doc["benchmark"] == "sweep-gridworld" and doc["quick"] is True and doc["metric"] == "return"
    assert [r["setting"] for r in doc["rows"]] == [{"svg.horizon": 0}, {"svg.horizon": 1}]
    for r in doc["rows"]:
        assert r["seeds"] == 1 and len(r["values"]) == 1 and 0 < r["mean"] <= 20 and r["std"] == 0
    assert doc["rows"][0]["values"] != doc["rows"][1]["values"]  # the setting reached the learner
    assert (out / "sweep.png").stat().st_size > 1000
    assert len(list((out / "runs").glob("*.json"))) == 2
    assert "svg.horizon=1" in capsys.readouterr().out

    def no_training(*a, **k):
        raise AssertionError("a finished run was trained again")

    from mairl_core.benchmarks import gridworld

    monkeypatch.setattr(gridworld, "run_one", no_training)
    assert main([*args, "--out", str(out), "--resume"]) == 0
    assert json.loads((out / "results.json").read_text())["rows"] == doc["rows"]


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--grid", "svg.horizonn=0,1"], "horizonn"),
        (["--grid", "disc_steps=-1"], "disc_steps"),
        (["--grid", "svg.horizon=0", "--metric", "success_rate"], "--metric success_rate"),
        (["--grid", "svg.horizon=0", "--method", "Expert"], "--method 'Expert'"),
        (["--grid", "svg.horizon"], "expected KEY=V1,V2"),
    ],
)
def test_a_bad_sweep_is_one_line_and_exit_2(tmp_path, capsys, extra, message):
    args = ["sweep", "--task", "gridworld", "--method", "MAIRL(s)", "--out", str(tmp_path / "o"), *extra]
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("mairl: error:") and message in err[0], err
    assert not (tmp_path / "o" / "runs").exists()
