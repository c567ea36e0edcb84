"""The one MLP builder every network uses, and the one optimiser every learner steps with."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


def mlp(
    in_dim: int,
    hidden: Sequence[int],
    out_dim: int,
    activation: type[nn.Module] = nn.ReLU,
    out_gain: float | None = None,
) -> nn.Sequential:
    """ReLU MLP ``in -> hidden... -> out`` (the paper's nets are two layers of 32)."""
    layers: list[nn.Module] = []
    last = in_dim
    for width in hidden:
        layers += [nn.Linear(last, width), activation()]
        last = width
    final = nn.Linear(last, out_dim)
    if out_gain is not None:
        nn.init.orthogonal_(final.weight, gain=out_gain)
        nn.init.zeros_(final.bias)
    layers.append(final)
    return nn.Sequential(*layers)


def adam(params, lr: float) -> torch.optim.Adam:
    """Adam with torch's fused kernel: the same update as the default loop over tensors, in one
    call instead of a dozen small ops per tensor (an SVG update of small nets ~25 % faster on
    one CPU thread). Floating-point rounding differs from the default's, not the method."""
    return torch.optim.Adam(params, lr=lr, fused=True)


def bounded(raw, lo: float, hi: float):
    """``c + h tanh(raw / h)`` with c, h the centre and half-width of (lo, hi): any real ``raw``
    mapped smoothly into (lo, hi), with slope 1 at the centre (so an optimiser's step on
    ``raw`` is a step of the same size on the value, as without a bound, until near one)."""
    c, h = 0.5 * (lo + hi), 0.5 * (hi - lo)
    return c + h * torch.tanh(raw / h)


def unbounded(value, lo: float, hi: float):
    """The ``raw`` with ``bounded(raw, lo, hi) == value``; ``value`` must lie strictly inside."""
    value = torch.as_tensor(value, dtype=torch.get_default_dtype())
    if not bool(((value > lo) & (value < hi)).all()):
        raise ValueError(
            f"a bounded log std needs a value strictly inside ({lo}, {hi}), got {value.tolist()}"
        )
    c, h = 0.5 * (lo + hi), 0.5 * (hi - lo)
    return h * torch.atanh((value - c) / h)


class BoundedLogStd(nn.Module):
    """A learned log standard deviation kept smoothly inside (lo, hi): ``forward()`` returns
    ``bounded(raw, lo, hi)`` (a tanh rescaling), the parameter is ``raw``.

    A clamp does the same job with zero gradient outside its bounds: one optimiser step past a
    bound and the value never comes back. That froze the noise of every continuous policy at
    its maximum (configs started it on the bound), and the dynamics model's std likewise. Here
    the gradient only fades near a bound, and the value can always move back."""

    def __init__(self, size: int, init, lo: float, hi: float):
        super().__init__()
        if not lo < hi:
            raise ValueError(f"log std bounds need lo < hi, got ({lo}, {hi})")
        self.lo, self.hi = float(lo), float(hi)
        self.raw = nn.Parameter(
            unbounded(
                torch.as_tensor(init, dtype=torch.get_default_dtype()).expand(size).clone(), self.lo, self.hi
            )
        )

    def forward(self):
        return bounded(self.raw, self.lo, self.hi)

    def set_(self, value) -> None:
        """Set the log std itself (it must lie strictly inside the bounds)."""
        with torch.no_grad():
            self.raw.copy_(unbounded(value, self.lo, self.hi).expand_as(self.raw))

    def upgrade(self, state_dict: dict, key: str) -> None:
        """Checkpoints written before the smooth bound held the clamped log std itself under
        ``key``: turn it into ``key + '.raw'`` (values on or past a bound are moved just inside
        it, where the clamp kept them)."""
        if key in state_dict and key + ".raw" not in state_dict:
            old = state_dict.pop(key)
            edge = 1e-3 * (self.hi - self.lo)
            state_dict[key + ".raw"] = unbounded(
                old.clamp(self.lo + edge, self.hi - edge), self.lo, self.hi
            ).to(old.dtype)
