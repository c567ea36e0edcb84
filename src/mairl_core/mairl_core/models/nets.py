"""The one MLP builder every network uses."""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn


def mlp(in_dim: int, hidden: Sequence[int], out_dim: int, activation: type[nn.Module] = nn.ReLU,
        out_gain: float | None = None) -> nn.Sequential:
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
