"""Elementwise and reduction throughput against the machine's memory bandwidth: ferrograd, numpy
and PyTorch (when importable) on the same float32 arrays, side by side in one run. Prints a table
and one JSON document.

Each op's throughput is the bytes it must move (every input read once, the output written once)
per second. The memory bandwidth it is compared with is measured in the same run, the best of
STREAM-style kernels that write into an existing array (`np.add(a, b, out=c)`, `np.copyto`, and
`torch.add(a, b, out=c)` when torch is there): that is the most any op can move. Ops that return
a new array also pay for getting fresh memory, as users' code does.

Arrays are larger than the last-level cache (default 2^22 and 2^24 elements: 16 and 64 MiB per
array). Every contender runs in a fresh process per repeat, alternating; each process warms up,
then times `--number` calls per sample and keeps the fastest of 5 samples; medians over repeats.

    python bench/bench_elementwise.py [--threads 2] [--repeats 5] [--log2-sizes 22 24]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from typing import Any, Callable

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

# name -> (arrays read, arrays written, description); reductions write (almost) nothing.
OPS = {
    "add": (2, 1, "x + y"),
    "mul": (2, 1, "x * y"),
    "scale": (1, 1, "x * 2.0"),
    "relu": (1, 1, "relu(x)"),
    "exp": (1, 1, "exp(x)"),
    "sum": (1, 0, "sum(x)"),
    "sum_axis0": (1, 0, "sum over axis 0 of (n/1024, 1024)"),
    "max_axis1": (1, 0, "max over axis 1 of (n/1024, 1024)"),
}
STREAM = ("stream_add_out", "stream_copy")


def _ops(contender: str, n: int, threads: int) -> dict[str, Callable[[], Any]]:
    rng = np.random.default_rng(0)
    a = rng.standard_normal(n, dtype=np.float32)
    b = rng.standard_normal(n, dtype=np.float32)
    if contender == "ferrograd":
        import ferrograd as fg

        fg.set_num_threads(threads)
        x, y = fg.tensor(a), fg.tensor(b)
        m = fg.ops.reshape(x, (n // 1024, 1024))
        return {
            "add": lambda: x + y,
            "mul": lambda: x * y,
            "scale": lambda: x * 2.0,
            "relu": lambda: fg.ops.relu(x),
            "exp": lambda: fg.ops.exp(x),
            "sum": lambda: fg.ops.sum(x),
            "sum_axis0": lambda: fg.ops.sum(m, axis=0),
            "max_axis1": lambda: fg.ops.max(m, axis=1),
        }
    if contender == "numpy":
        m = a.reshape(n // 1024, 1024)
        out = np.empty_like(a)
        return {
            "add": lambda: a + b,
            "mul": lambda: a * b,
            "scale": lambda: a * np.float32(2.0),
            "relu": lambda: np.maximum(a, np.float32(0)),
            "exp": lambda: np.exp(a),
            "sum": lambda: a.sum(),
            "sum_axis0": lambda: m.sum(axis=0),
            "max_axis1": lambda: m.max(axis=1),
            "stream_add_out": lambda: np.add(a, b, out=out),
            "stream_copy": lambda: np.copyto(out, a),
        }
    import torch

    torch.set_num_threads(threads)
    x, y = torch.from_numpy(a), torch.from_numpy(b)
    m = x.reshape(n // 1024, 1024)
    out_t = torch.empty_like(x)
    return {
        "add": lambda: x + y,
        "mul": lambda: x * y,
        "scale": lambda: x * 2.0,
        "relu": lambda: torch.relu(x),
        "exp": lambda: torch.exp(x),
        "sum": lambda: x.sum(),
        "sum_axis0": lambda: m.sum(dim=0),
        "max_axis1": lambda: m.amax(dim=1),
        "stream_add_out": lambda: torch.add(x, y, out=out_t),
    }


def _worker(contender: str, n: int, number: int, threads: int) -> None:
    """Seconds per call of every op, in this fresh process."""
    result = {}
    for name, fn in _ops(contender, n, threads).items():
        for _ in range(2):
            fn()
        samples = []
        for _ in range(5):
            start = time.perf_counter()
            for _ in range(number):
                fn()
            samples.append((time.perf_counter() - start) / number)
        result[name] = min(samples)
    print(json.dumps(result))


def bytes_moved(name: str, n: int) -> int:
    if name == "stream_add_out":
        return 3 * 4 * n
    if name == "stream_copy":
        return 2 * 4 * n
    reads, writes, _ = OPS[name]
    return (reads + writes) * 4 * n


def bench(contenders: list[str], sizes: list[int], repeats: int, threads: int) -> list[dict[str, Any]]:
    rows = []
    for n in sizes:
        number = max(3, int(2**26 // n))
        seconds: dict[str, dict[str, list[float]]] = {c: {} for c in contenders}
        for _ in range(repeats):
            for contender in contenders:
                command = [sys.executable, __file__, "--worker", contender, str(n), str(number), str(threads)]
                result = harness.run_worker(command, threads, f"{contender} elementwise worker (n={n})")
                for name, s in result.items():
                    seconds[contender].setdefault(name, []).append(s)
        gbps = {
            c: {name: bytes_moved(name, n) / statistics.median(s) / 1e9 for name, s in ops.items()}
            for c, ops in seconds.items()
        }
        bandwidth = max(gbps[c][s] for c in contenders for s in STREAM if s in gbps[c])
        row: dict[str, Any] = {"n": n, "bandwidth_gbps": round(bandwidth, 2), "ops": {}}
        for name in OPS:
            entry: dict[str, Any] = {}
            for c in contenders:
                entry[f"{c}_gbps"] = round(gbps[c][name], 2)
            entry["ferrograd_of_bandwidth"] = round(gbps["ferrograd"][name] / bandwidth, 3)
            for c in contenders[1:]:
                entry[f"ferrograd_vs_{c}"] = round(gbps["ferrograd"][name] / gbps[c][name], 3)
            row["ops"][name] = entry
        rows.append(row)
    return rows


def table(rows: list[dict[str, Any]], contenders: list[str]) -> str:
    header = ["n", "op"] + [f"{c} GB/s" for c in contenders] + ["ferrograd / bandwidth"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        for name, entry in row["ops"].items():
            cells = [f"2^{row['n'].bit_length() - 1}", OPS[name][2]]
            cells += [f"{entry[f'{c}_gbps']:.1f}" for c in contenders]
            cells.append(f"{entry['ferrograd_of_bandwidth']:.2f}")
            lines.append("| " + " | ".join(cells) + " |")
        size = f"2^{row['n'].bit_length() - 1}"
        lines.append(f"| {size} | memory bandwidth (best STREAM kernel) | {row['bandwidth_gbps']:.1f} GB/s |")
    return "\n".join(lines)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        contender, n, number, threads = sys.argv[2], *map(int, sys.argv[3:6])
        _worker(contender, n, number, threads)
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--log2-sizes", type=int, nargs="+", default=[22, 24])
    parser.add_argument("--quick", action="store_true", help="2 repeats")
    parser.add_argument("--output", help="also write the JSON document to this file")
    args = parser.parse_args()
    if args.quick:
        args.repeats = 2
    contenders = ["ferrograd", "numpy"] + (["torch"] if harness.importable("torch") else [])
    rows = bench(contenders, [2**k for k in args.log2_sizes], args.repeats, args.threads)
    report = {
        "machine": harness.machine(),
        "threads": args.threads,
        "repeats": args.repeats,
        "versions": harness.versions(),
        "elementwise": rows,
    }
    document = json.dumps(report, indent=2)
    if args.output:
        with open(args.output, "w") as out:
            out.write(document + "\n")
    print(table(rows, contenders))
    print(document)


if __name__ == "__main__":
    main()
