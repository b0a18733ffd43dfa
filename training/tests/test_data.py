import gzip
from pathlib import Path

import pytest
import torch

from slimmable import data
from conftest import needs_data


def test_missing_data_names_the_debian_package(tmp_path: Path) -> None:
    with pytest.raises(data.DataMissingError, match="apt-get install dataset-fashion-mnist"):
        data.load_split("train", tmp_path)


def test_truncated_idx_file_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "x.gz"
    path.write_bytes(gzip.compress(bytes([0, 0, 8, 1, 0, 0, 0, 9, 1, 2])))
    with pytest.raises(ValueError, match="truncated"):
        data.read_idx(path)


@needs_data
def test_reads_the_real_fashion_mnist_test_split() -> None:
    split = data.load_split("test")
    assert split.images.shape == (10000, 1, 28, 28)
    assert split.images.dtype == torch.uint8
    assert sorted(split.labels.unique().tolist()) == list(range(10))


def test_augmentation_crops_within_the_padding_and_flips() -> None:
    images = torch.arange(2 * 28 * 28, dtype=torch.uint8).reshape(2, 1, 28, 28)
    out = data.augment(images, torch.Generator().manual_seed(0))
    assert out.shape == images.shape
    # Every output row is a (shifted, maybe flipped) piece of the input or zero padding.
    centre = data._crop(torch.nn.functional.pad(images, (2, 2, 2, 2)), torch.tensor([2, 2]), torch.tensor([2, 2]), 28, 28)
    assert torch.equal(centre, images)
