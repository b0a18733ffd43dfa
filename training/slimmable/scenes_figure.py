"""Draw sample Fashion scenes with their boxes and labels (docs/fashion-scenes.png).

    python3 -m slimmable.scenes_figure --out ../docs/fashion-scenes.png
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

from .data import LABELS, load_split
from .scenes import make_scenes


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seed", type=int, default=1, help="scene seed (1: the test scenes)")
    parser.add_argument("--split", default="test")
    args = parser.parse_args(argv)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    scenes = make_scenes(load_split(args.split), args.seed, 8)
    fig, axes = plt.subplots(2, 4, figsize=(12, 6.4), dpi=100)
    for ax, scene in zip(axes.flat, scenes):
        ax.imshow(scene.image[0].numpy(), cmap="gray", vmin=0, vmax=255)
        for box, label in zip(scene.boxes.tolist(), scene.labels.tolist()):
            x1, y1, x2, y2 = box
            ax.add_patch(Rectangle((x1 - 0.5, y1 - 0.5), x2 - x1, y2 - y1, fill=False, edgecolor="#ff5a36", linewidth=1.2))
            ax.text(x1, y1 - 1.5, LABELS[label], color="#ffd166", fontsize=7, va="bottom")
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(f"Fashion scenes ({args.split} split, seed {args.seed}): 128x128, 1-6 items of 16-64 px, tight boxes")
    fig.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
