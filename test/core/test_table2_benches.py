"""Issue 5's benches in their --quick form: `mairl bench dynamics` (the three models fitted
to the same data, k-step errors) and `mairl bench mujoco` (Table II's methods, curves)."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch

from mairl_core.algos.normalize import ObsNorm
from mairl_core.benchmarks.dynamics import DynamicsBenchConfig, open_loop_errors
from mairl_core.cli import main
from mairl_core.experts import ExpertActor, ExpertRecord, sample_demos, save_expert


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory):
    """4 HalfCheetah episodes of an untrained actor (the bench's data path, cheaply)."""
    d = tmp_path_factory.mktemp("demos")
    torch.manual_seed(0)
    actor = ExpertActor(17, 6, [32], -np.ones(6), np.ones(6))
    save_expert(
        d / "expert",
        actor,
        ExpertRecord(
            "HalfCheetah-v5", 17, 6, [32], [-1.0] * 6, [1.0] * 6, 0, 0, 0.0, 0.0, 0, -1, [], 0.0, "test"
        ),
    )
    sample_demos(d / "expert", "HalfCheetah-v5", n=4, seed=0, out=d / "HalfCheetah-v5.npz", progress=False)
    return d


def test_quick_dynamics_bench_writes_results_and_plot(tmp_path, demo_dir):
    out = tmp_path / "dyn"
    assert (
        main(
            [
                "bench",
                "dynamics",
                "--quick",
                "--out",
                str(out),
                "--demo-dir",
                str(demo_dir),
                "--envs",
                "HalfCheetah-v5,UR5Reach-v0",
                "--workers",
                "1",
                "--no-progress",
            ]
        )
        == 0
    )
    res = json.loads((out / "results.json").read_text())
    assert res["benchmark"] == "dynamics" and res["quick"] is True
    rows = {(r["env"], r["method"]): r for r in res["rows"]}
    assert set(rows) == {
        (e, m) for e in ("HalfCheetah-v5", "UR5Reach-v0") for m in ("attention", "gru", "mlp")
    }
    for r in rows.values():
        assert all(np.isfinite(r[f"error_k{k}"]) and r[f"error_k{k}"] >= 0 for k in (1, 5, 10, 25))
        assert r["params"] > 0 and r["train_s_mean"] > 0
    assert (out / "kstep_errors.png").stat().st_size > 5_000
    # missing demos: a clear error before any work
    assert (
        main(
            [
                "bench",
                "dynamics",
                "--quick",
                "--out",
                str(tmp_path / "x"),
                "--demo-dir",
                str(tmp_path),
                "--envs",
                "Ant-v5",
                "--no-progress",
            ]
        )
        == 2
    )
    assert (
        main(
            [
                "bench",
                "dynamics",
                "--quick",
                "--out",
                str(tmp_path / "x"),
                "--demo-dir",
                str(demo_dir),
                "--models",
                "gru,lstm",
                "--no-progress",
            ]
        )
        == 2
    )


def test_open_loop_error_of_a_perfect_model_is_zero():
    """The k-step evaluation feeds predictions back: a model equal to the true dynamics
    (here s' = s + a on a toy system) has zero error at every k, a wrong one grows with k."""
    rng = np.random.default_rng(0)
    acts = [rng.normal(size=(30, 2)).astype(np.float32) for _ in range(3)]
    obs = [np.concatenate([np.zeros((1, 2)), np.cumsum(a, 0)]).astype(np.float32) for a in acts]
    norm = ObsNorm(2, 2)

    class Exact(torch.nn.Module):
        def predict(self, s, a):
            return s + a

    class Biased(torch.nn.Module):
        def predict(self, s, a):
            return s + a + 0.1

    exact = open_loop_errors(Exact(), norm, obs, acts, (1, 5, 25), 1000)
    assert all(v == pytest.approx(0.0, abs=1e-10) for v in exact.values())
    biased = open_loop_errors(Biased(), norm, obs, acts, (1, 5, 25), 1000)
    assert biased[1] == pytest.approx(0.01, rel=1e-4) and biased[25] == pytest.approx(6.25, rel=1e-4)
    assert DynamicsBenchConfig().horizons == (1, 5, 10, 25)


def test_quick_mujoco_bench_runs_every_method(tmp_path, demo_dir):
    out = tmp_path / "mj"
    assert (
        main(
            [
                "bench",
                "mujoco",
                "--env",
                "HalfCheetah-v5",
                "--quick",
                "--out",
                str(out),
                "--demo-dir",
                str(demo_dir),
                "--workers",
                "1",
                "--no-progress",
            ]
        )
        == 0
    )
    res = json.loads((out / "results.json").read_text())
    assert res["benchmark"] == "mujoco-HalfCheetah-v5" and res["quick"] is True
    rows = {r["method"]: r for r in res["rows"]}
    assert set(rows) == {
        "MAIRL (s,a)",
        "MAIRL (s,a) GRU",
        "MAIRL (s,a) MLP",
        "AIRL (s,a)",
        "AIRL (s)",
        "GAIL",
        "GAN-GCL",
        "MGAIL",
        "BC",
    }
    assert rows["MAIRL (s,a)"]["env_steps"] == rows["GAIL"]["env_steps"] == 200  # same budget
    assert rows["BC"]["env_steps"] == 0
    for r in rows.values():
        assert np.isfinite(r["return_mean"]) and r["expert_return"] == rows["BC"]["expert_return"]
    runs = json.loads((out / "runs.json").read_text())
    assert all(r["curve"] for r in runs if r["method"] != "BC")
    # each curve point keeps the learner's state (what a dip is read from)
    mairl = next(r for r in runs if r["method"] == "MAIRL (s,a)")
    train = mairl["curve"][-1]["train"]
    assert {"disc/accuracy", "disc/loss", "model/nll"} <= set(train) and all(map(np.isfinite, train.values()))
    assert (out / "learning_curves.png").stat().st_size > 5_000
    assert (
        main(
            [
                "bench",
                "mujoco",
                "--env",
                "Ant-v5",
                "--quick",
                "--out",
                str(tmp_path / "x"),
                "--demo-dir",
                str(demo_dir),
                "--no-progress",
            ]
        )
        == 2
    )  # no Ant demos: clear error
    assert (
        main(
            [
                "bench",
                "mujoco",
                "--env",
                "HalfCheetah-v5",
                "--methods",
                "Nope",
                "--quick",
                "--out",
                str(tmp_path / "y"),
                "--demo-dir",
                str(demo_dir),
            ]
        )
        == 2
    )


def test_method_lists_keep_commas_inside_row_names():
    from mairl_core.cli import split_names

    assert split_names("MAIRL (s,a),BC") == ["MAIRL (s,a)", "BC"]
    assert split_names("AIRL (s), MAIRL (s,a) GRU ,GAIL") == ["AIRL (s)", "MAIRL (s,a) GRU", "GAIL"]


def test_a_failing_peer_run_keeps_our_rows(tmp_path, demo_dir, monkeypatch, capsys):
    """--peer imitation: when a peer run fails (here: a python without imitation), the error
    names the run and its log, and our rows are still written."""
    import sys
    from pathlib import Path

    from mairl_core.benchmarks import peer

    monkeypatch.setattr(peer, "ensure_venv", lambda log=print: Path(sys.executable))
    out = tmp_path / "p"
    assert (
        main(
            [
                "bench",
                "mujoco",
                "--env",
                "HalfCheetah-v5",
                "--quick",
                "--methods",
                "BC",
                "--peer",
                "imitation",
                "--out",
                str(out),
                "--demo-dir",
                str(demo_dir),
                "--workers",
                "1",
                "--no-progress",
            ]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert "imitation peer rows are missing" in err and "No module named 'imitation'" in err
    rows = json.loads((out / "results.json").read_text())["rows"]
    assert [r["method"] for r in rows] == ["BC"]
    assert (out / "peer" / "gail_seed0.log").exists()


def test_each_row_sets_its_reward_input():
    """'(s,a)' rows learn g(s, a), 'AIRL (s)' g(s): the rows must not inherit AlgoConfig's
    default (state_only=True), which made AIRL (s,a) and AIRL (s) one method."""
    from mairl_core.benchmarks.mujoco import METHOD_SPECS

    for name, (algo, overrides) in METHOD_SPECS.items():
        if algo != "bc":
            assert overrides["state_only"] is (name == "AIRL (s)"), name


def test_gan_gcl_uses_the_whole_demos_and_the_expert_gets_its_own_row(tmp_path, demo_dir):
    """Ant's expert falls in some demos: every method but GAN-GCL trains on all of them as one
    sequence, GAN-GCL (whole-episode discriminator) on the full-length ones; the normaliser
    stays the mean over all demos. An experts/ENV directory beside the demos adds the
    demonstrator's own row on the same held-out episodes."""
    import dataclasses
    import shutil

    from mairl_core.benchmarks import mujoco as mj
    from mairl_core.experts import load_demos

    d = load_demos(demo_dir / "HalfCheetah-v5.npz")
    cut = 600  # episode 1 ends early, as if the expert fell
    obs = [d.obs[0], d.obs[1][: cut + 1], d.obs[2]]
    act = [d.act[0], d.act[1][:cut], d.act[2]]
    (tmp_path / "demos").mkdir()
    np.savez(
        tmp_path / "demos" / "HalfCheetah-v5.npz",
        obs=np.concatenate(obs),
        act=np.concatenate(act),
        rewards=np.zeros(sum(len(a) for a in act)),
        episode_lengths=np.array([len(a) for a in act]),
        returns=np.array([3.0, 1.0, 2.0]),
        env_id=np.array("HalfCheetah-v5"),
    )
    cfg = dataclasses.replace(mj.MujocoBenchConfig(), n_demos=3, demo_dir=tmp_path / "demos")
    flat, ret = mj.expert_transitions("HalfCheetah-v5", cfg)
    whole, ret_w = mj.expert_transitions("HalfCheetah-v5", cfg, whole_episodes=True)
    assert flat.act.shape[:2] == (1, 2600) and whole.act.shape[:2] == (2, 1000)
    torch.testing.assert_close(whole.obs[1], torch.as_tensor(d.obs[2][:-1]))
    assert ret == ret_w == 2.0
    assert mj.expert_run(cfg, "HalfCheetah-v5") is None  # no experts/ beside the demos
    shutil.copytree(demo_dir / "expert", tmp_path / "experts" / "HalfCheetah-v5")
    out = tmp_path / "mj"
    assert (
        main(
            [
                "bench",
                "mujoco",
                "--env",
                "HalfCheetah-v5",
                "--quick",
                "--methods",
                "GAN-GCL",
                "--out",
                str(out),
                "--demo-dir",
                str(demo_dir),
                "--workers",
                "1",
                "--no-progress",
            ]
        )
        == 0
    )  # the fixture's demos: no experts/ beside them
    assert [r["method"] for r in json.loads((out / "results.json").read_text())["rows"]] == ["GAN-GCL"]
    (tmp_path / "demos" / "HalfCheetah-v5.npz").unlink()
    shutil.copy(demo_dir / "HalfCheetah-v5.npz", tmp_path / "demos")
    assert (
        main(
            [
                "bench",
                "mujoco",
                "--env",
                "HalfCheetah-v5",
                "--quick",
                "--methods",
                "BC",
                "--out",
                str(out),
                "--demo-dir",
                str(tmp_path / "demos"),
                "--workers",
                "1",
                "--no-progress",
            ]
        )
        == 0
    )
    rows = json.loads((out / "results.json").read_text())["rows"]
    assert [r["method"] for r in rows] == ["Expert", "BC"] and rows[0]["env_steps"] == 0
    # the demonstrator replayed on held-out reset seeds: near, not exactly, its demos' mean
    assert 0.5 < rows[0]["normalised_return"] < 2.0 and rows[0]["normalised_return"] != 1.0


def test_a_diverged_run_is_reported_and_the_others_kept(tmp_path, demo_dir, monkeypatch):
    """A run whose training diverges (TrainingDiverged) keeps its curve and its best policy
    before it broke, is named in the table and results.json, and the other rows are written."""
    from mairl_core.algos.adversarial import AdversarialTrainer, TrainingDiverged

    real = AdversarialTrainer._iteration

    def breaks_in_airl(self):
        if self.method == "airl" and self.iteration == 1:  # the quick run's last iteration
            raise TrainingDiverged("training diverged in iteration 1 (test)")
        return real(self)

    monkeypatch.setattr(AdversarialTrainer, "_iteration", breaks_in_airl)
    from mairl_core.benchmarks import mujoco as mj

    quick = mj.quick_config  # a curve point each iteration: one before the break
    monkeypatch.setattr(mj, "quick_config", lambda cfg: dataclasses.replace(quick(cfg), eval_every=1))
    out = tmp_path / "d"
    assert (
        main(
            [
                "bench",
                "mujoco",
                "--env",
                "HalfCheetah-v5",
                "--quick",
                "--methods",
                "AIRL (s),GAIL",
                "--out",
                str(out),
                "--demo-dir",
                str(demo_dir),
                "--workers",
                "1",
                "--no-progress",
            ]
        )
        == 0
    )
    rows = {r["method"]: r for r in json.loads((out / "results.json").read_text())["rows"]}
    assert rows["AIRL (s)"]["diverged_seeds"] and not rows["GAIL"]["diverged_seeds"]
    assert np.isfinite(rows["AIRL (s)"]["return_mean"]) and np.isnan(rows["AIRL (s)"]["final_return_mean"])
    assert np.isfinite(rows["GAIL"]["final_return_mean"])


def test_scratch_config_is_table_two_without_bc():
    """config/mujoco_scratch.yaml: mujoco_train.yaml (its base) with no BC start or term, on the
    SVG learner, with AIRL (SAC) beside the PPO baselines."""
    from mairl_core.benchmarks.mujoco import load_bench

    base, scratch = load_bench("mujoco_train"), load_bench("mujoco_scratch")
    assert (scratch.algo.bc_init_steps, scratch.algo.bc_weight, scratch.algo.env_steps) == (0, 0.0, 300_000)
    assert (base.algo.learner, scratch.algo.learner) == ("imagined", "svg")
    assert scratch.methods == ["MAIRL (s,a)", "AIRL (SAC)", "AIRL (s,a)", "GAIL"]
    # a partial svg section keeps the other SVG defaults, H = 1 among them (it fell back to
    # H = 0, i.e. SAC, when the section named other keys)
    assert (scratch.algo.svg.horizon, scratch.algo.svg.model_d, scratch.algo.svg.model_every) == (1, 64, 2)
    assert (
        dataclasses.replace(
            scratch.algo.svg, model_d=base.algo.svg.model_d, model_every=base.algo.svg.model_every
        )
        == base.algo.svg
    )
    same = {
        k: v
        for k, v in dataclasses.asdict(base.algo).items()
        if k not in ("bc_init_steps", "bc_weight", "env_steps", "learner", "svg")
    }
    assert same == {k: v for k, v in dataclasses.asdict(scratch.algo).items() if k in same}
    assert (scratch.n_demos, scratch.seeds, scratch.eval_every) == (base.n_demos, base.seeds, base.eval_every)
    # the off-policy rows' discriminator keeps pace with their learner; the PPO rows keep theirs
    off = {"disc_steps": 100, "agent_recent": 300_000}
    sized = {**off, "svg": {"model_params": 52_706}}  # rung 6: F at the attention model's size
    assert scratch.algo_by_method == {
        "MAIRL (s,a)": off,
        "AIRL (SAC)": off,
        "MAIRL (s,a) GRU": sized,
        "MAIRL (s,a) MLP": sized,
    }
    assert (scratch.algo.disc_steps, scratch.algo.agent_recent) == (
        base.algo.disc_steps,
        base.algo.agent_recent,
    )


def test_a_bad_per_method_setting_fails_when_the_config_loads(tmp_path):
    from mairl_core.benchmarks.mujoco import load_bench
    from mairl_core.config import ConfigError

    for bad, match in [
        ('{"AIRL (SAC)": {disc_stepz: 5}}', "did you mean 'disc_steps'"),
        ('{"AIRL (SAC)": {disc_steps: 0}}', "disc_steps must be > 0"),
        ("{NOPE: {disc_steps: 5}}", "unknown methods"),
    ]:
        f = tmp_path / "c.yaml"
        f.write_text(f"base: mujoco_scratch\nbench:\n  algo_by_method: {bad}\n")
        with pytest.raises((ConfigError, ValueError), match=match):
            load_bench(str(f))


@pytest.mark.parametrize("method", ["MAIRL (s,a)", "AIRL (s,a)"])
def test_a_stopped_mujoco_run_resumes_exactly(tmp_path, demo_dir, monkeypatch, method):
    """`bench mujoco --resume`: a run killed right after a checkpoint and resumed gives the
    record an uninterrupted run gives (curve, selected and last policies' returns), writes it
    to the work directory and drops its checkpoint; a finished run is not run again."""
    from mairl_core.benchmarks import mujoco as mj

    base = mj.load_bench("mujoco_scratch")
    algo = dataclasses.replace(
        base.algo,
        env_steps=500,
        policy_hidden=(16, 16),
        reward_hidden=(16, 16),
        d_model=16,
        n_heads=2,
        embed_hidden=8,
        disc_steps=2,
        disc_warmup_iters=1,
        batch_size=64,
        ppo_epochs=1,
        svg=dataclasses.replace(
            base.algo.svg,
            hidden=(16, 16),
            batch_size=32,
            model_warmup=200,
            model_d=16,
            reward_hidden=(16, 16),
        ),
    )
    cfg = dataclasses.replace(
        base,
        n_demos=2,
        horizon=100,
        eval_every=1,
        checkpoint_every=2,
        curve_episodes=1,
        test_episodes=1,
        demo_dir=demo_dir,
        algo=algo,
    )
    full = mj.run_one(cfg, "HalfCheetah-v5", method, 0)
    real_save = mj.save_run

    def save_then_die(*args):
        real_save(*args)
        raise KeyboardInterrupt  # killed just after its first checkpoint (iteration 2)

    monkeypatch.setattr(mj, "save_run", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        mj.run_one(cfg, "HalfCheetah-v5", method, 0, work_dir=str(tmp_path))
    stem = mj.run_stem(method, 0)
    assert (tmp_path / f"{stem}.pt").is_file() and not (tmp_path / f"{stem}.json").exists()
    monkeypatch.setattr(mj, "save_run", real_save)
    resumed = mj.run_one(cfg, "HalfCheetah-v5", method, 0, work_dir=str(tmp_path), resume=True)
    for rec in (full, resumed):
        rec.pop("wall_s")
    assert resumed == full and len(full["curve"]) == 5
    assert (tmp_path / f"{stem}.json").is_file() and not (tmp_path / f"{stem}.pt").exists()
    again = mj.run_one(cfg, "HalfCheetah-v5", method, 0, work_dir=str(tmp_path), resume=True)
    again.pop("wall_s")
    assert again == full


def test_mairl_train_takes_the_rows_settings():
    """`mairl train --task mujoco --algo airl-sac --mode sa` trains as the bench's AIRL (SAC) row."""
    from mairl_core.benchmarks.mujoco import load_bench, trainer_overrides

    cfg = load_bench("mujoco_scratch")
    assert trainer_overrides(cfg, "airl-sac", False) == cfg.algo_by_method["AIRL (SAC)"]
    assert trainer_overrides(cfg, "mairl", False) == cfg.algo_by_method["MAIRL (s,a)"]
    assert trainer_overrides(cfg, "airl", False) == {} == trainer_overrides(cfg, "mairl", True)


@pytest.mark.parametrize(
    "env_id, config, penalty, horizon",
    [("Ant-v5", "mujoco_scratch_ant", 1.0, 250), ("HalfCheetah-v5", "mujoco_scratch", 10.0, 1000)],
)
def test_mairl_train_reads_the_envs_from_scratch_config(
    env_id, config, penalty, horizon, monkeypatch, tmp_path
):
    """Without --config, `mairl train --task mujoco --env Ant-v5` trains on Ant's from-scratch
    config (D's penalty at 1, 250-step episodes), any other env on mujoco_scratch."""
    from mairl_core import cli

    seen = {}
    monkeypatch.setattr(cli, "_run_training", lambda _args, trainer, meta: seen.update(t=trainer, meta=meta))
    argv = ["train", "--task", "mujoco", "--env", env_id, "--algo", "mairl", "--mode", "s,a"]
    main([*argv, "--out", str(tmp_path), "--no-progress"])
    assert seen["meta"]["config_file"] == config
    assert seen["t"].cfg.grad_penalty == penalty and seen["t"].env.horizon == horizon


@pytest.mark.parametrize("workers", [1, 2])
def test_the_env_step_bar_counts_what_jobs_report(workers, capsys):
    """run_parallel's second bar adds up the env steps jobs report, from this process or
    from pool workers."""
    from mairl_core.benchmarks import run_parallel

    out = run_parallel(_stepping_job, [100, 250, 50], workers=workers, progress=True, desc="t", env_steps=400)
    assert [r["n"] for r in out] == [100, 250, 50]
    err = capsys.readouterr().err
    assert "400/400" in err, err[-500:]


def _stepping_job(n):
    from mairl_core.benchmarks import report_steps

    for _ in range(n // 50):
        report_steps(50)
    return {"n": n}


def _threads_job(_):
    import torch

    return {"torch": torch.get_num_threads()}


@pytest.mark.parametrize(
    "workers, asked, omp, want",
    [
        (1, None, None, 2),
        (2, None, None, 1),
        (1, 1, None, 1),
        (2, 3, None, 3),
        (1, None, "1", 1),
        (1, 3, "1", 3),
    ]
    + [(1, None, bad, 2) for bad in ("", "0", "two")],
)
def test_jobs_share_the_cores_or_take_the_threads_asked(workers, asked, omp, want, monkeypatch):
    """A bench's jobs get --threads, else OMP_NUM_THREADS when it is a positive count, else
    the cores shared among the workers (one job alone on 2 cores: 2 threads); this process's
    own thread count is back afterwards."""
    import os

    import torch

    from mairl_core import benchmarks

    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    if omp is None:
        monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    else:
        monkeypatch.setenv("OMP_NUM_THREADS", omp)
    before = torch.get_num_threads()
    benchmarks.set_job_threads(asked)
    try:
        out = benchmarks.run_parallel(_threads_job, [0, 1], workers=workers, progress=False, desc="t")
    finally:
        benchmarks.set_job_threads(None)
    assert [r["torch"] for r in out] == [want, want]
    assert torch.get_num_threads() == before


def _maybe_failing_job(i):
    if i % 2:
        raise ValueError(f"job {i} is broken")
    return {"method": "m", "seed": i}


@pytest.mark.parametrize("workers", [1, 2])
def test_a_failed_run_is_reported_and_the_others_are_kept(workers, tmp_path, capsys):
    """One run raising does not lose the others: they are returned, the failure is a FAILED
    line under the table and results.json's failed_runs, and the exit status is 2; if every
    run fails, the first error is raised as before."""
    from mairl_core import benchmarks

    benchmarks.take_failed_runs()
    name = lambda i: f"m seed {i}"  # noqa: E731
    out = benchmarks.run_parallel(
        _maybe_failing_job, [0, 1, 2, 3], workers=workers, progress=False, desc="t", name=name
    )
    assert [r["seed"] for r in out] == [0, 2]
    assert "run m seed 1 failed: ValueError: job 1 is broken" in capsys.readouterr().err
    report = benchmarks.BenchReport("t", [{"method": "m"}], "table", [], {}, 1.0)
    assert benchmarks.finish_bench(report, tmp_path, quick=True, commit_at_start="x") == 2
    res = json.loads((tmp_path / "results.json").read_text())
    assert res["failed_runs"] == [
        {"run": "m seed 1", "error": "ValueError: job 1 is broken"},
        {"run": "m seed 3", "error": "ValueError: job 3 is broken"},
    ]
    printed = capsys.readouterr()
    assert "FAILED: m seed 3: ValueError: job 3 is broken" in printed.out
    assert "2 run(s) failed" in printed.err
    assert benchmarks.take_failed_runs() == []
    with pytest.raises(ValueError, match="job 1 is broken"):
        benchmarks.run_parallel(_maybe_failing_job, [1, 3], workers=workers, progress=False, desc="t")
    assert benchmarks.take_failed_runs() == []
