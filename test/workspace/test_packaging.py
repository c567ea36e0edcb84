"""The three ament_python packages are well-formed and never pull torch through pip."""

from __future__ import annotations

import ast
import configparser
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("mairl_core", "mairl_ros", "ur5_bringup")


def _requirement_name(req: str) -> str:
    return re.split(r"[\s<>=!~;\[]", req.strip(), maxsplit=1)[0].lower()


def _setup_keyword(pkg: str, keyword: str):
    """Literal value of a keyword argument of the setup() call in src/<pkg>/setup.py."""
    tree = ast.parse((REPO_ROOT / "src" / pkg / "setup.py").read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "setup":
            for kw in node.keywords:
                if kw.arg == keyword:
                    return ast.literal_eval(kw.value)
            return None
    raise AssertionError(f"src/{pkg}/setup.py calls no setup()")


@pytest.mark.parametrize("pkg", PACKAGES)
def test_package_xml_is_format_3_and_named_after_its_dir(pkg):
    root = ET.parse(REPO_ROOT / "src" / pkg / "package.xml").getroot()
    assert root.tag == "package"
    assert root.get("format") == "3"
    assert root.findtext("name") == pkg
    assert root.findtext("license") == "Apache-2.0"
    assert root.findtext("maintainer") == "mairl maintainers"
    assert root.findtext("export/build_type") == "ament_python"


@pytest.mark.parametrize("pkg", PACKAGES)
def test_ament_layout(pkg):
    pkg_dir = REPO_ROOT / "src" / pkg
    assert (pkg_dir / "resource" / pkg).is_file()
    assert (pkg_dir / pkg / "__init__.py").is_file()
    cfg = configparser.ConfigParser(interpolation=None)
    cfg.read(pkg_dir / "setup.cfg")
    assert cfg["develop"]["script_dir"] == f"$base/lib/{pkg}"
    assert cfg["install"]["install_scripts"] == f"$base/lib/{pkg}"


@pytest.mark.parametrize("pkg", PACKAGES)
def test_setup_install_requires_has_no_torch(pkg):
    # pip resolves a bare `torch` to a multi-GB CUDA build; torch==2.13.0 is installed first.
    requires = _setup_keyword(pkg, "install_requires") or []
    assert "torch" not in {_requirement_name(r) for r in requires}, requires


def test_requirements_txt_has_no_torch():
    lines = (REPO_ROOT / "requirements.txt").read_text().splitlines()
    names = {_requirement_name(line) for line in lines if line.strip() and not line.startswith("#")}
    assert not names & {"torch", "torchvision", "torchaudio"}, names


def test_mairl_console_script_entry_point():
    scripts = _setup_keyword("mairl_core", "entry_points")["console_scripts"]
    assert "mairl = mairl_core.cli:main" in scripts
