import json
from pathlib import Path

import pytest
import torch
from torch import nn

from conftest import needs_data
from slimmable.cascade import name_detections
from slimmable.detection import Detections
from slimmable.export.__main__ import detector_spec
from slimmable.models import build_model
from slimmable.namer import crop_boxes, jitter_boxes, scene_crops
from slimmable.scenes import Scene


def test_a_crop_inside_a_flat_image_is_flat_and_beyond_the_edge_is_black() -> None:
    image = torch.full((1, 40, 40), 77, dtype=torch.uint8)
    inside = crop_boxes(image, torch.tensor([[10.0, 12.0, 30.0, 26.0]]))
    assert inside.shape == (1, 1, 28, 28) and bool((inside == 77).all())
    # a 4 px box at the corner: its square (8 px side with the margins) starts 2 px off the canvas
    corner = crop_boxes(image, torch.tensor([[0.0, 0.0, 4.0, 4.0]]))[0, 0]
    assert bool((corner[:5, :5] == 0).all()) and bool((corner[10:, 10:] == 77).all())


def test_a_crop_samples_the_square_around_the_box_centre() -> None:
    # a bright square on black: a box around it crops to bright in the middle, black at the margin
    image = torch.zeros(1, 64, 64, dtype=torch.uint8)
    image[0, 20:40, 24:44] = 200
    crop = crop_boxes(image, torch.tensor([[24.0, 20.0, 44.0, 40.0]]), margin=5.0)[0, 0]  # side 30: 20 px item + 5 px each way
    assert int(crop[14, 14]) == 200 and int(crop[0, 0]) == 0 and int(crop[27, 27]) == 0
    assert int((crop[14] > 100).sum()) in range(17, 21)  # the item spans 20 of the square's 30 px: about 19 of 28
    assert torch.equal(crop_boxes(image.flip(-1), torch.tensor([[20.0, 20.0, 40.0, 40.0]]), margin=5.0)[0, 0], crop.flip(-1))


def test_no_boxes_give_no_crops() -> None:
    assert crop_boxes(torch.zeros(1, 8, 8, dtype=torch.uint8), torch.zeros(0, 4)).shape == (0, 1, 28, 28)


def test_jitter_is_seeded_and_zero_jitter_keeps_the_boxes() -> None:
    boxes = torch.tensor([[10.0, 10.0, 40.0, 30.0]] * 500)
    assert torch.equal(jitter_boxes(boxes, torch.Generator().manual_seed(0), 0.0), boxes)
    a = jitter_boxes(boxes, torch.Generator().manual_seed(3), 0.1)
    assert torch.equal(a, jitter_boxes(boxes, torch.Generator().manual_seed(3), 0.1))
    centres = (a[:, :2] + a[:, 2:]) / 2
    assert abs(float(centres[:, 0].mean()) - 25.0) < 0.5 and 2.0 < float(centres[:, 0].std()) < 4.0  # std 0.1 x 30 px


def test_scene_crops_label_every_object() -> None:
    scenes = [Scene(torch.zeros(1, 32, 32, dtype=torch.uint8), torch.tensor([[0.0, 0, 8, 8], [10, 10, 20, 20]]), torch.tensor([3, 5]))]
    crops = scene_crops(scenes, jitter=0.05)
    assert crops.images.shape == (2, 1, 28, 28) and crops.labels.tolist() == [3, 5]


CROP_FIXTURE = Path(__file__).resolve().parents[2] / "test" / "fixtures" / "crop-parity.json"


def crop_parity_case() -> dict[str, object]:
    """A random 20x24 image and boxes inside, across and beyond its edges, tiny and large, with
    their crops. The server's crop (test/crop.test.ts) must give the same bytes from the same file."""
    image = torch.randint(0, 256, (1, 20, 24), generator=torch.Generator().manual_seed(5), dtype=torch.uint8)
    boxes = [[3.0, 4.0, 15.5, 12.25], [-6.0, -3.0, 9.0, 7.0], [18.2, 15.1, 30.0, 22.9], [10.0, 10.0, 10.5, 10.2], [-20.0, -20.0, 44.0, 40.0]]
    crops = crop_boxes(image, torch.tensor(boxes), size=8, margin=2.0, supersample=2)
    return {"width": 24, "height": 20, "pixels": image.reshape(-1).tolist(), "boxes": boxes,
            "crop": {"size": 8, "margin": 2.0, "supersample": 2}, "expected": crops.reshape(len(boxes), -1).tolist()}


def test_the_server_crops_parity_fixture_is_what_crop_boxes_gives() -> None:
    assert json.loads(CROP_FIXTURE.read_text()) == crop_parity_case(), f"regenerate {CROP_FIXTURE} from crop_parity_case()"


class FixedNamer(nn.Module):
    """A namer whose answer is the same logits for every crop (the re-scoring is under test)."""

    def __init__(self, logits: list[float]) -> None:
        super().__init__()
        self.logits = torch.tensor(logits)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.logits.expand(len(x), -1)


def test_naming_rescales_each_box_by_the_namers_belief_in_its_class_and_reorders() -> None:
    scene = Scene(torch.zeros(1, 32, 32, dtype=torch.uint8), torch.zeros(0, 4), torch.zeros(0, dtype=torch.int64))
    detections = Detections(torch.tensor([[0.0, 0, 8, 8], [10, 10, 20, 20]]), torch.tensor([0.9, 0.6]), torch.tensor([0, 1]))
    named = name_detections(FixedNamer([0.0, 2.0, -9.0]), scene, detections)
    p = torch.softmax(torch.tensor([0.0, 2.0, -9.0]), 0)
    assert named.labels.tolist() == [1, 0]  # the namer believes class 1: the 0.6 box now leads
    assert torch.allclose(named.scores, torch.stack([0.6 * p[1], 0.9 * p[0]]))
    assert torch.equal(named.boxes[0], detections.boxes[1])
    empty = Detections(torch.zeros(0, 4), torch.zeros(0), torch.zeros(0, dtype=torch.int64))
    assert len(name_detections(FixedNamer([0.0, 1.0, 2.0]), scene, empty).scores) == 0


@needs_data
def test_a_detector_exported_with_its_namer_records_the_pairs_map_and_its_own(tmp_path: Path) -> None:
    model = build_model("slimmable_detector", stage_channels=[8, 8, 16, 16]).eval()
    alone = {w: {"map50": 0.5 + w / 10, "map": 0.3} for w in (0.25, 0.5, 0.75, 1.0)}
    meta = {"test_map": {str(w): r for w, r in alone.items()}}
    report = tmp_path / "cascade.json"
    report.write_text(json.dumps({"widths": {f"{w:g}": {"detector": r, "named": {"map50": r["map50"] + 0.02, "map": 0.31}} for w, r in alone.items()}}))
    spec = detector_spec(model, meta, "d", "namer-x", report)
    assert spec.output["namer"] == {"model": "namer-x", "crop": {"size": 28, "margin": 2.0, "supersample": 2}}
    assert spec.accuracy[1.0] == pytest.approx(0.62) and spec.width_metrics[1.0]["map50_detector"] == pytest.approx(0.6)
    other = tmp_path / "other.json"
    other.write_text(report.read_text().replace('"map50": 0.6,', '"map50": 0.7,'))
    with pytest.raises(SystemExit, match="does not measure this detector"):
        detector_spec(model, meta, "d", "namer-x", other)


def test_the_probes_oracle_keeps_only_right_classes_and_the_top_class_variant_adds_the_namers_choice() -> None:
    from slimmable.cascade_probes import oracle, scaled, with_namer_top_class

    scene = Scene(torch.zeros(1, 32, 32, dtype=torch.uint8), torch.tensor([[0.0, 0, 8, 8], [10, 10, 20, 20]]), torch.tensor([3, 5]))
    d = Detections(torch.tensor([[0.0, 0, 8, 8], [10, 10, 20, 21]]), torch.tensor([0.9, 0.6]), torch.tensor([3, 4]))
    assert oracle(d, torch.zeros(2, 10), scene).scores.tolist() == pytest.approx([0.9, 0.0])
    p = torch.full((2, 10), 0.01)
    p[0, 3], p[1, 5] = 0.91, 0.91  # the namer agrees on the first box and says 5 for the second
    both = with_namer_top_class(d, p, scene)
    assert sorted(zip(both.labels.tolist(), [round(v, 4) for v in both.scores.tolist()])) == [(3, 0.819), (4, 0.006), (5, 0.546)]
    assert len(scaled(1.0, threshold=0.05)(d, p, scene).scores) == 1  # 0.6 x 0.01 falls below


@needs_data
def test_the_namer_cli_trains_every_width_and_a_second_run_goes_on_from_the_first(tmp_path: Path) -> None:
    from slimmable.checkpoint import load_model
    from slimmable.namer import main as namer_main

    tiny = ["--train-scenes", "80", "--test-scenes", "6", "--epochs", "1", "--threads", "1"]
    assert namer_main(["--out", str(tmp_path / "first"), *tiny, "--report", str(tmp_path / "first.json")]) == 0
    report = json.loads((tmp_path / "first.json").read_text())
    assert set(report["top1_by_width"]) == {"0.25", "0.5", "0.75", "1.0"} and report["width_1"]["objects"] > 0
    first, _ = load_model(tmp_path / "first" / "final.pt")
    assert namer_main(["--out", str(tmp_path / "more"), *tiny, "--first-scene", "80", "--init-from", str(tmp_path / "first" / "final.pt"), "--lr", "0"]) == 0
    more, _ = load_model(tmp_path / "more" / "final.pt")
    weights = [n for n in first.state_dict() if n.endswith("weight") and "bn" not in n]
    assert all(torch.equal(first.state_dict()[n], more.state_dict()[n]) for n in weights)  # LR 0: the weights it started from
