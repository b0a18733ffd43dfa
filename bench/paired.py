"""Paired differences between two variants of side-by-side runs (bench/side-by-side.ts), pooled over
several runs: per load point, the mean of B - A over the rounds (each round runs both in turn, so a
slow moment of the machine hits both), its standard error, and in how many rounds B was ahead.
A difference within about two standard errors of zero is noise.

    /usr/bin/python3 bench/paired.py --a before --a "before (d74a34e)" --b "this engine" RUN.json...

--a and --b, each repeatable, name one variant as the runs name it (a name may differ by run).
"""
from __future__ import annotations

import argparse
import json
import statistics
from collections import defaultdict
from pathlib import Path


def differences(paths: list[Path], a: set[str], b: set[str]) -> dict[str, list[tuple[float, float]]]:
    """Per load point, (within budget, delivered) of B minus A in percentage points, one per round."""
    out: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for path in paths:
        rows = json.loads(path.read_text())["rows"]
        by_round: dict[tuple[str, int, int], dict[str, dict[str, float]]] = defaultdict(dict)
        for row in rows:
            side = "a" if row["variant"] in a else "b" if row["variant"] in b else None
            if side:
                by_round[(row["pattern"], row["load"], row["repeat"])][side] = row
        for (pattern, load, _), pair in by_round.items():
            if "a" in pair and "b" in pair:
                out[f"{pattern} {load}x"].append(
                    (100 * (pair["b"]["within"] - pair["a"]["within"]), 100 * (pair["b"]["delivered"] - pair["a"]["delivered"]))
                )
    return out


def describe(values: list[float]) -> str:
    error = statistics.stdev(values) / len(values) ** 0.5 if len(values) > 1 else float("nan")
    ahead = sum(value > 0 for value in values)
    return f"{statistics.mean(values):+.2f} ± {error:.2f} (ahead in {ahead}/{len(values)})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--a", required=True, action="append", help="a name of variant A")
    parser.add_argument("--b", required=True, action="append", help="a name of variant B")
    parser.add_argument("runs", nargs="+", type=Path, help="side-by-side JSON files")
    args = parser.parse_args()
    print("B - A, percentage points: within budget | delivered accuracy (mean ± standard error)")
    for point, pairs in differences(args.runs, set(args.a), set(args.b)).items():
        print(f"{point:10} {len(pairs)} rounds: {describe([p[0] for p in pairs])} | {describe([p[1] for p in pairs])}")


if __name__ == "__main__":
    main()
