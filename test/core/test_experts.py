"""Table II's experts and demos: a SAC expert exported without pickles, demos that replay."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("stable_baselines3")

from mairl_core.cli import main  # noqa: E402
from mairl_core.experts import ExpertError, load_demos, load_expert, make_env, sample_demos, train_expert  # noqa: E402


@pytest.fixture(scope="module")
def expert_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("expert")
    rec = train_expert(
        "HalfCheetah-v5",
        out,
        steps=600,
        seed=0,
        eval_every=300,
        eval_episodes=1,
        progress=False,
        learning_starts=500,  # 100 SAC updates, 2 held-out episodes: these tests read files
        test_episodes=2,
    )
    assert rec["steps"] == 600 and rec["eval_seed"] == 100_000 and len(rec["curve"]) == 2
    return out


def test_expert_is_saved_as_safetensors_and_json_and_loads(expert_dir):
    assert sorted(p.name for p in expert_dir.iterdir()) == ["actor.safetensors", "expert.json"]
    actor, meta = load_expert(expert_dir, "HalfCheetah-v5")
    assert meta["obs_dim"] == 17 and meta["act_dim"] == 6 and meta["hidden"] == [256, 256]
    a = actor.act(np.random.default_rng(0).normal(size=17) * 10)
    assert a.shape == (6,) and np.all(np.abs(a) <= 1.0)
    with pytest.raises(ExpertError, match="not Ant-v5"):
        load_expert(expert_dir, "Ant-v5")


def test_demos_record_the_expert_and_replay(expert_dir, tmp_path):
    path = tmp_path / "d.npz"
    res = sample_demos(expert_dir, "HalfCheetah-v5", n=2, seed=5, out=path, progress=False)
    demos = load_demos(path, "HalfCheetah-v5")
    assert len(demos.act) == 2 and demos.seed == 5 and res["steps"] == 2000
    assert demos.obs[0].shape == (1001, 17) and demos.act[0].shape == (1000, 6)
    t = demos.transitions(1)
    np.testing.assert_array_equal(t["obs"][1:], t["next_obs"][:-1])
    # the recorded actions replayed from the recorded seed give the recorded states and return
    env = make_env("HalfCheetah-v5")
    obs, _ = env.reset(seed=6)
    np.testing.assert_allclose(obs, demos.obs[1][0], atol=1e-6)
    total = 0.0
    for a in demos.act[1]:
        obs, r, *_ = env.step(a)
        total += r
    np.testing.assert_allclose(obs, demos.obs[1][-1], rtol=1e-4, atol=1e-4)
    assert total == pytest.approx(demos.returns[1], rel=1e-4, abs=1e-3)


def test_bad_expert_and_demo_files_are_clear_errors(tmp_path, expert_dir, capsys):
    with pytest.raises(ExpertError, match="not an expert directory"):
        load_expert(tmp_path / "nothing")
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(ExpertError, match="bad.npz: cannot read demos"):
        load_demos(bad)
    np.savez(tmp_path / "other.npz", x=np.zeros(3))
    with pytest.raises(ExpertError, match="not a demo file"):
        load_demos(tmp_path / "other.npz")
    # a pickled object array is refused, not unpickled
    np.savez(
        tmp_path / "pickle.npz",
        obs=np.array([object()], dtype=object),
        act=np.zeros(1),
        rewards=np.zeros(1),
        episode_lengths=np.ones(1),
        returns=np.zeros(1),
        env_id=np.array("HalfCheetah-v5"),
    )
    with pytest.raises(ExpertError, match="cannot read demos"):
        load_demos(tmp_path / "pickle.npz")
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "expert.json").write_text(json.dumps({"obs_dim": 3}))
    (tmp_path / "broken" / "actor.safetensors").write_bytes(b"junk")
    with pytest.raises(ExpertError, match="cannot load the expert"):
        load_expert(tmp_path / "broken")
    assert (
        main(
            [
                "expert",
                "demos",
                "--env",
                "Ant-v5",
                "--expert",
                str(expert_dir),
                "--n",
                "1",
                "--out",
                str(tmp_path / "x.npz"),
                "--no-progress",
            ]
        )
        == 2
    )
    assert "not Ant-v5" in capsys.readouterr().err


@pytest.mark.parametrize("env_id,obs_dim,act_dim", [("HalfCheetah-v5", 17, 6), ("Ant-v5", 27, 8)])
def test_committed_demos_match_their_expert(env_id, obs_dim, act_dim):
    """bench/demos/ENV.npz (Table II's data) loads, is what its expert does from the recorded
    seed, and records the command that made it."""
    from pathlib import Path

    repo = Path(__file__).resolve().parents[2]
    demos = load_demos(repo / "bench" / "demos" / f"{env_id}.npz", env_id)
    actor, meta = load_expert(repo / "bench" / "experts" / env_id, env_id)
    assert len(demos.act) == 50 and demos.obs[0].shape[1] == obs_dim and meta["act_dim"] == act_dim
    assert "mairl expert demos" in demos.command and demos.seed == 0
    env = make_env(env_id)
    obs, _ = env.reset(seed=demos.seed)
    np.testing.assert_allclose(obs, demos.obs[0][0], atol=1e-6)  # the recorded start
    # The expert's own action on every recorded observation of the first episode. Checked one
    # step at a time, not by replaying the episode: HalfCheetah is chaotic, and the last bits
    # of MuJoCo's arithmetic differ between CPUs (seen here: a closed-loop replay on another
    # CPU drifted by 4e-5 after 5 steps and by whole units after 40).
    for o, a in zip(demos.obs[0][:-1], demos.act[0]):
        np.testing.assert_allclose(actor.act(o), a, atol=1e-5)
    # ... and every 7th transition is this env's dynamics: the recorded action from the
    # recorded state (qpos without the position entries the observation leaves out: x for
    # HalfCheetah, x and y for Ant; qvel) gives the recorded next observation
    sim = env.unwrapped
    skip = sim.model.nq + sim.model.nv - obs_dim
    nq = sim.model.nq - skip
    for t in range(0, len(demos.act[0]), 7):
        o = demos.obs[0][t]
        sim.set_state(np.concatenate([np.zeros(skip), o[:nq]]), o[nq:])
        nxt, *_ = env.step(demos.act[0][t])
        np.testing.assert_allclose(nxt, demos.obs[0][t + 1], atol=1e-4)


def test_an_interrupted_expert_run_resumes_where_it_stopped(tmp_path, capsys):
    out = tmp_path / "ant"
    kw = dict(seed=3, eval_every=200, eval_episodes=1, progress=False, learning_starts=350, test_episodes=2)
    part = train_expert("Ant-v5", out, steps=600, stop_after=200, **kw)
    assert part["eval_seed"] == -1 and [p[0] for p in part["curve"]] == [200]
    assert sorted(p.name for p in (out / "training_state").iterdir()) == ["replay.npz", "sac.pt"]
    with np.load(out / "training_state" / "replay.npz") as z:  # the first 200 transitions
        assert z["observations"].shape == (200, 1, 27) and int(z["num_timesteps"]) == 200
    # a fresh start would overwrite the saved state: refused
    with pytest.raises(ExpertError, match="pass --resume"):
        train_expert("Ant-v5", out, steps=600, **kw)
    with pytest.raises(ExpertError, match="not Ant-v5 seed 4"):
        train_expert("Ant-v5", out, steps=600, resume=True, **{**kw, "seed": 4})
    # the CLI runs the second piece; the curve continues at 400 (not again at 200)
    assert (
        main(
            [
                "expert",
                "train",
                "--env",
                "Ant-v5",
                "--steps",
                "600",
                "--seed",
                "3",
                "--eval-every",
                "200",
                "--stop-after",
                "400",
                "--resume",
                "--out",
                str(out),
                "--no-progress",
            ]
        )
        == 0
    )
    assert "continue with the same command and --resume" in capsys.readouterr().out
    meta = json.loads((out / "expert.json").read_text())
    assert [p[0] for p in meta["curve"]] == [200, 400] and meta["curve"][0] == part["curve"][0]
    with np.load(out / "training_state" / "replay.npz") as z:
        assert z["observations"].shape[0] == 400  # the restored 200 + 200 new transitions
    rec = train_expert("Ant-v5", out, steps=600, resume=True, **kw)
    assert [p[0] for p in rec["curve"]] == [200, 400, 600] and rec["eval_seed"] == 100_000
    assert rec["wall_s"] >= meta["wall_s"]
    assert not (out / "training_state").exists()  # a finished run keeps only the expert
    with pytest.raises(ExpertError, match="nothing to resume"):
        train_expert("Ant-v5", out, steps=800, resume=True, **kw)
    with pytest.raises(ValueError, match="multiple of eval_every"):
        train_expert("Ant-v5", tmp_path / "x", steps=600, stop_after=300, **kw)
