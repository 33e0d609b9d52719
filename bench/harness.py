"""What every benchmark script shares: one measurement per fresh process with the same thread
count for every contender, the machine and package versions for the report, and medians.

Why fresh processes: BLAS/OpenMP worker threads keep spinning after a call and allocators keep
state, so a contender measured after another in the same process inherits its leftovers.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import os
import platform
import subprocess
from typing import Any

THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "RAYON_NUM_THREADS")
# Some machines here set these for other work; they slow numpy's OpenBLAS down, so the children
# run without them.
UNSET_VARIABLES = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")


def worker_env(threads: int) -> dict[str, str]:
    """The environment of a measuring child: every thread pool sized to `threads`."""
    env = {k: v for k, v in os.environ.items() if k not in UNSET_VARIABLES}
    env.update({name: str(threads) for name in THREAD_VARIABLES})
    env.setdefault("KERAS_BACKEND", "torch")
    return env


def run_worker(command: list[str], threads: int, what: str) -> dict[str, Any]:
    """Runs a measuring child and returns the JSON object it prints last."""
    out = subprocess.run(command, capture_output=True, text=True, env=worker_env(threads))
    if out.returncode != 0:
        raise RuntimeError(f"{what} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def importable(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def cpu_flags() -> list[str]:
    """The SIMD extensions that matter for these kernels."""
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("flags"):
                    flags = line.split(":", 1)[1].split()
                    return sorted(f for f in flags if f in ("avx2", "fma", "avx512f", "avx512bw", "avx512vl"))
    except OSError:
        pass
    return []


def machine() -> dict[str, Any]:
    return {
        "cpu": cpu_model(),
        "simd": cpu_flags(),
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
    }


def versions() -> dict[str, str | None]:
    return {name: version(name) for name in ("ferrograd", "numpy", "torch", "keras")}
