import json
from pathlib import Path

import pytest
import torch
from torch import nn

from conftest import needs_data
from slimmable.cascade import name_detections
from slimmable.detection import Detections
from slimmable.export.specs import detector_spec
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


def test_naming_answers_each_distinct_box_once_per_class_with_the_fused_score() -> None:
    scene = Scene(torch.zeros(1, 32, 32, dtype=torch.uint8), torch.zeros(0, 4), torch.zeros(0, dtype=torch.int64))
    a, b = [0.0, 0, 8, 8], [10.0, 10, 20, 20]
    # the decoder gave box a for classes 0 and 2 (one cell, so the same class scores) and box b for class 1
    detections = Detections(torch.tensor([a, b, a]), torch.tensor([0.8, 0.6, 0.4]), torch.tensor([0, 1, 2]))
    class_scores = torch.tensor([[0.8, 0.1, 0.4], [0.2, 0.6, 0.05], [0.8, 0.1, 0.4]])
    p = torch.softmax(torch.tensor([0.0, 2.0, -1.0]), 0)
    named = name_detections(FixedNamer([0.0, 2.0, -1.0]), scene, detections, class_scores, detector_power=0.5)
    assert len(named.scores) == 6  # 2 distinct boxes x 3 classes, none overlapping another of its class
    expected = {(tuple(a), c): 0.8 * (class_scores[0, c] / 0.8) ** 0.5 * p[c] for c in range(3)}
    expected |= {(tuple(b), c): 0.6 * (class_scores[1, c] / 0.6) ** 0.5 * p[c] for c in range(3)}
    got = {(tuple(box.tolist()), int(c)): float(v) for box, c, v in zip(named.boxes, named.labels, named.scores)}
    assert got.keys() == expected.keys() and all(abs(got[k] - float(expected[k])) < 1e-6 for k in got)
    assert named.scores.tolist() == sorted(named.scores.tolist(), reverse=True)
    assert got[(tuple(a), 1)] > got[(tuple(a), 0)]  # on box a the namer's class 1 outweighs the detector's class 0
    # power 1: the detector's class score x the namer's probability; a threshold drops answers, not boxes' other classes
    plain = name_detections(FixedNamer([0.0, 2.0, -1.0]), scene, detections, class_scores, detector_power=1.0, score_threshold=0.05)
    assert sorted(round(v, 5) for v in plain.scores.tolist()) == sorted(round(float(s * p[c]), 5) for s, c in
                                                                         [(0.8, 0), (0.1, 1), (0.2, 0), (0.6, 1)] if s * p[c] > 0.05)
    empty = Detections(torch.zeros(0, 4), torch.zeros(0), torch.zeros(0, dtype=torch.int64))
    assert len(name_detections(FixedNamer([0.0, 1.0, 2.0]), scene, empty, torch.zeros(0, 3), 0.5).scores) == 0


def test_a_class_answered_twice_for_overlapping_boxes_keeps_the_better_one() -> None:
    scene = Scene(torch.zeros(1, 32, 32, dtype=torch.uint8), torch.zeros(0, 4), torch.zeros(0, dtype=torch.int64))
    detections = Detections(torch.tensor([[0.0, 0, 10, 10], [0.0, 0, 10, 11]]), torch.tensor([0.9, 0.5]), torch.tensor([0, 0]))
    named = name_detections(FixedNamer([1.0, 0.0]), scene, detections, torch.tensor([[0.9, 0.1], [0.5, 0.5]]), 1.0)
    assert named.boxes.tolist() == [[0.0, 0, 10, 10], [0.0, 0, 10, 11]] and named.labels.tolist() == [0, 1]


@needs_data
def test_a_detector_exported_with_its_namer_records_the_pairs_map_and_its_own(tmp_path: Path) -> None:
    model = build_model("slimmable_detector", stage_channels=[8, 8, 16, 16]).eval()
    alone = {w: {"map50": 0.5 + w / 10, "map": 0.3} for w in (0.25, 0.5, 0.75, 1.0)}
    meta = {"test_map": {str(w): r for w, r in alone.items()}}
    report = tmp_path / "cascade.json"
    widths = {f"{w:g}": {"detector": r, "named": {"map50": r["map50"] + 0.02, "map": 0.31}} for w, r in alone.items()}
    report.write_text(json.dumps({"widths": widths}))
    with pytest.raises(SystemExit, match="no detector_power"):
        detector_spec(model, meta, "d", "namer-x", report)
    report.write_text(json.dumps({"widths": widths, "detector_power": 0.5, "score_threshold": 0.05}))
    spec = detector_spec(model, meta, "d", "namer-x", report)
    assert spec.output["namer"] == {"model": "namer-x", "crop": {"size": 28, "margin": 2.0, "supersample": 2}, "detector_power": 0.5,
                                    "candidate_threshold": 0.05}
    assert not any("test_time_flip" in m for m in spec.width_metrics.values())
    widths["1"]["test_time_flip"] = True
    report.write_text(json.dumps({"widths": widths, "detector_power": 0.5, "score_threshold": 0.05}))
    flipped = detector_spec(model, meta, "d", "namer-x", report).width_metrics
    assert flipped[1.0]["test_time_flip"] is True and "test_time_flip" not in flipped[0.25]
    assert spec.accuracy[1.0] == pytest.approx(0.62) and spec.width_metrics[1.0]["map50_detector"] == pytest.approx(0.6)
    other = tmp_path / "other.json"
    other.write_text(report.read_text().replace('"map50": 0.6,', '"map50": 0.7,'))
    with pytest.raises(SystemExit, match="does not measure this detector"):
        detector_spec(model, meta, "d", "namer-x", other)


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


REPO = Path(__file__).resolve().parents[2]
DETECT_PARITY = REPO / "test" / "fixtures" / "detect-parity.json"


def detect_parity_case() -> dict[str, object]:
    """The shipped detector and namer's answers for the committed test scene (test scene 0) at every
    width, as /detect gives them at scoreThreshold 0.01 (with flips where the manifest says). The
    server must give the same (test/detect.test.ts); regenerate after re-exporting either bundle."""
    from slimmable.cascade import with_mirrored
    from slimmable.checkpoint import load_model
    from slimmable.data import LABELS, load_split
    from slimmable.detection import decode_with_class_scores
    from slimmable.detector_eval import raw_outputs
    from slimmable.layers import set_width
    from slimmable.scenes import TEST_SEED, make_scenes

    manifest = json.loads((REPO / "models" / "fashion-detector" / "manifest.json").read_text())
    spec = manifest["output"]["namer"]
    detector, _ = load_model(REPO / "models" / "fashion-detector")
    namer, _ = load_model(REPO / "models" / spec["model"])
    scene = make_scenes(load_split("test"), TEST_SEED, 1)[0]
    widths: dict[str, object] = {}
    for entry in manifest["widths"]:
        width, flip = entry["width"], bool(entry.get("test_time_flip", False))
        output = raw_outputs(detector, [scene], width)
        output = with_mirrored(output, detector, [scene], width) if flip else output
        detections, scores = decode_with_class_scores(output[0], len(LABELS), spec["candidate_threshold"], class_score=manifest["output"]["class_score"])
        set_width(namer, width)
        named = name_detections(namer, scene, detections, scores, spec["detector_power"], score_threshold=0.01, flip=flip)
        widths[f"{width:g}"] = [{"index": int(l), "score": round(float(s), 6), "box": [round(float(v), 4) for v in b]}
                                for b, s, l in zip(named.boxes, named.scores, named.labels)]
    return {"scene": "test/fixtures/scene-test-00000.png", "score_threshold": 0.01, "widths": widths}


@needs_data
def test_the_servers_detect_parity_fixture_is_what_the_shipped_pair_gives() -> None:
    # Compared with tolerances: another CPU's kernels may move the sixth decimal.
    want, got = json.loads(DETECT_PARITY.read_text()), detect_parity_case()
    assert want["widths"].keys() == got["widths"].keys(), f"regenerate {DETECT_PARITY} from detect_parity_case()"
    for width, answers in got["widths"].items():
        assert [a["index"] for a in answers] == [a["index"] for a in want["widths"][width]], width
        for a, b in zip(answers, want["widths"][width]):
            assert abs(a["score"] - b["score"]) < 1e-4 and max(abs(x - y) for x, y in zip(a["box"], b["box"])) < 1e-3, width
