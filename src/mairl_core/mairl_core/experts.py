"""Experts and demonstrations for the continuous-control benchmark (Table II: HalfCheetah, Ant).

``train_expert``: SAC (stable-baselines3) on the environment's true reward. The trained
actor is exported as a plain deterministic network, ``ExpertActor`` (its weights in
safetensors, its shape and the run's record in JSON), so loading an expert never
unpickles anything. ``sample_demos``: episodes of that actor, stored as one compressed
``.npz`` (no pickled objects) with the seed and command that made them.

The envs are gymnasium's v5 MuJoCo tasks. Ant is used without the contact forces in its
observation (``include_cfrc_ext_in_observation=False``: 27 entries, as Ant-v4's default),
so the same demos serve the v4 envs the ``imitation`` peer runs on.
"""

from __future__ import annotations

import json
import shlex
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

#: env id -> the gymnasium keyword arguments every part of the benchmark uses
ENVS: dict[str, dict[str, Any]] = {
    "HalfCheetah-v5": {},
    "Ant-v5": {"include_cfrc_ext_in_observation": False},
}
ACTOR_FILE, META_FILE = "actor.safetensors", "expert.json"
#: where the committed demos are (bench/demos of this checkout): ENV.npz
DEMO_DIR = Path(__file__).resolve().parents[3] / "bench" / "demos"


class ExpertError(ValueError):
    """An expert directory or a demo file is missing, corrupt or for another env."""


def make_env(env_id: str, **kwargs):
    import gymnasium as gym

    try:  # the benchmark's envs with their settings; any other gymnasium id as it comes
        return gym.make(env_id, **ENVS.get(env_id, {}), **kwargs)
    except TypeError as exc:  # a keyword argument this env does not take
        raise ValueError(f"gymnasium env {env_id!r} does not take {sorted(kwargs)}: {exc}") from None
    except Exception as exc:  # noqa: BLE001 - gymnasium raises several kinds for a bad id
        raise ValueError(f"cannot make gymnasium env {env_id!r}: {exc}") from None


class ExpertActor(nn.Module):
    """SAC's actor at its mean: obs -> ReLU MLP -> mu -> tanh, rescaled to the action box."""

    def __init__(self, obs_dim: int, act_dim: int, hidden: list[int], low, high):
        super().__init__()
        layers: list[nn.Module] = []
        d = obs_dim
        for h in hidden:
            layers += [nn.Linear(d, h), nn.ReLU()]
            d = h
        self.latent = nn.Sequential(*layers)
        self.mu = nn.Linear(d, act_dim)
        self.register_buffer("low", torch.as_tensor(low, dtype=torch.float32))
        self.register_buffer("high", torch.as_tensor(high, dtype=torch.float32))

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        u = torch.tanh(self.mu(self.latent(obs)))
        return self.low + 0.5 * (u + 1.0) * (self.high - self.low)

    @torch.no_grad()
    def act(self, obs: np.ndarray) -> np.ndarray:
        return self(torch.as_tensor(obs, dtype=torch.float32)[None])[0].numpy()


def _export_actor(model, env) -> ExpertActor:
    """Copy SB3 SAC's actor (latent_pi + mu) into an ExpertActor."""
    sb_actor = model.policy.actor
    linears = [m for m in sb_actor.latent_pi if isinstance(m, nn.Linear)]
    actor = ExpertActor(
        env.observation_space.shape[0],
        env.action_space.shape[0],
        [m.out_features for m in linears],
        env.action_space.low,
        env.action_space.high,
    )
    ours = [m for m in actor.latent if isinstance(m, nn.Linear)] + [actor.mu]
    for dst, src in zip(ours, linears + [sb_actor.mu]):
        dst.load_state_dict(src.state_dict())
    return actor


def evaluate_actor(actor: ExpertActor, env_id: str, episodes: int, seed: int) -> list[float]:
    """Undiscounted true returns of ``episodes`` episodes (reset seeds seed, seed+1, ...)."""
    env = make_env(env_id)
    returns = []
    for i in range(episodes):
        obs, _ = env.reset(seed=seed + i)
        done, total = False, 0.0
        while not done:
            obs, r, term, trunc, _ = env.step(actor.act(obs))
            total += float(r)
            done = term or trunc
        returns.append(total)
    env.close()
    return returns


@dataclass
class ExpertRecord:
    env_id: str
    obs_dim: int
    act_dim: int
    hidden: list[int]
    low: list[float]
    high: list[float]
    steps: int
    seed: int
    eval_return_mean: float
    eval_return_std: float
    eval_episodes: int
    eval_seed: int
    """Reset seed of the first held-out test episode; -1 while training (the return is then
    the best training-seed evaluation so far)."""
    curve: list[list[float]]
    """[env steps, mean eval return] during training."""
    wall_s: float
    command: str


def save_expert(out: Path, actor: ExpertActor, record: ExpertRecord) -> None:
    from safetensors.torch import save_file

    out.mkdir(parents=True, exist_ok=True)
    tmp = out / (ACTOR_FILE + ".tmp")
    save_file({k: v.contiguous() for k, v in actor.state_dict().items()}, str(tmp))
    tmp.replace(out / ACTOR_FILE)
    (out / META_FILE).write_text(json.dumps(record.__dict__, indent=1) + "\n")


def load_expert(path: str | Path, env_id: str | None = None) -> tuple[ExpertActor, dict]:
    """The actor and record in the directory ``path``; ExpertError says what is wrong."""
    from safetensors.torch import load_file

    d = Path(path)
    if not (d / META_FILE).is_file() or not (d / ACTOR_FILE).is_file():
        raise ExpertError(
            f"{d}: not an expert directory (needs {META_FILE} and {ACTOR_FILE}; "
            f"make one with `mairl expert train --env ENV --out {d}`)"
        )
    try:
        meta = json.loads((d / META_FILE).read_text())
        actor = ExpertActor(meta["obs_dim"], meta["act_dim"], meta["hidden"], meta["low"], meta["high"])
        actor.load_state_dict(load_file(str(d / ACTOR_FILE)))
    except (json.JSONDecodeError, KeyError, TypeError, RuntimeError, OSError) as exc:
        raise ExpertError(f"{d}: cannot load the expert ({type(exc).__name__}: {exc})") from None
    if env_id is not None and meta["env_id"] != env_id:
        raise ExpertError(f"{d}: an expert for {meta['env_id']}, not {env_id}")
    return actor.eval(), meta


# ----- SAC training state, so that a long expert run can be stopped and resumed -----
STATE_DIR = "training_state"
_BUFFER_FIELDS = ("observations", "next_observations", "actions", "rewards", "dones", "timeouts")


def save_sac_state(model, path: Path, env_id: str, seed: int) -> None:
    """SAC's networks, optimisers, entropy coefficient and replay buffer, without pickles:
    tensors for ``torch.load(weights_only=True)`` and a plain ``.npz``. Both files carry the
    step count, so a pair written by different evaluations is detected on loading."""
    path.mkdir(parents=True, exist_ok=True)
    rb = model.replay_buffer
    n = rb.buffer_size if rb.full else rb.pos
    with open(path / "replay.npz.tmp", "wb") as f:
        np.savez(
            f,
            **{k: getattr(rb, k)[:n] for k in _BUFFER_FIELDS},
            pos=np.array(rb.pos),
            full=np.array(rb.full),
            num_timesteps=np.array(model.num_timesteps),
        )
    torch.save(
        {
            "policy": model.policy.state_dict(),
            "actor_opt": model.actor.optimizer.state_dict(),
            "critic_opt": model.critic.optimizer.state_dict(),
            "ent_opt": model.ent_coef_optimizer.state_dict(),
            "log_ent_coef": model.log_ent_coef.detach().clone(),
            "num_timesteps": model.num_timesteps,
            "n_updates": model._n_updates,
            "env_id": env_id,
            "seed": seed,
        },
        path / "sac.pt.tmp",
    )
    (path / "replay.npz.tmp").replace(path / "replay.npz")
    (path / "sac.pt.tmp").replace(path / "sac.pt")


def load_sac_state(model, path: Path, env_id: str, seed: int) -> None:
    try:
        state = torch.load(path / "sac.pt", weights_only=True)
        with np.load(path / "replay.npz", allow_pickle=False) as z:
            buf = {k: z[k] for k in (*_BUFFER_FIELDS, "pos", "full", "num_timesteps")}
    except (OSError, ValueError, RuntimeError, KeyError, EOFError) as exc:
        raise ExpertError(
            f"{path}: cannot load the SAC training state ({type(exc).__name__}: {exc})"
        ) from None
    if (state.get("env_id"), state.get("seed")) != (env_id, seed):
        raise ExpertError(
            f"{path}: the state of a {state.get('env_id')} run with seed "
            f"{state.get('seed')}, not {env_id} seed {seed}"
        )
    if int(buf["num_timesteps"]) != state["num_timesteps"]:
        raise ExpertError(
            f"{path}: replay buffer ({int(buf['num_timesteps'])} steps) and networks "
            f"({state['num_timesteps']} steps) are from different saves"
        )
    model.policy.load_state_dict(state["policy"])
    model.actor.optimizer.load_state_dict(state["actor_opt"])
    model.critic.optimizer.load_state_dict(state["critic_opt"])
    model.ent_coef_optimizer.load_state_dict(state["ent_opt"])
    with torch.no_grad():
        model.log_ent_coef.copy_(state["log_ent_coef"])
    rb = model.replay_buffer
    for k in _BUFFER_FIELDS:
        getattr(rb, k)[: len(buf[k])] = buf[k]
    rb.pos, rb.full = int(buf["pos"]), bool(buf["full"])
    model.num_timesteps, model._n_updates = state["num_timesteps"], state["n_updates"]


def train_expert(
    env_id: str,
    out: str | Path,
    steps: int,
    seed: int = 0,
    eval_every: int = 25_000,
    eval_episodes: int = 5,
    progress: bool = True,
    learning_starts: int = 10_000,
    resume: bool = False,
    stop_after: int | None = None,
    test_episodes: int = 10,
) -> dict:
    """SAC with stable-baselines3's defaults (256x256 networks, lr 3e-4, batch 256) for
    ``steps`` env steps. Every ``eval_every`` steps the deterministic actor is evaluated on
    ``eval_episodes`` training-seed episodes; the actor with the best such evaluation is
    kept (the rule; held-out seeds 100000+ give the reported return).

    After every evaluation the whole SAC state (networks, optimisers, replay buffer) is also
    saved to ``out/training_state``; ``resume`` continues an interrupted run from there
    (the env's episode restarts and the random streams are fresh, so a resumed run is not
    bit-identical to an uninterrupted one). ``stop_after`` ends the run at that step count
    as if interrupted, keeping the state (splits a long run into pieces). A finished run
    deletes the state and holds the held-out evaluation (``test_episodes`` episodes)."""
    from stable_baselines3 import SAC
    from stable_baselines3.common.callbacks import BaseCallback
    from tqdm import tqdm

    out = Path(out)
    state_dir = out / STATE_DIR
    if eval_every <= 0 or steps <= 0:
        raise ValueError("steps and eval_every must be > 0")
    if stop_after is not None and (stop_after % eval_every or not 0 < stop_after < steps):
        raise ValueError(
            f"stop_after ({stop_after}) must be a multiple of eval_every "
            f"({eval_every}) below steps ({steps}): the state is saved at evaluations"
        )
    if not resume and state_dir.exists():
        raise ExpertError(
            f"{out} holds an interrupted run's SAC state ({state_dir}): pass "
            f"--resume to continue it, or delete that directory to start over"
        )
    if resume and not (state_dir / "sac.pt").is_file():
        raise ExpertError(f"{out}: nothing to resume ({state_dir / 'sac.pt'} does not exist)")
    t0 = time.perf_counter()
    env = make_env(env_id)
    model = SAC(
        "MlpPolicy", env, seed=seed, device="cpu", verbose=0, learning_starts=min(learning_starts, steps // 2)
    )
    curve: list[list[float]] = []
    best: dict[str, Any] = {"ret": -np.inf, "state": None}
    if resume:
        load_sac_state(model, state_dir, env_id, seed)
        actor, meta = load_expert(out, env_id)
        curve = [list(p) for p in meta["curve"]]
        best.update(
            ret=meta["eval_return_mean"],
            steps=meta["steps"],
            state={k: v.clone() for k, v in actor.state_dict().items()},
        )
        t0 -= meta["wall_s"]  # wall_s counts every piece of the run
        if model.num_timesteps >= steps:
            raise ExpertError(
                f"{out}: the saved run is at {model.num_timesteps} steps; --steps {steps} asks for no more"
            )
    done_before = model.num_timesteps
    bar = tqdm(
        total=steps,
        initial=done_before,
        desc=f"SAC {env_id}",
        unit="step",
        disable=not progress,
        mininterval=5.0,
    )

    def evaluate(n_steps: int) -> None:
        actor = _export_actor(model, env)
        ret = float(np.mean(evaluate_actor(actor, env_id, eval_episodes, seed=1000 * (seed + 1))))
        curve.append([n_steps, ret])
        if ret > best["ret"]:
            best.update(ret=ret, steps=n_steps, state={k: v.clone() for k, v in actor.state_dict().items()})
        # saved after every evaluation: an interrupted run keeps its best actor and its whole
        # curve so far (the record is marked partial: eval_seed -1)
        actor.load_state_dict(best["state"])
        save_expert(out, actor, record(actor, [best["ret"]], -1, best["steps"]))
        save_sac_state(model, state_dir, env_id, seed)
        bar.set_postfix_str(f"eval return {ret:.0f} (best {best['ret']:.0f})")

    class Progress(BaseCallback):
        def _on_step(self) -> bool:
            bar.update(1)
            return stop_after is None or self.num_timesteps <= stop_after

        def _on_rollout_end(self) -> None:
            # after the step's transition is in the replay buffer, so the saved state holds it
            # (SAC collects one step per rollout here: train_freq 1)
            if self.num_timesteps % eval_every == 0:
                evaluate(self.num_timesteps)

    def record(actor: ExpertActor, test: list[float], test_seed: int, done_steps: int) -> ExpertRecord:
        return ExpertRecord(
            env_id,
            env.observation_space.shape[0],
            env.action_space.shape[0],
            [m.out_features for m in actor.latent if isinstance(m, nn.Linear)],
            env.action_space.low.tolist(),
            env.action_space.high.tolist(),
            done_steps,
            seed,
            float(np.mean(test)),
            float(np.std(test)),
            len(test),
            test_seed,
            curve,
            time.perf_counter() - t0,
            shlex.join(["mairl", *sys.argv[1:]]),
        )

    model.learn(total_timesteps=steps - done_before, callback=Progress(), reset_num_timesteps=not resume)
    if stop_after is not None:
        bar.close()
        env.close()
        actor, meta = load_expert(out, env_id)
        return meta
    if not curve or curve[-1][0] != steps:
        evaluate(steps)
    bar.close()
    actor = _export_actor(model, env)
    actor.load_state_dict(best["state"])
    test = evaluate_actor(actor, env_id, test_episodes, seed=100_000)
    rec = record(actor, test, 100_000, steps)
    save_expert(out, actor, rec)
    shutil.rmtree(state_dir, ignore_errors=True)
    env.close()
    return rec.__dict__


# ----- demonstrations -----
DEMO_KEYS = ("obs", "act", "rewards", "episode_lengths", "returns")


def sample_demos(
    expert_dir: str | Path, env_id: str, n: int, seed: int, out: str | Path, progress: bool = True
) -> dict:
    """``n`` episodes of the expert (reset seeds seed, seed+1, ...) into the ``.npz`` ``out``:
    obs (sum(T_i + 1), d) with each episode's final observation, act (sum T_i, k), rewards,
    episode_lengths, returns, and env_id / seed / command as strings."""
    from tqdm import tqdm

    actor, meta = load_expert(expert_dir, env_id)
    env = make_env(env_id)
    obs_all, act_all, rew_all, lengths, returns = [], [], [], [], []
    for i in tqdm(range(n), desc=f"{env_id} demos", disable=not progress):
        obs, _ = env.reset(seed=seed + i)
        o, a, r = [obs], [], []
        done = False
        while not done:
            act = actor.act(obs)
            obs, rew, term, trunc, _ = env.step(act)
            o.append(obs), a.append(act), r.append(rew)
            done = term or trunc
        obs_all.append(np.array(o, np.float32)), act_all.append(np.array(a, np.float32))
        rew_all.append(np.array(r, np.float32))
        lengths.append(len(a)), returns.append(float(np.sum(r)))
    env.close()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp.npz")
    np.savez_compressed(
        tmp,
        obs=np.concatenate(obs_all),
        act=np.concatenate(act_all),
        rewards=np.concatenate(rew_all),
        episode_lengths=np.array(lengths),
        returns=np.array(returns),
        env_id=np.array(env_id),
        seed=np.array(seed),
        command=np.array(shlex.join(["mairl", *sys.argv[1:]])),
        expert_steps=np.array(meta["steps"]),
    )
    tmp.replace(out)
    return {
        "episodes": n,
        "return_mean": float(np.mean(returns)),
        "return_std": float(np.std(returns)),
        "steps": int(np.sum(lengths)),
        "path": str(out),
    }


@dataclass
class Demos:
    """Expert episodes: per-episode obs (T_i + 1, d) (or, from a user's file, obs (T_i, d) and
    next_obs (T_i, d)), act (T_i, k), and their true returns (None: not given)."""

    env_id: str | None
    obs: list[np.ndarray]
    act: list[np.ndarray]
    returns: np.ndarray | None
    seed: int
    command: str
    next_obs: list[np.ndarray] | None = None

    def transitions(self, n: int | None = None, episodes: list[int] | None = None) -> dict[str, np.ndarray]:
        """obs, act, next_obs of the first ``n`` episodes (or of the listed ``episodes``)."""
        eps = episodes if episodes is not None else range(len(self.act) if n is None else n)
        if self.next_obs is not None:
            o = np.concatenate([self.obs[i] for i in eps])
            nx = np.concatenate([self.next_obs[i] for i in eps])
        else:
            o = np.concatenate([self.obs[i][:-1] for i in eps])
            nx = np.concatenate([self.obs[i][1:] for i in eps])
        a = np.concatenate([self.act[i] for i in eps])
        return {"obs": o, "act": a, "next_obs": nx}


def _user_demos(path: Path, data: dict[str, np.ndarray], env_id: str | None) -> Demos:
    """A user's demos file as Demos. It holds numeric arrays ``obs``, ``acts`` (or ``act``) and
    ``next_obs``, shaped (episodes, steps, dim), or flat (transitions, dim) with an integer
    array ``episode_lengths``; optionally ``returns`` (one true return per episode: the expert
    return the tables normalise by) and ``env_id`` (checked against the env asked for)."""
    act = data["acts"] if "acts" in data else data.get("act")
    if act is None or "obs" not in data:
        raise ExpertError(
            f"{path}: a demos file needs arrays obs, acts and next_obs (found {', '.join(sorted(data))})"
        )
    obs, nxt = data["obs"], data["next_obs"]
    for name, x in (("obs", obs), ("acts", act), ("next_obs", nxt)):
        if x.dtype.kind not in "fiu":
            raise ExpertError(f"{path}: {name} is not numeric ({x.dtype})")
    if obs.ndim == 3:
        if not (act.ndim == nxt.ndim == 3 and obs.shape == nxt.shape and act.shape[:2] == obs.shape[:2]):
            raise ExpertError(
                f"{path}: obs {obs.shape}, acts {act.shape} and next_obs {nxt.shape} "
                f"must be (episodes, steps, dim) with the same episodes and steps"
            )
        lengths = np.full(obs.shape[0], obs.shape[1])
        obs, act, nxt = (x.reshape(-1, x.shape[-1]) for x in (obs, act, nxt))
    elif obs.ndim == 2:
        if "episode_lengths" not in data:
            raise ExpertError(f"{path}: flat (transitions, dim) arrays need episode_lengths")
        lengths = data["episode_lengths"]
        if lengths.ndim != 1 or lengths.dtype.kind not in "iu" or (lengths < 1).any():
            raise ExpertError(f"{path}: episode_lengths must be positive integers")
        if not (
            len(obs) == len(act) == len(nxt) == lengths.sum()
            and act.ndim == nxt.ndim == 2
            and nxt.shape[1] == obs.shape[1]
        ):
            raise ExpertError(
                f"{path}: obs {obs.shape}, acts {act.shape}, next_obs {nxt.shape} "
                f"do not match episode_lengths (sum {int(lengths.sum())})"
            )
    else:
        raise ExpertError(
            f"{path}: obs must be (episodes, steps, dim) or (transitions, dim), got shape {obs.shape}"
        )
    if not all(np.isfinite(x).all() for x in (obs, act, nxt)):
        raise ExpertError(f"{path}: NaN or inf in the demos")
    returns = data.get("returns")
    if returns is not None and (returns.shape != (len(lengths),) or not np.isfinite(returns).all()):
        raise ExpertError(
            f"{path}: returns must be one finite number per episode "
            f"({len(lengths)}), got shape {returns.shape}"
        )
    found = str(data["env_id"]) if "env_id" in data else None
    if env_id is not None and found is not None and found != env_id:
        raise ExpertError(f"{path}: demos of {found}, not {env_id}")
    ends = np.cumsum(lengths)[:-1]
    f32 = [x.astype(np.float32) for x in (obs, act, nxt)]
    return Demos(
        found or env_id,
        np.split(f32[0], ends),
        np.split(f32[1], ends),
        None if returns is None else returns.astype(np.float64),
        -1,
        "",
        next_obs=np.split(f32[2], ends),
    )


def load_demos(path: str | Path, env_id: str | None = None) -> Demos:
    """Read a ``sample_demos`` file or a user's demos file (``_user_demos``; no pickles);
    ExpertError names the file and the fault."""
    path = Path(path)
    if not path.is_file():
        raise ExpertError(f"{path}: no such demo file (make one with `mairl expert demos`)")
    try:
        with np.load(path, allow_pickle=False) as z:
            data = {k: z[k] for k in z.files}
    except Exception as exc:  # noqa: BLE001 - zipfile/numpy raise many kinds for corrupt files
        raise ExpertError(f"{path}: cannot read demos ({type(exc).__name__}: {exc})") from None
    if "next_obs" in data:  # a user's file
        return _user_demos(path, data, env_id)
    missing = [k for k in DEMO_KEYS + ("env_id",) if k not in data]
    if missing:
        raise ExpertError(
            f"{path}: not a demo file (missing {', '.join(missing)}; or, as a "
            f"user's file: obs, acts, next_obs; README, 'Your own demos')"
        )
    found = str(data["env_id"])
    if env_id is not None and found != env_id:
        raise ExpertError(f"{path}: demos of {found}, not {env_id}")
    lengths = data["episode_lengths"].astype(int)
    if (
        len(data["act"]) != lengths.sum()
        or len(data["obs"]) != lengths.sum() + len(lengths)
        or len(data["returns"]) != len(lengths)
    ):
        raise ExpertError(f"{path}: array lengths do not match the episode lengths")
    if not (np.isfinite(data["obs"]).all() and np.isfinite(data["act"]).all()):
        raise ExpertError(f"{path}: NaN or inf in the demos")
    obs_ends = np.cumsum(lengths + 1)[:-1]
    act_ends = np.cumsum(lengths)[:-1]
    return Demos(
        found,
        np.split(data["obs"], obs_ends),
        np.split(data["act"], act_ends),
        data["returns"],
        int(data.get("seed", -1)),
        str(data.get("command", "")),
    )
