"""Results table (Markdown) and accuracy-vs-MFLOPs plot of the reproduction."""
from __future__ import annotations

from pathlib import Path

from ..flops import count_width
from ..models import build_model

LABELS = {
    "individual": "individually trained (one model per width)",
    "switchable": "slimmable, switchable BN (joint)",
    "shared_bn": "joint, one shared BN (running statistics)",
    "shared_bn_recalibrated": "joint, one shared BN, statistics recomputed per width",
    "incremental": "incremental (narrowest first, then frozen)",
    "usnet": "US-Nets (sandwich + distillation + calibration)",
}


def rows(results: dict[str, dict[str, object]]) -> dict[str, dict[str, float]]:
    """Method label -> width -> accuracy, with the shared-BN recalibration as its own row."""
    table: dict[str, dict[str, float]] = {}
    for name, result in results.items():
        table[name] = dict(result["accuracy"])  # type: ignore[arg-type]
        if "accuracy_recalibrated" in result:
            table[f"{name}_recalibrated"] = dict(result["accuracy_recalibrated"])  # type: ignore[arg-type]
    return table


def mmacs(width: float) -> float:
    model = build_model("fashion_cnn", widths=[width])
    return count_width(model, width)[0] / 1e6


def markdown(results: dict[str, dict[str, object]], meta: dict[str, object]) -> str:
    table = rows(results)
    widths = sorted({w for accs in table.values() for w in accs}, key=float)
    header = "| method | " + " | ".join(f"{w}x" for w in widths) + " | training time |"
    lines = [header, "|" + " --- |" * (len(widths) + 2)]
    for name, accs in table.items():
        seconds = results.get(name.replace("_recalibrated", ""), {}).get("train_seconds", 0)
        cells = [f"{100 * accs[w]:.2f}" if w in accs else "" for w in widths]
        lines.append(f"| {LABELS.get(name, name)} | " + " | ".join(cells) + f" | {float(seconds) / 60:.0f} min |")  # type: ignore[arg-type]
    lines.append("")
    lines.append("MMACs per width: " + ", ".join(f"{w}x {mmacs(float(w)):.2f}" for w in widths))
    lines.append("")
    lines.append(f"Switchable BN parameter overhead: {meta['bn_overhead_percent']:.2f}% of the shared-BN model's parameters.")
    lines.append(f"Recipe: {meta['recipe']}")
    return "\n".join(lines) + "\n"


def plot(results: dict[str, dict[str, object]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=120)
    for name, accs in rows(results).items():
        points = sorted((mmacs(float(w)), 100 * a) for w, a in accs.items())
        ax.plot([p[0] for p in points], [p[1] for p in points], marker="o", label=LABELS.get(name, name))
    ax.set_xlabel("MMACs per image (width 0.25 .. 1.0)")
    ax.set_ylabel("top-1 test accuracy (%)")
    ax.set_title("Fashion-MNIST: accuracy vs compute per training method")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
