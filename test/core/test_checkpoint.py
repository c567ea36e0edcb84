"""Checkpoints: weights-only load, atomic save, and trainer save/resume."""

from __future__ import annotations

import copy
import os
import pickle
from pathlib import Path

import pytest
import torch
from _helpers import assert_tree_equal, make_trainer

from mairl_core.checkpoint import FORMAT_VERSION, CheckpointError, load_checkpoint, save_checkpoint


def _params(trainer):
    return {
        f"{m}.{k}": v.detach().clone()
        for m, mod in trainer.modules().items()
        for k, v in mod.state_dict().items()
    }


@pytest.fixture
def trained(gridworld_experiment, expert_demos, tmp_path):
    """A MAIRL trainer after 2 iterations, its checkpoint, and the checkpoint's path."""
    tr = make_trainer(gridworld_experiment, expert_demos, method="mairl", seed=0)
    tr.train_iteration()
    tr.train_iteration()
    path = save_checkpoint(tmp_path / "ckpt" / "mairl.pt", tr.state_dict(), note="x")
    return tr, path


def test_round_trip_restores_everything(trained, gridworld_experiment, expert_demos):
    tr, path = trained
    payload = load_checkpoint(path)
    assert payload["format"] == FORMAT_VERSION
    assert payload["meta"] == {"note": "x"}
    assert payload["state"]["method"] == "mairl"

    fresh = make_trainer(gridworld_experiment, expert_demos, method="mairl", seed=0)
    # a fresh trainer differs (otherwise the equality below proves nothing)
    assert any(not torch.equal(a, b) for a, b in zip(_params(fresh).values(), _params(tr).values()))
    fresh.load_state_dict(payload["state"])
    assert tr.cfg.reward_ema > 0  # gridworld.yaml keeps an EMA of D: it must be saved too
    assert set(fresh.modules()) == {"policy", "disc", "disc_avg", "dynamics"}
    assert set(fresh.optimizers()) == {"disc_opt", "model_opt", "policy_opt"}
    for name, mod in tr.modules().items():
        assert_tree_equal(mod.state_dict(), fresh.modules()[name].state_dict(), name)
    for name, opt in tr.optimizers().items():
        st = opt.state_dict()
        assert st["state"], f"{name} has no Adam moments after training"
        assert_tree_equal(st, fresh.optimizers()[name].state_dict(), name)
    assert fresh.iteration == tr.iteration == 2
    assert fresh.env_steps == tr.env_steps == 2 * tr.cfg.n_envs * tr.env.horizon
    assert torch.equal(fresh.gen.get_state(), tr.gen.get_state())
    assert torch.equal(torch.get_rng_state(), payload["state"]["rng"]["torch"])


def _resume_pair(trained, gridworld_experiment, expert_demos, restore_untracked):
    """(params after one more iteration of the original, same for the restored trainer)."""
    tr, path = trained
    env_rng = copy.deepcopy(tr.env.core.rng.bit_generator.state)
    buffer = copy.deepcopy(tr.buffer)
    tr.train_iteration()  # the original simply continues (global torch RNG untouched since save)
    expected = _params(tr)

    fresh = make_trainer(gridworld_experiment, expert_demos, method="mairl", seed=0)
    fresh.load_state_dict(load_checkpoint(path)["state"])  # also restores the global torch RNG
    if restore_untracked:
        fresh.buffer = buffer
        fresh.env.core.rng.bit_generator.state = env_rng
    fresh.train_iteration()
    return expected, _params(fresh)


def test_resume_is_bitwise_identical(trained, gridworld_experiment, expert_demos):
    """Resuming from a checkpoint must continue exactly as the uninterrupted run: the
    checkpoint carries networks, optimisers, torch RNGs, the experience buffer and the
    environment's RNG."""
    expected, got = _resume_pair(trained, gridworld_experiment, expert_demos, False)
    differing = [k for k in expected if not torch.equal(expected[k], got[k])]
    assert not differing, (
        f"{len(differing)}/{len(expected)} tensors differ after resume, e.g. {differing[:3]}"
    )


def test_resume_identical_once_buffer_and_env_rng_restored(trained, gridworld_experiment, expert_demos):
    expected, got = _resume_pair(trained, gridworld_experiment, expert_demos, True)
    assert_tree_equal(expected, got)


def test_training_is_deterministic(gridworld_experiment, expert_demos):
    """Two trainers with the same seed produce bitwise-identical parameters (a premise of the
    resume test)."""
    a = make_trainer(gridworld_experiment, expert_demos, method="mairl", seed=4)
    a.train_iteration()
    pa = _params(a)
    b = make_trainer(gridworld_experiment, expert_demos, method="mairl", seed=4)
    b.train_iteration()
    assert_tree_equal(pa, _params(b))
    c = make_trainer(gridworld_experiment, expert_demos, method="mairl", seed=5)
    c.train_iteration()
    assert any(not torch.equal(pa[k], v) for k, v in _params(c).items())


def test_load_into_other_method_raises(trained, gridworld_experiment, expert_demos):
    _, path = trained
    state = load_checkpoint(path)["state"]
    for method in ("airl", "mgail"):
        other = make_trainer(gridworld_experiment, expert_demos, method=method, seed=0)
        before = _params(other)
        with pytest.raises(ValueError, match="checkpoint is for method 'mairl', not '" + method):
            other.load_state_dict(state)
        assert_tree_equal(before, _params(other))  # nothing half-loaded


class _Evil:
    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        code = f"open({self.marker!r}, 'w').write('pwned')"
        return (exec, (code,))


class _EvilSystem:
    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _write_evil(tmp_path, evil_cls, container):
    """A checkpoint-shaped file whose pickle would run code; returns (path, marker file)."""
    marker = tmp_path / "marker"
    path = tmp_path / "evil.pt"
    payload = {"format": FORMAT_VERSION, "meta": {}, "state": {"x": evil_cls(marker)}}
    if container == "raw_pickle":
        path.write_bytes(pickle.dumps(payload))
    else:
        torch.save(payload, path)
    return path, marker


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
@pytest.mark.parametrize("evil_cls", [_Evil, _EvilSystem])
@pytest.mark.parametrize("container", ["raw_pickle", "torch_zip"])
def test_malicious_pickle_is_refused_without_running(tmp_path, evil_cls, container):
    path, marker = _write_evil(tmp_path, evil_cls, container)
    assert not marker.exists()
    with pytest.raises(CheckpointError, match="refused"):
        load_checkpoint(path)
    assert not marker.exists(), "loading ran code from the checkpoint"
    # sanity: the payload really does run code when unpickled unsafely
    if container == "raw_pickle" and evil_cls is _Evil:
        pickle.loads(path.read_bytes())
        assert marker.exists()


@pytest.mark.parametrize("keep", [0, 1, 10, 0.5, -1])
def test_truncated_file(tmp_path, keep):
    path = save_checkpoint(tmp_path / "c.pt", {"w": torch.arange(2000.0)})
    data = path.read_bytes()
    n = int(len(data) * keep) if isinstance(keep, float) else (keep if keep >= 0 else len(data) + keep)
    path.write_bytes(data[:n])
    # (the wording of each kind: test_truncated_file_is_called_corrupt_or_truncated below)
    with pytest.raises(CheckpointError, match=str(path)):
        load_checkpoint(path)


def test_missing_file(tmp_path):
    with pytest.raises(CheckpointError, match="not found"):
        load_checkpoint(tmp_path / "nope.pt")
    with pytest.raises(CheckpointError, match="not found"):
        load_checkpoint(tmp_path)  # a directory is not a checkpoint


def test_not_a_mairl_checkpoint(tmp_path):
    p = tmp_path / "plain.pt"
    torch.save({"w": torch.ones(3)}, p)
    with pytest.raises(CheckpointError, match="not a mairl checkpoint"):
        load_checkpoint(p)
    torch.save({"format": FORMAT_VERSION + 1, "state": {}}, p)
    with pytest.raises(CheckpointError, match="not a mairl checkpoint"):
        load_checkpoint(p)
    torch.save([1, 2], p)
    with pytest.raises(CheckpointError, match="not a mairl checkpoint"):
        load_checkpoint(p)


def test_failed_save_keeps_previous_and_leaves_no_temp(tmp_path):
    path = save_checkpoint(tmp_path / "c.pt", {"w": torch.arange(5.0)}, step=1)
    before = path.read_bytes()
    with pytest.raises(Exception):  # noqa: B017 - whatever pickle raises for a lambda
        save_checkpoint(path, {"w": torch.zeros(5), "f": lambda: 0}, step=2)
    assert path.read_bytes() == before
    loaded = load_checkpoint(path)
    assert torch.equal(loaded["state"]["w"], torch.arange(5.0)) and loaded["meta"] == {"step": 1}
    assert sorted(os.listdir(tmp_path)) == ["c.pt"]


def test_save_creates_parent_and_overwrites(tmp_path):
    path = tmp_path / "a" / "b" / "c.pt"
    save_checkpoint(path, {"v": torch.tensor(1)})
    save_checkpoint(path, {"v": torch.tensor(2)}, note="second")
    out = load_checkpoint(path)
    assert out["state"]["v"].item() == 2 and out["meta"] == {"note": "second"}
    assert sorted(os.listdir(path.parent)) == ["c.pt"]


# ----- one clear line for each kind of bad file (issue 20, defect 4) -----


def _one_line(exc) -> str:
    msg = str(exc.value)
    assert "\n" not in msg, msg
    return msg


def test_empty_file_is_called_empty(tmp_path):
    p = tmp_path / "empty.pt"
    p.write_bytes(b"")
    with pytest.raises(CheckpointError) as exc:
        load_checkpoint(p)
    assert _one_line(exc) == f"cannot read checkpoint {p}: the file is empty"


@pytest.mark.parametrize("keep", [1, 10, 0.5, -1])
def test_truncated_file_is_called_corrupt_or_truncated(tmp_path, keep):
    path = save_checkpoint(tmp_path / "c.pt", {"w": torch.arange(2000.0)})
    data = path.read_bytes()
    n = int(len(data) * keep) if isinstance(keep, float) else (keep if keep >= 0 else len(data) + keep)
    path.write_bytes(data[:n])
    with pytest.raises(CheckpointError) as exc:
        load_checkpoint(path)
    msg = _one_line(exc)
    assert str(path) in msg and "corrupt or truncated" in msg and "code" not in msg, msg


@pytest.mark.parametrize("seed", range(8))
def test_random_bytes_are_called_corrupt_not_code(tmp_path, seed):
    import random

    p = tmp_path / "noise.pt"
    p.write_bytes(random.Random(seed).randbytes(4096))
    with pytest.raises(CheckpointError) as exc:
        load_checkpoint(p)
    msg = _one_line(exc)
    assert "corrupt or truncated" in msg and "code" not in msg and "refused" not in msg, msg


def test_text_file_is_a_checkpoint_error(tmp_path):
    # torch's legacy reader raised a bare KeyError on it
    p = tmp_path / "notes.pt"
    p.write_text("hello world\n")
    with pytest.raises(CheckpointError, match="corrupt or truncated"):
        load_checkpoint(p)


@pytest.mark.parametrize("container", ["raw_pickle", "torch_zip"])
def test_malicious_pickle_message_names_what_it_imports(tmp_path, container, recwarn):
    path, marker = _write_evil(tmp_path, _EvilSystem, container)
    with pytest.raises(CheckpointError) as exc:
        load_checkpoint(path)
    msg = _one_line(exc)
    assert msg.startswith(f"refused to load {path}") and f"{os.system.__module__}.system" in msg, msg
    assert "could run code" in msg and not marker.exists()
    assert not [w for w in recwarn if "pickle protocol" in str(w.message)]  # no warning line either


@pytest.mark.parametrize(
    "key, value",
    [
        ("obs_dim", "15"),
        ("obs_dim", -3),
        ("act_dim", 2.5),
        ("discrete", "no"),
        ("config", 5),
        ("action_scale", "x"),
    ],
)
def test_checkpoint_with_bad_metadata_is_one_clear_error(tmp_path, key, value):
    """A checkpoint that loads but whose metadata cannot describe a policy (a string obs_dim
    used to raise a TypeError traceback in `mairl eval` and the policy server)."""
    from mairl_core.training import load_policy

    good = Path(__file__).resolve().parents[2] / "bench" / "checkpoints" / "reach_mairl.pt"
    payload = load_checkpoint(good)
    payload["meta"][key] = value
    path = tmp_path / "bad.pt"
    save_checkpoint(path, payload["state"], **payload["meta"])
    with pytest.raises(CheckpointError) as exc:
        load_policy(path)
    assert str(path) in str(exc.value) and "\n" not in str(exc.value)
