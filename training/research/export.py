"""Export a checkpoint of a research variant (e.g. a train_naming_probe run with
``--fine-class-channels``) to a bundle: slimmable.export, with the research architectures registered
(importing this package does that). Same options as slimmable.export.

    python3 -m research.export --checkpoint runs/fashion-detector-fine/final.pt --out runs/fashion-detector-fine-bundle
"""
from __future__ import annotations

import sys

from slimmable.export.__main__ import main

__all__ = ["main"]

if __name__ == "__main__":
    sys.exit(main())
