import json
from pathlib import Path

import torch

from conftest import needs_data
from slimmable.detection import STRIDE, Detections
from slimmable.naming import centre_scores, crop_objects, naming_report, perfect_box_detections
from slimmable.naming_ceiling import main as naming_ceiling
from slimmable.scenes import Scene


def scene_with_squares(boxes: list[list[int]], labels: list[int]) -> Scene:
    image = torch.zeros(1, 128, 128, dtype=torch.uint8)
    for x1, y1, x2, y2 in boxes:
        image[0, y1:y2, x1:x2] = 200
    return Scene(image, torch.tensor(boxes, dtype=torch.float32), torch.tensor(labels))


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


def test_perfect_naming_scores_one_and_wrong_naming_does_not() -> None:
    scenes = [scene_with_squares([[10, 10, 40, 40], [60, 60, 100, 100]], [1, 2]), scene_with_squares([[20, 70, 50, 110]], [1])]
    right = [torch.eye(10)[[1, 2]], torch.eye(10)[[1]]]
    report = naming_report(scenes, right, 10)
    assert report["top1"] == 1.0 and report["map50_perfect_boxes"] == 1.0 and report["objects"] == 3
    assert len(perfect_box_detections(scenes, right)[0].labels) == 20  # every object once per class
    wrong = [torch.eye(10)[[2, 1]], torch.eye(10)[[2]]]
    report = naming_report(scenes, wrong, 10)
    # the true class is still answered, ranked below every wrong one: at most half the precision
    assert report["top1"] == 0.0 and float(str(report["map50_perfect_boxes"])) <= 0.5


@needs_data
def test_naming_ceiling_trains_on_crops_and_reports(tmp_path: Path) -> None:
    out = tmp_path / "report.json"
    assert naming_ceiling(["--out", str(tmp_path / "run"), "--train-scenes", "40", "--test-scenes", "10", "--epochs", "1", "--threads", "1", "--report", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["train_crops"] > 40 and 0.0 <= report["top1"] <= 1.0 and 0.0 <= report["map50_perfect_boxes"] <= 1.0
    assert set(report["top1_by_size"]) == {"small (<28 px)", "medium (28-43 px)", "large (>=44 px)"}


def test_crowding_groups_objects_by_what_later_items_cover_and_scores_detections_per_object() -> None:
    from slimmable.crowding import covered_share, detector_outcomes, overlap_groups

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
