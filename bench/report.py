"""Tables (bench/results/summary.md) and plots (PNG) for docs/benchmarks.md from the JSON results
in bench/results/.

    /usr/bin/python3 bench/report.py [bench/results]
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (the backend must be chosen first)


def plot_adaptive(result: dict[str, Any], out: Path) -> None:
    """SLO attainment and delivered accuracy against offered load, one line per mode."""
    fig, (slo_ax, acc_ax) = plt.subplots(1, 2, figsize=(11, 4.2))
    modes = list(dict.fromkeys(row["mode"] for row in result["rows"]))
    for mode in modes:
        for pattern, style in (("steady", "-o"), ("bursty", "s")):
            rows = [r for r in result["rows"] if r["mode"] == mode and r["pattern"] == pattern]
            if not rows:
                continue
            loads = [r["load"] for r in rows]
            label = f"{mode} ({pattern})"
            slo_ax.plot(loads, [100 * r["summary"]["sloAttainment"] for r in rows], style, label=label, fillstyle="none" if pattern == "bursty" else "full")
            acc_ax.plot(loads, [100 * r["summary"]["deliveredAccuracy"] for r in rows], style, label=label, fillstyle="none" if pattern == "bursty" else "full")
    slo_ax.set(xlabel="offered load (x what full width alone sustains)", ylabel="% requests answered within budget", title=f"SLO attainment, budget {result['budgetMs']} ms")
    acc_ax.set(xlabel="offered load (x what full width alone sustains)", ylabel=f"delivered {metric_name(result)} (%)", title="accuracy delivered (late answers count 0)")
    for ax in (slo_ax, acc_ax):
        ax.grid(alpha=0.3)
    acc_ax.legend(fontsize=7)
    fig.suptitle(f"{result['model']}: adaptive width vs fixed widths (open loop)")
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)


def metric_name(result: dict[str, Any]) -> str:
    return {"map50": "mAP@0.5", "top1": "top-1"}[result["metric"]]


def plot_width_speedups(result: dict[str, Any], out: Path) -> None:
    """Measured speed-up over full width against the width's share of MACs (ideal: 1 / share)."""
    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    for entry in result["results"]:
        rows = entry["rows"]
        full = rows[-1]["p50"]
        label = f"{entry['model']}{' (latency only)' if entry['latencyOnly'] else ''}, batch {entry['batch']}"
        ax.plot([100 * r["flopShare"] for r in rows], [full / r["p50"] for r in rows], "-o" if entry["batch"] == 1 else "--s", label=label)
    shares = [s / 100 for s in range(5, 101)]
    ax.plot([100 * s for s in shares], [1 / s for s in shares], ":", color="gray", label="ideal (1 / MAC share)")
    ax.set(xlabel="MACs, % of full width", ylabel="speed-up over full width (p50)", yscale="log", title="Width speed-ups, ONNX Runtime CPU, 1 thread")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)


def plot_tradeoff(result: dict[str, Any], out: Path) -> None:
    """Accuracy against batch-1 latency per width: the curve a latency budget moves along."""
    entries = [e for e in result["results"] if not e["latencyOnly"] and e["batch"] == 1]
    fig, axes = plt.subplots(1, len(entries), figsize=(5.2 * len(entries), 4), squeeze=False)
    for ax, entry in zip(axes[0], entries):
        rows = entry["rows"]
        ax.plot([r["p50"] for r in rows], [100 * r["accuracy"] for r in rows], "-o")
        for r in rows:
            ax.annotate(f"{r['width']:g}x", (r["p50"], 100 * r["accuracy"]), textcoords="offset points", xytext=(4, -10), fontsize=8)
        ax.set(xlabel="p50 latency per image, batch 1 (ms)", ylabel=f"{entry['metric']} (%)", title=entry["model"])
        ax.grid(alpha=0.3)
    fig.suptitle("Accuracy vs latency per width (one set of weights)")
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows]) + "\n"


def ms(value: float | None) -> str:
    """A latency in ms; none when nothing was answered."""
    return "-" if value is None else f"{value:.1f}"


def served_within(summary: dict[str, Any]) -> str:
    """Of the answers served: the share within budget on the client's clock and on the server's."""
    if "servedWithin" not in summary:
        return "-"
    server = summary.get("servedWithinServer")
    return f"{100 * summary['servedWithin']:.1f}% / " + ("-" if server is None else f"{100 * server:.1f}%")


def adaptive_table(result: dict[str, Any]) -> str:
    rows = []
    for r in result["rows"]:
        s = r["summary"]
        total = sum(s["widths"].values()) or 1
        served = ", ".join(f"{w}: {100 * n / total:.0f}%" for w, n in sorted(s["widths"].items(), key=lambda kv: float(kv[0])))
        rows.append([r["pattern"], f"{r['load']:g}x", f"{s['offered']:.0f}", r["mode"], f"{s['throughput']:.0f}", ms(s['p50']), ms(s['p99']),
                     f"{100 * s['sloAttainment']:.1f}%", served_within(s), f"{100 * s['deliveredAccuracy']:.2f}%", str(s["errors"]), served])
    capacity = result["capacity"]
    return (f"**{result['model']}** (`{result['endpoint']}`), budget {result['budgetMs']} ms, {result['seconds']} s per point; "
            f"capacity (closed loop, 32 clients): full width {capacity.get('measuredFull', capacity['full']):.0f} req/s, narrowest {capacity['narrowest']:.0f} req/s; "
            + (f"loads are multiples of a pinned {capacity['full']:.0f} req/s; " if capacity.get("pinned") else "")
            + f"accuracy per width ({result.get('accuracySource', 'bundle manifest (measured)')}): "
            + ", ".join(f"{w}: {100 * a:.2f}%" for w, a in result.get("accuracy", {}).items()) + "\n\n"
            + table(["pattern", "load", "offered req/s", "mode", "throughput req/s", "p50 ms", "p99 ms", "within budget", "answers within (client / server clock)", "accuracy delivered", "errors", "widths served"], rows))


def side_by_side_table(result: dict[str, Any]) -> str:
    """Per load point and variant: the mean over the repeats, with their range."""
    def spread(values: list[float]) -> str:
        return f"{100 * sum(values) / len(values):.1f}% ({100 * min(values):.1f}-{100 * max(values):.1f})"

    rows = []
    points = list(dict.fromkeys((r["pattern"], r["load"]) for r in result["rows"]))
    for pattern, load in points:
        for variant in result["variants"]:
            mine = [r for r in result["rows"] if (r["pattern"], r["load"], r["variant"]) == (pattern, load, variant)]
            rows.append([pattern, f"{load:g}x", variant, spread([r["within"] for r in mine]), spread([r["delivered"] for r in mine]), spread([r["servedWithin"] for r in mine]), str(sum(r["errors"] for r in mine))])
    return (f"fashion-detector, budget {result['budgetMs']} ms, {result['seconds']} s per point, loads x {result['capacity']} req/s, "
            f"{result['repeats']} repeats round-robin (mean, min-max)\n\n"
            + table(["pattern", "load", "variant", "within budget", "accuracy delivered", "answers within", "errors"], rows))


def calibration_table(result: dict[str, Any]) -> str:
    """Per forced width and variant: the predicted tail and how many answers went above it (mean over the repeats)."""
    rows = []
    for width in dict.fromkeys(r["width"] for r in result["rows"]):
        for variant in result["variants"]:
            mine = [r for r in result["rows"] if (r["width"], r["variant"]) == (width, variant)]
            mean = lambda key: sum(r[key] for r in mine) / len(mine)  # noqa: E731
            rows.append([f"{width:g}", variant, f"{mean('serviceMean'):.2f}", f"{mean('serviceP99'):.2f}", f"{mean('predictedTail'):.2f}",
                         f"{100 * mean('aboveTail'):.2f}% ({100 * min(r['aboveTail'] for r in mine):.2f}-{100 * max(r['aboveTail'] for r in mine):.2f})", f"{mean('marginMs'):.2f}"])
    return (f"fashion-detector at {result['rate']} req/s, forced widths, batching off, {result['seconds']} s per point, {result['repeats']} repeats\n\n"
            + table(["width", "variant", "service mean ms", "service p99 ms", "predicted tail ms", "answers above the tail", "margin ms"], rows))


def cold_start_table(result: dict[str, Any]) -> str:
    """Per variant: within budget in a fresh server's first half second, first two seconds and whole run (mean over the rounds)."""
    rows = [[s["variant"], f"{100 * s['firstHalfSecond']:.1f}%", f"{100 * s['firstTwoSeconds']:.1f}%", f"{100 * s['within']:.1f}%", f"{s['readyAfterS']:.1f} s"]
            for s in result["summary"]]
    return (f"fashion-detector at {result['rate']} req/s on a server just ready, budget {result['budgetMs']} ms, {result['seconds']} s per run, "
            f"{result['rounds']} rounds (mean)\n\n"
            + table(["variant", "within budget, first 0.5 s", "first 2 s", "whole run", "ready after"], rows))


def speedup_table(result: dict[str, Any]) -> str:
    rows = []
    for entry in result["results"]:
        full = entry["rows"][-1]["p50"]
        for r in entry["rows"]:
            accuracy = "latency only" if entry["latencyOnly"] else f"{100 * r['accuracy']:.2f}% {entry['metric']}"
            rows.append([entry["model"], str(entry["batch"]), f"{r['width']:g}", f"{r['mflops']:.1f}", f"{100 * r['flopShare']:.0f}%", f"{r['p50']:.3f}", f"{full / r['p50']:.2f}x", accuracy])
    return table(["model", "batch", "width", "MMACs", "MAC share", "p50 ms", "speed-up vs 1.0", "accuracy"], rows)


def efficiency_table(result: dict[str, Any]) -> str:
    """Per case and width: the raw pipeline's CPU and throughput beside the server's (and the previous engine's)."""
    rows = []
    for r in result["rows"]:
        raw = r["raw"]
        cells = [r["case"], f"{r['width']:g}", f"{raw['cpuMs']:.2f}", f"{raw['perSecondLoops']:.0f}"]
        for name in ("server", "previous"):
            s = r.get(name)
            cells += [f"{s['cpuMs']:.2f}", f"{s['efficiency']:.2f}", f"{s['perSecond']:.0f}", f"{s['capacityRatio']:.2f}"] if s else ["", "", "", ""]
        cells.append(f"{100 * r['server']['generatorCpuShare']:.0f}%")
        rows.append(cells)
    header = ["case", "width", "raw CPU ms/req", f"raw req/s ({result['loops']} loops)", "server CPU ms/req", "CPU efficiency", "server req/s", "capacity vs raw",
              "previous CPU ms/req", "previous efficiency", "previous req/s", "previous capacity vs raw", "load generator CPU"]
    return (f"Closed loop of {result['clients']} clients, {result['seconds']} s per point. CPU efficiency = raw CPU / server CPU per answered request "
            f"(the server's every thread, from /proc); capacity vs raw = server throughput / the raw pipeline on {result['loops']} loops.\n\n" + table(header, rows))


def batching_table(result: dict[str, Any]) -> str:
    """Per model and forced width: capacity without batching, with it, and the raw batch-1 pipeline."""
    rows = [[r["model"], f"{r['width']:g}", f"{r['raw']:.0f}", f"{r['unbatched']:.0f}", f"{r['batched']:.0f}", f"{r['gain']:.2f}x"] for r in result["rows"]]
    return (f"Closed loop of {result['clients']} clients, {result['seconds']} s per point, generous budget.\n\n"
            + table(["model", "width", f"raw batch-1 req/s ({result['loops']} loops)", "server req/s, MAX_BATCH_SIZE=1", "server req/s, MAX_BATCH_SIZE=8", "batched / unbatched"], rows))


def plot_efficiency(result: dict[str, Any], out: Path) -> None:
    """CPU efficiency per width and case, this engine and the previous one."""
    cases = list(dict.fromkeys(r["case"] for r in result["rows"]))
    fig, ax = plt.subplots(figsize=(7.5, 4.2))
    for case in cases:
        rows = [r for r in result["rows"] if r["case"] == case]
        line, = ax.plot([r["width"] for r in rows], [r["server"]["efficiency"] for r in rows], "-o", label=f"{case}")
        if all("previous" in r for r in rows):
            ax.plot([r["width"] for r in rows], [r["previous"]["efficiency"] for r in rows], "--", color=line.get_color(), alpha=0.6, label=f"{case} (previous engine)")
    ax.axhline(0.9, color="gray", linestyle=":", label="0.9")
    ax.set(xlabel="width", ylabel="CPU efficiency (raw / server CPU per request)", title="What serving costs on top of the pipeline itself")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)


def prometheus_table(result: dict[str, Any]) -> str:
    rows = [[w, f"{rate:.2f}", f"{1000 * result['p99SecondsPerWidth'].get(w, float('nan')):.2f}"] for w, rate in sorted(result["requestRatePerWidth"].items())]
    return table(["width", "request rate (req/s)", "p99 latency (ms)"], rows) + f"\nmean served accuracy: {100 * result['meanServedAccuracy']:.2f}%\n"


def summary(results_dir: Path) -> str:
    parts = ["# Benchmark results (generated by bench/report.py from the JSON files next to this one)\n"]
    speedups = results_dir / "width-speedups.json"
    if speedups.exists():
        parts += ["## Width speed-ups (ONNX Runtime CPU, 1 intra-op thread)\n", speedup_table(json.loads(speedups.read_text()))]
    efficiency = results_dir / "serving-efficiency.json"
    if efficiency.exists():
        parts += ["## Serving efficiency\n", efficiency_table(json.loads(efficiency.read_text()))]
    batching = results_dir / "batching-capacity.json"
    if batching.exists():
        parts += ["## Batching capacity\n", batching_table(json.loads(batching.read_text()))]
    for path in sorted(results_dir.glob("adaptive-vs-fixed-*.json")):
        parts += ["## Adaptive vs fixed width (open loop)\n", adaptive_table(json.loads(path.read_text()))]
    for path in sorted(results_dir.glob("batching-*.json")):
        if path.name != batching.name:
            parts += [f"## Batching and shedding under load (open loop, {path.name})\n", adaptive_table(json.loads(path.read_text()))]
    for path in sorted(results_dir.glob("side-by-side-*.json")):
        parts += [f"## Side by side, repeated ({path.name})\n", side_by_side_table(json.loads(path.read_text()))]
    for path in sorted(results_dir.glob("tail-calibration*.json")):
        parts += [f"## Is the latency model's tail what it claims? ({path.name})\n", calibration_table(json.loads(path.read_text()))]
    for path in sorted(results_dir.glob("cold-start*.json")):
        parts += [f"## A fresh server's first seconds ({path.name})\n", cold_start_table(json.loads(path.read_text()))]
    prometheus = results_dir / "prometheus-check.json"
    if prometheus.exists():
        parts += ["## Read back through a real Prometheus\n", prometheus_table(json.loads(prometheus.read_text()))]
    return "\n".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("results", type=Path, nargs="?", default=Path(__file__).parent / "results")
    args = parser.parse_args()
    for path in sorted(args.results.glob("adaptive-vs-fixed-*.json")):
        out = path.with_suffix(".png")
        plot_adaptive(json.loads(path.read_text()), out)
        print(f"wrote {out}")
    efficiency = args.results / "serving-efficiency.json"
    if efficiency.exists():
        plot_efficiency(json.loads(efficiency.read_text()), args.results / "serving-efficiency.png")
        print(f"wrote {args.results / 'serving-efficiency.png'}")
    speedups = args.results / "width-speedups.json"
    if speedups.exists():
        result = json.loads(speedups.read_text())
        plot_width_speedups(result, args.results / "width-speedups.png")
        plot_tradeoff(result, args.results / "accuracy-vs-latency.png")
        print(f"wrote {args.results / 'width-speedups.png'} and {args.results / 'accuracy-vs-latency.png'}")
    (args.results / "summary.md").write_text(summary(args.results))
    print(f"wrote {args.results / 'summary.md'}")


if __name__ == "__main__":
    main()
