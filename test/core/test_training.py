"""Behaviour of whole training runs and of the `mairl` CLI, on small seeded configs."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch

from mairl_core.algos.adversarial import AdversarialTrainer
from mairl_core.benchmarks.gridworld import policy_table
from mairl_core.cli import main
from mairl_core.envs.gridworld import GridWorldVecEnv, evaluate_tabular


def _test_return(trainer, exp, seed=12345):
    return float(evaluate_tabular(exp.env, policy_table(trainer.policy, exp.env.size**2), 200, seed).mean())


def test_quick_mairl_run_learns(gridworld_experiment, expert_demos):
    """A seeded short MAIRL(s) run: the discriminator loss falls and the test return rises."""
    torch.set_num_threads(1)
    exp = gridworld_experiment
    # 35 iterations: the return takes off after 15-25 iterations, at a point that moves with
    # the floating-point rounding of the CPU (measured on seeds 0-4: 25 iterations were not
    # always enough; 35 reached 0.9 of the expert on each)
    cfg = dataclasses.replace(exp.algo, state_only=True, n_envs=16, env_steps=16 * 20 * 35)
    env = GridWorldVecEnv(exp.env, cfg.n_envs, seed=3)
    trainer = AdversarialTrainer("mairl", cfg, env, env.demos_to_transitions(expert_demos), seed=3)
    start = _test_return(trainer, exp)
    history = trainer.train()
    end = _test_return(trainer, exp)
    d_loss = [h["disc/loss"] for h in history]
    assert np.mean(d_loss[-5:]) < 0.85 * np.mean(d_loss[:3]), d_loss
    assert history[-1]["model/nll"] < 0.5 * history[0]["model/nll"]
    assert end > start + 3.0, (start, end)  # a uniform policy ~6.5; the expert ~17.9


def test_bench_gridworld_quick_writes_results(tmp_path, capsys, monkeypatch):
    out = tmp_path / "bench"
    rc = main(["bench", "gridworld", "--quick", "--out", str(out), "--workers", "1", "--no-progress"])
    assert rc == 0
    doc = json.loads((out / "results.json").read_text())
    assert doc["benchmark"] == "gridworld" and doc["quick"] is True
    labels = [r["label"] for r in doc["rows"]]
    assert labels == ["Expert", "GAIL", "GAN-GCL", "AIRL(s)", "AIRL(s,a)", "MAIRL(s)", "MAIRL(s,a)"]
    for r in doc["rows"]:
        assert r["seeds"] == 2 and r["episodes"] == 20 and np.isfinite(r["return_mean"])
        assert "expert_normalized" in r
        if r["label"] != "Expert":
            assert -1.0 <= r["reward_pearson"] <= 1.0 and r["env_steps"] >= 3200
    assert (out / "reward_maps.png").stat().st_size > 1000
    assert (out / "learning_curves.png").stat().st_size > 1000
    printed = capsys.readouterr().out
    assert "QUICK" in printed and "MAIRL(s)" in printed
    # --resume: every finished run's record was kept; none is trained again, the rows are the same
    assert len(list((out / "runs").glob("*.json"))) == 2 * len(labels)
    from mairl_core.benchmarks import gridworld

    def no_training(*a, **k):
        raise AssertionError("a finished run was trained again")

    monkeypatch.setattr(gridworld, "run_one", no_training)
    args = ["bench", "gridworld", "--quick", "--out", str(out), "--workers", "1", "--no-progress"]
    assert main([*args, "--resume"]) == 0
    again = json.loads((out / "results.json").read_text())
    assert again["rows"] == doc["rows"]


def test_train_resume_eval_cli(tmp_path, capsys):
    out = tmp_path / "run"
    args = [
        "train",
        "--task",
        "gridworld",
        "--algo",
        "mairl",
        "--mode",
        "s",
        "--out",
        str(out),
        "--no-progress",
        "--checkpoint-every",
        "1",
    ]
    assert main([*args, "--env-steps", "1280"]) == 0
    assert (out / "checkpoint.pt").exists() and any((out / "tb").iterdir())
    # TensorBoard: the scalars, and the learned reward map beside the true one at each save
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    tb = EventAccumulator(str(out / "tb"), size_guidance={"images": 0}).Reload()
    assert "env/true_return" in tb.Tags()["scalars"]
    maps = tb.Images("reward/map (true | learned)")
    assert len(maps) >= 2 and maps[-1].step == 1280 and maps[-1].width == 2 * 5 * 24 + 12
    # a second run into the same directory without --resume refuses instead of overwriting
    assert main([*args, "--env-steps", "1280"]) == 2
    assert "--resume" in capsys.readouterr().err
    assert main([*args, "--env-steps", "2560", "--resume"]) == 0
    from mairl_core.checkpoint import load_checkpoint

    assert load_checkpoint(out / "checkpoint.pt")["state"]["env_steps"] == 2560
    ev = tmp_path / "eval"
    assert (
        main(
            [
                "eval",
                "--task",
                "gridworld",
                "--policy",
                str(out / "checkpoint.pt"),
                "--episodes",
                "30",
                "--seed",
                "7",
                "--out",
                str(ev),
            ]
        )
        == 0
    )
    doc = json.loads((ev / "results.json").read_text())
    assert doc["rows"][0]["episodes"] == 30 and len(doc["rows"][0]["returns"]) == 30


def test_eval_bad_checkpoints_give_clear_errors(tmp_path, capsys):
    missing = tmp_path / "none.pt"
    assert main(["eval", "--policy", str(missing), "--out", str(tmp_path / "e")]) == 2
    assert "not found" in capsys.readouterr().err
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"\x80\x04not a checkpoint")
    assert main(["eval", "--policy", str(junk), "--out", str(tmp_path / "e")]) == 2
    assert "junk.pt" in capsys.readouterr().err
    assert not (tmp_path / "e" / "results.json").exists()


@pytest.mark.parametrize("method", ["gail", "gan-gcl", "mgail"])
def test_every_method_trains_one_iteration(gridworld_experiment, expert_demos, method):
    exp = gridworld_experiment
    cfg = dataclasses.replace(exp.algo, state_only=False, n_envs=8)
    env = GridWorldVecEnv(exp.env, cfg.n_envs, seed=0)
    trainer = AdversarialTrainer(method, cfg, env, env.demos_to_transitions(expert_demos), seed=0)
    m = trainer.train_iteration()
    assert np.isfinite(m["disc/loss"]) and trainer.env_steps == 8 * exp.env.horizon


def test_results_record_the_commit_a_run_started_from(tmp_path):
    """A long benchmark records the commit it started from; if the tree moved while it ran,
    the commit at the end is recorded beside it instead of silently replacing it."""
    import json

    from mairl_core.eval.results import git_commit, write_results

    now = git_commit()
    path = write_results(tmp_path, "x", [], quick=True, wall_s=1.0, commit_at_start="0" * 40)
    doc = json.loads(path.read_text())
    assert doc["git_commit"] == "0" * 40 and doc["git_commit_at_end"] == now
    doc = json.loads(
        write_results(tmp_path, "x", [], quick=True, wall_s=1.0, commit_at_start=now).read_text()
    )
    assert doc["git_commit"] == now and "git_commit_at_end" not in doc


def test_a_diverged_iteration_raises_and_keeps_the_last_checkpoint(
    gridworld_experiment, expert_demos, tmp_path
):
    """A NaN weight (as a blown-up update leaves) stops training with a clear error at the end of
    that iteration, and the checkpoint written before it is still there and finite."""
    from _helpers import make_trainer

    from mairl_core.algos.adversarial import TrainingDiverged
    from mairl_core.checkpoint import load_checkpoint
    from mairl_core.training import train_run

    trainer = make_trainer(gridworld_experiment, expert_demos)
    saved = []

    def poison_after_first_save(path):
        saved.append(trainer.env_steps)
        with torch.no_grad():
            next(trainer.disc.parameters()).view(-1)[0] = float("nan")

    with pytest.raises(TrainingDiverged, match=r"iteration 1 .*non-finite .*disc weights"):
        train_run(
            trainer,
            tmp_path,
            meta={"method": "mairl", "task": "gridworld"},
            env_steps=10 * trainer.cfg.n_envs * trainer.env.horizon,
            checkpoint_every=1,
            progress=False,
            tensorboard=False,
            on_checkpoint=poison_after_first_save,
        )
    assert len(saved) == 1
    payload = load_checkpoint(tmp_path / "checkpoint.pt")
    assert payload["state"]["env_steps"] == saved[0] and payload["state"]["iteration"] == 1
    assert all(torch.isfinite(t).all() for t in payload["state"]["modules"]["disc"].values())


def test_ppo_ratio_stays_finite_when_stored_log_probs_are_far_off(gridworld_experiment, expert_demos):
    """A saturated squashed action's log pi can be thousands of nats below the new policy's
    (HalfCheetah, GAIL from scratch); exp() of that overflowed and turned the policy into NaN."""
    from _helpers import make_trainer

    trainer = make_trainer(gridworld_experiment, expert_demos, method="gail")
    batch = trainer.collect()
    batch = dataclasses.replace(batch, logp=torch.full_like(batch.logp, -1e4))
    from mairl_core.algos.ppo import PPOContext

    trainer.learner.update_policy(PPOContext(batch, trainer.disc))
    assert all(torch.isfinite(p).all() for p in trainer.policy.parameters())


def test_gridworld_bench_reports_a_diverged_run_and_keeps_the_others(gridworld_experiment, monkeypatch):
    """A run that diverges (TrainingDiverged) is a NaN row entry named in the table; the other
    runs of the bench are still summarised."""
    from mairl_core.algos.adversarial import AdversarialTrainer, TrainingDiverged
    from mairl_core.benchmarks import gridworld as gw

    real = AdversarialTrainer._iteration

    def breaks_in_airl(self):
        if self.method == "airl" and self.iteration == 1:
            raise TrainingDiverged("training diverged in iteration 1 (test)")
        return real(self)

    monkeypatch.setattr(AdversarialTrainer, "_iteration", breaks_in_airl)
    exp = dataclasses.replace(
        gridworld_experiment,
        bench=dataclasses.replace(
            gridworld_experiment.bench, methods=["Expert", "AIRL(s)", "GAIL"], episodes=5
        ),
    )
    runs = [gw.run_one(exp, m, seed=0, env_steps=1280) for m in exp.bench.methods]
    assert "diverged" in runs[1] and "diverged" not in runs[2]
    rows = {r["label"]: r for r in gw.summarise(exp, runs)}
    assert rows["AIRL(s)"]["diverged_seeds"] == [0] and np.isnan(rows["AIRL(s)"]["return_mean"])
    assert rows["GAIL"]["diverged_seeds"] == [] and np.isfinite(rows["GAIL"]["return_mean"])
    assert "diverged: seeds [0]" in gw.format_table(list(rows.values()))
