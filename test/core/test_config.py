"""Typed YAML configuration (mairl_core.config) and the repo's config files."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import pytest
import yaml
from _helpers import CONFIG_DIR

from mairl_core.algos.config import AlgoConfig
from mairl_core.benchmarks.gridworld import METHOD_SPECS, BenchConfig, GridWorldExperiment, load_experiment
from mairl_core.config import (
    ConfigError,
    Count,
    NonNegative,
    Seed,
    config_dir,
    from_dict,
    load_config,
    read_yaml,
    resolve_config,
    to_dict,
)
from mairl_core.envs.gridworld import GridWorldConfig


def _write(tmp_path, text, name="cfg.yaml"):
    p = tmp_path / name
    p.write_text(text)
    return p


# ----- the loader -----


def test_unknown_key_names_key_and_suggests(tmp_path):
    p = _write(tmp_path, "entropy_weigth: 0.2\n")
    with pytest.raises(ConfigError) as exc:
        load_config(AlgoConfig, p)
    msg = str(exc.value)
    assert "entropy_weigth" in msg
    assert "did you mean 'entropy_weight'" in msg
    assert str(p) in msg


def test_unknown_key_without_close_match(tmp_path):
    with pytest.raises(ConfigError) as exc:
        load_config(AlgoConfig, _write(tmp_path, "zzzz_qqqq: 1\n"))
    assert "zzzz_qqqq" in str(exc.value) and "did you mean" not in str(exc.value)


@pytest.mark.parametrize(
    "text,key",
    [
        ("disc_lr: fast\n", "disc_lr"),
        ("disc_lr: true\n", "disc_lr"),  # bool is not a number
        ("batch_size: true\n", "batch_size"),  # bool is not an int
        ("batch_size: 512.0\n", "batch_size"),  # float is not an int
        ("batch_size: '512'\n", "batch_size"),
        ("state_only: 1\n", "state_only"),  # int is not a bool
        ("policy_hidden: 32\n", "policy_hidden"),
        ("policy_hidden: [32, x]\n", "policy_hidden[1]"),
        ("dynamics: transformer\n", "dynamics"),  # Literal
        ("rollout_mode: 3\n", "rollout_mode"),
        ("policy_lr: fast\n", "policy_lr"),
    ],
)
def test_wrong_type_names_key(tmp_path, text, key):
    p = _write(tmp_path, text)
    with pytest.raises(ConfigError) as exc:
        load_config(AlgoConfig, p)
    assert f".{key}" in str(exc.value), str(exc.value)


def test_yaml_exponent_without_dot_is_a_float(tmp_path):
    # YAML 1.1 reads 1e-3 (no dot) as a string; the loader parses it as the number meant
    cfg = load_config(AlgoConfig, _write(tmp_path, "policy_lr: 1e-3\n"))
    assert cfg.policy_lr == pytest.approx(1e-3) and isinstance(cfg.policy_lr, float)


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(AlgoConfig, tmp_path / "nope.yaml")
    with pytest.raises(ConfigError, match="not found"):
        load_config(AlgoConfig, "no_such_config_name")
    with pytest.raises(ConfigError, match="not found"):
        read_yaml(tmp_path / "absent.yaml")


def test_invalid_yaml_names_file(tmp_path):
    p = _write(tmp_path, "disc_lr: [1, 2\nbatch_size: 3\n", "broken.yaml")
    with pytest.raises(ConfigError) as exc:
        load_config(AlgoConfig, p)
    assert "broken.yaml" in str(exc.value) and "invalid YAML" in str(exc.value)


@pytest.mark.parametrize("text,kind", [("- 1\n- 2\n", "list"), ("42\n", "int"), ("hello\n", "str")])
def test_top_level_must_be_mapping(tmp_path, text, kind):
    p = _write(tmp_path, text)
    with pytest.raises(ConfigError, match=f"top level must be a mapping, got {kind}"):
        load_config(AlgoConfig, p)


def test_empty_file_gives_defaults(tmp_path):
    assert load_config(AlgoConfig, _write(tmp_path, "# nothing\n")) == AlgoConfig()


def test_coercions(tmp_path):
    cfg = load_config(
        AlgoConfig, _write(tmp_path, "disc_lr: 1\ngamma: 1\npolicy_hidden: [16, 8]\nreward_hidden: []\n")
    )
    assert cfg.disc_lr == 1.0 and type(cfg.disc_lr) is float
    assert type(cfg.gamma) is float
    assert cfg.policy_hidden == (16, 8) and type(cfg.policy_hidden) is tuple
    assert cfg.reward_hidden == ()
    assert cfg.batch_size == AlgoConfig().batch_size  # untouched keys keep their defaults
    # list[list[float]] stays a list, ints coerced inside
    env = from_dict(GridWorldConfig, {"size": 2, "reward_map": [[1, 0], [0, 2]]})
    assert env.reward_map == [[1.0, 0.0], [0.0, 2.0]]
    assert all(type(x) is float for row in env.reward_map for x in row)


@pytest.mark.parametrize(
    "text,match",
    [
        ("disc_lr: -1.0e-3\n", "disc_lr must be > 0"),
        ("gamma: 1.5\n", "gamma must be in"),
        ("gamma: 0\n", "gamma must be in"),
        ("entropy_weight: -0.1\n", "entropy_weight"),
        ("n_heads: 0\n", "n_heads must be > 0"),
        ("d_model: 30\n", "divisible"),
    ],
)
def test_validation_errors_surface_as_config_error(tmp_path, text, match):
    p = _write(tmp_path, text)
    with pytest.raises(ConfigError, match=match) as exc:
        load_config(AlgoConfig, p)
    assert str(p) in str(exc.value)


def test_union_and_optional_fields():
    @dataclass
    class Opt:
        a: int | None = None
        b: float | str = 0.0

    assert from_dict(Opt, {"a": None, "b": "x"}) == Opt(None, "x")
    assert from_dict(Opt, {"a": 3, "b": 2}) == Opt(3, 2.0)
    with pytest.raises(ConfigError, match=r"cfg\.a"):
        from_dict(Opt, {"a": "three"}, "cfg")


def test_section(tmp_path):
    p = _write(tmp_path, "env:\n  size: 2\n  reward_map: [[0, 1], [1, 0]]\nother: 3\n")
    env = load_config(GridWorldConfig, p, section="env")
    assert env.size == 2
    assert load_config(GridWorldConfig, p, section="missing") == GridWorldConfig()
    with pytest.raises(ConfigError, match="section 'other' must be a mapping"):
        load_config(GridWorldConfig, p, section="other")
    with pytest.raises(ConfigError, match=r":env.*reward_map must be 2x2"):
        load_config(GridWorldConfig, _write(tmp_path, "env:\n  size: 2\n", "bad.yaml"), section="env")


def test_to_dict_round_trip():
    cfg = AlgoConfig(policy_hidden=(8, 4), disc_lr=2e-3, dynamics="gru")
    d = to_dict(cfg)
    assert d["policy_hidden"] == [8, 4]  # plain YAML-friendly types
    assert from_dict(AlgoConfig, d) == cfg
    exp = load_experiment("gridworld")
    assert from_dict(GridWorldExperiment, to_dict(exp)) == exp


def test_config_dir_resolution(monkeypatch, tmp_path):
    assert config_dir() == CONFIG_DIR
    monkeypatch.setenv("MAIRL_CONFIG_DIR", str(tmp_path))
    assert config_dir() == tmp_path
    _write(tmp_path, "batch_size: 7\n", "mine.yaml")
    assert resolve_config("mine") == tmp_path / "mine.yaml"
    assert load_config(AlgoConfig, "mine").batch_size == 7
    # a missing $MAIRL_CONFIG_DIR falls back to the source tree's config/
    monkeypatch.setenv("MAIRL_CONFIG_DIR", str(tmp_path / "absent"))
    assert config_dir() == CONFIG_DIR


# ----- the repo's config files -----


def test_mairl_yaml_is_paper_values():
    cfg = load_config(AlgoConfig, "mairl")
    assert cfg.policy_hidden == (32, 32)
    assert cfg.reward_hidden == (32, 32)
    assert cfg.disc_lr == 1e-3
    assert cfg.policy_lr == 1e-4
    assert cfg.model_lr == 1e-4
    assert cfg.entropy_weight == 0.1
    assert cfg.batch_size == 512
    assert cfg.horizon == 100
    assert cfg.buffer_size == 1_000_000
    assert cfg.n_heads == 4
    assert cfg.d_model == 64
    assert cfg.dynamics == "attention"
    # the dataclass defaults say the same (the YAML restates them)
    for k in (
        "policy_hidden",
        "disc_lr",
        "policy_lr",
        "model_lr",
        "entropy_weight",
        "batch_size",
        "horizon",
        "buffer_size",
        "n_heads",
        "d_model",
    ):
        assert getattr(AlgoConfig(), k) == getattr(cfg, k), k


def test_load_gridworld_experiment():
    exp = load_experiment("gridworld")
    assert exp.env.size == 5 and exp.env.horizon == 20 and exp.env.gamma == 0.9
    assert len(exp.env.reward_map) == 5 and exp.env.reward_map[0][0] == 1.0
    assert exp.demos.n_demos == 50
    # algo: mairl.yaml merged with gridworld.yaml's overrides (the task file wins)
    base, task = read_yaml(CONFIG_DIR / "mairl.yaml"), read_yaml(CONFIG_DIR / "gridworld.yaml")["algo"]
    assert task and set(base) - set(task)
    for key, value in {**base, **task}.items():
        got = getattr(exp.algo, key)
        assert got == (tuple(value) if isinstance(value, list) else value), key
    assert exp.algo.gamma == exp.env.gamma and exp.algo.horizon == exp.env.horizon
    assert exp.bench.methods[0] == "Expert"
    assert set(exp.bench.methods[1:]) <= set(METHOD_SPECS)
    assert load_experiment(CONFIG_DIR / "gridworld.yaml") == exp


def test_load_experiment_rejects_unknown_section(tmp_path):
    p = _write(tmp_path, "env:\n  size: 5\nalgorithm:\n  gamma: 0.5\n")
    with pytest.raises(ConfigError, match=r"unknown section\(s\) \['algorithm'\]"):
        load_experiment(p)


def test_load_experiment_rejects_unknown_method(tmp_path):
    p = _write(tmp_path, "bench:\n  methods: [Expert, MAIRL(s), PPO]\n")
    with pytest.raises(ConfigError, match="unknown method 'PPO'"):
        load_experiment(p)


def test_load_experiment_errors_name_section_and_key(tmp_path):
    with pytest.raises(ConfigError, match=r":algo: unknown key 'lr'"):
        load_experiment(_write(tmp_path, "algo:\n  lr: 0.1\n"))
    with pytest.raises(ConfigError, match=r":demos\.n_demos"):
        load_experiment(_write(tmp_path, "demos:\n  n_demos: many\n", "d.yaml"))
    exp = load_experiment(_write(tmp_path, "algo:\n  gamma: 0.5\n", "ok.yaml"))
    assert exp.algo.gamma == 0.5 and exp.algo.d_model == 64  # mairl.yaml still underneath
    assert exp.bench == BenchConfig()


def test_experiment_file_with_a_base(tmp_path):
    """``base:`` names another experiment file: mappings update it key by key at every depth
    (a nested ``svg:`` keeps the base's other svg settings), the rest replaces; the repo's
    reach_transfer.yaml is reach_train.yaml plus the explorer; cycles and bad values are
    config errors naming the file."""
    from mairl_core.benchmarks.ur5 import load_bench
    from mairl_core.robot import load_robot_experiment, read_experiment_yaml

    (tmp_path / "a.yaml").write_text(
        "bc_steps: 7\nalgo:\n  policy_lr: 0.5\n  disc_lr: 0.25\nbench:\n  seeds: 2\n  methods: [BC]\n"
    )
    (tmp_path / "b.yaml").write_text("base: a.yaml\nalgo:\n  disc_lr: 0.125\nbench:\n  methods: [MAIRL]\n")
    exp, bench = load_bench(str(tmp_path / "b.yaml"))
    assert (exp.bc_steps, exp.algo.policy_lr, exp.algo.disc_lr) == (7, 0.5, 0.125)
    assert (bench.seeds, bench.methods) == (2, ["MAIRL"])
    (tmp_path / "g.yaml").write_text("base: grasp_scratch\nalgo:\n  svg:\n    lr: 1.0e-4\n")
    shipped = load_robot_experiment("grasp_scratch").algo.svg
    assert load_robot_experiment(str(tmp_path / "g.yaml")).algo.svg == dataclasses.replace(shipped, lr=1e-4)
    shipped, base = load_robot_experiment("reach_transfer").algo, load_robot_experiment("reach_train").algo
    assert shipped.explorer_negatives > 0 and base.explorer_negatives == 0
    assert dataclasses.replace(shipped, explorer_negatives=0.0, explorer_window=0) == base
    (tmp_path / "c.yaml").write_text("base: d.yaml\n")
    (tmp_path / "d.yaml").write_text("base: c.yaml\n")
    with pytest.raises(ConfigError, match="includes itself"):
        read_experiment_yaml(tmp_path / "c.yaml")
    (tmp_path / "e.yaml").write_text("base: [1]\n")
    with pytest.raises(ConfigError, match="e.yaml:base"):
        read_experiment_yaml(tmp_path / "e.yaml")
    (tmp_path / "f.yaml").write_text("base: nowhere\n")
    with pytest.raises(ConfigError, match="not found"):
        read_experiment_yaml(tmp_path / "f.yaml")


def test_ur5_bench_settings_per_row(tmp_path):
    """`bench.algo_by_method` changes one row's algo settings (nested ones key by key), is
    checked when the file loads, and reaches that row's trainer only."""
    from mairl_core.benchmarks.ur5 import load_bench
    from mairl_core.config import with_overrides

    (tmp_path / "a.yaml").write_text(
        "base: reach_train\nbench:\n  algo_by_method:\n    MAIRL: {learner: svg, disc_steps: 80, "
        "svg: {model_d: 64}}\n"
    )
    exp, bench = load_bench(str(tmp_path / "a.yaml"))
    mairl = with_overrides(exp.algo, bench.algo_by_method["MAIRL"])
    assert (mairl.learner, mairl.disc_steps, mairl.svg.model_d) == ("svg", 80, 64)
    assert mairl.svg.horizon == exp.algo.svg.horizon and mairl.policy_hidden == exp.algo.policy_hidden
    assert (exp.algo.learner, exp.algo.disc_steps) == ("imagined", 5)
    # the shipped from-scratch reach config: its MAIRL row is the pilot's settings
    exp, bench = load_bench("reach_scratch")
    mairl = with_overrides(exp.algo, bench.algo_by_method["MAIRL"])
    assert (mairl.learner, mairl.bc_weight, mairl.bc_init_steps, mairl.act_std_min_frac) == (
        "svg",
        0.0,
        0,
        1.0,
    )
    assert (mairl.disc_steps, mairl.agent_recent, mairl.svg.horizon, mairl.svg.model_d) == (
        80,
        120_000,
        1,
        64,
    )
    assert (exp.algo.disc_steps, exp.algo.agent_recent) == (5, 8000)  # the PPO rows keep theirs
    for bad, match in [
        ("MAIRL: {disc_stepz: 1}", "did you mean 'disc_steps'"),
        ("MAIRL: {svg: {horizon: -1}}", "horizon"),
        ("Nope: {disc_steps: 1}", "unknown UR5 bench method"),
    ]:
        (tmp_path / "b.yaml").write_text(f"base: reach_train\nbench:\n  algo_by_method: {{{bad}}}\n")
        with pytest.raises(ConfigError, match=match):
            load_bench(str(tmp_path / "b.yaml"))


# ----- value rules that hold for every key of a kind (issue 20, defect 5) -----


@pytest.mark.parametrize(
    "text,key",
    [
        ("policy_lr: .nan\n", "policy_lr"),  # NaN passed every `x <= 0` check
        ("entropy_weight: .inf\n", "entropy_weight"),
        ("disc_lr: nan\n", "disc_lr"),  # YAML 1.1 reads it as a string; float() says NaN
    ],
)
def test_non_finite_numbers_are_refused(tmp_path, text, key):
    with pytest.raises(ConfigError, match=rf"\.{key}: expected a finite number"):
        load_config(AlgoConfig, _write(tmp_path, text))


@pytest.mark.parametrize(
    "text,match",
    [
        ("policy_steps: 0\n", "policy_steps must be > 0"),
        ("model_steps: -1\n", "model_steps must be > 0"),
        ("disc_steps: 0\n", "disc_steps must be > 0"),
        ("ppo_epochs: 0\n", "ppo_epochs must be > 0"),
        ("embed_hidden: 0\n", "embed_hidden must be > 0"),
        ("bc_lr: 0\n", "bc_lr must be > 0"),
        ("policy_grad_clip: -2.0\n", "policy_grad_clip must be > 0"),
        ("obs_std_min: 0\n", "obs_std_min must be > 0"),
        ("bc_init_steps: -5\n", "bc_init_steps must be >= 0"),
        ("attention_blocks: -1\n", "attention_blocks must be >= 0"),
        ("bc_weight: -1.0\n", "bc_weight must be >= 0"),
        ("policy_hidden: [32, 0]\n", "policy_hidden: every layer"),
        ("reward_ema: 1.0\n", "reward_ema must be in"),
        ("policy_ema: -0.1\n", "policy_ema must be in"),
        ("rollout_expert_frac: 1.5\n", "rollout_expert_frac must be in"),
        ("log_std_min: 2.0\n", "need log_std_min < log_std_init < log_std_max"),
        ("log_std_init: 1.0\n", "need log_std_min < log_std_init < log_std_max"),
        ("explorer_horizon: -1\n", "explorer_horizon >= 0"),
        ("learner: imagined\nexplorer_horizon: 1\n", "explorer_horizon is for learner: svg"),
    ],
)
def test_algo_config_ranges(tmp_path, text, match):
    with pytest.raises(ConfigError, match=match):
        load_config(AlgoConfig, _write(tmp_path, text))


def test_algo_config_range_holds_for_overrides_too():
    # the CLI's --env-steps reaches the config through dataclasses.replace, not the loader
    with pytest.raises(ValueError, match="env_steps must be > 0"):
        dataclasses.replace(AlgoConfig(), env_steps=0)
    with pytest.raises(ValueError, match="policy_lr must be > 0"):
        AlgoConfig(policy_lr=float("nan"))


@dataclass
class _Run:  # at module level: get_type_hints resolves its annotations here
    episodes: Count = 1
    seed: Seed = 0
    extra: NonNegative = 0


def test_bounded_int_fields():
    assert from_dict(_Run, {"episodes": 3, "seed": 0, "extra": 0}) == _Run(3, 0, 0)
    for key, bad, bound in [("episodes", 0, 1), ("episodes", -2, 1), ("seed", -1, 0), ("extra", -1, 0)]:
        with pytest.raises(ConfigError, match=rf"cfg\.{key}: must be >= {bound}, got {bad}"):
            from_dict(_Run, {key: bad}, "cfg")
    with pytest.raises(ConfigError, match=r"cfg\.episodes: expected an integer"):
        from_dict(_Run, {"episodes": 2.5}, "cfg")  # the type is still checked first


@pytest.mark.parametrize(
    "loader,section,text,key",
    [
        ("robot", "demos", "n_demos: -1", "demos.n_demos"),
        ("robot", "demos", "seed: -3", "demos.seed"),
        ("robot", "eval", "episodes: 0", "eval.episodes"),
        ("robot", "eval", "seed: -1", "eval.seed"),
        ("ur5_bench", "bench", "seeds: 0", "bench.seeds"),
        ("ur5_bench", "bench", "eval_every: 0", "bench.eval_every"),
        ("ur5_bench", "bench", "curve_episodes: -1", "bench.curve_episodes"),
        ("gridworld", "demos", "n_demos: 0", "demos.n_demos"),
        ("gridworld", "bench", "seeds: 0", "bench.seeds"),
        ("gridworld", "bench", "episodes: -4", "bench.episodes"),
        ("mujoco", "bench", "n_demos: 0", "bench.n_demos"),
        ("mujoco", "bench", "test_episodes: 0", "bench.test_episodes"),
        ("mujoco", "bench", "horizon: 0", "bench.horizon"),
        ("mujoco", "bench", "bc_steps: -1", "bench.bc_steps"),
    ],
)
def test_counts_and_seeds_in_experiment_files(tmp_path, loader, section, text, key):
    """Every count (demos, episodes, seeds, ...) is >= 1 and every seed >= 0, in every file
    that has one: `n_demos: -1` used to take all demos but the last one."""
    p = _write(tmp_path, f"{section}:\n  {text}\n")
    with pytest.raises(ConfigError, match=rf"{key}: must be >= "):
        _load(loader, p)


def _load(loader, p):
    from mairl_core.benchmarks import mujoco, ur5
    from mairl_core.robot import load_robot_experiment

    return {
        "robot": load_robot_experiment,
        "ur5_bench": ur5.load_bench,
        "gridworld": load_experiment,
        "mujoco": mujoco.load_bench,
    }[loader](str(p))


@pytest.mark.parametrize(
    "loader,section",
    [
        ("robot", "algo"),
        ("robot", "demos"),
        ("robot", "eval"),
        ("ur5_bench", "bench"),
        ("gridworld", "algo"),
        ("gridworld", "env"),
        ("gridworld", "bench"),
        ("mujoco", "algo"),
        ("mujoco", "bench"),
    ],
)
@pytest.mark.parametrize("value", ["5", "[1, 2]", "fast"])
def test_a_section_must_be_a_mapping(tmp_path, loader, section, value):
    # `algo: 5` was a TypeError ('int' object is not a mapping), `demos: 5` an AttributeError
    p = _write(tmp_path, f"{section}: {value}\n")
    with pytest.raises(ConfigError, match=rf":{section}: expected a mapping"):
        _load(loader, p)


def test_from_dict_refuses_a_non_mapping():
    with pytest.raises(ConfigError, match="cfg: expected a mapping of settings, got 5"):
        from_dict(AlgoConfig, 5, "cfg")


@pytest.mark.parametrize("name,key", [("ur5_reach", "episode_steps"), ("ur5_grasp", "episode_steps")])
def test_env_episode_length_is_a_count(tmp_path, name, key):
    from mairl_core.envs.ur5_grasp import GraspConfig
    from mairl_core.envs.ur5_reach import ReachConfig

    cls = {"ur5_reach": ReachConfig, "ur5_grasp": GraspConfig}[name]
    assert load_config(cls, name).episode_steps > 0
    with pytest.raises(ConfigError, match=rf"\.{key}: must be >= 1, got 0"):
        load_config(cls, _write(tmp_path, f"{key}: 0\n"))


def test_yaml_error_is_one_line(tmp_path):
    p = _write(tmp_path, "eval: [1, 2\n", "broken.yaml")
    with pytest.raises(ConfigError) as exc:
        read_yaml(p)
    msg = str(exc.value)
    assert "\n" not in msg and msg.startswith(f"{p}: invalid YAML: line 2, column 1:"), msg


def test_every_shipped_config_still_loads():
    from mairl_core.benchmarks import mujoco, ur5

    for name in (
        "reach_train",
        "reach_transfer",
        "reach_scratch",
        "grasp_train",
        "grasp_train_narrow",
        "grasp_train_wide",
    ):
        ur5.load_bench(name)
    for name in ("mujoco_train", "mujoco_scratch", "mujoco_scratch_ant"):
        mujoco.load_bench(name)
    load_experiment("gridworld")


def test_mairl_train_takes_the_ur5_rows_settings():
    """`mairl train --task reach --config reach_scratch --algo mairl --mode sa` trains as the
    bench's MAIRL row (its D schedule), `--algo airl` as the PPO row."""
    from mairl_core.benchmarks.ur5 import load_bench, trainer_overrides

    _, bench = load_bench("reach_scratch")
    assert trainer_overrides(bench, "mairl", False) == bench.algo_by_method["MAIRL"]
    assert trainer_overrides(bench, "airl-sac", False) == bench.algo_by_method["AIRL (SAC)"]
    assert trainer_overrides(bench, "airl", False) == {} == trainer_overrides(bench, "mairl", True)


def test_reach_commands_default_to_table_three_from_scratch():
    """Without --config, reach's commands (`mairl train`, `bench ur5`, `sweep`, the trainer node)
    read Table III's from-scratch recipe: the SVG learner, no BC start or term, MAIRL's row
    with its explorer; `bench transfer` reads the measured transfer recipe; grasp keeps BC."""
    import argparse

    from mairl_core.benchmarks.ur5 import load_bench, trainer_overrides
    from mairl_core.cli import _config_name, build_parser
    from mairl_core.config import with_overrides

    args = argparse.Namespace(config=None, task="reach")
    assert _config_name(args) == "reach_table3"
    exp, bench = load_bench(_config_name(args))
    algo = with_overrides(exp.algo, trainer_overrides(bench, "mairl", False))
    assert (algo.learner, algo.bc_weight, algo.bc_init_steps) == ("svg", 0.0, 0)
    assert algo.explorer_negatives > 0 and bench.select_explorer
    exp, _ = load_bench(_config_name(argparse.Namespace(config=None, task="grasp")))
    assert exp.algo.bc_weight > 0  # grasp from scratch is not met yet (bench/RESULTS.md)
    transfer = build_parser().parse_args(["bench", "transfer", "--source", "s", "--out", "o"])
    assert transfer.config == "reach_transfer"
    ros = yaml.safe_load((CONFIG_DIR / "ros_reaching.yaml").read_text())
    assert ros["mairl_trainer"]["ros__parameters"]["config"] == "reach_table3"
