"""Typed configuration: YAML files under ``config/`` loaded into dataclasses.

One loader for the whole project. Dataclass defaults are the paper's values
(§V-A); a YAML file overrides some of them. Unknown keys, wrong types,
non-finite numbers, values below a field's bound (``Count``, ``Seed``) and
missing files are errors that name the file and the key, never silent.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import os
import types
import typing
from pathlib import Path
from typing import Annotated, Any, TypeVar

import yaml

T = TypeVar("T")


class ConfigError(ValueError):
    """A configuration file is missing, unreadable or does not match its schema."""


@dataclasses.dataclass(frozen=True)
class AtLeast:
    """A lower bound on a config value: ``Annotated[int, AtLeast(1)]``."""

    bound: int


Count = Annotated[int, AtLeast(1)]
"""How many of something (demos, episodes, seeds, steps, iterations): at least 1."""
NonNegative = Annotated[int, AtLeast(0)]
"""A number of things that may be none (e.g. extra training steps): at least 0."""
Seed = Annotated[int, AtLeast(0)]
"""A random seed: numpy and gymnasium take only non-negative ones."""


def config_dir() -> Path:
    """The directory holding the project's YAML configs.

    ``$MAIRL_CONFIG_DIR`` if set, else the ``config/`` folder of the source tree
    this package lives in (editable install or checkout), else the
    ``ur5_bringup`` share directory of a colcon install.
    """
    env = os.environ.get("MAIRL_CONFIG_DIR")
    looked: list[str] = []
    if env:
        p = Path(env)
        if p.is_dir():
            return p
        looked.append(f"$MAIRL_CONFIG_DIR={env}")
    here = Path(__file__).resolve()
    for parent in here.parents:
        cand = parent / "config"
        if (cand / "mairl.yaml").is_file():
            return cand
        looked.append(str(cand))
    try:  # colcon / ROS install
        from ament_index_python.packages import get_package_share_directory  # type: ignore

        cand = Path(get_package_share_directory("ur5_bringup")) / "config"
        if cand.is_dir():
            return cand
        looked.append(str(cand))
    except Exception:  # noqa: BLE001 - ament_index missing or package not installed
        looked.append("share/ur5_bringup/config (ament index: not found)")
    raise ConfigError(
        "cannot find the mairl config directory; looked in: "
        + ", ".join(looked)
        + ". Set MAIRL_CONFIG_DIR to the repository's config/ folder."
    )


def resolve_config(name_or_path: str | os.PathLike) -> Path:
    """A path as given if it exists, else ``<config_dir>/<name>[.yaml]``."""
    p = Path(name_or_path)
    if p.is_file():
        return p
    if p.suffix == "" and not p.parent.parts:
        p = p.with_suffix(".yaml")
    cand = config_dir() / p.name if not p.parent.parts else p
    if not cand.is_file():
        raise ConfigError(f"config file not found: {name_or_path} (also tried {cand})")
    return cand


# libyaml's safe loader where PyYAML was built with it (ten times faster: envs read three
# configs each, and an evaluation builds an env per episode), else the pure-Python one
_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def read_yaml(path: str | os.PathLike) -> dict[str, Any]:
    """Read a YAML mapping, with errors that name the file."""
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc}") from exc
    try:
        data = yaml.load(text, Loader=_SAFE_LOADER)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: invalid YAML: {_yaml_problem(exc)}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: top level must be a mapping, got {type(data).__name__}")
    return data


def _yaml_problem(exc: yaml.YAMLError) -> str:
    """PyYAML's error in one line (its own text spans several, with a picture of the spot)."""
    mark, problem = getattr(exc, "problem_mark", None), getattr(exc, "problem", None)
    if mark is None or problem is None:
        return " ".join(str(exc).split())
    where = f"line {mark.line + 1}, column {mark.column + 1}"
    context, cmark = getattr(exc, "context", None), getattr(exc, "context_mark", None)
    if context and cmark is not None:
        context += f" at line {cmark.line + 1}, column {cmark.column + 1}"
    return f"{where}: {problem}" + (f" ({context})" if context else "")


def read_experiment_yaml(
    path: str | os.PathLike, _seen: tuple[Path, ...] = ()
) -> tuple[Path, dict[str, Any]]:
    """An experiment file's resolved path and sections. ``base: NAME`` (a config name or a path,
    relative to the file) names another experiment file the rest of this one overrides, by
    ``merge_settings``: mappings update the base's key by key at every depth (``algo: {svg:
    {lr: ...}}`` keeps the base's other ``svg`` settings), anything else replaces it."""
    p = resolve_config(path)
    data = dict(read_yaml(p))
    base = data.pop("base", None)
    if base is None:
        return p, data
    if not isinstance(base, str):
        raise ConfigError(f"{p}:base: expected a config name or path, got {base!r}")
    near = p.parent / base
    bp = resolve_config(near if near.is_file() else base)
    if bp.resolve() in (*_seen, p.resolve()):
        raise ConfigError(f"{p}:base: '{base}' includes itself")
    _, merged = read_experiment_yaml(bp, (*_seen, p.resolve()))
    return p, merge_settings(merged, data)


def merge_settings(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """``base`` updated by ``over``: a mapping updates the base's mapping key by key, at every
    depth; anything else replaces the base's value (the rule of ``base:`` files and
    ``with_overrides``)."""
    out = dict(base)
    for k, v in over.items():
        out[k] = merge_settings(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def section(data: dict[str, Any], name: str, where: str | os.PathLike) -> dict[str, Any]:
    """Section ``name`` of an experiment file: a mapping, or {} when absent or null."""
    value = data.get(name)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ConfigError(f"{where}:{name}: expected a mapping of settings, got {value!r}")
    return value


def algo_settings(data: dict[str, Any], where: str | os.PathLike) -> dict[str, Any]:
    """``config/mairl.yaml``'s algorithm settings with an experiment file's ``algo:`` section
    on top: the one place an experiment's algorithm settings are merged."""
    return {**read_yaml(resolve_config("mairl")), **section(data, "algo", where)}


def _check_type(value: Any, tp: Any, where: str) -> Any:
    """Validate (and lightly coerce: int -> float, list -> tuple) one value."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is Any:
        return value
    if origin is Annotated:
        value = _check_type(value, args[0], where)
        for rule in args[1:]:
            if isinstance(rule, AtLeast) and value < rule.bound:
                raise ConfigError(f"{where}: must be >= {rule.bound}, got {value!r}")
        return value
    if origin in (typing.Union, types.UnionType):
        errors = []
        for arg in args:
            try:
                return _check_type(value, arg, where)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(f"{where}: {value!r} matches none of {tp}")
    if tp is type(None):
        if value is None:
            return None
        raise ConfigError(f"{where}: expected null, got {value!r}")
    if typing.get_origin(tp) is typing.Literal:
        if value in args:
            return value
        raise ConfigError(f"{where}: expected one of {list(args)}, got {value!r}")
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {value!r}")
        return from_dict(tp, value, where)
    if origin in (tuple, list):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(args) != len(value):
                raise ConfigError(f"{where}: expected {len(args)} items, got {len(value)}")
            items = [_check_type(v, a, f"{where}[{i}]") for i, (v, a) in enumerate(zip(value, args))]
        else:
            a = args[0] if args else Any
            items = [_check_type(v, a, f"{where}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {value!r}")
        return dict(value)
    if tp is float:
        if isinstance(value, str):  # YAML 1.1 reads 1e-3 (no '.') as a string
            try:
                value = float(value)
            except ValueError:
                pass
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        if not math.isfinite(value):  # .nan / .inf pass every `x <= 0` check downstream
            raise ConfigError(f"{where}: expected a finite number, got {value!r}")
        return float(value)
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where}: expected an integer, got {value!r}")
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: expected true/false, got {value!r}")
        return value
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where}: expected a string, got {value!r}")
        return value
    raise ConfigError(f"{where}: unsupported config type {tp}")


def from_dict(cls: type[T], data: dict[str, Any], where: str = "config") -> T:
    """Build dataclass ``cls`` from a mapping, rejecting unknown keys, bad types and values
    below a field's ``AtLeast`` bound (``Count``, ``NonNegative``, ``Seed``)."""
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping of settings, got {data!r}")
    hints = typing.get_type_hints(cls, include_extras=True)
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    kwargs = {}
    for key, value in data.items():
        if key not in names:
            close = difflib.get_close_matches(str(key), names, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            raise ConfigError(f"{where}: unknown key '{key}'{hint}; valid keys: {sorted(names)}")
        kwargs[key] = _check_type(value, hints[key], f"{where}.{key}")
    try:
        obj = cls(**kwargs)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{where}: {exc}") from exc
    return obj


def load_config(cls: type[T], name_or_path: str | os.PathLike, section: str | None = None) -> T:
    """Load ``cls`` from a YAML file (or one top-level ``section`` of it)."""
    path = resolve_config(name_or_path)
    data = read_yaml(path)
    if section is not None:
        data = data.get(section, {}) or {}
        if not isinstance(data, dict):
            raise ConfigError(f"{path}: section '{section}' must be a mapping")
    return from_dict(cls, data, where=f"{path}" + (f":{section}" if section else ""))


def to_dict(obj: Any) -> dict[str, Any]:
    """A dataclass as plain, YAML/JSON-friendly types."""

    def conv(v: Any) -> Any:
        if dataclasses.is_dataclass(v):
            return {f.name: conv(getattr(v, f.name)) for f in dataclasses.fields(v)}
        if isinstance(v, (list, tuple)):
            return [conv(x) for x in v]
        return v

    return conv(obj)


def with_overrides(obj: T, over: dict[str, Any], where: str = "config") -> T:
    """Dataclass ``obj`` with the settings of mapping ``over`` changed, checked as a config
    file's are (a nested dataclass, e.g. ``svg``, is updated key by key)."""
    return from_dict(type(obj), merge_settings(to_dict(obj), over), where)
