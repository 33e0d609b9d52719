"""The whole benchmark suite in one command: every bench script in turn (each alternates its
contenders, one fresh process per measurement), then one table of the ratios that issue 7's
targets are about, and one JSON document holding every script's full report and that summary.

    python bench/run.py                      # everything, full repeats (about an hour on 2 cores)
    python bench/run.py --quick              # fewer samples and repeats: a smoke run (~15 min)
    python bench/run.py --only gemm fit      # some sections
    python bench/run.py --output results.json

Contenders: ferrograd and numpy always, PyTorch and Keras 3 (torch backend) when importable.
Run it from outside the repository, in an environment where ferrograd is installed from a
release build (see bench/README.md), on a quiet machine: the load average is in each report.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from typing import Any, Callable

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
# section -> script; each takes --threads, --quick and --output.
SECTIONS = {
    "gemm": "bench_core.py",  # matmul GFLOP/s and per-op overhead from Python
    "elementwise": "bench_elementwise.py",
    "fit": "bench_fit.py",  # the MLP
    "layers": "bench_layers.py",  # LeNet, LSTM, GRU, Conv2D
    "footprint": "bench_footprint.py",  # import time, peak RSS of the MLP training run
    "saving": "bench_saving.py",
}


def run_section(name: str, threads: int, quick: bool, directory: str) -> dict[str, Any]:
    output = os.path.join(directory, f"{name}.json")
    command = [sys.executable, os.path.join(HERE, SECTIONS[name]), "--threads", str(threads), "--output", output]
    if quick:
        command.append("--quick")
    print(f"== {name}: {' '.join(command[1:])}", file=sys.stderr, flush=True)
    start = time.perf_counter()
    # The children's progress lines go to our stderr as they come; their stdout (table + JSON)
    # is collected so that only the table is echoed.
    out = subprocess.run(command, stdout=subprocess.PIPE, text=True, env=harness.worker_env(threads))
    if out.returncode != 0:
        raise RuntimeError(f"bench section {name} failed (exit code {out.returncode})")
    table = out.stdout.split("\n{", 1)[0].strip()
    if table and not table.startswith("{"):
        print(table, file=sys.stderr)
    print(f"== {name}: {time.perf_counter() - start:.0f} s", file=sys.stderr, flush=True)
    with open(output) as f:
        return json.load(f)


# ----- the targets (issue 7's acceptance list) read off the reports


class Check:
    """One measured ratio against its target: `higher` means at least `goal` is wanted."""

    def __init__(self, what: str, value: float | None, goal: float, higher: bool = True) -> None:
        self.what, self.value, self.goal, self.higher = what, value, goal, higher

    @property
    def met(self) -> bool | None:
        if self.value is None:
            return None
        return self.value >= self.goal if self.higher else self.value <= self.goal

    def as_dict(self) -> dict[str, Any]:
        return {
            "target": self.what,
            "value": self.value,
            "goal": self.goal,
            "higher_is_better": self.higher,
            "met": self.met,
        }


def _get(report: dict[str, Any], *path: Any) -> Any:
    value: Any = report
    for key in path:
        if isinstance(value, list):
            value = next((row for row in value if key(row)), None) if callable(key) else value[key]
        elif isinstance(value, dict):
            value = value.get(key)
        if value is None:
            return None
    return value


def _row(field: str, wanted: Any) -> Callable[[dict[str, Any]], bool]:
    return lambda row: row.get(field) == wanted


def checks(reports: dict[str, dict[str, Any]]) -> list[Check]:
    out: list[Check] = []
    fit = reports.get("fit")
    if fit:
        for batch, goal in ((32, 1.5), (128, 1.5), (512, 1.0)):
            row = _get(fit, "fit_samples_per_s", _row("batch_size", batch))
            if row is not None:
                out.append(Check(f"MLP fit, batch {batch}: speed vs torch", row.get("ferrograd_vs_torch"), goal))
                out.append(Check(f"MLP fit, batch {batch}: speed vs keras", row.get("ferrograd_vs_keras"), 3.0))
    layers = reports.get("layers")
    if layers:
        for workload, goal in (("lenet", 1.2), ("lstm", 1.0), ("gru", 1.0)):
            row = _get(layers, "training", _row("workload", workload))
            if row is not None:
                out.append(Check(f"{workload} fit: speed vs torch", row.get("ferrograd_vs_torch"), goal))
                if workload != "lenet":
                    out.append(Check(f"{workload} fit: speed vs keras", row.get("ferrograd_vs_keras"), 3.0))
    gemm = reports.get("gemm")
    if gemm:
        row = _get(gemm, "matmul_float32", _row("n", 1024))
        if row is not None:
            out.append(Check("SGEMM n=1024: GFLOP/s vs numpy", row.get("ferrograd_vs_numpy"), 0.9))
        overhead = gemm.get("overhead", {})
        out.append(Check("x + y from Python: time vs torch", overhead.get("add_ferrograd_vs_torch_time"), 1.0, False))
        out.append(
            Check(
                "4-op forward+backward from Python: time vs torch",
                overhead.get("forward_backward_ferrograd_vs_torch_time"),
                1.0,
                False,
            )
        )
    elementwise = reports.get("elementwise")
    if elementwise:
        for row in elementwise["elementwise"]:
            for op, entry in row["ops"].items():
                size = f"2^{row['n'].bit_length() - 1}"
                out.append(
                    Check(f"{op} ({size} float32): share of memory bandwidth", entry["ferrograd_of_bandwidth"], 0.7)
                )
    footprint = reports.get("footprint")
    if footprint:
        seconds = footprint["import_seconds"].get("ferrograd_import_s")
        out.append(Check("import ferrograd, seconds", seconds, 0.3, False))
        out.append(
            Check(
                "peak RSS of the MLP training run vs torch", footprint["peak_rss"].get("ferrograd_vs_torch"), 0.5, False
            )
        )
    return out


def summary_table(found: list[Check]) -> str:
    lines = ["| target | measured | goal | met |", "|---|---|---|---|"]
    for check in found:
        value = "n/a" if check.value is None else f"{check.value:.3f}"
        goal = ("≥ " if check.higher else "≤ ") + f"{check.goal:g}"
        met = {True: "yes", False: "**no**", None: "n/a"}[check.met]
        lines.append(f"| {check.what} | {value} | {goal} | {met} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="each script's smoke-run settings")
    parser.add_argument("--only", nargs="+", choices=list(SECTIONS), default=list(SECTIONS))
    parser.add_argument("--output", help="also write the JSON document to this file")
    args = parser.parse_args()
    if harness.importable("ferrograd") and os.path.exists(os.path.join(os.getcwd(), "python", "ferrograd")):
        print("note: running inside the repository; make sure the release build is the one imported", file=sys.stderr)
    reports: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="ferrograd-bench.") as directory:
        for name in args.only:
            reports[name] = run_section(name, args.threads, args.quick, directory)
    found = checks(reports)
    document = {
        "machine": harness.machine(),
        "threads": args.threads,
        "quick": args.quick,
        "versions": harness.versions(),
        "summary": [c.as_dict() for c in found],
        "reports": reports,
    }
    text = json.dumps(document, indent=2)
    if args.output:
        with open(args.output, "w") as out:
            out.write(text + "\n")
    print(summary_table(found))
    print(text)


if __name__ == "__main__":
    main()
