"""The one results writer: ``results.json`` in the schema of docs/results.md."""

from __future__ import annotations

import json
import os
import platform
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any


def git_commit() -> str:
    """The source tree's commit, or 'unknown'; '-dirty' when the code or configs that
    produce results (src/, config/) differ from it (edits to docs or results do not count)."""
    here = Path(__file__).resolve().parent
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5, check=True
        ).stdout.strip()
        top = subprocess.run(
            ["git", "rev-parse", "--show-toplevel"],
            cwd=here,
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no", "--", "src", "config"],
            cwd=top,
            capture_output=True,
            text=True,
            timeout=5,
        ).stdout.strip()
        return sha + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def machine() -> str:
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:
        cores = os.cpu_count() or 1
    return f"{cores} cores, CPU ({platform.machine()}, {platform.system()})"


def write_results(
    out_dir: str | os.PathLike,
    benchmark: str,
    rows: list[dict[str, Any]],
    *,
    quick: bool,
    wall_s: float,
    command: str | None = None,
    commit_at_start: str | None = None,
    **extra: Any,
) -> Path:
    """Write ``out_dir/results.json`` atomically; returns its path.

    ``commit_at_start``: the ``git_commit()`` taken when the run started (the code it ran);
    if the tree changed while it ran, the commit at the end is recorded beside it.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    doc = {
        "benchmark": benchmark,
        "quick": quick,
        "command": command or " ".join(["mairl", *map(shlex.quote, sys.argv[1:])]),
        "git_commit": commit_at_start or git_commit(),
        "machine": machine(),
        "wall_s": round(wall_s, 2),
        "rows": rows,
        **extra,
    }
    if commit_at_start is not None and (now := git_commit()) != commit_at_start:
        doc["git_commit_at_end"] = now
    path = out / "results.json"
    tmp = out / ".results.json.tmp"
    tmp.write_text(json.dumps(doc, indent=2) + "\n")
    os.replace(tmp, path)
    return path
