"""Safe checkpoints: weights-only save and load, atomic writes.

A checkpoint is a dict of tensors, numbers, strings and nested dicts/lists
(the trainer's ``state_dict`` plus metadata). It is written to a temporary
file and renamed, so an interrupted save never destroys the previous one, and
read with ``torch.load(weights_only=True)``, so a pickle carrying code is
refused rather than run. A file that does not load is reported in one line:
empty, corrupt or truncated, or refused (naming what its pickle imports).

torch is imported inside the functions: the ROS nodes catch ``CheckpointError``
without paying for torch in processes that never load one.
"""

from __future__ import annotations

import io
import os
import pickletools
import re
import tempfile
import warnings
import zipfile
from pathlib import Path
from typing import Any

FORMAT_VERSION = 1


class CheckpointError(RuntimeError):
    """A checkpoint is missing, truncated, unsafe or of the wrong kind."""


def save_checkpoint(path: str | os.PathLike, state: dict[str, Any], **meta: Any) -> Path:
    """Write ``state`` (+ ``meta``) atomically to ``path``; returns the path."""
    import torch

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
    import torch

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    size = path.stat().st_size
    if size == 0:
        raise CheckpointError(f"cannot read checkpoint {path}: the file is empty")
    try:
        with warnings.catch_warnings():
            # e.g. "Detected pickle protocol 4": a file that loads is checked below by what it
            # holds, one that does not is reported in one line; a warning adds only noise
            warnings.simplefilter("ignore")
            payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # noqa: BLE001 - a bad file raises any of a dozen kinds; all mean the same
        imports = _unsafe_imports(path)
        if imports:
            more = f" and {len(imports) - 3} more" if len(imports) > 3 else ""
            raise CheckpointError(
                f"refused to load {path}: it is not a weights-only checkpoint; its pickle imports "
                f"{', '.join(imports[:3])}{more}, which could run code when unpickled"
            ) from None
        raise CheckpointError(
            f"cannot read checkpoint {path} ({size} bytes): the file is corrupt "
            f"or truncated (not a checkpoint written by mairl)"
        ) from None
    if not isinstance(payload, dict) or "state" not in payload or payload.get("format") != FORMAT_VERSION:
        raise CheckpointError(f"{path} is not a mairl checkpoint (format {FORMAT_VERSION})")
    return payload


_DOTTED_NAME = re.compile(r"[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)+")


def _unsafe_imports(path: Path, limit: int = 64 << 20) -> list[str]:
    """What the pickle(s) in a file that torch refused import (module.name), apart from what
    ``torch.save`` itself writes (torch.*, collections.OrderedDict); [] when the file holds no
    complete pickle (random bytes, a truncated file). Read with ``pickletools``, which parses
    the opcodes and never calls anything."""
    try:
        if zipfile.is_zipfile(path):  # torch.save's format: the object tree is */data.pkl
            with zipfile.ZipFile(path) as zf:
                name = next((n for n in zf.namelist() if n.endswith("data.pkl")), None)
                data = zf.read(name)[:limit] if name else b""
        else:
            with open(path, "rb") as fh:
                data = fh.read(limit)
    except (OSError, zipfile.BadZipFile, RuntimeError, ValueError):  # a damaged archive
        return []
    found: list[str] = []
    pos = 0
    while pos < len(data):  # torch's legacy format is several pickles in a row
        stream, names, strings = io.BytesIO(data[pos:]), [], []
        try:
            for op, arg, _ in pickletools.genops(stream):
                if isinstance(arg, str):
                    strings.append(arg)
                if op.name in ("GLOBAL", "INST"):
                    names.append(arg.replace(" ", "."))
                elif op.name == "STACK_GLOBAL" and len(strings) >= 2:
                    names.append(f"{strings[-2]}.{strings[-1]}")
        except Exception:  # noqa: BLE001 - not a pickle (any more): keep only complete ones
            break
        found += names  # this pickle parsed up to its STOP
        pos += stream.tell()
    return [
        n
        for n in dict.fromkeys(found)
        if _DOTTED_NAME.fullmatch(n) and not n.startswith("torch.") and n != "collections.OrderedDict"
    ]
