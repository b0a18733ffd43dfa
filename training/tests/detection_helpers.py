"""Small scenes and detections for the tests of decoding, evaluation and diagnosis."""
import torch

from slimmable.detection import Detections
from slimmable.scenes import Scene


def scene(boxes: list[list[float]], labels: list[int]) -> Scene:
    return Scene(torch.zeros(1, 128, 128, dtype=torch.uint8), torch.tensor(boxes, dtype=torch.float32), torch.tensor(labels))


def dets(boxes: list[list[float]], scores: list[float], labels: list[int]) -> Detections:
    return Detections(torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4), torch.tensor(scores), torch.tensor(labels, dtype=torch.int64))


TRUTH = [scene([[10, 10, 40, 50], [60, 60, 100, 90]], [3, 7]), scene([[20, 30, 60, 70]], [3])]


def scene_with_squares(boxes: list[list[int]], labels: list[int]) -> Scene:
    image = torch.zeros(1, 128, 128, dtype=torch.uint8)
    for x1, y1, x2, y2 in boxes:
        image[0, y1:y2, x1:x2] = 200
    return Scene(image, torch.tensor(boxes, dtype=torch.float32), torch.tensor(labels))
