"""Training throughput of ``fit``: ferrograd against an idiomatic PyTorch training loop and Keras 3
(``model.fit``, torch backend) when importable, on the same MLP and data. Prints a table and one
JSON document of samples/s and ratios.

Model: 784 -> 512 (ReLU) -> 256 (ReLU) -> 10, softmax cross-entropy on integer labels, Adam(1e-3).
Data: synthetic MNIST-shaped arrays from a fixed seed: float32 pixels uniform in [0, 1), 784 per
sample, and labels 0..9 from a fixed random linear "teacher", so the loss can fall and every
contender's final loss shows that it trained.

Each measurement runs in a fresh process (so allocator state and spinning worker threads never
leak from one contender to the next), with the same number of threads for everyone: the
OMP/MKL/OpenBLAS/Rayon variables, ``torch.set_num_threads`` and ``fg.set_num_threads``. A worker
builds the model, warms up on one short epoch, then times ``--epochs`` whole epochs, shuffling
each epoch: for ``fit`` (ferrograd, Keras) a callback times each epoch, and the rest of the call
(converting and copying the arrays once) is reported apart as ``fit_setup_s``. Contenders
alternate within each repeat; the median of the repeats is reported. Only the ratios are meant
to be compared across machines.

    python bench/bench_fit.py [--threads 2] [--repeats 5] [--epochs 1] [--batch-sizes 32 128 512]
    python bench/bench_fit.py --quick      # 10,000 samples, 2 repeats: a smoke run

PyTorch and Keras are benchmark contenders only, never dependencies of ferrograd (see
bench/README.md for the environment).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from typing import Any, Callable, NamedTuple

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

LAYER_SIZES = (784, 512, 256, 10)
LEARNING_RATE = 1e-3
WARMUP_SAMPLES = 4096
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "RAYON_NUM_THREADS")


def make_data(samples: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``samples`` MNIST-shaped float32 rows in [0, 1) and int64 labels 0..9 from a fixed linear
    teacher (argmax of the centred pixels times a random matrix)."""
    rng = np.random.default_rng(seed)
    x = rng.random((samples, LAYER_SIZES[0]), dtype=np.float32)
    teacher = rng.standard_normal((LAYER_SIZES[0], LAYER_SIZES[-1])).astype(np.float32)
    # Labels in chunks: a whole `x - 0.5` temporary would add the size of `x` to every
    # contender's peak memory, which bench_footprint.py reports.
    y = np.concatenate([np.argmax((x[i : i + 4096] - 0.5) @ teacher, axis=1) for i in range(0, samples, 4096)])
    return x, y.astype(np.int64)


# ----- one measurement per process


class Timing(NamedTuple):
    epoch_seconds: float  # the timed epochs, summed
    setup_seconds: float  # the rest of the timed `fit` call: converting the arrays, data adapters
    final_loss: float  # the last epoch's mean training loss, a check that the contender trains


def _epoch_timer(callback_base: type) -> Any:
    """A callback (subclass of ferrograd's or Keras's ``Callback``) recording each epoch's
    seconds, so the timing covers whole epochs and leaves out the once-per-call set-up of ``fit``
    (reported separately as ``setup_seconds``). It has epoch hooks only, so it adds no per-batch
    work."""

    class EpochTimer(callback_base):
        def __init__(self) -> None:
            super().__init__()
            self.seconds: list[float] = []
            self._start = 0.0

        def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
            self._start = time.perf_counter()

        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            self.seconds.append(time.perf_counter() - self._start)

    return EpochTimer()


def _time_fit(
    keras: Any, x: np.ndarray, y: np.ndarray, batch_size: int, epochs: int, extra_callbacks: tuple = ()
) -> Timing:
    """``model.fit(..., verbose=0)`` on the MLP, the same code for ferrograd and Keras (the same
    API): a warm-up fit on the first samples (graph set-up, allocations), then the timed fit."""
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input(shape=(LAYER_SIZES[0],))])
    for units in LAYER_SIZES[1:-1]:
        model.add(keras.layers.Dense(units, activation="relu"))
    model.add(keras.layers.Dense(LAYER_SIZES[-1], activation="softmax"))
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=LEARNING_RATE), loss="sparse_categorical_crossentropy")
    model.fit(x[:WARMUP_SAMPLES], y[:WARMUP_SAMPLES], batch_size=batch_size, epochs=1, verbose=0)
    timer = _epoch_timer(keras.callbacks.Callback)
    start = time.perf_counter()
    history = model.fit(x, y, batch_size=batch_size, epochs=epochs, verbose=0, callbacks=[timer, *extra_callbacks])
    call_seconds = time.perf_counter() - start
    epoch_seconds = sum(timer.seconds)
    return Timing(epoch_seconds, call_seconds - epoch_seconds, float(history.history["loss"][-1]))


def _time_ferrograd(x: np.ndarray, y: np.ndarray, batch_size: int, epochs: int, threads: int) -> Timing:
    import ferrograd as fg

    fg.set_num_threads(threads)
    return _time_fit(fg, x, y, batch_size, epochs)


def _time_ferrograd_monitor(x: np.ndarray, y: np.ndarray, batch_size: int, epochs: int, threads: int) -> Timing:
    """ferrograd's ``fit`` with a ``GradientMonitor`` at its default setting: what watching the
    gradients costs (issue 5 asks for at most 5% of the throughput)."""
    import ferrograd as fg

    fg.set_num_threads(threads)
    return _time_fit(fg, x, y, batch_size, epochs, (fg.callbacks.GradientMonitor(),))


def _time_keras(x: np.ndarray, y: np.ndarray, batch_size: int, epochs: int, threads: int) -> Timing:
    os.environ.setdefault("KERAS_BACKEND", "torch")
    import keras

    if keras.backend.backend() == "torch":
        import torch

        torch.set_num_threads(threads)
    return _time_fit(keras, x, y, batch_size, epochs)


def _time_torch(x: np.ndarray, y: np.ndarray, batch_size: int, epochs: int, threads: int) -> Timing:
    """The idiomatic eager loop: index shuffling without a DataLoader, ``zero_grad(set_to_none=True)``,
    ``backward``, ``step``, and the running loss summed with ``.item()`` (cheap on the CPU)."""
    import torch
    from torch import nn

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    layers: list[nn.Module] = []
    for fan_in, fan_out in zip(LAYER_SIZES[:-2], LAYER_SIZES[1:-1]):
        layers += [nn.Linear(fan_in, fan_out), nn.ReLU()]
    model = nn.Sequential(*layers, nn.Linear(LAYER_SIZES[-2], LAYER_SIZES[-1]))
    # The same model as Keras's: Glorot-uniform kernels, zero biases, Adam's epsilon 1e-7 (with
    # PyTorch's default initialization this MLP does not learn the data at batch 32 in an epoch).
    for layer in model:
        if isinstance(layer, nn.Linear):
            nn.init.xavier_uniform_(layer.weight)
            nn.init.zeros_(layer.bias)
    optimizer = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE, eps=1e-7)
    loss_fn = nn.CrossEntropyLoss()  # softmax cross-entropy on the logits
    inputs, labels = torch.from_numpy(x), torch.from_numpy(y)  # no copy

    def run_epoch(n: int) -> float:
        """One epoch; returns the mean of the batch losses, the number Keras's ``fit`` logs."""
        order = torch.randperm(n)
        running_loss, steps = 0.0, 0
        for start in range(0, n, batch_size):
            batch = order[start : start + batch_size]
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(model(inputs[batch]), labels[batch])
            loss.backward()
            optimizer.step()
            running_loss += loss.item()
            steps += 1
        return running_loss / steps

    model.train()
    run_epoch(WARMUP_SAMPLES)
    start = time.perf_counter()
    for _ in range(epochs):
        mean_loss = run_epoch(len(inputs))
    elapsed = time.perf_counter() - start
    return Timing(elapsed, 0.0, mean_loss)


TIMERS: dict[str, Callable[..., Timing]] = {
    "ferrograd": _time_ferrograd,
    "ferrograd_monitor": _time_ferrograd_monitor,
    "torch": _time_torch,
    "keras": _time_keras,
}


def _worker(contender: str, samples: int, batch_size: int, epochs: int, threads: int) -> None:
    x, y = make_data(samples)
    timing = TIMERS[contender](x, y, batch_size, epochs, threads)
    result = {
        "samples_per_s": samples * epochs / timing.epoch_seconds,
        "epoch_seconds": timing.epoch_seconds,
        "setup_seconds": timing.setup_seconds,
        "final_loss": timing.final_loss,
    }
    # Other processes on the machine slow OpenMP's barriers most (a descheduled worker thread
    # stalls every parallel region): the 1-minute load average shows whether the run was quiet.
    result["load_average"] = os.getloadavg()[0]
    # Peak resident memory of the whole process (data, library, training), for bench_footprint.py.
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(result))


# ----- the driver


def available_contenders() -> list[str]:
    contenders = ["ferrograd"]
    if importlib.util.find_spec("torch") is not None:
        contenders.append("torch")
        if importlib.util.find_spec("keras") is not None:
            contenders.append("keras")
    return contenders


def measure(contender: str, samples: int, batch_size: int, epochs: int, threads: int) -> dict[str, float]:
    env = dict(os.environ, **{name: str(threads) for name in THREAD_VARIABLES})
    env.setdefault("KERAS_BACKEND", "torch")
    numbers = [str(samples), str(batch_size), str(epochs), str(threads)]
    command = [sys.executable, __file__, "--worker", contender, *numbers]
    out = subprocess.run(command, capture_output=True, text=True, env=env)
    if out.returncode != 0:
        raise RuntimeError(f"{contender} worker (batch {batch_size}) failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def bench(
    contenders: list[str], samples: int, batch_sizes: list[int], epochs: int, repeats: int, threads: int
) -> tuple[list[dict[str, Any]], dict[str, float]]:
    samples_per_s = {(c, b): [] for c in contenders for b in batch_sizes}
    losses = {(c, b): [] for c in contenders for b in batch_sizes}
    setups = {(c, b): [] for c in contenders for b in batch_sizes}
    loads: list[float] = []
    for repeat in range(repeats):
        for batch_size in batch_sizes:
            for contender in contenders:
                result = measure(contender, samples, batch_size, epochs, threads)
                samples_per_s[contender, batch_size].append(result["samples_per_s"])
                losses[contender, batch_size].append(result["final_loss"])
                setups[contender, batch_size].append(result["setup_seconds"])
                loads.append(result["load_average"])
                print(
                    f"repeat {repeat + 1}/{repeats}  batch {batch_size:4d}  {contender:9s} "
                    f"{result['samples_per_s']:10.0f} samples/s  loss {result['final_loss']:.4f}  "
                    f"load {result['load_average']:.2f}",
                    file=sys.stderr,
                )
    rows = []
    for batch_size in batch_sizes:
        row: dict[str, Any] = {"batch_size": batch_size}
        for contender in contenders:
            row[f"{contender}_samples_per_s"] = round(statistics.median(samples_per_s[contender, batch_size]), 1)
        for contender in contenders:
            row[f"{contender}_final_loss"] = round(statistics.median(losses[contender, batch_size]), 4)
        for contender in contenders:
            row[f"{contender}_fit_setup_s"] = round(statistics.median(setups[contender, batch_size]), 3)
        for other in contenders[1:]:
            ratio = row["ferrograd_samples_per_s"] / row[f"{other}_samples_per_s"]
            row[f"ferrograd_vs_{other}"] = round(ratio, 3)
        rows.append(row)
    return rows, {"median": round(statistics.median(loads), 2), "max": round(max(loads), 2)}


def table(rows: list[dict[str, Any]], contenders: list[str]) -> str:
    header = ["batch"] + [f"{c} samples/s" for c in contenders] + [f"ferrograd / {c}" for c in contenders[1:]]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        cells = [str(row["batch_size"])]
        cells += [f"{row[f'{c}_samples_per_s']:.0f}" for c in contenders]
        cells += [f"{row[f'ferrograd_vs_{c}']:.2f}" for c in contenders[1:]]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        contender, samples, batch_size, epochs, threads = sys.argv[2], *map(int, sys.argv[3:7])
        _worker(contender, samples, batch_size, epochs, threads)
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=1, help="timed epochs per measurement")
    parser.add_argument("--samples", type=int, default=60000)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[32, 128, 512])
    parser.add_argument("--contenders", nargs="+", choices=sorted(TIMERS), default=None)
    parser.add_argument("--quick", action="store_true", help="10,000 samples and 2 repeats")
    parser.add_argument("--output", help="also write the JSON document to this file")
    args = parser.parse_args()
    if args.quick:
        args.samples, args.repeats = 10000, 2
    contenders = args.contenders or available_contenders()
    if contenders[0] != "ferrograd":
        contenders = ["ferrograd"] + [c for c in contenders if c != "ferrograd"]

    rows, load_average = bench(contenders, args.samples, args.batch_sizes, args.epochs, args.repeats, args.threads)
    report = {
        "machine": harness.machine(),
        "threads": args.threads,
        "samples": args.samples,
        "timed_epochs": args.epochs,
        "repeats": args.repeats,
        "load_average_1min": load_average,
        "versions": {
            "ferrograd": harness.version("ferrograd"),
            "numpy": np.__version__,
            "torch": harness.version("torch"),
            "keras": harness.version("keras"),
            "keras_backend": os.environ.get("KERAS_BACKEND", "torch") if "keras" in contenders else None,
        },
        "fit_samples_per_s": rows,
    }
    document = json.dumps(report, indent=2)
    if args.output:
        with open(args.output, "w") as out:
            out.write(document + "\n")
    print(table(rows, contenders))
    print(document)


if __name__ == "__main__":
    main()
