"""Write Fashion-MNIST test images as PNG files (fixtures for the server's tests and curl examples).

    python3 -m slimmable.samples --out ../test/fixtures --count 10
"""
from __future__ import annotations

import argparse
import struct
import sys
import zlib
from pathlib import Path
from typing import Sequence

import torch

from .data import LABELS, load_split


def encode_png(pixels: torch.Tensor) -> bytes:
    """8-bit PNG (greyscale for H x W, RGB for H x W x 3) from a uint8 tensor, standard library only."""
    height, width = pixels.shape[:2]
    colour_type = 0 if pixels.dim() == 2 else 2
    rows = pixels.reshape(height, -1).numpy()
    raw = b"".join(b"\x00" + row.tobytes() for row in rows)

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, colour_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")


def slug(label: str) -> str:
    return label.lower().replace("/", "-").replace(" ", "-")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--count", type=int, default=10)
    parser.add_argument("--data-dir", default=None)
    args = parser.parse_args(argv)
    split = load_split("test", args.data_dir)
    args.out.mkdir(parents=True, exist_ok=True)
    for index in range(args.count):
        label = LABELS[int(split.labels[index])]
        path = args.out / f"fashion-test-{index:05d}-{slug(label)}.png"
        path.write_bytes(encode_png(split.images[index, 0]))
        print(f"wrote {path} ({label})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
