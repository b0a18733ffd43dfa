import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from conftest import needs_data
from slimmable.optim import learning_rate, parameter_groups
from slimmable.models import build_model
from slimmable.train import TrainConfig, train

TRAINING_DIR = Path(__file__).resolve().parents[1]


def small_config(**overrides: object) -> TrainConfig:
    values = dict(epochs=3, batch_size=64, lr=0.05, train_subset=512, test_subset=200, threads=1)
    values.update(overrides)
    return TrainConfig(**values)  # type: ignore[arg-type]


def losses(lines: list[str]) -> list[float]:
    """Full-width training loss of each epoch's progress line."""
    return [float(re.search(r"loss 1:([0-9.]+)", line).group(1)) for line in lines if "loss" in line]  # type: ignore[union-attr]


@needs_data
def test_short_joint_training_lowers_the_loss(tmp_path: Path) -> None:
    lines: list[str] = []
    _, accuracy = train(small_config(), tmp_path, log=lines.append)
    trace = losses(lines)
    assert len(trace) == 3 and trace[-1] < trace[0] * 0.8, lines
    assert set(accuracy) == {0.25, 0.5, 0.75, 1.0}
    assert all(re.search(r"test acc 1:0\.\d+ 0\.75:0\.\d+ 0\.5:0\.\d+ 0\.25:0\.\d+", l) for l in lines)
    assert (tmp_path / "final.pt").exists()


class Interrupted(Exception):
    pass


@needs_data
def test_an_interrupted_run_resumes_to_the_same_weights(tmp_path: Path) -> None:
    config = small_config(epochs=2, train_subset=256)
    straight, _ = train(config, tmp_path / "straight", log=lambda _: None)

    def stop_after_first_epoch(line: str) -> None:
        raise Interrupted(line)

    with pytest.raises(Interrupted):
        train(config, tmp_path / "resumed", log=stop_after_first_epoch)
    lines: list[str] = []
    resumed, _ = train(config, tmp_path / "resumed", log=lines.append)
    assert lines[0].startswith("resumed from") and len(losses(lines)) == 1
    for (name, a), b in zip(straight.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), name


@needs_data
def test_resume_refuses_a_different_recipe_but_not_a_different_thread_count(tmp_path: Path) -> None:
    train(small_config(epochs=1), tmp_path, log=lambda _: None)
    with pytest.raises(ValueError, match="another configuration"):
        train(small_config(epochs=1, lr=0.2), tmp_path, log=lambda _: None)
    lines: list[str] = []
    train(small_config(epochs=1, threads=2), tmp_path, log=lines.append)
    assert lines[0].startswith("resumed from"), lines


def test_weight_decay_only_on_conv_and_linear_weights() -> None:
    model = build_model("s_mobilenet_v2", input_size=32, num_classes=10)
    decay, no_decay = parameter_groups(model, 1e-4)
    decayed = {id(p) for p in decay["params"]}  # type: ignore[union-attr]
    for name, param in model.named_parameters():
        is_depthwise = param.dim() == 4 and param.shape[1] == 1 and "body" in name and param.shape[2] == 3
        should = param.dim() > 1 and not is_depthwise
        assert (id(param) in decayed) == should, name


def test_learning_rate_warms_up_then_decays_to_zero() -> None:
    rates = [learning_rate(0.1, s, 100, 10) for s in range(100)]
    assert rates[0] < rates[9] == pytest.approx(0.1)
    assert rates[10] > rates[50] > rates[99] >= 0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@needs_data
def test_data_parallel_training_with_two_cpu_processes(tmp_path: Path) -> None:
    """Two gloo processes launched with the torchrun environment contract (Debian's torchrun itself
    crashes in its elastic agent, so the test sets the variables by hand)."""
    port = free_port()
    procs = []
    for rank in range(2):
        env = dict(os.environ, RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE="2", MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
        cmd = [sys.executable, "-m", "slimmable.train", "--out", str(tmp_path), "--epochs", "1", "--batch-size", "64",
               "--train-subset", "256", "--test-subset", "100", "--threads", "1"]
        procs.append(subprocess.Popen(cmd, cwd=TRAINING_DIR, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    outputs = [p.communicate(timeout=240)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    assert "epoch 1/1" in outputs[0] and "epoch 1/1" not in outputs[1]  # only rank 0 reports and saves
    state = torch.load(tmp_path / "final.pt")
    assert state["config"]["batch_size"] == 64
