"""Saving and loading: ferrograd's safetensors files against PyTorch's ``torch.save`` /
``torch.load`` of the same architectures, when torch is importable. Prints a table and one JSON
document of times, file sizes and ratios.

Models (trained one short epoch first, so the optimizers have their slots):

- ``mlp``: the benchmark MLP of bench_fit.py, 784 -> 512 (ReLU) -> 256 (ReLU) -> 10, Adam(1e-3)
  (535,818 parameters).
- ``lenet``: the LeNet-5 style CNN of bench_layers.py, Conv2D(6, 5, same) - MaxPool - Conv2D(16, 5)
  - MaxPool - Flatten - Dense 120 - Dense 84 - Dense 10, Adam(1e-3) (61,706 parameters).

Operations, like with like:

- ``save``: the whole training state. ferrograd: ``model.save(path)`` (weights, architecture,
  compile settings, Adam's slots, in one file written to a temporary file, fsynced and renamed).
  PyTorch: ``torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict()})``;
  and ``save_durable``, the same written as ferrograd writes (temporary file, ``fsync``,
  ``os.replace``), since a plain ``torch.save`` does not wait for the disk.
- ``load``: back to a model that trains on. ferrograd: ``fg.load_model(path)``, which rebuilds the
  model from its config and compiles it. PyTorch: construct the ``nn.Module`` and the Adam
  optimizer, ``torch.load(path, weights_only=True)`` (the safe unpickler), ``load_state_dict``
  on both.
- ``save_weights`` / ``load_weights``: the weights alone into an existing model.
  ferrograd: ``model.save_weights`` / ``model.load_weights``; PyTorch: ``torch.save(
  model.state_dict())`` / ``model.load_state_dict(torch.load(path, weights_only=True))``.

Each contender runs in a fresh process per repeat (contenders alternate): it trains its model,
then times every operation ``--inner`` times after one untimed warm-up, and reports the medians.
The driver reports the median over repeats. Files go to ``--dir`` (default: a temporary
directory; its file system is reported, since ``fsync`` costs nothing on tmpfs and milliseconds on
a disk); reads hit the page cache. Every load is checked: the loaded model predicts exactly what
the saved one did. Only the ratios mean anything across machines.

    python bench/bench_saving.py [--threads 2] [--repeats 5] [--inner 7] [--models mlp lenet]
    python bench/bench_saving.py --quick      # 1 repeat, 3 timings per operation: a smoke run

PyTorch is a contender, never a dependency (bench/README.md sets up its venv).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any, Callable

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "RAYON_NUM_THREADS")
LEARNING_RATE = 1e-3
MLP_SIZES = (784, 512, 256, 10)
NUM_CLASSES = 10
SHAPES = {"mlp": (784,), "lenet": (28, 28, 1)}
TRAIN_SAMPLES = 2048  # one short epoch at batch 128: 16 steps, so Adam has its slots
BATCH_SIZE = 128
OPERATIONS = ("save", "save_durable", "load", "save_weights", "load_weights")


def make_data(model: str, samples: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """float32 inputs in [0, 1) and int64 labels from a fixed random linear teacher."""
    rng = np.random.default_rng(seed)
    x = rng.random((samples, *SHAPES[model]), dtype=np.float32)
    flat = x.reshape(samples, -1)
    teacher = rng.standard_normal((flat.shape[1], NUM_CLASSES)).astype(np.float32)
    y = np.argmax((flat - 0.5) @ teacher, axis=1).astype(np.int64)
    return x, y


def _median_ms(function: Callable[[], Any], inner: int) -> float:
    """The median of ``inner`` timings of ``function`` after one untimed call, in ms."""
    function()
    seconds = []
    for _ in range(inner):
        start = time.perf_counter()
        function()
        seconds.append(time.perf_counter() - start)
    return statistics.median(seconds) * 1e3


# ----- ferrograd


def _ferrograd_model(fg: Any, model: str) -> Any:
    layers = fg.layers
    if model == "mlp":
        body = [layers.Dense(units, activation="relu") for units in MLP_SIZES[1:-1]]
    else:
        body = [
            layers.Conv2D(6, 5, padding="same", activation="relu"),
            layers.MaxPooling2D(2),
            layers.Conv2D(16, 5, activation="relu"),
            layers.MaxPooling2D(2),
            layers.Flatten(),
            layers.Dense(120, activation="relu"),
            layers.Dense(84, activation="relu"),
        ]
    return fg.Sequential([fg.Input(shape=SHAPES[model]), *body, layers.Dense(NUM_CLASSES)])


def _time_ferrograd(model_name: str, directory: str, inner: int, threads: int) -> dict[str, Any]:
    import ferrograd as fg

    fg.set_num_threads(threads)
    fg.utils.set_random_seed(0)
    x, y = make_data(model_name, TRAIN_SAMPLES)
    model = _ferrograd_model(fg, model_name)
    model.compile(
        optimizer=fg.optimizers.Adam(learning_rate=LEARNING_RATE),
        loss=fg.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    model.fit(x, y, batch_size=BATCH_SIZE, epochs=1, verbose=0)
    probe = x[:64]
    expected = model.predict(probe, verbose=0)
    whole = os.path.join(directory, f"{model_name}.safetensors")
    weights = os.path.join(directory, f"{model_name}.weights.safetensors")

    ms = {
        "save": _median_ms(lambda: model.save(whole), inner),
        "save_weights": _median_ms(lambda: model.save_weights(weights), inner),
    }
    ms["save_durable"] = ms["save"]  # ferrograd's save is the durable one
    loaded: list[Any] = []
    ms["load"] = _median_ms(lambda: loaded.append(fg.load_model(whole)), inner)
    restored = loaded[-1]
    if not np.array_equal(restored.predict(probe, verbose=0), expected):
        raise AssertionError("fg.load_model did not restore the predictions")
    if restored.optimizer.iterations != model.optimizer.iterations:
        raise AssertionError("fg.load_model did not restore the optimizer's step")
    other = _ferrograd_model(fg, model_name)
    ms["load_weights"] = _median_ms(lambda: other.load_weights(weights), inner)
    if not np.array_equal(other.predict(probe, verbose=0), expected):
        raise AssertionError("load_weights did not restore the predictions")
    parameters = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    return {
        "ms": ms,
        "bytes": {"save": os.path.getsize(whole), "save_weights": os.path.getsize(weights)},
        "parameters": parameters,
    }


# ----- PyTorch


def _torch_model(torch: Any, model: str) -> Any:
    """The same architectures, PyTorch's layers in its NCHW layout, Glorot kernels as Keras's."""
    from torch import nn

    if model == "mlp":
        modules: list[Any] = []
        for fan_in, fan_out in zip(MLP_SIZES[:-2], MLP_SIZES[1:-1]):
            modules += [nn.Linear(fan_in, fan_out), nn.ReLU()]
        network = nn.Sequential(*modules, nn.Linear(MLP_SIZES[-2], MLP_SIZES[-1]))
    else:
        network = nn.Sequential(
            nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
            nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, NUM_CLASSES),
        )  # fmt: skip
    for layer in network:
        if isinstance(layer, (nn.Linear, nn.Conv2d)):
            nn.init.xavier_uniform_(layer.weight)
            nn.init.zeros_(layer.bias)
    return network


def _durable_torch_save(torch: Any, obj: Any, path: str) -> None:
    """``torch.save`` as ferrograd writes: a temporary file beside ``path``, fsynced, renamed."""
    directory = os.path.dirname(path) or "."
    handle, temporary = tempfile.mkstemp(dir=directory, prefix=".torch.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as out:
            torch.save(obj, out)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise
    directory_handle = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(directory_handle)
    finally:
        os.close(directory_handle)


def _time_torch(model_name: str, directory: str, inner: int, threads: int) -> dict[str, Any]:
    import torch
    from torch import nn

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    x, y = make_data(model_name, TRAIN_SAMPLES)
    if model_name == "lenet":
        x = np.ascontiguousarray(x.transpose(0, 3, 1, 2))  # NCHW, torch's layout
    inputs, labels = torch.from_numpy(x), torch.from_numpy(y)
    model = _torch_model(torch, model_name)
    optimizer = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE, eps=1e-7)
    loss_fn = nn.CrossEntropyLoss()
    model.train()
    order = torch.randperm(len(inputs))
    for start in range(0, len(inputs), BATCH_SIZE):
        batch = order[start : start + BATCH_SIZE]
        optimizer.zero_grad(set_to_none=True)
        loss_fn(model(inputs[batch]), labels[batch]).backward()
        optimizer.step()
    model.eval()
    probe = inputs[:64]
    with torch.no_grad():
        expected = model(probe)
    whole = os.path.join(directory, f"{model_name}.pt")
    durable = os.path.join(directory, f"{model_name}.durable.pt")
    weights = os.path.join(directory, f"{model_name}.weights.pt")

    def checkpoint() -> dict[str, Any]:
        return {"model": model.state_dict(), "optimizer": optimizer.state_dict()}

    ms = {
        "save": _median_ms(lambda: torch.save(checkpoint(), whole), inner),
        "save_durable": _median_ms(lambda: _durable_torch_save(torch, checkpoint(), durable), inner),
        "save_weights": _median_ms(lambda: torch.save(model.state_dict(), weights), inner),
    }
    loaded: list[Any] = []

    def load() -> None:
        network = _torch_model(torch, model_name)
        adam = torch.optim.Adam(network.parameters(), lr=LEARNING_RATE, eps=1e-7)
        state = torch.load(whole, weights_only=True)
        network.load_state_dict(state["model"])
        adam.load_state_dict(state["optimizer"])
        loaded.append((network, adam))

    ms["load"] = _median_ms(load, inner)
    network, adam = loaded[-1]
    network.eval()
    with torch.no_grad():
        if not torch.equal(network(probe), expected):
            raise AssertionError("torch.load did not restore the predictions")
    if adam.state_dict()["state"][0]["step"] != optimizer.state_dict()["state"][0]["step"]:
        raise AssertionError("torch.load did not restore the optimizer's step")
    other = _torch_model(torch, model_name)
    ms["load_weights"] = _median_ms(lambda: other.load_state_dict(torch.load(weights, weights_only=True)), inner)
    other.eval()
    with torch.no_grad():
        if not torch.equal(other(probe), expected):
            raise AssertionError("load_state_dict did not restore the predictions")
    return {
        "ms": ms,
        "bytes": {"save": os.path.getsize(whole), "save_weights": os.path.getsize(weights)},
        "parameters": sum(p.numel() for p in model.parameters()),
    }


TIMERS: dict[str, Callable[..., dict[str, Any]]] = {"ferrograd": _time_ferrograd, "torch": _time_torch}


# ----- the driver


def _worker(args: list[str]) -> None:
    contender, model, directory, inner, threads = args[0], args[1], args[2], int(args[3]), int(args[4])
    result = TIMERS[contender](model, directory, inner, threads)
    result["load_average"] = os.getloadavg()[0]
    print(json.dumps(result))


def measure(contender: str, model: str, directory: str, inner: int, threads: int) -> dict[str, Any]:
    env = dict(os.environ, **{variable: str(threads) for variable in THREAD_VARIABLES})
    command = [sys.executable, __file__, "--worker", contender, model, directory, str(inner), str(threads)]
    out = subprocess.run(command, capture_output=True, text=True, env=env)
    if out.returncode != 0:
        raise RuntimeError(f"{contender} worker ({model}) failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _file_system(path: str) -> str | None:
    """The type of the file system ``path`` is on (the longest mount point above it), on Linux."""
    path = os.path.realpath(path)
    best, kind = "", None
    try:
        with open("/proc/mounts") as mounts:
            for line in mounts:
                fields = line.split()
                if len(fields) < 3:
                    continue
                mount = fields[1]
                inside = path == mount or path.startswith(mount.rstrip("/") + "/")
                if inside and len(mount) >= len(best):
                    best, kind = mount, fields[2]
    except OSError:
        return None
    return kind


def run(models: list[str], contenders: list[str], directory: str, repeats: int, inner: int, threads: int) -> dict:
    ms: dict[tuple[str, str, str], list[float]] = {}
    sizes: dict[tuple[str, str], dict[str, int]] = {}
    parameters: dict[tuple[str, str], int] = {}
    loads: list[float] = []
    for repeat in range(repeats):
        for model in models:
            for contender in contenders:
                result = measure(contender, model, directory, inner, threads)
                for operation, value in result["ms"].items():
                    ms.setdefault((model, contender, operation), []).append(value)
                sizes[model, contender] = result["bytes"]
                parameters[model, contender] = result["parameters"]
                loads.append(result["load_average"])
                timings = "  ".join(f"{op} {result['ms'][op]:7.2f}" for op in OPERATIONS)
                print(
                    f"repeat {repeat + 1}/{repeats}  {model:5s} {contender:9s} ms: {timings}  "
                    f"load {result['load_average']:.2f}",
                    file=sys.stderr,
                )
    results = []
    for model in models:
        row: dict[str, Any] = {"model": model, "parameters": parameters[model, contenders[0]]}
        for operation in OPERATIONS:
            medians = {c: statistics.median(ms[model, c, operation]) for c in contenders}
            entry: dict[str, Any] = {f"{c}_ms": round(v, 3) for c, v in medians.items()}
            # Speed ratio: the other's time over ours (above 1 means ferrograd is faster).
            entry.update({f"ferrograd_vs_{c}": round(medians[c] / medians["ferrograd"], 3) for c in contenders[1:]})
            row[operation] = entry
        row["bytes"] = {c: sizes[model, c] for c in contenders}
        for c in contenders[1:]:
            ours, theirs = sizes[model, "ferrograd"], sizes[model, c]
            row["bytes"][f"ferrograd_vs_{c}"] = {kind: round(ours[kind] / theirs[kind], 3) for kind in theirs}
        results.append(row)
    return {
        "machine": harness.machine(),
        "threads": threads,
        "repeats": repeats,
        "inner": inner,
        "file_system": _file_system(directory),
        "load_average_1min": {"median": round(statistics.median(loads), 2), "max": round(max(loads), 2)},
        "versions": {
            "ferrograd": harness.version("ferrograd"),
            "numpy": np.__version__,
            "torch": harness.version("torch"),
        },
        "results": results,
    }


def tables(report: dict[str, Any], contenders: list[str]) -> str:
    lines = []
    for row in report["results"]:
        header = [f"{row['model']} ({row['parameters']:,} parameters)"] + [f"{c} ms" for c in contenders]
        header += [f"speed vs {c}" for c in contenders[1:]]
        lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        for operation in OPERATIONS:
            entry = row[operation]
            cells = [operation] + [f"{entry[f'{c}_ms']:.2f}" for c in contenders]
            cells += [f"{entry[f'ferrograd_vs_{c}']:.2f}" for c in contenders[1:]]
            lines.append("| " + " | ".join(cells) + " |")
        for kind, label in (("save", "file bytes, whole model"), ("save_weights", "file bytes, weights")):
            cells = [label] + [f"{row['bytes'][c][kind]:,}" for c in contenders]
            cells += [f"{row['bytes'][f'ferrograd_vs_{c}'][kind]:.3f} (size)" for c in contenders[1:]]
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines).rstrip()


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        _worker(sys.argv[2:])
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5, help="fresh processes per contender and model")
    parser.add_argument("--inner", type=int, default=7, help="timings of each operation per process")
    parser.add_argument("--models", nargs="+", choices=sorted(SHAPES), default=["mlp", "lenet"])
    parser.add_argument("--contenders", nargs="+", choices=sorted(TIMERS), default=None)
    parser.add_argument("--dir", help="where to write the files (default: a new temporary directory)")
    parser.add_argument("--quick", action="store_true", help="1 repeat, 3 timings per operation")
    parser.add_argument("--output", help="also write the JSON document to this file")
    args = parser.parse_args()
    if args.quick:
        args.repeats, args.inner = 1, 3
    available = ["ferrograd"] + (["torch"] if importlib.util.find_spec("torch") is not None else [])
    contenders = args.contenders or available
    contenders = ["ferrograd"] + [c for c in contenders if c != "ferrograd"]
    if "torch" not in contenders:
        print("torch is not importable: timing ferrograd alone", file=sys.stderr)
    directory = args.dir or tempfile.mkdtemp(prefix="bench_saving.")
    os.makedirs(directory, exist_ok=True)
    try:
        report = run(args.models, contenders, directory, args.repeats, args.inner, args.threads)
    finally:
        if args.dir is None:
            shutil.rmtree(directory, ignore_errors=True)
    document = json.dumps(report, indent=2)
    if args.output:
        with open(args.output, "w") as out:
            out.write(document + "\n")
    print(tables(report, contenders))
    print(document)


if __name__ == "__main__":
    main()
