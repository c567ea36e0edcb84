"""Forward dynamics models (§IV-A, eq. 12-15)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from mairl_core.algos.config import AlgoConfig
from mairl_core.config import ConfigError, from_dict
from mairl_core.models.dynamics import AttentionDynamics, GRUDynamics, MLPDynamics, make_dynamics

D_MODEL, HEADS = 16, 2


def _data(obs_dim, act_dim, n, seed):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, obs_dim, generator=g), torch.randn(n, act_dim, generator=g)


@pytest.mark.parametrize("act_dim", [3, 1])
def test_attention_is_not_degenerate(act_dim):
    """Queries attend over act_dim + 1 >= 2 tokens, so the weights depend on the state and the
    query/key projections learn.

    Contrast: the reference code fed the whole action as ONE key/value token; a softmax over a
    single token is identically 1, so the attention weights were constant and W^Q, W^K got
    exactly zero gradient (see test_single_token_attention_is_degenerate)."""
    torch.manual_seed(0)
    model = AttentionDynamics(obs_dim=4, act_dim=act_dim, d_model=D_MODEL, n_heads=HEADS, embed_hidden=16)
    obs, act = _data(4, act_dim, 32, seed=1)
    nxt = obs + 0.1 * torch.randn(32, 4, generator=torch.Generator().manual_seed(2))
    loss = model.nll(obs, act, nxt)
    w = model.last_attention
    assert w is not None
    assert w.shape == (32, HEADS, 1, act_dim + 1)
    torch.testing.assert_close(w.sum(-1), torch.ones(32, HEADS, 1))
    assert (w >= 0).all()
    assert w.std(0).max() > 1e-4, "attention weights do not depend on the sample"
    assert (w - 1.0 / (act_dim + 1)).abs().max() > 1e-3, "attention is uniform"

    loss.backward()
    ipw = model.attn.in_proj_weight.grad
    assert ipw[:D_MODEL].abs().max() > 1e-7, "no gradient to W^Q"
    assert ipw[D_MODEL : 2 * D_MODEL].abs().max() > 1e-7, "no gradient to W^K"
    assert ipw[2 * D_MODEL :].abs().max() > 1e-7, "no gradient to W^V"
    for name, mod in [
        ("state_embed", model.state_embed),
        ("key_embed", model.key_embed),
        ("value_embed", model.value_embed),
        ("tokens", model.tokens),
    ]:
        for pname, p in mod.named_parameters():
            assert p.grad is not None and p.grad.abs().max() > 0, f"{name}.{pname}"


def test_single_token_attention_is_degenerate():
    """The failure mode the token design avoids, shown on nn.MultiheadAttention directly."""
    torch.manual_seed(0)
    attn = nn.MultiheadAttention(D_MODEL, HEADS, batch_first=True)
    q = torch.randn(8, 1, D_MODEL)
    kv = torch.randn(8, 1, D_MODEL)  # one token
    out, w = attn(q, kv, kv, need_weights=True, average_attn_weights=False)
    assert torch.equal(w, torch.ones_like(w))
    out.pow(2).sum().backward()
    assert torch.count_nonzero(attn.in_proj_weight.grad[: 2 * D_MODEL]) == 0
    assert attn.in_proj_weight.grad[2 * D_MODEL :].abs().max() > 0


def test_attention_weights_depend_on_state():
    """Same action, different states: the query (from the state) changes the weights."""
    torch.manual_seed(3)
    model = AttentionDynamics(obs_dim=4, act_dim=3, d_model=D_MODEL, n_heads=HEADS)
    obs, _ = _data(4, 3, 16, seed=4)
    act = torch.randn(1, 3).expand(16, 3)
    model(obs, act)
    assert model.last_attention.std(0).max() > 1e-4


def _linear_system(a_mat, n, seed):
    """s' = s + 0.1 A a with s, a ~ N(0, I)."""
    g = torch.Generator().manual_seed(seed)
    s = torch.randn(n, a_mat.shape[0], generator=g)
    a = torch.randn(n, a_mat.shape[1], generator=g)
    return s, a, s + 0.1 * a @ a_mat.T


@pytest.mark.parametrize("kind", ["attention", "gru", "mlp"])
def test_gaussian_head_fits_linear_system(kind):
    torch.manual_seed(0)
    model = make_dynamics(kind, 4, 3, head="gaussian", d_model=D_MODEL, n_heads=HEADS, embed_hidden=32)
    a_mat = torch.randn(4, 3, generator=torch.Generator().manual_seed(1))
    s, a, nxt = _linear_system(a_mat, 256, seed=2)
    s_te, a_te, nxt_te = _linear_system(a_mat, 128, seed=3)  # held out
    with torch.no_grad():
        mse0, nll0 = model.mse(s_te, a_te, nxt_te).item(), model.nll(s_te, a_te, nxt_te).item()
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(300):
        loss = model.nll(s, a, nxt)
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        mse1, nll1 = model.mse(s_te, a_te, nxt_te).item(), model.nll(s_te, a_te, nxt_te).item()
    assert mse1 < 0.1 * mse0, (mse0, mse1)
    assert nll1 < nll0 - 2.5, (nll0, nll1)  # log_std (init 0) needs many steps: ~3.7 nats here
    # the model uses the action: predicting s' = s (ignoring a) is much worse
    assert mse1 < 0.3 * (nxt_te - s_te).pow(2).sum(-1).mean().item()


@pytest.mark.parametrize("kind", ["attention", "gru", "mlp"])
def test_categorical_head(kind):
    torch.manual_seed(0)
    n_states, n_act, n = 6, 4, 10
    model = make_dynamics(kind, n_states, n_act, head="categorical", d_model=D_MODEL, n_heads=HEADS)
    g = torch.Generator().manual_seed(2)
    obs = torch.eye(n_states)[torch.randint(0, n_states, (n,), generator=g)]
    act = torch.eye(n_act)[torch.randint(0, n_act, (n,), generator=g)]
    target = torch.randint(0, n_states, (n,), generator=g)
    nxt = torch.eye(n_states)[target]
    probs = model.predict(obs, act)
    assert probs.shape == (n, n_states)
    assert (probs >= 0).all()
    torch.testing.assert_close(probs.sum(-1), torch.ones(n))
    logits = model(obs, act)
    # categorical: the raw output is logits, not s + delta
    torch.testing.assert_close(probs, torch.softmax(logits, -1))
    ce = -(torch.log_softmax(logits, -1)[torch.arange(n), target]).mean()
    torch.testing.assert_close(model.nll(obs, act, nxt), ce)
    assert not hasattr(model, "log_std")


def test_gaussian_nll_formula():
    torch.manual_seed(0)
    model = MLPDynamics(3, 2, head="gaussian", d_model=8, embed_hidden=8)
    with torch.no_grad():
        model.log_std.set_(torch.tensor([-0.5, 0.0, 0.7]))
    s, a = _data(3, 2, 20, seed=5)
    nxt = s + torch.randn(20, 3, generator=torch.Generator().manual_seed(6))
    mean = model.predict(s, a)
    # gaussian head: residual form s' = s + Dec[features, state embedding]
    emb = model.state_embed(s)
    torch.testing.assert_close(mean, s + model.decoder(torch.cat([model.features(s, a, emb), emb], -1)))
    dist = torch.distributions.Normal(mean, model.log_std().exp())
    torch.testing.assert_close(model.nll(s, a, nxt), -dist.log_prob(nxt).sum(-1).mean())
    torch.testing.assert_close(model.mse(s, a, nxt), (mean - nxt).pow(2).sum(-1).mean())


def test_make_dynamics_kinds_and_rejections():
    assert type(make_dynamics("attention", 3, 2, d_model=8, n_heads=2)) is AttentionDynamics
    assert type(make_dynamics("gru", 3, 2, d_model=8)) is GRUDynamics
    assert type(make_dynamics("mlp", 3, 2, d_model=8)) is MLPDynamics
    for bad in ("transformer", "Attention", "lstm", ""):
        with pytest.raises(ValueError, match="unknown dynamics model"):
            make_dynamics(bad, 3, 2)
    with pytest.raises(ValueError, match="unknown dynamics head"):
        make_dynamics("mlp", 3, 2, head="poisson")


def test_d_model_must_divide_by_heads():
    with pytest.raises(ValueError, match="divisible"):
        AlgoConfig(d_model=10, n_heads=4)
    with pytest.raises(ConfigError, match="divisible"):
        from_dict(AlgoConfig, {"d_model": 30, "n_heads": 4})
    AlgoConfig(d_model=12, n_heads=4)  # fine


@pytest.mark.parametrize("kind", ["attention", "mlp"])
def test_gated_decoder_learns_state_dependent_action_effect(kind):
    """s' = s + 0.1 * s_0 * (A a): the action's effect flips sign with the state, as an arm's
    Jacobian does. With ``gated_decoder`` the model's d s'/d a must point the right way."""
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(1)
    a_mat = torch.randn(4, 3, generator=g)

    def system(n):
        s, a = torch.randn(n, 4, generator=g), torch.randn(n, 3, generator=g)
        return s, a, s + 0.1 * s[:, :1] * (a @ a_mat.T)

    model = make_dynamics(
        kind, 4, 3, head="gaussian", d_model=D_MODEL, n_heads=HEADS, embed_hidden=32, gated_decoder=True
    )
    model.set_delta_scale(torch.full((4,), 0.1))
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(600):
        s, a, nxt = system(256)
        loss = model.nll(s, a, nxt)
        opt.zero_grad()
        loss.backward()
        opt.step()
    s, _, _ = system(200)
    s = s[s[:, 0].abs() > 0.5]  # where the effect is not ~0
    a = torch.zeros(len(s), 3, requires_grad=True)
    w = torch.randn(4, generator=g)
    grad = torch.autograd.grad((model.predict(s, a) @ w).sum(), a)[0]
    true = 0.1 * s[:, :1] * (w @ a_mat)
    cos = torch.nn.functional.cosine_similarity(grad, true, dim=-1)
    assert cos.median() > 0.8, cos.median()


def test_delta_scale_sets_units_and_std():
    model = make_dynamics("mlp", 3, 2, head="gaussian", d_model=8, embed_hidden=8)
    s, a = torch.randn(5, 3), torch.randn(5, 2)
    raw = model(s, a) - s
    scale = torch.tensor([0.5, 2.0, 1e-3])
    model.set_delta_scale(scale)
    torch.testing.assert_close(model(s, a) - s, raw * scale, rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(model.log_std().detach(), scale.log(), rtol=1e-5, atol=1e-5)
    cat = make_dynamics("mlp", 3, 2, head="categorical", d_model=8, embed_hidden=8)
    with pytest.raises(ValueError, match="gaussian"):
        cat.set_delta_scale(scale)


def test_attention_blocks_stack_and_all_learn():
    """``blocks`` > 0: Transformer-decoder blocks after the first attention; every block's
    attention, feed-forward and norms get gradient; blocks = 0 keeps eq. 13's model and its
    parameter names (checkpoints of it still load); negative counts are refused."""
    obs, act = _data(5, 3, 32, seed=1)
    plain = make_dynamics("attention", 5, 3, d_model=D_MODEL, n_heads=HEADS)
    assert not any(k.startswith(("more_", "ffn", "norm_")) for k in plain.state_dict())
    stacked = make_dynamics("attention", 5, 3, d_model=D_MODEL, n_heads=HEADS, attention_blocks=2)
    assert {"more_attn.0.in_proj_weight", "ffn.1.0.weight", "norm_ffn.1.weight"} <= set(stacked.state_dict())
    nxt = stacked.predict(obs, act)
    assert nxt.shape == obs.shape and torch.isfinite(nxt).all()
    stacked.nll(obs, act, obs + 0.1).backward()
    for name, p in stacked.named_parameters():
        assert p.grad is not None and p.grad.abs().max() > 0, name
    assert stacked.last_attention.shape == (32, HEADS, 1, 4)
    with pytest.raises(ValueError, match="blocks"):
        make_dynamics("attention", 5, 3, d_model=D_MODEL, n_heads=HEADS, attention_blocks=-1)
