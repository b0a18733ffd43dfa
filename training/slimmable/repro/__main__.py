"""Reproduce the paper's claims on Fashion-MNIST: individual models vs slimmable (switchable BN) vs
one shared BN vs incremental training, plus US-Nets. Same recipe, epochs and seed for every method.

    python3 -m slimmable.repro --runs runs/repro --out ../docs/reproduction --epochs 6

Resumable: each method's result is written to OUT/results.json as soon as it exists, checkpoints
go to RUNS, and rerunning continues where it stopped, redoing only what is missing.
"""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Sequence

from ..train import TrainConfig
from .methods import METHODS, WIDTHS, bn_overhead_percent, run_method
from .report import markdown, plot


def write_report(saved: dict[str, object], out: Path) -> None:
    """results.md and the plot from what has finished so far (a partial run gives a partial table)."""
    overhead = bn_overhead_percent(list(WIDTHS))
    saved["bn_overhead_percent"] = round(overhead, 3)
    (out / "results.json").write_text(json.dumps(saved, indent=2) + "\n")
    methods: dict[str, dict[str, object]] = saved["methods"]  # type: ignore[assignment]
    ordered = {n: methods[n] for n in METHODS if n in methods}
    (out / "results.md").write_text(markdown(ordered, {"bn_overhead_percent": overhead, "recipe": json.dumps(saved["recipe"])}))
    if ordered:
        plot(ordered, out / "accuracy-vs-mflops.png")


def same_recipe(saved: dict[str, object], recipe: dict[str, object]) -> bool:
    """Results compare when everything but the thread count matches: threads change the speed,
    not the recipe (each method records the threads it ran with)."""
    ignore = {"threads"}
    return {k: v for k, v in saved.items() if k not in ignore} == {k: v for k, v in recipe.items() if k not in ignore}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=Path, required=True, help="checkpoint folder")
    parser.add_argument("--out", type=Path, required=True, help="results folder (results.json, results.md, plot)")
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--lr", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--train-subset", type=int, default=0)
    parser.add_argument("--test-subset", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--report-only", action="store_true", help="only rewrite results.md and the plot from results.json")
    args = parser.parse_args(argv)

    config = TrainConfig(widths=list(WIDTHS), epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, seed=args.seed,
                         train_subset=args.train_subset, test_subset=args.test_subset, threads=args.threads)
    recipe = asdict(config)
    args.out.mkdir(parents=True, exist_ok=True)
    results_path = args.out / "results.json"
    saved = json.loads(results_path.read_text()) if results_path.exists() else {}
    if not same_recipe(saved.get("recipe") or {}, recipe):
        saved = {"recipe": recipe, "methods": {}}  # another recipe: its results do not compare
    for name in [] if args.report_only else args.methods:
        if name in saved["methods"]:
            print(f"{name}: done before, kept", flush=True)
            continue
        print(f"== {name}", flush=True)
        result = run_method(name, config, args.runs / name, lambda line, n=name: print(f"[{n}] {line}", flush=True))
        result["threads"] = args.threads
        saved["methods"][name] = result
        write_report(saved, args.out)  # results.json first: a finished method is never lost
        print(f"{name}: {json.dumps(result)}", flush=True)
    write_report(saved, args.out)
    print((args.out / "results.md").read_text(), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
