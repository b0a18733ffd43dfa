"""The research package's detector variants: the stride-4 class path, smallest-wins targets,
opaque items, and the step timer."""
from dataclasses import asdict, replace
from pathlib import Path

import pytest
import torch

from bundle_helpers import assert_detector_widths_rebuild_exactly, randomise_bn
from conftest import needs_data
from detection_helpers import scene
from research.export import main as research_export
from research.fine_class_detector import FineClassDetector
from research.opaque_items import opaque, silhouette
from research.smallest_wins import smallest_wins_targets
from research.step_timing import step_seconds
from research.train_naming_probe import NamingProbeConfig, NamingProbeTraining
from slimmable.checkpoint import load_model
from slimmable.data import load_split
from slimmable.detection import make_targets
from slimmable.detector_training import train_detector
from slimmable.layers import set_width
from slimmable.models import build_model
from slimmable.scenes import make_scenes


def test_a_fine_class_path_grows_onto_a_trained_detector_as_a_no_op_and_then_moves_only_the_class_scores() -> None:
    base = build_model("slimmable_detector", input_size=64, num_classes=7, box_channels=16).eval()
    grown = build_model("fine_class_detector", input_size=64, num_classes=7, box_channels=16, fine_class_channels=8).eval()
    missing, unexpected = grown.load_state_dict(base.state_dict(), strict=False)
    assert not unexpected and missing and all(k.startswith(("fine_", "predict_fine")) for k in missing)
    inputs = torch.randn(2, 1, 64, 64)
    with torch.no_grad():
        for width in base.widths:
            set_width(base, width)
            set_width(grown, width)
            assert torch.equal(grown(inputs), base(inputs))  # the zero predictor adds nothing yet
        torch.nn.init.normal_(getattr(grown, "predict_fine").weight, std=0.1)
        moved = grown(inputs) - base(inputs)
    assert moved[:, :7].abs().max() > 0 and torch.equal(moved[:, 7:], torch.zeros_like(moved[:, 7:]))


@pytest.mark.parametrize("extra", [{"box_channels": 8}, {}])
def test_a_detector_with_a_fine_class_path_rebuilds_every_width_exactly(tmp_path: Path, extra: dict[str, int]) -> None:
    # The fine class path adds a stride-4 branch, a MaxPool and an Add: the recipe must still be prefix slices.
    model = build_model("fine_class_detector", input_size=32, stage_channels=[8, 8, 16, 16], fine_class_channels=8, **extra).eval()
    randomise_bn(model)
    torch.nn.init.normal_(getattr(model, "predict_fine").weight, std=0.1)  # its predictor starts at zero; make the path count
    assert_detector_widths_rebuild_exactly(model, tmp_path)
    assert all(any(name.startswith(prefix) for name in model.state_dict())
               for prefix in (["predict_box"] if "box_channels" in extra else []) + ["predict_fine"])


@needs_data
def test_a_later_stage_may_grow_a_fine_class_path_but_not_other_modules(tmp_path: Path) -> None:
    quiet = lambda _line: None  # noqa: E731
    first = NamingProbeConfig(epochs=1, train_scenes=16, val_scenes=2, test_scenes=4, batch_size=16, threads=1, stage_channels=[8, 8, 16, 16])
    model, _ = train_detector(first, tmp_path / "first", log=quiet, variant=NamingProbeTraining)
    start = str(tmp_path / "first" / "final.pt")
    grown, _ = train_detector(replace(first, init_from=start, fine_class_channels=8, lr=0.0), tmp_path / "grown", log=quiet, variant=NamingProbeTraining)
    assert torch.equal(grown.state_dict()["predict.weight"], model.state_dict()["predict.weight"])
    assert not grown.state_dict()["predict_fine.weight"].any()  # grown at zero, and lr 0 kept it there
    with pytest.raises(ValueError, match="does not fit"):
        train_detector(replace(first, init_from=start, box_channels=8), tmp_path / "other", log=quiet, variant=NamingProbeTraining)
    # the grown run's checkpoint names its architecture, so the library's loader rebuilds the variant
    loaded, meta = load_model(tmp_path / "grown" / "final.pt")
    assert meta["arch"] == "fine_class_detector" and isinstance(loaded, FineClassDetector)
    assert all(torch.equal(loaded.state_dict()[k], v) for k, v in grown.state_dict().items())


@needs_data
def test_a_fine_class_checkpoint_exports_with_research_export_and_its_bundle_loads_back(tmp_path: Path) -> None:
    model = build_model("fine_class_detector", stage_channels=[8, 8, 16, 16], box_channels=8, fine_class_channels=8).eval()
    randomise_bn(model)
    torch.nn.init.normal_(getattr(model, "predict_fine").weight, std=0.1)
    recipe = asdict(NamingProbeConfig(stage_channels=[8, 8, 16, 16], box_channels=8, fine_class_channels=8))
    torch.save({"arch": "fine_class_detector", "widths": model.widths, "model": model.state_dict(), "config": recipe,
                "test_map": {f"{w:g}": {"map50": 0.5, "map": 0.3} for w in model.widths}}, tmp_path / "final.pt")
    assert research_export(["--checkpoint", str(tmp_path / "final.pt"), "--out", str(tmp_path / "bundle")]) == 0
    loaded, meta = load_model(tmp_path / "bundle")
    assert isinstance(loaded, FineClassDetector) and meta["arch"] == "fine_class_detector" and meta["golden_max_error"] <= 1e-4
    assert all(torch.equal(loaded.state_dict()[k], v) for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked"))


def test_smallest_wins_cuts_a_big_objects_target_inside_a_smaller_one_but_keeps_every_peak() -> None:
    # a small item on a big one: big centre cell (y 4, x 4); the small box holds the cells y 2-3, x 4-5
    scenes = [scene([[0, 0, 64, 64], [32, 16, 48, 32]], [1, 2])]
    plain = make_targets(scenes, 10, 128)
    cut = smallest_wins_targets(scenes, 10, 128)
    assert float(plain.heatmap[0, 1, 2:4, 4:6].min()) > 0.02  # the big object's Gaussian reaches into the small box ...
    assert float(cut.heatmap[0, 1, 2:4, 4:6].max()) == 0.0  # ... and is cut there
    assert float(cut.heatmap[0, 1, 4, 4]) == 1.0 and float(cut.heatmap[0, 2, 3, 5]) == 1.0  # both peaks stay
    assert torch.equal(cut.heatmap[0, 2], plain.heatmap[0, 2]) and torch.equal(cut.mask, plain.mask)
    assert torch.equal(cut.heatmap[0, 1, 6:], plain.heatmap[0, 1, 6:])  # outside the small box nothing changes
    mirrored = smallest_wins_targets(scenes, 10, 128, [True])  # a mirrored input gets the mirrored boxes' targets
    assert torch.equal(mirrored.mask, make_targets(scenes, 10, 128, [True]).mask) and not torch.equal(mirrored.heatmap, cut.heatmap)


def test_silhouette_fills_enclosed_dark_parts_but_not_open_gaps() -> None:
    ring = torch.zeros(12, 12)
    ring[2:10, 2:10] = 200.0
    ring[4:8, 4:8] = 0.0  # a dark patch inside the garment: part of it
    assert bool(silhouette(ring)[2:10, 2:10].all()) and int(silhouette(ring).sum()) == 64
    legs = ring.clone()
    legs[4:10, 4:8] = 0.0  # a gap open to the bottom edge through the dark surround: not part of it
    assert not bool(silhouette(legs)[5:10, 4:8].any()) and bool(silhouette(legs)[2:4, 2:10].all())


@needs_data
def test_opaque_items_change_only_the_pixels_not_the_layout() -> None:
    split = load_split("test")
    pairs = list(zip(make_scenes(split, 1, 10), make_scenes(split, 1, 10, item_alpha=opaque)))
    assert all(torch.equal(p.boxes, o.boxes) and torch.equal(p.labels, o.labels) for p, o in pairs)
    assert any(not torch.equal(p.image, o.image) for p, o in pairs)


def test_step_timing_times_a_joint_step_in_both_precisions() -> None:
    model = build_model("slimmable_detector", widths=[0.5, 1.0], stage_channels=[8, 8, 16, 16])
    inputs = torch.randn(2, 1, 128, 128)
    for bf16 in (False, True):
        assert step_seconds(model, inputs, [0.5, 1.0], bf16, repeats=1) > 0
    assert all(p.grad is None for p in model.parameters())  # a timing leaves no gradients behind
