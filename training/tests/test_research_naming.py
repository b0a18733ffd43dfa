"""The research package's probes of naming: object crops, the yardstick classifier, the detector's
diagnosis, the crowding groups and the cascade's scoring variants."""
import json
from pathlib import Path

import pytest
import torch

from conftest import needs_data
from detection_helpers import TRUTH, dets, scene_with_squares
from research.cascade_probes import oracle, scaled, with_namer_top_class
from research.crops import crop_objects
from research.crowding import covered_share, detector_outcomes, overlap_groups
from research.diagnose_detector import centre_scores, class_agnostic, class_ap, merged
from research.naming_ceiling import main as naming_ceiling_main
from slimmable.detection import STRIDE, Detections, average_precision, evaluate_map
from slimmable.scenes import Scene


def test_crops_are_squares_around_each_box_even_at_the_canvas_edge() -> None:
    crops = crop_objects(scene_with_squares([[40, 40, 80, 80], [0, 100, 20, 128]], [1, 2]), size=28, margin=2)
    assert crops.shape == (2, 1, 28, 28) and crops.dtype == torch.uint8
    assert int(crops[0, 0, 14, 14]) == 200  # the object fills the middle
    assert int(crops[0, 0, 0, 0]) == 0  # the margin around it is background
    assert int(crops[1, 0, 14, 14]) == 200  # an object in the corner is cropped too (zeros beyond the canvas)


def test_centre_scores_read_the_heatmap_around_each_objects_centre() -> None:
    s = scene_with_squares([[16, 16, 48, 48]], [3])
    output = torch.full((14, 16, 16), -5.0)
    cell = 32 // STRIDE
    output[3, cell + 1, cell] = 4.0  # the peak one cell off the centre still counts
    scores = centre_scores(output, s, 10)
    assert scores.shape == (1, 10) and int(scores.argmax()) == 3


@needs_data
def test_naming_ceiling_trains_on_crops_and_reports(tmp_path: Path) -> None:
    out = tmp_path / "report.json"
    assert naming_ceiling_main(["--out", str(tmp_path / "run"), "--train-scenes", "40", "--test-scenes", "10", "--epochs", "1", "--threads", "1", "--report", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["train_crops"] > 40 and 0.0 <= report["top1"] <= 1.0 and 0.0 <= report["map50_perfect_boxes"] <= 1.0
    assert set(report["top1_by_size"]) == {"small (<28 px)", "medium (28-43 px)", "large (>=44 px)"}


def test_crowding_groups_objects_by_what_later_items_cover_and_scores_detections_per_object() -> None:
    # pasted in order: a big item, a small one on top of it, a small one the last item half hides, a free one, that last item
    boxes = torch.tensor([[0, 0, 64, 64], [10, 10, 30, 30], [80, 80, 100, 100], [110, 0, 126, 16], [70, 70, 95, 95]], dtype=torch.float32)
    scene = Scene(torch.zeros(1, 128, 128, dtype=torch.uint8), boxes, torch.tensor([1, 2, 3, 4, 5]))
    under, touched = covered_share(boxes)
    assert torch.allclose(under[:4], torch.tensor([400 / 4096, 0.0, 225 / 400, 0.0]))
    assert touched.tolist() == [True, True, True, False, True]
    assert overlap_groups(scene) == ["on top", "on top", "under >50%", "free", "on top"]
    found = Detections(torch.tensor([[10.0, 10, 30, 30], [11, 11, 30, 30], [80, 80, 100, 100]]), torch.tensor([0.9, 0.5, 0.4]), torch.tensor([7, 2, 3]))
    # object 1: its class is found but a wrong-class box outscores it; object 2: found and best; others: nothing there
    assert detector_outcomes(found, scene) == [(False, False), (True, False), (True, True), (False, False), (False, False)]


def test_diagnosis_separates_wrong_classes_from_missed_objects() -> None:
    # Right boxes, one of them with the wrong class.
    confused = [dets([[10, 10, 40, 50], [60, 60, 100, 90]], [0.9, 0.8], [4, 7]), dets([[20, 30, 60, 70]], [0.7], [3])]
    assert evaluate_map(confused, TRUTH, 10)["map50"] < 1.0
    agnostic = [class_agnostic(d) for d in confused]
    assert average_precision(agnostic, [merged(s) for s in TRUTH], 1, 0.5) == 1.0
    # A second guess of another class on the same box is suppressed across classes.
    second_guess = class_agnostic(dets([[10, 10, 40, 50], [11, 10, 40, 50]], [0.9, 0.6], [4, 3]))
    assert len(second_guess.scores) == 1 and second_guess.labels.tolist() == [0]
    assert class_ap(confused, TRUTH, 7) == 1.0
    assert class_ap(confused, TRUTH, 3) < 1.0


def test_the_probes_oracle_keeps_only_right_classes_and_the_top_class_variant_adds_the_namers_choice() -> None:
    scene = Scene(torch.zeros(1, 32, 32, dtype=torch.uint8), torch.tensor([[0.0, 0, 8, 8], [10, 10, 20, 20]]), torch.tensor([3, 5]))
    d = Detections(torch.tensor([[0.0, 0, 8, 8], [10, 10, 20, 21]]), torch.tensor([0.9, 0.6]), torch.tensor([3, 4]))
    assert oracle(d, torch.zeros(2, 10), scene).scores.tolist() == pytest.approx([0.9, 0.0])
    p = torch.full((2, 10), 0.01)
    p[0, 3], p[1, 5] = 0.91, 0.91  # the namer agrees on the first box and says 5 for the second
    both = with_namer_top_class(d, p, scene)
    assert sorted(zip(both.labels.tolist(), [round(v, 4) for v in both.scores.tolist()])) == [(3, 0.819), (4, 0.006), (5, 0.546)]
    assert len(scaled(1.0, threshold=0.05)(d, p, scene).scores) == 1  # 0.6 x 0.01 falls below
