"""The learned log stds of the policy and of the dynamics model stay smoothly inside their
bounds: an optimiser can move them both ways from their initial value, however often a step
pushed them towards a bound. (They were clamped; one step past the bound and the gradient
was zero for good, which froze every continuous policy's noise at its maximum.)"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from mairl_core.models.dynamics import make_dynamics
from mairl_core.models.nets import BoundedLogStd
from mairl_core.models.policy import GaussianPolicy

#: a policy checkpoint from before the fix (its std clamped at the top bound)
CLAMPED_STD_CHECKPOINT = Path(__file__).resolve().parent / "data" / "reach_mairl_clamped_std.pt"


def _fit(params, loss_fn, steps=200, lr=0.05):
    opt = torch.optim.Adam(params, lr=lr)
    for _ in range(steps):
        loss = loss_fn()
        opt.zero_grad()
        loss.backward()
        opt.step()


@pytest.mark.parametrize("state_std", [False, True])
def test_policy_log_std_moves_both_ways_from_a_start_near_its_bound(state_std):
    torch.manual_seed(0)
    # the UR5 and MuJoCo configs' setting: start just under the maximum
    pol = GaussianPolicy(
        3,
        2,
        hidden=(16,),
        log_std_init=-0.1,
        log_std_min=-5.0,
        log_std_max=0.0,
        action_scale=1.0,
        state_std=state_std,
    )
    obs = torch.randn(256, 3)
    start = pol(obs)[1].detach().mean().item()
    assert start == pytest.approx(-0.1, abs=1e-3)
    # the entropy term alone pushes the std up, against the bound ...
    _fit(pol.parameters(), lambda: -pol.entropy(obs).mean(), steps=100, lr=0.01)
    up = pol(obs)[1].detach()
    assert up.min() > start and up.max() <= 0.0
    # ... and data with a narrow spread then pulls it down below where it started
    act = 0.05 * torch.randn(256, 2)
    _fit(pol.parameters(), lambda: -pol.log_prob(obs, act).mean())
    assert pol(obs)[1].detach().max() < start - 1.0


def test_dynamics_log_std_moves_both_ways():
    torch.manual_seed(0)
    model = make_dynamics("mlp", 2, 1, d_model=8, embed_hidden=8)
    s, a = torch.randn(256, 2), torch.randn(256, 1)
    for noise, check in ((5.0, lambda v: v.min() > 1.0), (0.01, lambda v: v.max() < -2.0)):
        nxt = s + noise * torch.randn(256, 2)
        _fit(model.parameters(), lambda nxt=nxt: model.nll(s, a, nxt), steps=300, lr=0.05)
        assert check(model.log_std().detach()), model.log_std()
        lo, hi = model.LOG_STD_RANGE
        assert lo < model.log_std().min() and model.log_std().max() < hi


def test_initial_log_std_must_lie_strictly_inside_its_bounds():
    with pytest.raises(ValueError, match="strictly inside"):
        GaussianPolicy(3, 2, log_std_init=0.0, log_std_max=0.0)
    with pytest.raises(ValueError, match="lo < hi"):
        BoundedLogStd(2, 0.0, 1.0, 1.0)


def test_policy_takes_observation_batches_of_any_rank():
    """GAN-GCL's trajectory discriminator evaluates (episodes, steps, obs) batches."""
    torch.manual_seed(0)
    for state_std in (False, True):
        pol = GaussianPolicy(4, 3, hidden=(8,), action_scale=3.0, binary=1, state_std=state_std)
        obs = torch.randn(5, 100, 4)
        mean, log_std = pol(obs)
        assert mean.shape == log_std.shape == (5, 100, 2)
        act, logp = pol.rsample(obs)
        assert act.shape == (5, 100, 3) and logp.shape == (5, 100)
        torch.testing.assert_close(pol.log_prob(obs, act), logp, rtol=1e-4, atol=1e-4)
        assert pol.entropy(obs).shape == (5, 100) and pol.act(obs).shape == (5, 100, 3)
        flat = pol.log_prob(obs.reshape(500, 4), act.reshape(500, 3)).reshape(5, 100)
        torch.testing.assert_close(flat, logp, rtol=1e-4, atol=1e-4)


def test_checkpoints_of_the_clamped_log_std_still_load():
    """A state dict written before the smooth bound holds the log std itself under 'log_std'
    (one run's value sat past the bound, where the clamp kept it): it loads as that value, and
    the dynamics model's likewise."""
    pol = GaussianPolicy(3, 2, hidden=(8,), log_std_init=-0.5, log_std_min=-5.0, log_std_max=0.0)
    old = {k: v for k, v in pol.state_dict().items() if k != "log_std.raw"}
    old["log_std"] = torch.tensor([-1.0, 0.0018])
    fresh = GaussianPolicy(3, 2, hidden=(8,), log_std_init=-0.5, log_std_min=-5.0, log_std_max=0.0)
    fresh.load_state_dict(old)
    torch.testing.assert_close(fresh.log_std(), torch.tensor([-1.0, -0.005]), atol=1e-4, rtol=0)

    model = make_dynamics("gru", 2, 1, d_model=8, embed_hidden=8)
    old = {k: v for k, v in model.state_dict().items() if k != "log_std.raw"}
    old["log_std"] = torch.tensor([-3.0, 0.5])
    model.load_state_dict(old)
    torch.testing.assert_close(model.log_std(), torch.tensor([-3.0, 0.5]), atol=1e-5, rtol=0)


def test_the_committed_checkpoint_of_the_clamped_std_still_deploys():
    """data/reach_mairl_clamped_std.pt (bench/checkpoints/reach_mairl.pt until 2026-12-07, from
    Table III with the BC term) was written with log_std_init = log_std_max = 0 (no longer a
    valid config) and its std clamped at the top: it loads, with that std."""
    from mairl_core.training import load_policy

    path = CLAMPED_STD_CHECKPOINT
    policy, meta = load_policy(path)
    assert meta["config"]["log_std_init"] == meta["config"]["log_std_max"] == 0.0
    log_std = policy.policy.log_std().detach()
    assert (log_std[:3] - 0.0).abs().max() < 0.01 and (log_std[3:] < -1.0).all()


def test_checkpoints_naming_deleted_options_load_unless_the_policy_needed_one(tmp_path):
    """Options measured not to help were deleted (training.REMOVED_OPTIONS). A checkpoint whose
    config still names them, off, loads; one whose policy was trained with the bounded mean
    (the one deleted option that changed the policy itself) is refused in one line."""
    from mairl_core.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
    from mairl_core.training import REMOVED_OPTIONS, load_policy

    src = CLAMPED_STD_CHECKPOINT
    payload = load_checkpoint(src)
    meta = payload["meta"]
    meta["config"].update(REMOVED_OPTIONS)
    save_checkpoint(tmp_path / "old.pt", payload["state"], **meta)
    policy, _ = load_policy(tmp_path / "old.pt")
    obs = torch.zeros(1, meta["obs_dim"])
    reference, _ = load_policy(src)
    assert torch.equal(policy.act(obs, deterministic=True), reference.act(obs, deterministic=True))
    meta["config"]["bound_policy_mean"] = True
    save_checkpoint(tmp_path / "bounded.pt", payload["state"], **meta)
    with pytest.raises(CheckpointError, match="bound_policy_mean") as err:
        load_policy(tmp_path / "bounded.pt")
    assert "\n" not in str(err.value)
