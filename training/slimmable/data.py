"""Fashion-MNIST from Debian's ``dataset-fashion-mnist`` idx files, held in memory as tensors, with
batched augmentation (random crop with padding, horizontal flip) done on whole batches for speed."""
from __future__ import annotations

import gzip
import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import torch
import torch.nn.functional as F

DEFAULT_DIR = Path("/usr/share/datasets/fashion-mnist")
DATA_DIR_ENV = "FASHION_MNIST_DIR"
LABELS = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
# Statistics of the training images (pixel / 255), used for normalisation in training and serving.
MEAN = 0.2860
STD = 0.3530
FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}


class DataMissingError(FileNotFoundError):
    pass


def data_dir(override: str | os.PathLike[str] | None = None) -> Path:
    return Path(override or os.environ.get(DATA_DIR_ENV) or DEFAULT_DIR)


def read_idx(path: Path) -> torch.Tensor:
    """Read an idx file (optionally gzipped) into a uint8 tensor."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        raw = f.read()
    if len(raw) < 4:
        raise ValueError(f"{path}: not an idx file (too short)")
    zero, dtype, ndim = struct.unpack(">HBB", raw[:4])
    if zero != 0 or dtype != 0x08:
        raise ValueError(f"{path}: not an unsigned-byte idx file")
    dims = struct.unpack(f">{ndim}I", raw[4 : 4 + 4 * ndim])
    expected = 4 + 4 * ndim + int(torch.tensor(dims).prod())
    if len(raw) != expected:
        raise ValueError(f"{path}: truncated idx file ({len(raw)} bytes, expected {expected})")
    data = torch.frombuffer(bytearray(raw[4 + 4 * ndim :]), dtype=torch.uint8)
    return data.reshape(dims)


@dataclass
class Split:
    images: torch.Tensor  # N x 1 x 28 x 28, uint8
    labels: torch.Tensor  # N, int64

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def subset(self, count: int) -> "Split":
        return Split(self.images[:count], self.labels[:count])


def load_split(split: str, directory: str | os.PathLike[str] | None = None) -> Split:
    if split not in FILES:
        raise ValueError(f"unknown split {split!r}; use one of {sorted(FILES)}")
    root = data_dir(directory)
    paths = [root / name for name in FILES[split]]
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        raise DataMissingError(
            f"Fashion-MNIST files not found: {', '.join(missing)}. Install Debian's package "
            f"(apt-get install dataset-fashion-mnist) or point --data-dir / ${DATA_DIR_ENV} at a folder "
            f"holding {', '.join(FILES[split])}."
        )
    images, labels = (read_idx(p) for p in paths)
    if images.shape[0] != labels.shape[0]:
        raise ValueError(f"{root}: {images.shape[0]} images but {labels.shape[0]} labels in the {split} split")
    return Split(images.unsqueeze(1).contiguous(), labels.long())


def normalize(images: torch.Tensor) -> torch.Tensor:
    """uint8 N x C x H x W -> float32, scaled to [0, 1] then standardised."""
    return (images.float() / 255.0 - MEAN) / STD


def augment(images: torch.Tensor, generator: torch.Generator, padding: int = 2) -> torch.Tensor:
    """Random crop after zero padding, and random horizontal flip, per image, on a uint8 batch."""
    n, _, h, w = images.shape
    padded = F.pad(images, (padding, padding, padding, padding))
    dy = torch.randint(0, 2 * padding + 1, (n,), generator=generator)
    dx = torch.randint(0, 2 * padding + 1, (n,), generator=generator)
    cropped = _crop(padded, dy, dx, h, w)
    flip = torch.rand(n, generator=generator) < 0.5
    cropped[flip] = cropped[flip].flip(3)
    return cropped


def _crop(padded: torch.Tensor, dy: torch.Tensor, dx: torch.Tensor, h: int, w: int) -> torch.Tensor:
    n, c = padded.shape[:2]
    rows = (dy[:, None] + torch.arange(h)[None, :])  # n x h
    cols = (dx[:, None] + torch.arange(w)[None, :])  # n x w
    batch = torch.arange(n)[:, None, None]
    out = padded.permute(0, 2, 3, 1)[batch, rows[:, :, None], cols[:, None, :]]  # n x h x w x c
    return out.permute(0, 3, 1, 2).contiguous()


def batches(
    split: Split,
    batch_size: int,
    generator: torch.Generator | None = None,
    train: bool = False,
    rank: int = 0,
    world_size: int = 1,
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Yield normalised (images, labels) batches. With ``train`` the order is shuffled (same order on
    every rank for a given generator state), sharded by rank, and the images are augmented."""
    n = len(split)
    if train:
        assert generator is not None, "training batches need a seeded generator"
        order = torch.randperm(n, generator=generator)
        order = order[: n - n % world_size][rank::world_size]
    else:
        order = torch.arange(n)[rank::world_size]
    for start in range(0, len(order), batch_size):
        idx = order[start : start + batch_size]
        if train and len(idx) < batch_size // 2:
            break  # a tiny last batch only adds BN noise
        images = split.images[idx]
        if train:
            assert generator is not None
            images = augment(images, generator)
        yield normalize(images), split.labels[idx]
