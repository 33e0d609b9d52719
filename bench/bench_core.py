"""Core benchmarks, side by side in one run: matmul throughput against numpy's BLAS (and PyTorch's
when importable), and the per-call overhead from Python of a small elementwise op and of a tiny
forward+backward against PyTorch. Prints one JSON document.

Contenders alternate within each repeat and the median of the repeats is reported, so a busy
machine slows every contender alike. Only the ratios are meant to be compared across machines.

    python bench/bench_core.py [--threads 2] [--repeats 7] [--sizes 256 512 1024 2048]

PyTorch is a benchmark contender only: install it in a separate environment together with
ferrograd (see bench/README.md); it is never a dependency of ferrograd.
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

import ferrograd as fg

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

try:  # optional contender
    import torch
except ImportError:  # pragma: no cover - depends on the environment
    torch = None


def best_of(fn: Callable[[], Any], number: int) -> float:
    """Seconds per call of `fn`, timing `number` back-to-back calls."""
    start = time.perf_counter()
    for _ in range(number):
        fn()
    return (time.perf_counter() - start) / number


def alternate(contenders: dict[str, Callable[[], Any]], number: int, repeats: int) -> dict[str, float]:
    """Median seconds per call for each contender, the contenders interleaved repeat by repeat."""
    for fn in contenders.values():  # warm-up: first calls pay for allocation and thread start-up
        fn()
    samples: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(repeats):
        for name, fn in contenders.items():
            samples[name].append(best_of(fn, number))
    return {name: statistics.median(times) for name, times in samples.items()}


def _matmul_worker(contender: str, n: int, number: int, threads: int) -> float:
    """Seconds per n×n float32 product for one contender, in this (fresh) process."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    if contender == "ferrograd":
        fg.set_num_threads(threads)
        ta, tb = fg.tensor(a), fg.tensor(b)
        fn: Callable[[], Any] = lambda: ta @ tb  # noqa: E731
    elif contender == "numpy":
        fn = lambda: a @ b  # noqa: E731
    else:
        torch.set_num_threads(threads)
        xa, xb = torch.from_numpy(a), torch.from_numpy(b)
        fn = lambda: xa @ xb  # noqa: E731
    fn()
    return best_of(fn, number)


def bench_matmul(sizes: list[int], repeats: int, threads: int) -> list[dict[str, Any]]:
    """Each measurement runs in its own process, contenders alternating: BLAS and OpenMP worker
    threads keep spinning for a while after a call, and in a shared process they would steal the
    cores from whichever contender runs next."""
    contenders = ["ferrograd", "numpy"] + (["torch"] if torch is not None else [])
    results = []
    for n in sizes:
        flops = 2.0 * n**3
        number = max(4, int(3e10 / flops))  # about 0.2 s of work per sample
        samples: dict[str, list[float]] = {name: [] for name in contenders}
        for _ in range(repeats):
            for name in contenders:
                command = [sys.executable, __file__, "--worker", name, str(n), str(number), str(threads)]
                samples[name].append(float(harness.run_worker(command, threads, f"{name} matmul worker (n={n})")))
        row: dict[str, Any] = {"n": n}
        for name, times in samples.items():
            row[f"{name}_gflops"] = round(flops / statistics.median(times) / 1e9, 2)
        row["ferrograd_vs_numpy"] = round(row["ferrograd_gflops"] / row["numpy_gflops"], 3)
        if torch is not None:
            row["ferrograd_vs_torch"] = round(row["ferrograd_gflops"] / row["torch_gflops"], 3)
        results.append(row)
    return results


def bench_overhead(repeats: int) -> dict[str, Any]:
    """Per-call cost of (1) `x + y` on 8-element tensors, (2) forward+backward of the 4-op graph
    sum(tanh(x * w + b)) on 8 elements, from Python."""
    x8 = np.linspace(-1, 1, 8).astype(np.float32)
    fx, fy = fg.tensor(x8), fg.tensor(x8)
    fw = fg.tensor(x8, requires_grad=True)
    fb = fg.tensor(x8, requires_grad=True)

    def fg_graph():
        (fx * fw + fb).tanh().sum().backward()

    add: dict[str, Callable[[], Any]] = {"ferrograd": lambda: fx + fy}
    graph: dict[str, Callable[[], Any]] = {"ferrograd": fg_graph}
    if torch is not None:
        tx, ty = torch.from_numpy(x8.copy()), torch.from_numpy(x8.copy())
        tw = torch.from_numpy(x8.copy()).requires_grad_()
        tb = torch.from_numpy(x8.copy()).requires_grad_()

        def torch_graph():
            (tx * tw + tb).tanh().sum().backward()

        add["torch"] = lambda: tx + ty
        graph["torch"] = torch_graph
    out: dict[str, Any] = {}
    for label, contenders, number in (("add_us", add, 20000), ("forward_backward_us", graph, 3000)):
        seconds = alternate(contenders, number, repeats)
        for name, s in seconds.items():
            out[f"{name}_{label}"] = round(s * 1e6, 3)
        if "torch" in seconds:
            ratio = seconds["ferrograd"] / seconds["torch"]
            out[f"{label.removesuffix('_us')}_ferrograd_vs_torch_time"] = round(ratio, 3)
    return out


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        contender, n, number, threads = sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
        print(_matmul_worker(contender, n, number, threads))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512, 1024, 2048])
    parser.add_argument("--quick", action="store_true", help="3 repeats")
    parser.add_argument("--output", help="also write the JSON document to this file")
    args = parser.parse_args()
    if args.quick:
        args.repeats = 3

    fg.set_num_threads(args.threads)
    if torch is not None:
        torch.set_num_threads(args.threads)
    report = {
        "machine": harness.machine(),
        "threads": args.threads,
        "versions": {
            "ferrograd": fg.__version__,
            "numpy": np.__version__,
            "torch": torch.__version__ if torch is not None else None,
        },
        "matmul_float32": bench_matmul(args.sizes, args.repeats, args.threads),
        "overhead": bench_overhead(args.repeats),
    }
    document = json.dumps(report, indent=2)
    if args.output:
        with open(args.output, "w") as out:
            out.write(document + "\n")
    print(document)


if __name__ == "__main__":
    main()
