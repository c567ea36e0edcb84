"""One run of the `imitation` library's GAIL or AIRL on our demos: the peer rows of Table II.

Runs inside the peer venv that `mairl bench mujoco --peer imitation` builds
(bench/peer/requirements.txt: imitation 1.0.1 pins gymnasium 0.29 and SB3 2.2, which
do not install beside ours). It imports nothing of mairl, reads the demo file with NumPy
only (no pickles), and writes one JSON record in the shape of `mairl bench mujoco`'s
runs: the learning curve (deterministic policy, curve-seed episodes after every
training round), the last policy and the selected one (best curve point, ties to the
later) on the held-out test seeds.

The envs are gymnasium 0.29's v4 tasks (it has no v5); their observations and
actions match the v5 demos' entries (HalfCheetah 17/6, Ant 27/8 without contact forces).
Settings are imitation's documented example ones (PPO generator on 8 envs,
RunningNorm reward nets), not tuned here.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

#: demos' env -> (v4 env, its keyword arguments, extra ones for training). Ant trains without
#: early termination on falling, as mairl's trainers do (envs/locomotion.py; repeated here, as
#: this script imports nothing of mairl), so every generator episode is 1000 steps: imitation's
#: adversarial trainers refuse variable-length generator episodes, and a fixed horizon keeps
#: termination from leaking the reward. Evaluation uses the standard tasks.
V4 = {"HalfCheetah-v5": ("HalfCheetah-v4", {}, {}),
      "Ant-v5": ("Ant-v4", {"use_contact_forces": False}, {"terminate_when_unhealthy": False})}


def load_trajectories(path: str, n: int):
    from imitation.data.types import TrajectoryWithRew

    with np.load(path, allow_pickle=False) as z:
        obs, act, rew, lengths = z["obs"], z["act"], z["rewards"], z["episode_lengths"].astype(int)
        returns = z["returns"]
    trajs, o0, a0 = [], 0, 0
    for length in lengths[:n]:
        trajs.append(TrajectoryWithRew(obs=obs[o0:o0 + length + 1], acts=act[a0:a0 + length],
                                       infos=None, terminal=True, rews=rew[a0:a0 + length]))
        o0, a0 = o0 + length + 1, a0 + length
    return trajs, float(np.mean(returns[:n]))


def evaluate(policy, env_id: str, kwargs: dict, episodes: int, seed: int) -> list[float]:
    import gymnasium as gym

    env = gym.make(env_id, **kwargs)
    out = []
    for i in range(episodes):
        obs, _ = env.reset(seed=seed + i)
        total, done = 0.0, False
        while not done:
            a, _ = policy.predict(obs, deterministic=True)
            obs, r, term, trunc, _ = env.step(a)
            total, done = total + float(r), term or trunc
        out.append(total)
    env.close()
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--algo", choices=["gail", "airl"], required=True)
    p.add_argument("--env", choices=sorted(V4), required=True, help="the demos' env (v5)")
    p.add_argument("--demos", required=True, help="demo .npz of `mairl expert demos`")
    p.add_argument("--n-demos", type=int, default=50)
    p.add_argument("--env-steps", type=int, required=True)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--n-envs", type=int, default=8)
    p.add_argument("--curve-episodes", type=int, default=3)
    p.add_argument("--test-episodes", type=int, default=10)
    p.add_argument("--curve-seed", type=int, default=5_000)
    p.add_argument("--test-seed", type=int, default=100_000)
    p.add_argument("--n-steps", type=int, default=2048, help="PPO steps per env per round")
    p.add_argument("--out", required=True, help="JSON record to write")
    a = p.parse_args()

    import torch
    from imitation.algorithms.adversarial.airl import AIRL
    from imitation.algorithms.adversarial.gail import GAIL
    from imitation.data.wrappers import RolloutInfoWrapper
    from imitation.rewards.reward_nets import BasicRewardNet, BasicShapedRewardNet
    from imitation.util.networks import RunningNorm
    from imitation.util.util import make_vec_env
    from stable_baselines3 import PPO

    torch.set_num_threads(1)
    t0 = time.perf_counter()
    env_id, kwargs, train_kwargs = V4[a.env]
    trajs, expert_return = load_trajectories(a.demos, a.n_demos)
    venv = make_vec_env(env_id, rng=np.random.default_rng(a.seed), n_envs=a.n_envs,
                        env_make_kwargs={**kwargs, **train_kwargs},
                        post_wrappers=[lambda env, _: RolloutInfoWrapper(env)])
    learner = PPO(env=venv, policy="MlpPolicy", batch_size=64, ent_coef=0.0, learning_rate=4e-4,
                  gamma=0.95, n_epochs=5, n_steps=a.n_steps, seed=a.seed, device="cpu")
    if a.algo == "gail":
        net = BasicRewardNet(venv.observation_space, venv.action_space,
                             normalize_input_layer=RunningNorm)
        trainer = GAIL(demonstrations=trajs, demo_batch_size=1024, gen_replay_buffer_capacity=512,
                       n_disc_updates_per_round=8, venv=venv, gen_algo=learner, reward_net=net)
    else:
        net = BasicShapedRewardNet(venv.observation_space, venv.action_space,
                                   normalize_input_layer=RunningNorm)
        trainer = AIRL(demonstrations=trajs, demo_batch_size=2048, gen_replay_buffer_capacity=512,
                       n_disc_updates_per_round=16, venv=venv, gen_algo=learner, reward_net=net)
    per_round = a.n_steps * a.n_envs
    curve: list[dict] = []
    best: dict = {}

    def after_round(round_idx: int) -> None:
        steps = (round_idx + 1) * per_round
        ret = float(np.mean(evaluate(learner.policy, env_id, kwargs, a.curve_episodes, a.curve_seed)))
        curve.append({"env_steps": steps, "return": ret})
        if not best or ret >= best["ret"]:  # the same selection rule as ours
            best.update(ret=ret, env_steps=steps,
                        state={k: v.clone() for k, v in learner.policy.state_dict().items()})
        print(f"imitation {a.algo} seed {a.seed}: {steps} env steps, return {ret:.0f}", flush=True)

    trainer.train(total_timesteps=max(a.env_steps, per_round), callback=after_round)
    final = evaluate(learner.policy, env_id, kwargs, a.test_episodes, a.test_seed)
    selected = final
    if best:
        learner.policy.load_state_dict(best["state"])
        selected = evaluate(learner.policy, env_id, kwargs, a.test_episodes, a.test_seed)
    record = {"method": f"imitation {a.algo.upper()}", "env": a.env, "peer_env": env_id,
              "seed": a.seed, "curve": curve, "env_steps": len(curve) * per_round,
              "expert_return": expert_return, "return_mean": float(np.mean(selected)),
              "return_std": float(np.std(selected)), "final_return_mean": float(np.mean(final)),
              "selected_at_env_steps": best.get("env_steps"), "wall_s": time.perf_counter() - t0}
    with open(a.out, "w") as f:
        json.dump(record, f)
        f.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
