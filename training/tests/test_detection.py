import json
from dataclasses import asdict, replace
from pathlib import Path

import pytest
import torch

from conftest import needs_data
from detection_helpers import TRUTH, dets, scene
from slimmable.data import load_split
from slimmable.detection import STRIDE, centre_class_loss, class_scores, decode, detection_loss, evaluate_map, heatmap_distillation, make_targets
from slimmable.detector_training import DetectorConfig, fresh_epochs, start_from, train_detector, training_scenes
from slimmable.models import build_model, kwargs_from_recipe
from slimmable.scenes import MAX_IOU, MAX_OBJECTS, box_iou, make_scenes


def test_evaluator_perfect_detections_score_one() -> None:
    perfect = [dets([[10, 10, 40, 50], [60, 60, 100, 90]], [0.9, 0.8], [3, 7]), dets([[20, 30, 60, 70]], [0.7], [3])]
    assert evaluate_map(perfect, TRUTH, 10) == {"map50": 1.0, "map": 1.0}


def test_evaluator_missing_boxes_lower_recall() -> None:
    missing = [dets([[10, 10, 40, 50]], [0.9], [3]), dets([], [], [])]
    result = evaluate_map(missing, TRUTH, 10)
    # class 3: 1 of 2 found at precision 1 -> AP about 0.5; class 7 never found -> 0
    assert abs(result["map50"] - (51 / 101 + 0) / 2) < 1e-6


def test_evaluator_duplicates_are_false_positives() -> None:
    duplicated = [dets([[10, 10, 40, 50], [10, 10, 40, 50], [60, 60, 100, 90]], [0.9, 0.95, 0.8], [3, 3, 7]), dets([[20, 30, 60, 70]], [0.7], [3])]
    result = evaluate_map(duplicated, TRUTH, 10)
    assert 0.5 < result["map50"] < 1.0


def test_evaluator_shifted_boxes_pass_at_low_iou_only() -> None:
    shifted = [dets([[14, 14, 44, 54], [60, 60, 100, 90]], [0.9, 0.8], [3, 7]), dets([[20, 30, 60, 70]], [0.7], [3])]
    iou = float(box_iou(torch.tensor([[14.0, 14, 44, 54]]), torch.tensor([[10.0, 10, 40, 50]])))
    assert 0.5 < iou < 0.75
    result = evaluate_map(shifted, TRUTH, 10)
    assert result["map50"] == 1.0 and result["map"] < 1.0
    wrong_class = [dets([[10, 10, 40, 50], [60, 60, 100, 90]], [0.9, 0.8], [4, 7]), dets([[20, 30, 60, 70]], [0.7], [3])]
    assert evaluate_map(wrong_class, TRUTH, 10)["map50"] < 1.0


def test_targets_decode_back_to_the_true_boxes() -> None:
    truth = scene([[10, 10, 40, 50], [60, 61, 101, 90]], [3, 7])
    t = make_targets([truth], 10, 128)
    logits = torch.where(t.heatmap[0] >= 1, torch.tensor(8.0), torch.tensor(-8.0))
    output = torch.cat([logits, t.size[0], t.offset[0]])
    decoded = decode(output, 10, score_threshold=0.5)
    assert sorted(decoded.labels.tolist()) == [3, 7]
    for box, label in zip(decoded.boxes, decoded.labels):
        expected = truth.boxes[truth.labels == label][0]
        assert torch.allclose(box, expected, atol=1e-4)


def test_loss_is_finite_and_falls_when_the_output_matches_the_targets() -> None:
    truth = scene([[10, 10, 40, 50]], [3])
    t = make_targets([truth], 10, 128)
    near = torch.cat([torch.logit(t.heatmap.clamp(1e-4, 1 - 1e-4)), t.size, t.offset], 1)
    far = torch.zeros_like(near)
    assert float(detection_loss(near, t, 10)) < float(detection_loss(far, t, 10))


@needs_data
def test_scene_generator_is_deterministic_and_within_its_rules() -> None:
    split = load_split("test")
    a = make_scenes(split, 1, 30)
    b = make_scenes(split, 1, 30)
    assert all(torch.equal(x.image, y.image) and torch.equal(x.boxes, y.boxes) for x, y in zip(a, b))
    assert not torch.equal(make_scenes(split, 2, 1)[0].image, a[0].image)
    for s in a:
        assert 1 <= len(s.labels) <= MAX_OBJECTS and s.image.shape == (1, 128, 128)
        sides = s.boxes[:, 2:] - s.boxes[:, :2]
        assert float(sides.max()) <= 64 and float(s.boxes.min()) >= 0 and float(s.boxes.max()) <= 128
        if len(s.boxes) > 1:
            iou = box_iou(s.boxes, s.boxes) - torch.eye(len(s.boxes))
            assert float(iou.max()) <= MAX_IOU + 1e-6


def test_detector_widths_span_a_real_compute_range() -> None:
    from slimmable.flops import count_width

    model = build_model("slimmable_detector")
    macs = [count_width(model, w)[0] for w in model.widths]
    assert macs[-1] / macs[0] > 10
    assert model(torch.zeros(1, 1, 128, 128)).shape == (1, 14, 128 // STRIDE, 128 // STRIDE)


def test_distillation_is_zero_for_an_identical_student_and_positive_otherwise() -> None:
    t = make_targets([scene([[10, 10, 40, 50]], [3])], 10, 128)
    teacher = torch.randn(1, 14, 16, 16)
    assert abs(float(heatmap_distillation(teacher.clone(), teacher, t, 10))) < 1e-3
    assert float(heatmap_distillation(torch.zeros_like(teacher), teacher, t, 10)) > 1.0


@needs_data
def test_a_second_stage_starts_from_the_first_and_trains_on_fresh_scenes(tmp_path: Path) -> None:
    quiet = lambda _line: None  # noqa: E731
    first = DetectorConfig(epochs=1, train_scenes=32, val_scenes=4, test_scenes=8, batch_size=16, threads=1)
    model, _ = train_detector(first, tmp_path / "first", log=quiet)
    # lr 0: the second stage must keep the first stage's convolution weights exactly
    second = replace(first, fresh_scenes=True, distill=1.0, init_from=str(tmp_path / "first" / "final.pt"), lr=0.0)
    lines: list[str] = []
    stage, results = train_detector(second, tmp_path / "second", log=lines.append)
    assert any("initialised from" in line for line in lines)
    assert torch.equal(stage.state_dict()["predict.weight"], model.state_dict()["predict.weight"])
    assert all(0.0 <= r["map50"] <= 1.0 for r in results.values())
    # the second stage's checkpoint names the first stage's recipe (the exporter writes it into the bundle)
    assert torch.load(tmp_path / "second" / "final.pt")["earlier_stages"] == [asdict(first)]
    # fixed scenes are the same block every epoch; fresh ones a new block per epoch, never the fixed one
    split = load_split("train")
    fixed = [training_scenes(split, first, epoch)[0].image for epoch in (0, 1)]
    fresh = [training_scenes(split, second, epoch)[0].image for epoch in (0, 1)]
    assert torch.equal(fixed[0], fixed[1])
    assert not torch.equal(fresh[0], fixed[0]) and not torch.equal(fresh[0], fresh[1])
    # a third stage started from the second goes on after the second's blocks (epochs=1: one block)
    assert fresh_epochs([asdict(first), asdict(second)]) == 1
    assert torch.equal(training_scenes(split, second, 0, fresh_before=1)[0].image, fresh[1])


@needs_data
def test_a_recipe_with_other_stages_trains_in_bf16_and_its_checkpoint_rebuilds_that_shape(tmp_path: Path) -> None:
    from slimmable.checkpoint import load_model

    config = DetectorConfig(epochs=1, train_scenes=16, val_scenes=2, test_scenes=4, batch_size=16, threads=1,
                            stage_channels=[8, 16, 24, 32], stage_depths=[2, 3, 1, 1], bf16=True)
    model, _ = train_detector(config, tmp_path / "run", log=lambda _line: None)
    assert len(getattr(model, "stage3")) == 1 and len(getattr(model, "stage1")) == 4  # conv, bn, relu + one block
    loaded, _ = load_model(tmp_path / "run" / "final.pt")  # no shape arguments: they come from the recipe
    for name, tensor in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[name], tensor), name
    # a recipe without stage fields builds the default shape, whose state-dict keys the shipped bundle carries
    first = build_model("slimmable_detector", **kwargs_from_recipe("slimmable_detector", {"input_size": 128}))
    keys = first.state_dict().keys()
    assert "stage1.0.weight" in keys and not any(k.startswith("stage1.3") for k in keys)
    assert tuple(first.state_dict()["stage3.2.0.weight"].shape) == (128, 128, 3, 3) and "stage3.3.0.weight" not in keys


def test_a_run_starts_only_from_weights_that_fit_its_model(tmp_path: Path) -> None:
    small = build_model("slimmable_detector", stage_channels=[8, 8, 16, 16])
    path = tmp_path / "start.pt"
    torch.save({"model": small.state_dict(), "config": {"epochs": 1}, "earlier_stages": [{"epochs": 2}]}, path)
    same = build_model("slimmable_detector", stage_channels=[8, 8, 16, 16])
    assert start_from(same, str(path), ()) == [{"epochs": 2}, {"epochs": 1}]  # the recipes it came from, first first
    assert torch.equal(same.state_dict()["predict.weight"], small.state_dict()["predict.weight"])
    with pytest.raises(ValueError, match="does not fit"):  # a box branch the checkpoint lacks
        start_from(build_model("slimmable_detector", stage_channels=[8, 8, 16, 16], box_channels=8), str(path), ())
    with pytest.raises(ValueError, match="does not fit"):  # other shapes
        start_from(build_model("slimmable_detector"), str(path), ())


def test_centre_class_loss_rewards_the_right_class_at_the_centre_only() -> None:
    t = make_targets([scene([[10, 10, 40, 50]], [3])], 10, 128)  # centre (25, 30) -> cell (3, 3)
    right, wrong = torch.zeros(1, 14, 16, 16), torch.zeros(1, 14, 16, 16)
    right[0, 3, 3, 3] = 10.0
    wrong[0, 5, 3, 3] = 10.0
    assert float(centre_class_loss(right, t, 10)) < 0.01 < 5.0 < float(centre_class_loss(wrong, t, 10))
    away = torch.zeros(1, 14, 16, 16)
    away[0, 3, 8, 8] = 10.0  # the right class, but far from the centre: no credit
    assert abs(float(centre_class_loss(away, t, 10)) - float(torch.log(torch.tensor(10.0)))) < 1e-4
    empty = make_targets([scene([], [])], 10, 128)
    assert float(centre_class_loss(right, empty, 10)) == 0.0


PARITY_FIXTURE = Path(__file__).resolve().parents[2] / "test" / "fixtures" / "decode-parity.json"


def parity_case() -> dict[str, object]:
    """A random 3-class output on a 6x6 grid and what `decode` makes of it under each class score.
    The server's decoder (test/detection.test.ts) must give the same detections from the same file."""
    output = torch.randn(3 + 4, 6, 6, generator=torch.Generator().manual_seed(7)) * 2
    cases: dict[str, object] = {}
    for mode in ("heatmap", "blend"):
        d = decode(output, 3, score_threshold=0.2, class_score=mode)
        cases[mode] = [{"index": int(l), "score": round(float(s), 6), "box": [round(float(v), 4) for v in b]} for b, s, l in zip(d.boxes, d.scores, d.labels)]
    return {"dims": [1, 7, 6, 6], "num_classes": 3, "stride": STRIDE, "score_threshold": 0.2, "data": [round(float(v), 6) for v in output.reshape(-1)], "expected": cases}


def test_the_server_decoders_parity_fixture_is_what_decode_gives() -> None:
    # The file holds the inputs rounded to 6 decimals: the TypeScript side compares with a tolerance.
    case = parity_case()
    assert json.loads(PARITY_FIXTURE.read_text()) == case, f"regenerate {PARITY_FIXTURE} from parity_case()"


def test_blend_scoring_ranks_a_cells_classes_against_each_other() -> None:
    # One cell, two classes with confident sigmoids (logits 3 and 2.5): the heatmap scores both
    # above 0.9; the blend keeps the first high and pulls the runner-up down by its softmax share.
    logits = torch.full((2, 3, 3), -8.0)
    logits[0, 1, 1], logits[1, 1, 1] = 3.0, 2.5
    heat, blend = class_scores(logits, "heatmap")[:, 1, 1], class_scores(logits, "blend")[:, 1, 1]
    assert heat.min() > 0.9
    soft = torch.softmax(torch.tensor([3.0, 2.5]), 0)
    assert torch.allclose(blend, (heat * heat.max() * soft).sqrt())
    assert blend[1] < 0.65 < blend[0]
