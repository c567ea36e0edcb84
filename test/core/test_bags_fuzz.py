"""Fuzzing the demo loader (issue 20): corrupt and adversarial MCAP bags give a valid episode or
a one-line BagError naming the bag, never a traceback. The cases are those of
``mairl_core.benchmarks.fuzz_bags`` (which runs thousands); here a few hundred, derandomized."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mairl_core.benchmarks import fuzz_bags
from mairl_core.envs.ur5_model import load_ur5

ROBOT = load_ur5()


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    return tmp_path_factory.mktemp("fuzz")


@settings(
    max_examples=120,  # each of the 24 kinds about five times; `mairl bench fuzz-bags` runs the long fuzz
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(kind=st.sampled_from(fuzz_bags.KINDS), seed=st.integers(0, 2**32 - 1))
def test_every_damaged_bag_loads_or_is_a_clear_error(work, kind, seed):
    outcome, detail = fuzz_bags.run_case(kind, seed, work, ROBOT)
    assert outcome in ("valid", "error"), f"{kind} seed {seed}: {detail}"
    if kind in ("none", "permute_joints"):  # undamaged data, whatever the joint order
        assert outcome == "valid", f"{kind} seed {seed}: {detail}"


def test_reordered_joints_load_as_the_robot_order(tmp_path):
    """The fuzzer's reorderings lose nothing: the episode read equals the one written."""
    for seed in range(5):
        out = tmp_path / str(seed)
        bag, grasp = fuzz_bags.make_case("permute_joints", seed, out, ROBOT)
        ep = fuzz_bags.read_episode(bag, grasp=grasp, robot=ROBOT)
        base = fuzz_bags.base_episode(ROBOT, seed, grasp)
        assert ep.joint_names == ROBOT.joint_names
        np.testing.assert_array_equal(ep.q, base.q)
        np.testing.assert_array_equal(ep.qdot, base.qdot)
        np.testing.assert_array_equal(ep.commands, base.commands)


def test_run_fuzz_writes_its_counts(tmp_path):
    totals = fuzz_bags.run_fuzz(len(fuzz_bags.KINDS), seed=7, out_dir=tmp_path, progress=False)
    doc = json.loads((tmp_path / "results.json").read_text())
    assert doc["benchmark"] == "fuzz_bags" and doc["totals"] == totals
    assert totals["cases"] == len(fuzz_bags.KINDS) == sum(r["cases"] for r in doc["rows"])
    assert totals["valid_loads"] + totals["clear_errors"] == totals["cases"]
    assert totals["tracebacks"] == totals["hangs"] == 0 and doc["failures"] == []
    assert totals["valid_loads"] >= 2 and totals["clear_errors"] >= 10
