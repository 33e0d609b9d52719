"""What a library costs before and around the arithmetic: the time `import` takes in a fresh
interpreter, and the peak resident memory of the MLP training run of bench_fit.py (784-512-256-10,
Adam, one epoch of 60,000 MNIST-shaped samples at batch 128), for ferrograd, PyTorch and Keras
when importable. Prints a table and one JSON document.

Import time: `time.perf_counter()` around the `import` statement in a fresh `python -c`
process (interpreter start-up excluded), median of `--repeats` processes, contenders
alternating. Peak memory: the training process's own `ru_maxrss` (data, libraries, model,
training), as reported by bench_fit.py's worker, median of the repeats.

    python bench/bench_footprint.py [--threads 2] [--repeats 5] [--samples 60000]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

BENCH_FIT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "bench_fit.py")
IMPORT_SNIPPET = (
    "import json, time; t = time.perf_counter(); import {module}; print(json.dumps(time.perf_counter() - t))"
)


def import_seconds(module: str, threads: int) -> float:
    command = [sys.executable, "-c", IMPORT_SNIPPET.format(module=module)]
    return float(harness.run_worker(command, threads, f"import {module}"))


def bench_imports(modules: list[str], repeats: int, threads: int) -> dict[str, float]:
    samples: dict[str, list[float]] = {m: [] for m in modules}
    for _ in range(repeats):
        for module in modules:
            samples[module].append(import_seconds(module, threads))
    return {f"{m}_import_s": round(statistics.median(s), 4) for m, s in samples.items()}


def bench_peak_memory(
    contenders: list[str], samples: int, batch_size: int, repeats: int, threads: int
) -> dict[str, Any]:
    peaks: dict[str, list[float]] = {c: [] for c in contenders}
    for _ in range(repeats):
        for contender in contenders:
            numbers = [str(samples), str(batch_size), "1", str(threads)]
            command = [sys.executable, BENCH_FIT, "--worker", contender, *numbers]
            result = harness.run_worker(command, threads, f"{contender} training run")
            peaks[contender].append(result["peak_rss_mb"])
    out: dict[str, Any] = {"samples": samples, "batch_size": batch_size}
    for c in contenders:
        out[f"{c}_peak_rss_mb"] = round(statistics.median(peaks[c]), 1)
    for c in contenders[1:]:
        out[f"ferrograd_vs_{c}"] = round(out["ferrograd_peak_rss_mb"] / out[f"{c}_peak_rss_mb"], 3)
    return out


def table(report: dict[str, Any], contenders: list[str]) -> str:
    imports, peak = report["import_seconds"], report["peak_rss"]
    lines = ["| library | import s | peak RSS of the MLP training run, MB |", "|---|---|---|"]
    for c in contenders:
        lines.append(f"| {c} | {imports[f'{c}_import_s']:.3f} | {peak[f'{c}_peak_rss_mb']:.0f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--samples", type=int, default=60000)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--quick", action="store_true", help="2 repeats")
    parser.add_argument("--output", help="also write the JSON document to this file")
    args = parser.parse_args()
    if args.quick:
        args.repeats = 2
    contenders = ["ferrograd"]
    if harness.importable("torch"):
        contenders.append("torch")
        if harness.importable("keras"):
            contenders.append("keras")
    report = {
        "machine": harness.machine(),
        "threads": args.threads,
        "repeats": args.repeats,
        "versions": harness.versions(),
        "import_seconds": bench_imports(["numpy", *contenders], args.repeats, args.threads),
        "peak_rss": bench_peak_memory(contenders, args.samples, args.batch_size, args.repeats, args.threads),
    }
    document = json.dumps(report, indent=2)
    if args.output:
        with open(args.output, "w") as out:
            out.write(document + "\n")
    print(table(report, contenders))
    print(document)


if __name__ == "__main__":
    main()
