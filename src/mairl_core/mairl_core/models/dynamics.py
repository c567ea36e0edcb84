"""Forward dynamics models s' = F(s, a) behind one interface (§IV-A).

Three feature extractors share one output head:

- ``AttentionDynamics`` (eq. 12-14): queries from a state embedding, keys and
  values from *separate* action embeddings, multi-head scaled dot-product
  attention, then a decoder.
- ``GRUDynamics``: the recurrent baseline of the paper's comparison.
- ``MLPDynamics``: the feed-forward baseline.

Tokens. The reference code embeds the whole action as one key/value token, so
the softmax over one token is identically 1: the query and key weights never
receive gradient and "attention" is an action MLP. Here the action is split
into one token per action dimension (its value plus a learned embedding of
its index) and a learned "null" token is added. So a query attends over
``act_dim + 1 >= 2`` tokens: the state decides which action channels matter
for the next state (e.g. which joints move the fingertip from this pose) and
the null token lets it ignore the action where the state alone decides s'.
The GRU reads the same token sequence, starting from the state embedding, so
the two differ only in how they mix the tokens.

Heads. ``gaussian``: s' = s + mu, with a learned per-dimension log-std (smoothly bounded);
eq. 15's log-likelihood is the Gaussian NLL. ``categorical``: for one-hot
states (GridWorld), logits over next states; the likelihood is the softmax
cross-entropy and ``predict`` returns the probability vector.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from .nets import BoundedLogStd, mlp

Head = Literal["gaussian", "categorical"]


class DynamicsModel(nn.Module):
    """Base: subclasses implement ``features(s, a) -> (B, d_model)``."""

    LOG_STD_RANGE = (-7.0, 2.0)
    """The Gaussian head's learned log std lies smoothly inside this range (BoundedLogStd)."""

    def __init__(
        self,
        obs_dim: int,
        act_dim: int,
        head: Head = "gaussian",
        d_model: int = 64,
        embed_hidden: int = 32,
        gated_decoder: bool = False,
    ):
        super().__init__()
        if head not in ("gaussian", "categorical"):
            raise ValueError(f"unknown dynamics head '{head}'")
        self.obs_dim, self.act_dim, self.head = obs_dim, act_dim, head
        self.d_model = d_model
        # Dec[.] (eq. 14): two layers of embed_hidden on [features, state embedding]
        # gated_decoder adds features * state embedding to Dec's input: a multiplicative
        # state-action path. Without it, the attention output is a state-weighted *convex*
        # mix of state-independent action values, and an arm's state-dependent Jacobian
        # (d tip / d q changes sign across poses) is nearly out of reach: on UR5 reach the
        # plain attention model's d s'/d a was orthogonal to the true one (cosine 0.0 vs 0.6
        # for the MLP).
        self.gated_decoder = gated_decoder
        self.decoder = mlp((3 if gated_decoder else 2) * d_model, (embed_hidden, embed_hidden), obs_dim)
        self.state_embed = mlp(obs_dim, (embed_hidden,), d_model)
        if head == "gaussian":
            self.log_std = BoundedLogStd(obs_dim, 0.0, *self.LOG_STD_RANGE)
        # s' = s + delta_scale * out: the decoder works in units of a typical one-step change
        self.register_buffer("delta_scale", torch.ones(obs_dim))

    @torch.no_grad()
    def set_delta_scale(self, scale: torch.Tensor) -> None:
        """Express the predicted change s' - s in units of ``scale`` (per dimension), and start
        the Gaussian head's std there. One control step moves a robot's state by a small
        fraction of its range; an unscaled decoder starts with errors many times the change
        itself, and Adam needs thousands of steps to shrink a log-std by a few nats."""
        if self.head != "gaussian":
            raise ValueError("delta scaling is for the gaussian head")
        self.delta_scale.copy_(scale)
        lo, hi = self.LOG_STD_RANGE
        edge = 1e-3 * (hi - lo)
        self.log_std.set_(scale.log().clamp(lo + edge, hi - edge))

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        if self.head == "gaussian":  # checkpoints of the clamped log std
            self.log_std.upgrade(state_dict, prefix + "log_std")
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def features(self, obs: torch.Tensor, act: torch.Tensor, s_emb: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, obs: torch.Tensor, act: torch.Tensor) -> torch.Tensor:
        """Raw output: the mean of s' (gaussian) or logits over next states (categorical)."""
        s_emb = self.state_embed(obs)
        feat = self.features(obs, act, s_emb)
        parts = [feat, s_emb, feat * s_emb] if self.gated_decoder else [feat, s_emb]
        out = self.decoder(torch.cat(parts, -1))
        return obs + self.delta_scale * out if self.head == "gaussian" else out

    def predict(self, obs: torch.Tensor, act: torch.Tensor) -> torch.Tensor:
        """Differentiable next-state estimate: the mean, or the next-state probabilities."""
        out = self(obs, act)
        return out if self.head == "gaussian" else F.softmax(out, -1)

    def nll(self, obs: torch.Tensor, act: torch.Tensor, next_obs: torch.Tensor) -> torch.Tensor:
        """-log F(s'|s,a), averaged over the batch (eq. 15, to be minimised)."""
        out = self(obs, act)
        if self.head == "categorical":
            return F.cross_entropy(out, next_obs.argmax(-1))
        return self.gaussian_nll(out, next_obs)

    def gaussian_nll(self, mean: torch.Tensor, next_obs: torch.Tensor) -> torch.Tensor:
        """-log N(next_obs; mean, sigma^2) with the head's learned sigma, batch-averaged."""
        log_std = self.log_std()
        z = (next_obs - mean) / log_std.exp()
        return (0.5 * z.pow(2) + log_std + 0.5 * math.log(2 * math.pi)).sum(-1).mean()

    def mse(self, obs: torch.Tensor, act: torch.Tensor, next_obs: torch.Tensor) -> torch.Tensor:
        return (self.predict(obs, act) - next_obs).pow(2).sum(-1).mean()


class _ActionTokens(nn.Module):
    """One token per action dimension (value + learned index embedding) and a null token."""

    def __init__(self, act_dim: int, d_model: int):
        super().__init__()
        self.index = nn.Parameter(torch.randn(act_dim, d_model) / math.sqrt(d_model))
        self.value_proj = nn.Linear(1, d_model)
        self.null = nn.Parameter(torch.randn(1, d_model) / math.sqrt(d_model))

    def forward(self, act: torch.Tensor) -> torch.Tensor:
        tok = self.value_proj(act.unsqueeze(-1)) + self.index  # (B, A, d)
        null = self.null.expand(act.shape[0], 1, -1)
        return torch.cat([null, tok], 1)  # (B, A + 1, d)


class AttentionDynamics(DynamicsModel):
    """Self-attention dynamics model, eq. 12-14.

    Q(s) is the state embedding; K(a) and V(a) are two independent two-layer
    embeddings of the action tokens (eq. 12's note: no shared parameters);
    ``nn.MultiheadAttention`` applies W_i^Q, W_i^K, W_i^V per head and W^O (eq. 13).

    ``blocks`` > 0 stacks that many such attention steps as Transformer-decoder blocks (each
    with its own K(a), V(a) and heads; the query is the state embedding, then the previous
    block's output; residual + LayerNorm around the attention and around a feed-forward
    layer of 2 x d_model). The single attention of eq. 13 is a softmax-weighted sum of
    state-independent action values; stacking lets later queries depend on what the first
    attention read. Measured on held-out trajectories (bench/RESULTS.md): with 2 blocks the
    10-step error is below the GRU's and the MLP's on HalfCheetah (with 2.6 x the GRU's
    parameters; a GRU of that size is better still), but not on Ant or UR5 reach.
    """

    def __init__(
        self,
        obs_dim: int,
        act_dim: int,
        head: Head = "gaussian",
        d_model: int = 64,
        n_heads: int = 4,
        embed_hidden: int = 32,
        gated_decoder: bool = False,
        blocks: int = 0,
    ):
        super().__init__(obs_dim, act_dim, head, d_model, embed_hidden, gated_decoder)
        if blocks < 0:
            raise ValueError(f"attention blocks must be >= 0, got {blocks}")
        self.tokens = _ActionTokens(act_dim, d_model)
        self.key_embed = mlp(d_model, (embed_hidden,), d_model)
        self.value_embed = mlp(d_model, (embed_hidden,), d_model)
        self.attn = nn.MultiheadAttention(d_model, n_heads, batch_first=True)
        self.blocks = blocks
        if blocks:  # blocks 2, 3, ...: their own K(a), V(a), heads; every block: norms, feed-forward
            more = range(blocks - 1)
            self.more_key_embed = nn.ModuleList(mlp(d_model, (embed_hidden,), d_model) for _ in more)
            self.more_value_embed = nn.ModuleList(mlp(d_model, (embed_hidden,), d_model) for _ in more)
            self.more_attn = nn.ModuleList(
                nn.MultiheadAttention(d_model, n_heads, batch_first=True) for _ in more
            )
            self.ffn = nn.ModuleList(mlp(d_model, (2 * d_model,), d_model) for _ in range(blocks))
            self.norm_attn = nn.ModuleList(nn.LayerNorm(d_model) for _ in range(blocks))
            self.norm_ffn = nn.ModuleList(nn.LayerNorm(d_model) for _ in range(blocks))
        self.last_attention: torch.Tensor | None = None

    def features(self, obs, act, s_emb):
        tok = self.tokens(act)
        q = s_emb.unsqueeze(1)  # one query per sample: the state
        out, w = self.attn(
            q, self.key_embed(tok), self.value_embed(tok), need_weights=True, average_attn_weights=False
        )
        self.last_attention = w  # (B, heads, 1, A + 1) of the first attention, for inspection and tests
        if not self.blocks:
            return out.squeeze(1)
        for i in range(self.blocks):
            if i:
                out, _ = self.more_attn[i - 1](
                    q, self.more_key_embed[i - 1](tok), self.more_value_embed[i - 1](tok), need_weights=False
                )
            q = self.norm_attn[i](q + out)
            q = self.norm_ffn[i](q + self.ffn[i](q))
        return q.squeeze(1)


class GRUDynamics(DynamicsModel):
    """GRU over the action tokens, initial hidden state = the state embedding."""

    def __init__(
        self,
        obs_dim: int,
        act_dim: int,
        head: Head = "gaussian",
        d_model: int = 64,
        embed_hidden: int = 32,
        gated_decoder: bool = False,
        **_: object,
    ):
        super().__init__(obs_dim, act_dim, head, d_model, embed_hidden, gated_decoder)
        self.tokens = _ActionTokens(act_dim, d_model)
        self.gru = nn.GRU(d_model, d_model, batch_first=True)

    def features(self, obs, act, s_emb):
        _, h = self.gru(self.tokens(act), s_emb.unsqueeze(0).contiguous())
        return h.squeeze(0)


class MLPDynamics(DynamicsModel):
    """Feed-forward baseline on [s, a]."""

    def __init__(
        self,
        obs_dim: int,
        act_dim: int,
        head: Head = "gaussian",
        d_model: int = 64,
        embed_hidden: int = 32,
        gated_decoder: bool = False,
        **_: object,
    ):
        super().__init__(obs_dim, act_dim, head, d_model, embed_hidden, gated_decoder)
        self.body = mlp(obs_dim + act_dim, (d_model,), d_model)

    def features(self, obs, act, s_emb):
        return torch.relu(self.body(torch.cat([obs, act], -1)))


MODEL_KINDS = ("attention", "gru", "mlp")


def make_dynamics(
    kind: str,
    obs_dim: int,
    act_dim: int,
    *,
    head: Head = "gaussian",
    d_model: int = 64,
    n_heads: int = 4,
    embed_hidden: int = 32,
    gated_decoder: bool = False,
    attention_blocks: int = 0,
) -> DynamicsModel:
    """'attention', 'gru' or 'mlp' (``attention_blocks``: AttentionDynamics' ``blocks``)."""
    classes = dict(zip(MODEL_KINDS, (AttentionDynamics, GRUDynamics, MLPDynamics)))
    if kind not in classes:
        raise ValueError(f"unknown dynamics model '{kind}' ({', '.join(classes)})")
    extra = {"blocks": attention_blocks} if kind == "attention" else {}
    return classes[kind](
        obs_dim,
        act_dim,
        head=head,
        d_model=d_model,
        n_heads=n_heads,
        embed_hidden=embed_hidden,
        gated_decoder=gated_decoder,
        **extra,
    )


def width_for_params(kind: str, obs_dim: int, act_dim: int, params: int, n_heads: int = 4) -> int:
    """The width (``d_model`` = ``embed_hidden``, a multiple of ``n_heads``) at which a
    ``kind`` model has the parameter count nearest ``params``: models of different kinds
    compared at equal size."""
    if params < 1:
        raise ValueError(f"params must be >= 1, got {params}")

    def count(d: int) -> int:
        m = make_dynamics(kind, obs_dim, act_dim, d_model=d, n_heads=n_heads, embed_hidden=d)
        return sum(p.numel() for p in m.parameters())

    lo, hi = 1, 1  # in units of n_heads; the count grows with the width
    while count(hi * n_heads) < params and hi < 4096:
        lo, hi = hi, hi * 2
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if count(mid * n_heads) < params else (lo, mid)
    return n_heads * min((lo, hi), key=lambda k: abs(count(k * n_heads) - params))
