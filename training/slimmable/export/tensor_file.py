"""A flat little-endian file of tensors (float32, or uint8 for pixels); the manifest holds each one's
offset, shape and dtype. Deliberately trivial so any runtime, the TypeScript server included, reads it
with a typed array. Every tensor starts on a 4-byte boundary."""
from __future__ import annotations

from pathlib import Path

import numpy as np


DTYPES = {"float32": "<f4", "uint8": "u1"}


class TensorFileWriter:
    def __init__(self) -> None:
        self._chunks: list[bytes] = []
        self._offset = 0

    def add(self, array: np.ndarray, dtype: str = "float32") -> dict[str, object]:
        """Append a tensor; returns its index entry ``{"offset": bytes, "shape": [...]}`` (plus
        ``"dtype"`` when it is not float32)."""
        data = np.ascontiguousarray(array, dtype=DTYPES[dtype]).tobytes()
        entry: dict[str, object] = {"offset": self._offset, "shape": [int(d) for d in array.shape]}
        if dtype != "float32":
            entry["dtype"] = dtype
        padding = -len(data) % 4
        self._chunks.append(data + b"\0" * padding)
        self._offset += len(data) + padding
        return entry

    def write(self, path: Path) -> int:
        path.write_bytes(b"".join(self._chunks))
        return self._offset


def read_tensor(blob: bytes, entry: dict[str, object]) -> np.ndarray:
    shape = [int(d) for d in entry["shape"]]  # type: ignore[union-attr]
    count = int(np.prod(shape)) if shape else 1
    dtype = DTYPES[str(entry.get("dtype", "float32"))]
    return np.frombuffer(blob, dtype=dtype, count=count, offset=int(entry["offset"])).reshape(shape)  # type: ignore[arg-type]
