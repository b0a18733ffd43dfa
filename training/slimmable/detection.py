"""CenterNet-style targets, loss and decoding for the slimmable detector, and a COCO-style evaluator.

The decoder here is the reference for the server's TypeScript decoder (src/vision/detection.ts):
class scores (the sigmoid heatmap, or its blend with the softmax over classes), 3x3 peak extraction, top-k, box = (cell + offset) * stride +- size * stride / 2,
then class-wise non-maximum suppression.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .scenes import Scene, box_iou

STRIDE = 8  # output grid cell in input pixels (the detector predicts at 1/8 resolution)


def gaussian_radius(height: float, width: float, min_overlap: float = 0.7) -> float:
    """The largest centre displacement that keeps IoU >= min_overlap with the true box (CenterNet)."""
    a1, b1 = 1.0, height + width
    c1 = width * height * (1 - min_overlap) / (1 + min_overlap)
    r1 = (b1 + math.sqrt(b1**2 - 4 * a1 * c1)) / 2
    a2, b2 = 4.0, 2 * (height + width)
    c2 = (1 - min_overlap) * width * height
    r2 = (b2 + math.sqrt(b2**2 - 4 * a2 * c2)) / 2
    a3, b3 = 4 * min_overlap, -2 * min_overlap * (height + width)
    c3 = (min_overlap - 1) * width * height
    r3 = (b3 + math.sqrt(b3**2 - 4 * a3 * c3)) / 2
    return min(r1, r2, r3)


def centre_cell(box: list[float], grid_w: int, grid_h: int) -> tuple[int, int]:
    """The output cell (x, y) holding a pixel box's centre: where its targets and its naming live."""
    return min(int((box[0] + box[2]) / 2 / STRIDE), grid_w - 1), min(int((box[1] + box[3]) / 2 / STRIDE), grid_h - 1)


@dataclass
class Targets:
    heatmap: torch.Tensor  # N x C x H x W
    size: torch.Tensor  # N x 2 x H x W, box (w, h) / stride at object centres
    offset: torch.Tensor  # N x 2 x H x W, centre minus its cell
    mask: torch.Tensor  # N x 1 x H x W, 1 at object centres


def cell_coordinates(grid: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The (y, x) index of every cell of a ``grid`` x ``grid`` output, as two float grids."""
    ys, xs = torch.meshgrid(torch.arange(grid, dtype=torch.float32), torch.arange(grid, dtype=torch.float32), indexing="ij")
    return ys, xs


def centre_gaussian(box: list[float], ys: torch.Tensor, xs: torch.Tensor) -> torch.Tensor:
    """One object's heatmap target on the grid of ``cell_coordinates``: 1 at its centre cell, falling
    off with the CenterNet radius of its box (in cells)."""
    x1, y1, x2, y2 = (v / STRIDE for v in box)
    px, py = centre_cell(box, xs.shape[1], xs.shape[0])
    sigma = (2 * max(0, int(gaussian_radius(y2 - y1, x2 - x1))) + 1) / 6
    return torch.exp(-((xs - px) ** 2 + (ys - py) ** 2) / (2 * sigma**2))


def target_boxes(scene: Scene, input_size: int, flip: bool) -> torch.Tensor:
    """A scene's boxes (K x 4) as the training input shows them: mirrored when the image was."""
    return (flip_boxes(scene.boxes, input_size) if flip else scene.boxes).reshape(-1, 4)


def make_targets(scenes: list[Scene], num_classes: int, input_size: int, flips: list[bool] | None = None) -> Targets:
    """The targets of a batch of scenes (mirrored where ``flips`` says): each class's heatmap is the
    maximum of its objects' Gaussians; size and offset are set at each object's centre cell."""
    grid = input_size // STRIDE
    n = len(scenes)
    heatmap = torch.zeros(n, num_classes, grid, grid)
    size = torch.zeros(n, 2, grid, grid)
    offset = torch.zeros(n, 2, grid, grid)
    mask = torch.zeros(n, 1, grid, grid)
    ys, xs = cell_coordinates(grid)
    for i, scene in enumerate(scenes):
        boxes = target_boxes(scene, input_size, bool(flips and flips[i]))
        for box, label in zip(boxes.tolist(), scene.labels.tolist()):
            x1, y1, x2, y2 = (v / STRIDE for v in box)
            px, py = centre_cell(box, grid, grid)
            heatmap[i, label] = torch.maximum(heatmap[i, label], centre_gaussian(box, ys, xs))
            size[i, :, py, px] = torch.tensor([x2 - x1, y2 - y1])
            offset[i, :, py, px] = torch.tensor([(x1 + x2) / 2 - px, (y1 + y2) / 2 - py])
            mask[i, 0, py, px] = 1
    return Targets(heatmap, size, offset, mask)


def flip_boxes(boxes: torch.Tensor, input_size: int) -> torch.Tensor:
    flipped = boxes.clone()
    flipped[:, 0] = input_size - boxes[:, 2]
    flipped[:, 2] = input_size - boxes[:, 0]
    return flipped


def detection_loss(output: torch.Tensor, targets: Targets, num_classes: int) -> torch.Tensor:
    """Penalty-reduced focal loss on the heatmap (alpha 2, beta 4) + L1 on size (x0.1) and offset."""
    logits = output[:, :num_classes]
    pred = torch.sigmoid(logits).clamp(1e-4, 1 - 1e-4)
    gt = targets.heatmap
    positive = gt.eq(1).float()
    pos_loss = -torch.log(pred) * (1 - pred) ** 2 * positive
    neg_loss = -torch.log(1 - pred) * pred**2 * (1 - gt) ** 4 * (1 - positive)
    num_objects = positive.sum().clamp(min=1)
    focal = (pos_loss.sum() + neg_loss.sum()) / num_objects
    mask = targets.mask
    size_loss = (F.l1_loss(output[:, num_classes : num_classes + 2] * mask, targets.size * mask, reduction="sum")) / num_objects
    offset_loss = (F.l1_loss(output[:, num_classes + 2 : num_classes + 4] * mask, targets.offset * mask, reduction="sum")) / num_objects
    return focal + 0.1 * size_loss + offset_loss


def centre_class_loss(output: torch.Tensor, targets: Targets, num_classes: int) -> torch.Tensor:
    """Cross-entropy of the class logits at each object's centre cell against its label: a direct
    naming signal beside the focal heatmap, which trains each class's score on its own."""
    centres = targets.mask[:, 0] > 0
    logits = output[:, :num_classes].permute(0, 2, 3, 1)[centres]
    labels = targets.heatmap.permute(0, 2, 3, 1)[centres].argmax(1)
    return F.cross_entropy(logits, labels) if len(labels) else logits.sum() * 0


def heatmap_distillation(student: torch.Tensor, teacher: torch.Tensor, targets: Targets, num_classes: int) -> torch.Tensor:
    """In-place distillation for a narrow width: KL divergence of its per-cell, per-class heatmap
    probabilities from the (detached) full width's, summed and divided by the object count like the
    focal loss. The teacher's soft scores carry what a hard label cannot (this shirt looks 30% like a
    T-shirt), the knowledge US-Nets pass from the widest network to the narrow ones."""
    target = torch.sigmoid(teacher[:, :num_classes])
    logits = student[:, :num_classes]
    cross_entropy = F.binary_cross_entropy_with_logits(logits, target, reduction="sum")
    entropy = F.binary_cross_entropy(target, target, reduction="sum")  # the minimum: KL = cross-entropy - entropy
    return (cross_entropy - entropy) / targets.mask.sum().clamp(min=1)


@dataclass
class Detections:
    boxes: torch.Tensor  # K x 4 (x1, y1, x2, y2) in input pixels
    scores: torch.Tensor  # K
    labels: torch.Tensor  # K


def nms(boxes: torch.Tensor, scores: torch.Tensor, labels: torch.Tensor, iou_threshold: float) -> torch.Tensor:
    """Indices kept by greedy class-wise non-maximum suppression, best first."""
    order = scores.argsort(descending=True)
    if len(order) == 0:
        return order
    ranked, classes = boxes[order], labels[order]
    overlaps = (box_iou(ranked, ranked) > iou_threshold) & (classes[:, None] == classes[None, :])
    suppressed = torch.zeros(len(order), dtype=torch.bool)
    keep: list[int] = []
    for rank in range(len(order)):
        if not suppressed[rank]:
            keep.append(rank)
            suppressed |= overlaps[rank]
    return order[torch.tensor(keep, dtype=torch.int64)]


CLASS_SCORES = ("heatmap", "blend")


def class_scores(logits: torch.Tensor, class_score: str = "heatmap") -> torch.Tensor:
    """Per-cell class scores (C x H x W) from the class logits. ``heatmap``: each class's sigmoid, as
    the focal loss trains it. ``blend``: the geometric mean of that sigmoid and (the cell's best
    sigmoid x the softmax over classes), so a cell that surely holds an object but hesitates between
    shirt and T-shirt scores its classes by how it ranks them, not by two independent sigmoids."""
    heat = torch.sigmoid(logits)
    if class_score == "heatmap":
        return heat
    if class_score == "blend":
        return (heat * heat.amax(0, keepdim=True) * torch.softmax(logits, 0)).sqrt()
    raise ValueError(f"unknown class score {class_score!r}; known: {CLASS_SCORES}")


def decode(output: torch.Tensor, num_classes: int, score_threshold: float = 0.05, max_detections: int = 100, iou_threshold: float = 0.5,
           class_score: str = "heatmap") -> Detections:
    """One image's raw output (C+4 x H x W) -> detections in input pixel coordinates."""
    return decode_with_class_scores(output, num_classes, score_threshold, max_detections, iou_threshold, class_score)[0]


def decode_with_class_scores(output: torch.Tensor, num_classes: int, score_threshold: float = 0.05, max_detections: int = 100,
                             iou_threshold: float = 0.5, class_score: str = "heatmap") -> tuple[Detections, torch.Tensor]:
    """``decode``, plus every class's score at each detection's cell (K x C), which the namer's
    fusion (slimmable.cascade) weighs against its own probabilities."""
    heat = class_scores(output[:num_classes], class_score)
    peaks = heat * (heat == F.max_pool2d(heat[None], 3, 1, 1)[0]).float()
    scores, flat = peaks.reshape(-1).topk(min(max_detections, peaks.numel()))
    keep = scores > score_threshold
    scores, flat = scores[keep], flat[keep]
    grid_h, grid_w = heat.shape[1:]
    labels = flat // (grid_h * grid_w)
    cells = flat % (grid_h * grid_w)
    ys, xs = (cells // grid_w), (cells % grid_w)
    w = output[num_classes, ys, xs]
    h = output[num_classes + 1, ys, xs]
    cx = (xs.float() + output[num_classes + 2, ys, xs]) * STRIDE
    cy = (ys.float() + output[num_classes + 3, ys, xs]) * STRIDE
    boxes = torch.stack([cx - w * STRIDE / 2, cy - h * STRIDE / 2, cx + w * STRIDE / 2, cy + h * STRIDE / 2], 1)
    kept = nms(boxes, scores, labels, iou_threshold) if len(scores) else torch.zeros(0, dtype=torch.int64)
    return Detections(boxes[kept], scores[kept], labels[kept]), heat[:, ys[kept], xs[kept]].T.reshape(len(kept), num_classes)


def average_precision(detections: list[Detections], truths: list[Scene], num_classes: int, iou_threshold: float) -> float:
    """Mean over classes (those with ground truth) of COCO-style 101-point interpolated AP."""
    aps: list[float] = []
    for cls in range(num_classes):
        gt_count = sum(int((t.labels == cls).sum()) for t in truths)
        if gt_count == 0:
            continue
        records: list[tuple[float, bool]] = []
        for det, truth in zip(detections, truths):
            gt_boxes = truth.boxes[truth.labels == cls]
            used = torch.zeros(len(gt_boxes), dtype=torch.bool)
            picks = det.labels == cls
            boxes, scores = det.boxes[picks], det.scores[picks]
            for j in scores.argsort(descending=True).tolist():
                match = False
                if len(gt_boxes):
                    ious = box_iou(boxes[j][None], gt_boxes)[0]
                    ious[used] = -1
                    best = int(ious.argmax())
                    if float(ious[best]) >= iou_threshold:
                        used[best] = True
                        match = True
                records.append((float(scores[j]), match))
        records.sort(key=lambda r: -r[0])
        tp = torch.tensor([r[1] for r in records], dtype=torch.float32)
        if len(tp) == 0:
            aps.append(0.0)
            continue
        cum_tp = tp.cumsum(0)
        recall = cum_tp / gt_count
        precision = cum_tp / torch.arange(1, len(tp) + 1)
        # precision envelope, then sampled at 101 recall levels
        for i in range(len(precision) - 2, -1, -1):
            precision[i] = max(precision[i], precision[i + 1])
        levels = torch.linspace(0, 1, 101)
        idx = torch.searchsorted(recall, levels, right=False)
        sampled = [float(precision[k]) if k < len(precision) else 0.0 for k in idx.tolist()]
        aps.append(sum(sampled) / 101)
    return sum(aps) / len(aps) if aps else 0.0


def evaluate_map(detections: list[Detections], truths: list[Scene], num_classes: int) -> dict[str, float]:
    """mAP@0.5 and COCO mAP@[.5:.95]."""
    thresholds = [0.5 + 0.05 * i for i in range(10)]
    per_threshold = [average_precision(detections, truths, num_classes, t) for t in thresholds]
    return {"map50": per_threshold[0], "map": sum(per_threshold) / len(per_threshold)}
