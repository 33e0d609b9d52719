"""Convolutional and recurrent training throughput: ferrograd against PyTorch (and Keras 3 on the
torch backend, when importable), side by side in one run. Prints a table and one JSON document.

Workloads (issue 4's list):

- ``lenet``: a LeNet-5 style CNN trained with ``fit`` on 28x28x1 inputs at batch 128:
  Conv2D(6, 5, same, relu), MaxPool 2, Conv2D(16, 5, relu), MaxPool 2, Flatten, Dense 120 relu,
  Dense 84 relu, Dense 10; Adam(1e-3), softmax cross-entropy on integer labels.
- ``lstm`` / ``gru``: LSTM(128) or GRU(128) over sequences of 50 steps of 32 features, then
  Dense 10; batch 64, Adam(1e-3), softmax cross-entropy on integer labels.
- ``conv2d``: one Conv2D's forward and backward pass (gradients of the input, kernel and bias for
  a given output gradient) at a few realistic shapes, in milliseconds per pass.

Each contender is written the way its users write it: ferrograd and Keras run ``model.fit`` (the
same code); PyTorch runs the idiomatic eager loop (``zero_grad``, ``backward``, ``step``) with
its own layers in its native layout (NCHW for images, ``batch_first`` sequences). Data are
synthetic from a fixed seed (labels from a random linear teacher, so every contender's loss
falls). Each measurement runs in a fresh process with the same thread count everywhere; the
contenders alternate within each repeat; medians are reported, with the 1-minute load average
as a check that the machine was quiet. Only the ratios mean anything across machines.

    python bench/bench_layers.py [--threads 2] [--repeats 5] [--workloads lenet lstm gru conv2d]
    python bench/bench_layers.py --quick     # fewer samples and 2 repeats: a smoke run

PyTorch and Keras are contenders, never dependencies (bench/README.md sets up their venv).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import time
from typing import Any, Callable

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "RAYON_NUM_THREADS")
LEARNING_RATE = 1e-3

# Training workloads: input shape per sample, batch size, samples timed per repeat (full runs).
TRAINING = {
    "lenet": {"shape": (28, 28, 1), "batch_size": 128, "samples": 16384},
    "lstm": {"shape": (50, 32), "batch_size": 64, "samples": 4096},
    "gru": {"shape": (50, 32), "batch_size": 64, "samples": 4096},
}
# Conv2D shapes: (batch, height, width, in_channels, filters, kernel, strides, padding).
CONV_SHAPES = [
    (32, 28, 28, 32, 64, 3, 1, "same"),
    (32, 56, 56, 64, 64, 3, 1, "same"),
    (32, 14, 14, 256, 256, 3, 1, "same"),
    (32, 56, 56, 64, 256, 1, 1, "valid"),
    (32, 112, 112, 3, 32, 3, 2, "same"),
]
NUM_CLASSES = 10


def make_data(workload: str, samples: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """float32 inputs and int64 labels from a fixed random linear teacher on the flattened input."""
    rng = np.random.default_rng(seed)
    shape = TRAINING[workload]["shape"]
    if workload == "lenet":
        x = rng.random((samples, *shape), dtype=np.float32)
    else:
        x = rng.standard_normal((samples, *shape)).astype(np.float32)
    flat = x.reshape(samples, -1)
    teacher = rng.standard_normal((flat.shape[1], NUM_CLASSES)).astype(np.float32)
    y = np.argmax((flat - flat.mean(axis=0)) @ teacher, axis=1).astype(np.int64)
    return x, y


# ----- training, one measurement per process


def _keras_model(keras: Any, workload: str) -> Any:
    """The same Keras code for ferrograd and Keras 3."""
    layers = keras.layers
    shape = TRAINING[workload]["shape"]
    if workload == "lenet":
        body = [
            layers.Conv2D(6, 5, padding="same", activation="relu"),
            layers.MaxPooling2D(2),
            layers.Conv2D(16, 5, activation="relu"),
            layers.MaxPooling2D(2),
            layers.Flatten(),
            layers.Dense(120, activation="relu"),
            layers.Dense(84, activation="relu"),
        ]
    else:
        body = [(layers.LSTM if workload == "lstm" else layers.GRU)(128)]
    return keras.Sequential([keras.Input(shape=shape), *body, layers.Dense(NUM_CLASSES)])


def _epoch_timer(callback_base: type) -> Any:
    """A callback timing each epoch (epoch hooks only: no per-batch work)."""

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


def _fit(keras: Any, workload: str, x: np.ndarray, y: np.ndarray, warmup: int) -> tuple[float, float]:
    keras.utils.set_random_seed(0)
    model = _keras_model(keras, workload)
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=LEARNING_RATE),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    batch_size = TRAINING[workload]["batch_size"]
    model.fit(x[:warmup], y[:warmup], batch_size=batch_size, epochs=1, verbose=0)
    timer = _epoch_timer(keras.callbacks.Callback)
    history = model.fit(x, y, batch_size=batch_size, epochs=1, verbose=0, callbacks=[timer])
    return timer.seconds[0], float(history.history["loss"][-1])


def _train_ferrograd(workload: str, x: np.ndarray, y: np.ndarray, warmup: int, threads: int) -> tuple[float, float]:
    import ferrograd as fg

    fg.set_num_threads(threads)
    return _fit(fg, workload, x, y, warmup)


def _train_keras(workload: str, x: np.ndarray, y: np.ndarray, warmup: int, threads: int) -> tuple[float, float]:
    os.environ.setdefault("KERAS_BACKEND", "torch")
    import keras

    if keras.backend.backend() == "torch":
        import torch

        torch.set_num_threads(threads)
    return _fit(keras, workload, x, y, warmup)


def _train_torch(workload: str, x: np.ndarray, y: np.ndarray, warmup: int, threads: int) -> tuple[float, float]:
    """The idiomatic eager loop, PyTorch's own layers and default initialization."""
    import torch
    from torch import nn

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    if workload == "lenet":
        model: nn.Module = nn.Sequential(
            nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
            nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, NUM_CLASSES),
        )  # fmt: skip
        inputs = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))  # NCHW, torch's layout
        forward = model
    else:
        recurrent = (nn.LSTM if workload == "lstm" else nn.GRU)(x.shape[2], 128, batch_first=True)
        head = nn.Linear(128, NUM_CLASSES)
        model = nn.ModuleList([recurrent, head])
        inputs = torch.from_numpy(x)

        def forward(batch: torch.Tensor) -> torch.Tensor:
            return head(recurrent(batch)[0][:, -1])

    labels = torch.from_numpy(y)
    optimizer = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE, eps=1e-7)
    loss_fn = nn.CrossEntropyLoss()
    batch_size = TRAINING[workload]["batch_size"]

    def run_epoch(n: int) -> float:
        order = torch.randperm(n)
        running, steps = 0.0, 0
        for start in range(0, n, batch_size):
            batch = order[start : start + batch_size]
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(forward(inputs[batch]), labels[batch])
            loss.backward()
            optimizer.step()
            running += loss.item()
            steps += 1
        return running / steps

    model.train()
    run_epoch(warmup)
    start = time.perf_counter()
    mean_loss = run_epoch(len(inputs))
    return time.perf_counter() - start, mean_loss


TRAINERS: dict[str, Callable[..., tuple[float, float]]] = {
    "ferrograd": _train_ferrograd,
    "torch": _train_torch,
    "keras": _train_keras,
}


# ----- Conv2D forward + backward, one measurement per process


def _conv_ferrograd(shape: tuple, x: np.ndarray, g: np.ndarray, iters: int, threads: int) -> float:
    import ferrograd as fg

    fg.set_num_threads(threads)
    _, _, _, _, filters, kernel, strides, padding = shape
    layer = fg.layers.Conv2D(filters, kernel, strides=strides, padding=padding)
    layer.build(x.shape)
    sources = [*layer.trainable_weights]

    def one_pass() -> None:
        xt = fg.tensor(x, requires_grad=True)
        with fg.GradientTape() as tape:
            out = layer(xt)
        tape.gradient(out, [xt, *sources], output_gradients=g)

    one_pass()
    start = time.perf_counter()
    for _ in range(iters):
        one_pass()
    return (time.perf_counter() - start) / iters


def _conv_torch(shape: tuple, x: np.ndarray, g: np.ndarray, iters: int, threads: int) -> float:
    import torch
    from torch import nn

    torch.set_num_threads(threads)
    _, _, _, channels, filters, kernel, strides, padding = shape
    pad = kernel // 2 if padding == "same" else 0
    conv = nn.Conv2d(channels, filters, kernel, stride=strides, padding=pad)
    xs = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))
    grad_out = torch.from_numpy(np.ascontiguousarray(g.transpose(0, 3, 1, 2)))

    def one_pass() -> None:
        xt = xs.detach().requires_grad_(True)
        conv.zero_grad(set_to_none=True)
        conv(xt).backward(grad_out)

    one_pass()
    start = time.perf_counter()
    for _ in range(iters):
        one_pass()
    return (time.perf_counter() - start) / iters


def _conv_output_side(side: int, kernel: int, strides: int, padding: str) -> int:
    return -(-side // strides) if padding == "same" else (side - kernel) // strides + 1


def _conv_worker(contender: str, index: int, threads: int, quick: bool) -> dict[str, float]:
    shape = CONV_SHAPES[index]
    batch, height, width, channels, filters, kernel, strides, padding = shape
    rng = np.random.default_rng(index)
    x = rng.standard_normal((batch, height, width, channels)).astype(np.float32)
    out_h, out_w = (_conv_output_side(s, kernel, strides, padding) for s in (height, width))
    g = rng.standard_normal((batch, out_h, out_w, filters)).astype(np.float32)
    timer = _conv_ferrograd if contender == "ferrograd" else _conv_torch
    seconds = timer(shape, x, g, 3 if quick else 10, threads)
    return {"ms_per_pass": seconds * 1e3}


# ----- the driver


def _worker(args: list[str]) -> None:
    kind, contender, name, threads, quick = args[0], args[1], args[2], int(args[3]), args[4] == "1"
    if kind == "train":
        spec = TRAINING[name]
        samples = spec["samples"] // (4 if quick else 1)
        x, y = make_data(name, samples)
        seconds, loss = TRAINERS[contender](name, x, y, min(samples, 8 * spec["batch_size"]), threads)
        result = {"samples_per_s": samples / seconds, "final_loss": loss}
    else:
        result = _conv_worker(contender, int(name), threads, quick)
    result["load_average"] = os.getloadavg()[0]
    print(json.dumps(result))


def measure(kind: str, contender: str, name: str, threads: int, quick: bool) -> dict[str, float]:
    env = dict(os.environ, **{variable: str(threads) for variable in THREAD_VARIABLES})
    env.setdefault("KERAS_BACKEND", "torch")
    command = [sys.executable, __file__, "--worker", kind, contender, name, str(threads), "1" if quick else "0"]
    out = subprocess.run(command, capture_output=True, text=True, env=env)
    if out.returncode != 0:
        raise RuntimeError(f"{contender} worker ({kind} {name}) failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _conv_label(index: int) -> str:
    batch, height, width, channels, filters, kernel, strides, padding = CONV_SHAPES[index]
    return f"{batch}x{height}x{width}x{channels} -> {filters}, {kernel}x{kernel}/{strides} {padding}"


def run(workloads: list[str], contenders: list[str], repeats: int, threads: int, quick: bool) -> dict[str, Any]:
    jobs: list[tuple[str, str]] = []  # (kind, name)
    for workload in workloads:
        if workload == "conv2d":
            jobs += [("conv", str(i)) for i in range(len(CONV_SHAPES))]
        else:
            jobs.append(("train", workload))
    samples: dict[tuple[str, str, str], list[float]] = {}
    losses: dict[tuple[str, str, str], list[float]] = {}
    loads: list[float] = []
    for repeat in range(repeats):
        for kind, name in jobs:
            players = contenders if kind == "train" else [c for c in contenders if c != "keras"]
            for contender in players:
                result = measure(kind, contender, name, threads, quick)
                key = (kind, name, contender)
                value = result["samples_per_s"] if kind == "train" else result["ms_per_pass"]
                samples.setdefault(key, []).append(value)
                if kind == "train":
                    losses.setdefault(key, []).append(result["final_loss"])
                loads.append(result["load_average"])
                unit = "samples/s" if kind == "train" else "ms/pass"
                label = name if kind == "train" else _conv_label(int(name))
                print(
                    f"repeat {repeat + 1}/{repeats}  {label:40s} {contender:9s} {value:10.1f} {unit}  "
                    f"load {result['load_average']:.2f}",
                    file=sys.stderr,
                )
    training, convolution = [], []
    for kind, name in jobs:
        players = contenders if kind == "train" else [c for c in contenders if c != "keras"]
        medians = {c: statistics.median(samples[kind, name, c]) for c in players}
        if kind == "train":
            row: dict[str, Any] = {"workload": name, **{f"{c}_samples_per_s": round(v, 1) for c, v in medians.items()}}
            row.update({f"{c}_final_loss": round(statistics.median(losses[kind, name, c]), 4) for c in players})
            row.update({f"ferrograd_vs_{c}": round(medians["ferrograd"] / medians[c], 3) for c in players[1:]})
            training.append(row)
        else:
            row = {"shape": _conv_label(int(name)), **{f"{c}_ms": round(v, 3) for c, v in medians.items()}}
            # Speed ratio: the other's time over ours (above 1 means ferrograd is faster).
            row.update({f"ferrograd_vs_{c}": round(medians[c] / medians["ferrograd"], 3) for c in players[1:]})
            convolution.append(row)
    return {
        "machine": harness.machine(),
        "threads": threads,
        "repeats": repeats,
        "quick": quick,
        "load_average_1min": {"median": round(statistics.median(loads), 2), "max": round(max(loads), 2)},
        "versions": {
            "ferrograd": harness.version("ferrograd"),
            "numpy": np.__version__,
            "torch": harness.version("torch"),
            "keras": harness.version("keras"),
        },
        "training": training,
        "conv2d_forward_backward": convolution,
    }


def tables(report: dict[str, Any], contenders: list[str]) -> str:
    lines = []
    if report["training"]:
        header = ["workload"] + [f"{c} samples/s" for c in contenders] + [f"ferrograd / {c}" for c in contenders[1:]]
        lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        for row in report["training"]:
            cells = [row["workload"]] + [f"{row[f'{c}_samples_per_s']:.0f}" for c in contenders]
            cells += [f"{row[f'ferrograd_vs_{c}']:.2f}" for c in contenders[1:]]
            lines.append("| " + " | ".join(cells) + " |")
    if report["conv2d_forward_backward"]:
        players = [c for c in contenders if c != "keras"]
        header = ["Conv2D forward+backward"] + [f"{c} ms" for c in players] + [f"speed vs {c}" for c in players[1:]]
        lines += ["", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        for row in report["conv2d_forward_backward"]:
            cells = [row["shape"]] + [f"{row[f'{c}_ms']:.2f}" for c in players]
            cells += [f"{row[f'ferrograd_vs_{c}']:.2f}" for c in players[1:]]
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        _worker(sys.argv[2:])
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--workloads", nargs="+", choices=[*TRAINING, "conv2d"], default=[*TRAINING, "conv2d"])
    parser.add_argument("--contenders", nargs="+", choices=sorted(TRAINERS), default=None)
    parser.add_argument("--quick", action="store_true", help="a quarter of the samples, 2 repeats")
    parser.add_argument("--output", help="also write the JSON document to this file")
    args = parser.parse_args()
    if args.quick:
        args.repeats = 2
    available = ["ferrograd"]
    if importlib.util.find_spec("torch") is not None:
        available.append("torch")
        if importlib.util.find_spec("keras") is not None:
            available.append("keras")
    contenders = args.contenders or available
    contenders = ["ferrograd"] + [c for c in contenders if c != "ferrograd"]
    report = run(args.workloads, contenders, args.repeats, args.threads, args.quick)
    document = json.dumps(report, indent=2)
    if args.output:
        with open(args.output, "w") as out:
            out.write(document + "\n")
    print(tables(report, contenders))
    print(document)


if __name__ == "__main__":
    main()
