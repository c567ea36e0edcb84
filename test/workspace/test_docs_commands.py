"""Every command the documentation shows is one the code accepts as written: each `mairl ...`
line (fenced blocks, and inline commands with an --out, in README.md, docs/,
launch/README.md and bench/RESULTS.md) parses with the `mairl` command's own parser, each
`mairl-ros-up ...` line resolves to its nodes (`--print`), and each `ros2 launch ur5_bringup ...` line is a
combination the launch files' node list accepts. Running them is what the benches, the demo
and the node tests do; this catches a doc that drifted from the options."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DOCS = [
    REPO / "README.md",
    REPO / "launch" / "README.md",
    REPO / "bench" / "RESULTS.md",
    *sorted((REPO / "docs").glob("*.md")),
]


def _commands() -> list[tuple[str, str]]:
    """(where, command) for every documented command line, continuations joined."""
    found = []
    for doc in DOCS:
        text = doc.read_text()
        fenced = re.findall(r"```(?:bash|sh)\n(.*?)```", text, re.S)  # shell blocks, not diagrams
        for block in fenced:
            for line in block.replace("\\\n", " ").splitlines():
                found.append((doc.name, line.strip()))
        # inline code names commands in passing (`mairl eval`); a whole one to copy (the
        # benchmark commands of RESULTS.md) says where it writes
        prose = re.sub(r"```.*?```", "", text, flags=re.S)
        found += [(doc.name, c.strip()) for c in re.findall(r"`([^`\n]+)`", prose) if "--out" in c]
    out = []
    for where, cmd in found:
        cmd = re.sub(r"^\.venv/bin/", "", cmd)
        if re.match(r"^(mairl|mairl-ros-up|ros2 launch ur5_bringup) ", cmd):
            out.append((where, cmd))
    return out


COMMANDS = _commands()


def _argv(cmd: str) -> list[str]:
    return shlex.split(cmd, comments=True)


def test_the_docs_show_commands_of_each_kind():
    kinds = {cmd.split()[0] if not cmd.startswith("ros2") else "ros2" for _, cmd in COMMANDS}
    assert kinds == {"mairl", "mairl-ros-up", "ros2"} and len(COMMANDS) > 30


@pytest.mark.parametrize("where, cmd", [c for c in COMMANDS if c[1].startswith("mairl ")])
def test_documented_mairl_commands_parse(where, cmd):
    from mairl_core.cli import build_parser

    argv = _argv(cmd)[1:]
    if not argv or "-h" in argv or "--help" in argv:
        return
    try:
        args, rest = build_parser().parse_known_args(argv)
    except SystemExit as exc:
        pytest.fail(f"{where}: `{cmd}` is refused by the parser (exit {exc.code})")
    if rest and getattr(args, "bench", None) not in ("latency", "soak"):
        pytest.fail(f"{where}: `{cmd}`: unknown arguments {rest}")


@pytest.mark.parametrize("where, cmd", [c for c in COMMANDS if c[1].startswith("mairl-ros-up ")])
def test_documented_mairl_ros_up_commands_resolve(where, cmd):
    argv = _argv(cmd)[1:]
    res = subprocess.run(
        [sys.executable, "-m", "ur5_bringup.up", *argv, "--print"], capture_output=True, text=True, cwd=REPO
    )
    assert res.returncode == 0, f"{where}: `{cmd}`: {res.stderr.strip()}"


@pytest.mark.parametrize("where, cmd", [c for c in COMMANDS if c[1].startswith("ros2 launch ur5_bringup ")])
def test_documented_launch_commands_are_valid_combinations(where, cmd):
    from ur5_bringup.stack import CHOICES, stack

    argv = _argv(cmd)
    job = argv[3].removesuffix(".launch.py")
    args = dict(a.split(":=", 1) for a in argv[4:] if ":=" in a)
    for name, value in args.items():
        if name in CHOICES:
            assert value in CHOICES[name], f"{where}: `{cmd}`: {name}:={value} is not a declared choice"
    try:
        stack(job, **args)
    except ValueError as exc:
        pytest.fail(f"{where}: `{cmd}`: {exc}")
