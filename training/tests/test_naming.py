import torch

from detection_helpers import scene_with_squares
from slimmable.naming import naming_report, perfect_box_detections


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
