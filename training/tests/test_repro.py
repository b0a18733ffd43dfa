import json
from pathlib import Path

import torch

from conftest import needs_data
from slimmable.layers import set_width
from slimmable.models import build_model
from slimmable.repro.__main__ import main as repro_main
from slimmable.repro.methods import FreezePrefix, bn_overhead_percent, sandwich


@needs_data
def test_quick_reproduction_runs_every_method_and_resumes(tmp_path: Path) -> None:
    args = ["--runs", str(tmp_path / "runs"), "--out", str(tmp_path / "out"), "--epochs", "1",
            "--train-subset", "256", "--test-subset", "100", "--threads", "1"]
    assert repro_main(args) == 0
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    assert set(results["methods"]) == {"individual", "switchable", "shared_bn", "incremental", "usnet"}
    assert set(results["methods"]["shared_bn"]["accuracy_recalibrated"]) == {"0.25", "0.5", "0.75", "1"}
    assert len(results["methods"]["usnet"]["accuracy"]) == 7
    assert (tmp_path / "out" / "accuracy-vs-mflops.png").stat().st_size > 10_000
    assert "| slimmable, switchable BN (joint) |" in (tmp_path / "out" / "results.md").read_text()
    # A second run keeps every finished method instead of retraining it.
    before = (tmp_path / "out" / "results.json").read_text()
    assert repro_main(args) == 0
    assert json.loads(before)["methods"] == json.loads((tmp_path / "out" / "results.json").read_text())["methods"]


def test_incremental_training_keeps_narrower_widths_frozen() -> None:
    model = build_model("fashion_cnn")
    freeze = FreezePrefix(model, 0)
    conv = model.features[3][0]  # type: ignore[index]
    before = conv.weight.data[:16, :8].clone()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(1.0)
    freeze(model)
    assert torch.equal(conv.weight.data[:16, :8], before)
    assert not torch.equal(conv.weight.data[16:], before[:0].new_zeros(0)) and conv.weight.data[16:].abs().sum() > 0


def test_sandwich_rule_takes_widest_two_inner_and_narrowest() -> None:
    widths = [0.25 + k / 32 for k in range(25)]
    picked = sandwich(torch.Generator().manual_seed(0), widths)
    assert picked[0] == 1.0 and picked[-1] == 0.25 and len(picked) == 4
    assert all(0.25 < w < 1.0 for w in picked[1:3])


def test_switchable_bn_overhead_is_small_and_shared_bn_mixes_widths() -> None:
    assert 0 < bn_overhead_percent([0.25, 0.5, 0.75, 1.0]) < 1.0
    model = build_model("fashion_cnn", bn="shared").train()
    set_width(model, 0.25)
    model(torch.randn(4, 1, 28, 28) + 3)
    bn = model.features[0][1].bn  # type: ignore[index]
    assert bn.running_mean[:8].abs().sum() > 0 and torch.equal(bn.running_mean[8:], torch.zeros(24))
