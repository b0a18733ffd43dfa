from pathlib import Path

import torch

from conftest import needs_data
from research.crop_teacher import CropTeacher, centre_distillation
from research.crops import crop_objects
from research.train_naming_probe import NamingProbeConfig, NamingProbeTraining
from slimmable.data import normalize
from slimmable.detection import make_targets
from slimmable.detector_training import train_detector
from slimmable.models import build_model
from slimmable.scenes import Scene

BOXES = [[10.0, 10.0, 40.0, 50.0], [70.0, 60.0, 110.0, 90.0]]


def teacher_checkpoint(path: Path) -> Path:
    model = build_model("fashion_cnn", widths=[1.0])  # untrained: these tests check plumbing, not naming
    torch.save({"arch": "fashion_cnn", "widths": [1.0], "model": model.state_dict()}, path)
    return path


def random_scene() -> Scene:
    image = torch.randint(0, 256, (1, 128, 128), dtype=torch.uint8)
    return Scene(image, torch.tensor(BOXES), torch.tensor([2, 6]))


def test_teacher_targets_sit_at_the_centre_cells_and_mirror_with_the_input(tmp_path: Path) -> None:
    teacher = CropTeacher(teacher_checkpoint(tmp_path / "teacher.pt"), temperature=2.0)
    scene = random_scene()
    for flip in (False, True):
        targets = make_targets([scene], 10, 128, [flip])
        soft = teacher.centre_targets([scene], [flip], 10, 128)
        assert torch.equal(soft.sum(1) > 0, targets.mask[:, 0] > 0)  # a distribution at each centre, nothing elsewhere
        assert torch.allclose(soft.sum(1)[targets.mask[:, 0] > 0], torch.ones(2))
    # the mirrored input gets the mirrored crop's probabilities, at the mirrored centre cell
    crop = crop_objects(scene)[:1].flip(3)
    with torch.no_grad():
        expected = torch.softmax(teacher.model(normalize(crop)) / 2.0, 1)[0]
    mirrored = teacher.centre_targets([scene], [True], 10, 128)
    assert torch.allclose(mirrored[0, :, 3, 16 - 1 - 3], expected, atol=1e-6)  # box centre x 25 -> 103 after the flip
    hotter = CropTeacher(tmp_path / "teacher.pt", temperature=8.0).centre_targets([scene], [False], 10, 128)
    assert float(hotter.amax(1).max()) < float(teacher.centre_targets([scene], [False], 10, 128).amax(1).max())


def test_centre_distillation_is_zero_when_the_student_agrees_and_positive_otherwise() -> None:
    scene = random_scene()
    targets = make_targets([scene], 10, 128)
    teacher = torch.zeros(1, 10, 16, 16)
    teacher[0, :, 3, 3] = torch.softmax(torch.arange(10.0), 0)
    teacher[0, :, 9, 11] = torch.softmax(-torch.arange(10.0), 0)
    agreeing = torch.zeros(1, 14, 16, 16)
    agreeing[:, :10] = 2.0 * teacher.clamp(min=1e-12).log()  # softmax(logits / T) == teacher at T = 2
    assert abs(float(centre_distillation(agreeing, teacher, targets, 10, 2.0))) < 1e-5
    assert float(centre_distillation(torch.zeros(1, 14, 16, 16), teacher, targets, 10, 2.0)) > 1.0
    empty = make_targets([Scene(scene.image, torch.zeros(0, 4), torch.zeros(0, dtype=torch.int64))], 10, 128)
    assert float(centre_distillation(agreeing, teacher, empty, 10, 2.0)) == 0.0


@needs_data
def test_a_run_with_a_crop_teacher_trains_and_records_it(tmp_path: Path) -> None:
    path = teacher_checkpoint(tmp_path / "teacher.pt")
    config = NamingProbeConfig(epochs=1, train_scenes=16, val_scenes=2, test_scenes=4, batch_size=16, threads=1,
                               stage_channels=[8, 8, 16, 16], crop_teacher=str(path), teacher_weight=1.0, bf16=True)
    _, results = train_detector(config, tmp_path / "run", log=lambda _line: None, variant=NamingProbeTraining)
    assert all(0.0 <= r["map50"] <= 1.0 for r in results.values())
    assert torch.load(tmp_path / "run" / "final.pt")["config"]["crop_teacher"] == str(path)
