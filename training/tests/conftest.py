import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from slimmable import data  # noqa: E402


@pytest.fixture(autouse=True)
def _deterministic() -> None:
    torch.manual_seed(0)
    torch.set_num_threads(1)


def have_fashion_mnist() -> bool:
    return (data.DEFAULT_DIR / data.FILES["test"][0]).exists() or bool(__import__("os").environ.get(data.DATA_DIR_ENV))


needs_data = pytest.mark.skipif(not have_fashion_mnist(), reason="apt-get install dataset-fashion-mnist")
