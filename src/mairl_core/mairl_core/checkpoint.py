"""Safe checkpoints: weights-only save and load, atomic writes.

A checkpoint is a dict of tensors, numbers, strings and nested dicts/lists
(the trainer's ``state_dict`` plus metadata). It is written to a temporary
file and renamed, so an interrupted save never destroys the previous one, and
read with ``torch.load(weights_only=True)``, so a pickle carrying code is
refused rather than run.
"""

from __future__ import annotations

import os
import pickle
import tempfile
from pathlib import Path
from typing import Any

import torch

FORMAT_VERSION = 1


class CheckpointError(RuntimeError):
    """A checkpoint is missing, truncated, unsafe or of the wrong kind."""


def save_checkpoint(path: str | os.PathLike, state: dict[str, Any], **meta: Any) -> Path:
    """Write ``state`` (+ ``meta``) atomically to ``path``; returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {"format": FORMAT_VERSION, "meta": meta, "state": state}
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            torch.save(payload, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def load_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """Read a checkpoint written by ``save_checkpoint``; returns {'format', 'meta', 'state'}."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        if "weights only" in str(exc).lower():
            raise CheckpointError(
                f"refused to load {path}: it is not a weights-only checkpoint (it may contain code); "
                f"detail: {str(exc).splitlines()[0]}") from None
        raise CheckpointError(f"cannot read checkpoint {path} (truncated or not a checkpoint): "
                              f"{str(exc).splitlines()[0]}") from None
    except (RuntimeError, EOFError, OSError, ValueError) as exc:
        raise CheckpointError(f"cannot read checkpoint {path} (truncated or not a checkpoint): {exc}") from None
    if not isinstance(payload, dict) or "state" not in payload or payload.get("format") != FORMAT_VERSION:
        raise CheckpointError(f"{path} is not a mairl checkpoint (format {FORMAT_VERSION})")
    return payload
