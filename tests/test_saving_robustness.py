"""Model files under damage and attack: truncated, bit-flipped, hand-edited, fuzzed and hostile
files fail with a ValueError or TypeError that says what is wrong (never a crash, a hang, another
exception type or code running), writes are atomic, and the files interchange with the reference
``safetensors`` reader and writer.

The file format (``rust/ferrograd/src/saving``): an 8-byte little-endian header length, a JSON
header (``{name: {"dtype", "shape", "data_offsets"}, "__metadata__": {...}}``) padded with spaces,
then the tensor bytes. The fuzz targets (``test_fuzz_*`` and the flipped-byte test) run a
bounded number of examples, about a second each; ``FERROGRAD_FUZZ_EXAMPLES=5000`` runs each
that many times. The tests under "Bugs found by these tests" were strict xfails until the bugs
they describe (huge allocations from a hostile config, non-ValueError exceptions from damaged
configs, private file modes) were fixed.
"""

from __future__ import annotations

import copy
import json
import os
import struct
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Callable

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import ferrograd as fg
from ferrograd import layers

# What loading a damaged file may raise: ValueError (damaged or inconsistent file; JSON and
# Unicode decode errors are ValueErrors too) and TypeError (UnknownObjectError: a class or
# function the file names is not known). Anything else (KeyError, AttributeError, OverflowError,
# an OSError for a readable file, a Rust panic) is a bug. Only a valid file whose config asks for
# a Keras feature ferrograd lacks may also raise NotImplementedError (test_fuzz_edited_configs).
ALLOWED = (ValueError, TypeError)
FUZZ_EXAMPLES = int(os.environ.get("FERROGRAD_FUZZ_EXAMPLES", "0")) or None
SLOW_LOAD_SECONDS = 5.0  # far above any load of these files (about 3 ms): "never a hang"

# What a test's subprocess may allocate: a loader that trusts a size cannot take the machine down.
ADDRESS_SPACE_LIMIT = 2 << 30


# ----- the saved model and the file's layout


def _model() -> fg.Sequential:
    return fg.Sequential(
        [
            layers.Input((4,)),
            layers.Dense(3, name="dense"),
            layers.BatchNormalization(name="bn"),
            layers.Dense(2, name="out"),
        ]
    )


def _weights(model: Any) -> dict[str, np.ndarray]:
    return {w.path: np.array(value) for w, value in zip(model.weights, model.get_weights())}


class SavedFile(SimpleNamespace):
    def __repr__(self) -> str:  # Hypothesis prints the fixture with every failing example
        return f"<the saved model file {self.path.name}, {len(self.raw)} bytes>"


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    """A trained, compiled (Adam) Dense + BatchNormalization model saved once, with its bytes,
    header, predictions and weights; ``work`` is a scratch directory for damaged copies."""
    directory = tmp_path_factory.mktemp("saved")
    fg.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(8, 4)).astype(np.float32)
    y = rng.normal(size=(8, 2)).astype(np.float32)
    model = _model()
    model.compile(optimizer=fg.optimizers.Adam(0.01), loss="mse")
    model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    path = directory / "model.safetensors"
    model.save(path)
    raw = path.read_bytes()
    header, data = _split(raw)
    return SavedFile(
        path=path,
        raw=raw,
        header=header,
        data=data,
        data_start=len(raw) - len(data),
        x=x,
        predictions=model.predict(x, verbose=0),
        weights=_weights(model),
        target=_model(),  # the model load_weights loads into
        work=tmp_path_factory.mktemp("work"),
    )


def _split(raw: bytes) -> tuple[dict[str, Any], bytes]:
    (length,) = struct.unpack("<Q", raw[:8])
    return json.loads(raw[8 : 8 + length]), raw[8 + length :]


def _pack(header: dict[str, Any], data: bytes, length: int | None = None) -> bytes:
    """A safetensors file: the header JSON padded with spaces to a multiple of 8, its length
    (or the ``length`` given) as 8 little-endian bytes, then ``data``."""
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text) if length is None else length) + text + data


def _write_safetensors(tensors: dict[str, np.ndarray], metadata: dict[str, str] | None) -> bytes:
    """An independent, minimal safetensors writer (float32/float64 only)."""
    header: dict[str, Any] = {}
    chunks, offset = [], 0
    for name, array in tensors.items():
        array = np.ascontiguousarray(array)
        dtype = {np.dtype("<f4"): "F32", np.dtype("<f8"): "F64"}[array.dtype.newbyteorder("<")]
        chunk = array.astype(array.dtype.newbyteorder("<")).tobytes()
        header[name] = {"dtype": dtype, "shape": list(array.shape), "data_offsets": [offset, offset + len(chunk)]}
        chunks.append(chunk)
        offset += len(chunk)
    if metadata is not None:
        header["__metadata__"] = metadata
    return _pack(header, b"".join(chunks))


def _stored_tensors(saved: SimpleNamespace) -> dict[str, np.ndarray]:
    out = {}
    for name, info in saved.header.items():
        if name != "__metadata__":
            start, end = info["data_offsets"]
            out[name] = np.frombuffer(saved.data[start:end], dtype="<f4").reshape(info["shape"])
    return out


def _edited(saved: SimpleNamespace, edit: Callable[[dict[str, Any]], None], data: bytes | None = None) -> Path:
    header = copy.deepcopy(saved.header)
    edit(header)
    path = saved.work / "edited.safetensors"
    path.write_bytes(_pack(header, saved.data if data is None else data))
    return path


def _edit_json(key: str, edit: Callable[[Any], None]) -> Callable[[dict[str, Any]], None]:
    """An edit of the JSON document stored as the metadata string ``key``."""

    def apply(header: dict[str, Any]) -> None:
        document = json.loads(header["__metadata__"][key])
        edit(document)
        header["__metadata__"][key] = json.dumps(document)

    return apply


def _layer(config: dict[str, Any], name: str) -> dict[str, Any]:
    return next(layer for layer in config["config"]["layers"] if layer["config"].get("name") == name)


# ----- the three ways to read a file


def _load_model(path: Path, saved: SimpleNamespace) -> Any:
    return fg.load_model(path)


def _load_model_native(path: Path, saved: SimpleNamespace) -> Any:
    return fg._core.load_model_native(str(path))


def _load_weights(path: Path, saved: SimpleNamespace) -> Any:
    saved.target.load_weights(path)
    return saved.target


LOADERS = {"load_model": _load_model, "load_model_native": _load_model_native, "load_weights": _load_weights}
MODEL_LOADERS = {"load_model": _load_model, "load_model_native": _load_model_native}


def _outcome(load: Callable[[Path, SimpleNamespace], Any], path: Path, saved: SimpleNamespace) -> Any:
    """The loaded model, or the exception (of any kind, a Rust panic included) loading raised.
    Fails when the load took long enough to be a hang."""
    start = time.perf_counter()
    try:
        result = load(path, saved)
    except KeyboardInterrupt:
        raise
    except BaseException as err:  # noqa: BLE001 - a PanicException is a BaseException
        result = err
    elapsed = time.perf_counter() - start
    assert elapsed < SLOW_LOAD_SECONDS, f"{load.__name__} took {elapsed:.1f} s"
    return result


def _assert_allowed(outcome: Any, what: str) -> None:
    if isinstance(outcome, BaseException) and not isinstance(outcome, ALLOWED):
        raise AssertionError(f"{what}: {type(outcome).__name__}: {outcome}") from outcome


def _isolated(code: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """``code`` in a fresh interpreter (argv[1:] = ``args``) with its address space capped, so an
    attempt to allocate terabytes fails there instead of swapping this machine to death."""
    limit = ADDRESS_SPACE_LIMIT
    prelude = f"import resource\nresource.setrlimit(resource.RLIMIT_AS, ({limit}, {limit}))\n"
    return subprocess.run(
        [sys.executable, "-c", prelude + textwrap.dedent(code), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _last_json(result: subprocess.CompletedProcess[str]) -> Any:
    assert result.returncode == 0, f"the subprocess died (return code {result.returncode}):\n{result.stderr[-3000:]}"
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_the_fixture_round_trips(saved):
    for load in (_load_model, _load_weights):
        model = load(saved.path, saved)
        for name, value in _weights(model).items():
            np.testing.assert_array_equal(value, saved.weights[name])
        np.testing.assert_array_equal(model.predict(saved.x, verbose=0), saved.predictions)
    native = _load_model_native(saved.path, saved)
    np.testing.assert_array_equal(native.predict([fg.tensor(saved.x)], 32)[0].numpy(), saved.predictions)


# ----- truncation


def _cut_points(saved: SimpleNamespace) -> dict[str, tuple[int, str]]:
    """Where to truncate, and the message each truncation gives."""
    return {
        "inside the length": (5, "shorter than the 8-byte header length"),
        "inside the header": (8 + (saved.data_start - 8) // 2, "header length runs past the end of the file"),
        "at the header's end": (saved.data_start, "does not match its header"),
        "inside the tensor data": (saved.data_start + len(saved.data) // 2 + 1, "does not match its header"),
        "one byte short": (len(saved.raw) - 1, "does not match its header"),
    }


@pytest.mark.parametrize("loader", sorted(LOADERS))
@pytest.mark.parametrize(
    "section",
    ["inside the length", "inside the header", "at the header's end", "inside the tensor data", "one byte short"],
)
def test_a_truncated_file_is_a_value_error(saved, section, loader):
    cut, message = _cut_points(saved)[section]
    path = saved.work / "truncated.safetensors"
    path.write_bytes(saved.raw[:cut])
    with pytest.raises(ValueError, match="not a valid safetensors file") as info:
        LOADERS[loader](path, saved)
    assert message in str(info.value)
    assert str(path) in str(info.value)


def test_truncations_everywhere_and_an_extension_are_a_value_error(saved):
    # Every cut in the length, the start of the header, around the header's end and at the end;
    # every 7th byte elsewhere.
    size, start = len(saved.raw), saved.data_start
    cuts = {*range(64), *range(64, size, 7), *range(start - 16, start + 16), *range(size - 16, size)}
    path = saved.work / "cut.safetensors"
    damaged = [saved.raw[:cut] for cut in sorted(cuts)] + [saved.raw + b"\0", saved.raw + b" " * 8]
    for raw in damaged:
        path.write_bytes(raw)
        for name, load in LOADERS.items():
            outcome = _outcome(load, path, saved)
            assert isinstance(outcome, ValueError), f"{name} of {len(raw)} bytes: {outcome!r}"


def test_an_empty_file_and_a_missing_file(saved):
    empty = saved.work / "empty.safetensors"
    empty.write_bytes(b"")
    missing = saved.work / "missing.safetensors"
    for load in LOADERS.values():
        with pytest.raises(ValueError, match="shorter than the 8-byte header length"):
            load(empty, saved)
        with pytest.raises(FileNotFoundError, match="missing.safetensors"):
            load(missing, saved)


# ----- flipped bytes


def _tensor_at(saved: SimpleNamespace, position: int) -> tuple[str, dict[str, Any]]:
    offset = position - saved.data_start
    for name, info in saved.header.items():
        if name != "__metadata__" and info["data_offsets"][0] <= offset < info["data_offsets"][1]:
            return name, info
    raise AssertionError(f"no tensor holds byte {position}")


def _bits(array: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(array, dtype=np.float32).view(np.uint32)


@settings(max_examples=FUZZ_EXAMPLES or 150, deadline=None)
@given(data=st.data())
def test_a_flipped_byte_loads_the_flipped_value_or_is_a_clean_error(saved, data):
    in_tensors = data.draw(st.booleans(), label="in the tensor data")
    if in_tensors:
        position = data.draw(st.integers(saved.data_start, len(saved.raw) - 1), label="position")
    else:
        position = data.draw(st.integers(0, saved.data_start - 1), label="position")
    mask = data.draw(st.integers(1, 255), label="xor")
    flipped = bytearray(saved.raw)
    flipped[position] ^= mask
    path = saved.work / "flipped.safetensors"
    path.write_bytes(flipped)
    outcomes = {name: _outcome(load, path, saved) for name, load in LOADERS.items()}
    if not in_tensors:
        for name, outcome in outcomes.items():
            _assert_allowed(outcome, f"{name} with byte {position} ^ {mask:#x}")
            if name != "load_model_native" and not isinstance(outcome, BaseException):
                # The tensor bytes are intact, so whatever loads has the saved weights.
                for weight, value in _weights(outcome).items():
                    np.testing.assert_array_equal(value, saved.weights[weight])
        return
    # Inside the tensor data a flip changes one stored value, nothing else: every loader loads
    # it, and exactly that element of that weight differs (a flipped optimizer slot changes no
    # weight).
    for name, outcome in outcomes.items():
        assert not isinstance(outcome, BaseException), f"{name}: {outcome!r}"
    tensor, info = _tensor_at(saved, position)
    expected = dict(saved.weights)
    if tensor in expected:
        start, end = info["data_offsets"]
        chunk = bytes(flipped[saved.data_start + start : saved.data_start + end])
        expected[tensor] = np.frombuffer(chunk, dtype="<f4").reshape(info["shape"])
        changed = np.flatnonzero(_bits(expected[tensor]) != _bits(saved.weights[tensor]))
        assert changed.tolist() == [(position - saved.data_start - start) // 4]
    for name in ("load_model", "load_weights"):
        got = _weights(outcomes[name])
        assert got.keys() == expected.keys()
        for weight, value in got.items():
            assert np.array_equal(_bits(value), _bits(expected[weight])), f"{name}: {weight}"
    # The pure-Rust loader computes what the Python one does from the same bytes.
    native = outcomes["load_model_native"].predict([fg.tensor(saved.x)], 32)[0].numpy()
    np.testing.assert_array_equal(native, outcomes["load_model"].predict(saved.x, verbose=0))


# ----- hand-edited headers


def _raises_from_every_loader(
    path: Path, saved: SimpleNamespace, exception: type, *fragments: str, loaders: dict | None = None
) -> None:
    for name, load in (loaders or LOADERS).items():
        outcome = _outcome(load, path, saved)
        assert isinstance(outcome, exception), f"{name}: expected {exception.__name__}, got {outcome!r}"
        for fragment in fragments:
            assert fragment in str(outcome), f"{name}: {fragment!r} not in {str(outcome)!r}"


def test_a_shape_the_bytes_do_not_fit_is_a_value_error(saved):
    def edit(header):
        header["dense/kernel"]["shape"] = [6, 3]  # 72 bytes; the tensor has 48

    _raises_from_every_loader(_edited(saved, edit), saved, ValueError, "not a valid safetensors file")


def test_a_shape_with_the_same_size_but_another_layout_names_the_weight(saved):
    def edit(header):
        header["dense/kernel"]["shape"] = [3, 4]

    _raises_from_every_loader(_edited(saved, edit), saved, ValueError, "'dense/kernel'", "[3, 4]", "[4, 3]")


def test_absurd_sizes_fail_fast_without_allocating(saved):
    """Shapes of 2**80 elements (overflowing) and 2**40 (4 TB), a header length of 2**62 and a
    tensor claiming 2**62 bytes: refused from the header alone, within milliseconds, in a process
    that could not even allocate 2 GB."""
    files = {}
    for label, shape in {"2^40 x 2^40": [2**40, 2**40], "2^20 x 2^20 (4 TB)": [2**20, 2**20]}.items():
        header = copy.deepcopy(saved.header)
        header["dense/kernel"]["shape"] = shape
        files[label] = _pack(header, saved.data)
    files["header length 2^62"] = _pack(saved.header, saved.data, length=2**62)
    header = copy.deepcopy(saved.header)
    last = max((n for n in header if n != "__metadata__"), key=lambda n: header[n]["data_offsets"][0])
    header[last]["data_offsets"][1] = 2**62
    files["data_offsets to 2^62"] = _pack(header, saved.data)
    paths = []
    for i, raw in enumerate(files.values()):
        paths.append(saved.work / f"absurd{i}.safetensors")
        paths[-1].write_bytes(raw)
    code = """
        import json, sys, time
        import ferrograd as fg
        from ferrograd import layers
        target = fg.Sequential([layers.Input((4,)), layers.Dense(3, name="dense"),
                                layers.BatchNormalization(name="bn"), layers.Dense(2, name="out")])
        loaders = {"load_model": fg.load_model, "load_model_native": fg._core.load_model_native,
                   "load_weights": target.load_weights}
        results = []
        for path in sys.argv[1:]:
            for name, load in loaders.items():
                start = time.perf_counter()
                try:
                    load(path)
                    outcome = ["loaded", ""]
                except Exception as err:
                    outcome = [type(err).__name__, str(err)]
                results.append([path, name, *outcome, time.perf_counter() - start])
        print(json.dumps(results))
    """
    results = _last_json(_isolated(code, *map(str, paths)))
    assert len(results) == 3 * len(files)
    for (_, name, kind, message, seconds), label in zip(results, [k for k in files for _ in range(3)]):
        assert kind == "ValueError", f"{label}, {name}: {kind}: {message}"
        assert "not a valid safetensors file" in message, f"{label}, {name}: {message}"
        assert seconds < 0.5, f"{label}, {name}: {seconds:.2f} s"
    by_label = {label: results[3 * i][3] for i, label in enumerate(files)}
    assert "overflow" in by_label["2^40 x 2^40"]
    assert "100 MB limit" in by_label["header length 2^62"]


@pytest.mark.parametrize(
    "offsets, message",
    [
        ([50, 98], "invalid offset for tensor `dense/kernel`"),  # overlaps dense/bias
        ([60, 60 + 48 + 4], "invalid"),  # runs into the next tensor
        ([108, 60], "invalid offset for tensor `dense/kernel`"),  # end before start
        ([10**9, 10**9 + 48], "invalid"),  # past the end of the file
    ],
    ids=["overlapping", "too long", "reversed", "out of range"],
)
def test_bad_data_offsets_are_a_value_error(saved, offsets, message):
    assert saved.header["dense/kernel"]["data_offsets"] == [60, 108], "the fixture's layout changed"

    def edit(header):
        header["dense/kernel"]["data_offsets"] = offsets

    _raises_from_every_loader(_edited(saved, edit), saved, ValueError, "not a valid safetensors file", message)


@pytest.mark.parametrize("dtype, shape", [("I64", [2, 3]), ("I32", [4, 3]), ("U8", [4, 12])])
def test_a_weight_of_another_dtype_is_a_value_error_naming_the_readable_ones(saved, dtype, shape):
    def edit(header):
        header["dense/kernel"].update(dtype=dtype, shape=shape)  # the same 48 bytes

    _raises_from_every_loader(
        _edited(saved, edit), saved, ValueError, "'dense/kernel'", f"dtype {dtype}", "float32", "float64"
    )


HOSTILE_LAYERS = {
    "os.system": {"module": "os", "class_name": "system", "registered_name": "os>system", "config": {"name": "dense"}},
    "os.system, command as config": {
        "module": "os",
        "class_name": "system",
        "registered_name": "system",
        "config": "touch {marker}",
    },
    "a module never imported": {"module": "antigravity", "class_name": "fly", "config": {"name": "dense"}},
    "builtins.eval": {"module": "builtins", "class_name": "eval", "config": {"name": "dense"}},
    "an unknown layer": {"module": "keras.layers", "class_name": "Frobnicate", "config": {"name": "dense"}},
}


@pytest.mark.parametrize("case", sorted(HOSTILE_LAYERS))
def test_a_config_naming_an_unknown_or_hostile_class_runs_nothing(saved, case, monkeypatch):
    entry = copy.deepcopy(HOSTILE_LAYERS[case])
    marker = saved.work / "pwned"
    if isinstance(entry["config"], str):
        entry["config"] = entry["config"].format(marker=marker)
    calls: list[Any] = []
    monkeypatch.setattr(os, "system", lambda *a: calls.append(("os.system", a)))
    monkeypatch.setattr(subprocess, "Popen", lambda *a, **k: calls.append(("Popen", a)))

    def edit(config):
        config["config"]["layers"][1] = entry

    path = _edited(saved, _edit_json("model_config", edit))
    class_name = entry["class_name"]
    with pytest.raises(fg.saving.UnknownObjectError, match=f"Could not locate class '{class_name}'"):
        fg.load_model(path)
    with pytest.raises(ValueError, match=class_name):
        fg._core.load_model_native(str(path))
    assert calls == []
    assert not marker.exists()
    assert "antigravity" not in sys.modules


@pytest.mark.parametrize(
    "activation, python_error, python_message, native_message",
    [
        (
            {"module": "os", "class_name": "function", "config": "system", "registered_name": "system"},
            fg.saving.UnknownObjectError,
            "Could not locate function 'system'",
            "unknown activation 'system'",
        ),
        (
            {"class_name": "__lambda__", "config": {"code": "print('pwned')", "defaults": None, "closure": None}},
            ValueError,
            "never runs code",
            "activation",
        ),
    ],
    ids=["os.system", "a serialized lambda"],
)
def test_an_activation_naming_code_runs_nothing(
    saved, activation, python_error, python_message, native_message, capsys
):
    def edit(config):
        _layer(config, "out")["config"]["activation"] = activation

    path = _edited(saved, _edit_json("model_config", edit))
    with pytest.raises(python_error, match=python_message):
        fg.load_model(path)
    with pytest.raises(ValueError, match=native_message):
        fg._core.load_model_native(str(path))
    assert "pwned" not in capsys.readouterr().out


def test_a_file_without_model_config_is_a_weights_file(saved, tmp_path):
    def edit(header):
        del header["__metadata__"]["model_config"]

    path = _edited(saved, edit)
    with pytest.raises(ValueError, match="it is a weights file: use model.load_weights"):
        fg.load_model(path)
    with pytest.raises(ValueError, match="holds no model_config"):
        fg._core.load_model_native(str(path))
    _load_weights(path, saved)  # which it is
    # What save_weights writes is exactly that.
    weights = tmp_path / "model.weights.safetensors"
    fg.load_model(saved.path).save_weights(weights)
    with pytest.raises(ValueError, match="it is a weights file"):
        fg.load_model(weights)


@pytest.mark.parametrize("value", ["pytorch", None])
def test_a_file_of_another_format_is_not_a_model(saved, value):
    def edit(header):
        if value is None:
            del header["__metadata__"]["format"]
        else:
            header["__metadata__"]["format"] = value

    path = _edited(saved, edit)
    _raises_from_every_loader(
        path, saved, ValueError, "not a ferrograd model", value or "missing", loaders=MODEL_LOADERS
    )
    _load_weights(path, saved)  # weights load from any safetensors file


def test_a_newer_format_version_is_a_value_error(saved):
    def edit(header):
        header["__metadata__"]["format_version"] = "99"

    path = _edited(saved, edit)
    fragments = ("format version", "'99'", "reads version 1")
    _raises_from_every_loader(path, saved, ValueError, *fragments, loaders=MODEL_LOADERS)


def test_a_weight_missing_from_the_tensors_is_named(saved):
    tensors = {k: v for k, v in _stored_tensors(saved).items() if k != "bn/moving_mean"}
    path = saved.work / "missing_weight.safetensors"
    path.write_bytes(_write_safetensors(tensors, saved.header["__metadata__"]))
    _raises_from_every_loader(path, saved, ValueError, "'bn/moving_mean'")
    # A tensor renamed in the header: the same.

    def rename(header):
        header["bn/moving_meam"] = header.pop("bn/moving_mean")

    _raises_from_every_loader(_edited(saved, rename), saved, ValueError, "'bn/moving_mean'")


def test_an_architecture_that_does_not_fit_the_tensors_names_the_weight_and_both_shapes(saved):
    def wider_head(config):
        _layer(config, "out")["config"]["units"] = 5

    path = _edited(saved, _edit_json("model_config", wider_head))
    _raises_from_every_loader(path, saved, ValueError, "'out/kernel'", "[3, 2]", "[3, 5]", loaders=MODEL_LOADERS)

    def wider_hidden(config):
        _layer(config, "dense")["config"]["units"] = 5
        for layer in config["config"]["layers"]:
            layer.pop("build_config", None)  # else Python stops at the next layer's recorded input

    path = _edited(saved, _edit_json("model_config", wider_hidden))
    _raises_from_every_loader(path, saved, ValueError, "'dense/kernel'", "[4, 3]", "[4, 5]", loaders=MODEL_LOADERS)


def test_a_recorded_input_shape_that_disagrees_is_a_value_error(saved):
    def edit(config):
        _layer(config, "dense")["config"]["units"] = 5  # "out" was built for 3 inputs

    path = _edited(saved, _edit_json("model_config", edit))
    # Python checks each weight against the file's before allocating it ('dense/kernel'), or
    # the next layer's recorded input shape.
    with pytest.raises(ValueError, match="'dense/kernel'|layer 'out' was built for inputs with last axis 3"):
        fg.load_model(path)
    with pytest.raises(ValueError, match="'dense/kernel'"):
        fg._core.load_model_native(str(path))


def test_damaged_optimizer_state_is_a_value_error(saved):
    tensors = _stored_tensors(saved)
    tensors["optimizer/out/kernel/momentum"] = np.zeros((2, 3), np.float32)  # transposed
    path = saved.work / "slot.safetensors"
    path.write_bytes(_write_safetensors(tensors, saved.header["__metadata__"]))
    _raises_from_every_loader(path, saved, ValueError, "optimizer slot has shape [2, 3]", loaders=MODEL_LOADERS)

    def other_algorithm(state):
        state["algorithm"] = "sgd"

    path = _edited(saved, _edit_json("optimizer_state", other_algorithm))
    _raises_from_every_loader(path, saved, ValueError, "state of a sgd optimizer", loaders=MODEL_LOADERS)

    for text in ("{not json", '{"algorithm": "adam"}'):

        def replace(header, text=text):
            header["__metadata__"]["optimizer_state"] = text

        _raises_from_every_loader(_edited(saved, replace), saved, ValueError, "optimizer state", loaders=MODEL_LOADERS)


@pytest.mark.parametrize("key", ["model_config", "compile_config"])
def test_metadata_that_is_not_json_is_a_value_error(saved, key):
    def edit(header):
        header["__metadata__"][key] = '{"class_name": '

    _raises_from_every_loader(_edited(saved, edit), saved, ValueError, "not valid JSON", loaders=MODEL_LOADERS)


# Bugs found by these tests, now fixed.


@pytest.mark.parametrize("units", [2**40, 2**62], ids=["allocation failure", "shape overflow"])
def test_a_config_with_absurd_units_is_a_value_error_not_an_abort(saved, units):
    def edit(config):
        _layer(config, "out")["config"]["units"] = units

    path = _edited(saved, _edit_json("model_config", edit))
    code = """
        import json, sys
        import ferrograd as fg
        results = {}
        for name, load in {"load_model": fg.load_model, "load_model_native": fg._core.load_model_native}.items():
            try:
                load(sys.argv[1])
                results[name] = "loaded"
            except ValueError as err:
                results[name] = "ValueError: " + str(err)
        print(json.dumps(results))
    """
    results = _last_json(_isolated(code, str(path)))
    for name, result in results.items():
        assert result.startswith("ValueError") and "'out/kernel'" in result, f"{name}: {result}"


@pytest.mark.parametrize("where", ["layer", "model"])
def test_a_build_config_that_is_not_a_dict_is_a_value_error(saved, where):
    def edit(config):
        (_layer(config, "out") if where == "layer" else config)["build_config"] = [3]

    with pytest.raises((ValueError, TypeError)):
        fg.load_model(_edited(saved, _edit_json("model_config", edit)))


def _set_seed(seed: Any) -> Callable[[dict[str, Any]], None]:
    def edit(config):
        _layer(config, "out")["config"]["kernel_initializer"] = {
            "module": "keras.initializers",
            "class_name": "GlorotUniform",
            "config": {"seed": seed},
            "registered_name": None,
        }

    return edit


def _set_input_shape(config: dict[str, Any]) -> None:
    _layer(config, "out")["build_config"]["input_shape"] = [None, float("inf")]


def _set_axis(config: dict[str, Any]) -> None:
    _layer(config, "bn")["config"]["axis"] = 2**63


@pytest.mark.parametrize(
    "edit",
    [_set_seed(-1), _set_seed(1e308), _set_input_shape, _set_axis],
    ids=["negative seed", "huge seed", "infinite input_shape", "axis 2**63"],
)
def test_out_of_range_numbers_in_a_config_are_a_value_error(saved, edit):
    with pytest.raises((ValueError, TypeError)):
        fg.load_model(_edited(saved, _edit_json("model_config", edit)))


# ----- custom objects


@fg.saving.register_serializable(package="SavingRobustness")
class Offset(layers.Layer):
    """A Python layer with a weight: ``x + offset``."""

    def __init__(self, init=0.5, **kwargs):
        super().__init__(**kwargs)
        self.init = init

    def build(self, input_shape):
        self.offset = self.add_weight(
            shape=(input_shape[-1],), initializer=fg.initializers.Constant(self.init), name="offset"
        )

    def call(self, x):
        return x + self.offset

    def get_config(self):
        return {**super().get_config(), "init": self.init}


# The same layer as the subprocess defines it: not registered there.
_OFFSET_SOURCE = """
class Offset(fg.layers.Layer):
    def __init__(self, init=0.5, **kwargs):
        super().__init__(**kwargs)
        self.init = init

    def build(self, input_shape):
        self.offset = self.add_weight(
            shape=(input_shape[-1],), initializer=fg.initializers.Constant(self.init), name="offset"
        )

    def call(self, x):
        return x + self.offset

    def get_config(self):
        return {**super().get_config(), "init": self.init}
"""

# In a fresh process: fg.load_model without the class, then with custom_objects.
_LOAD_CUSTOM = (
    """
import json, sys
import numpy as np
import ferrograd as fg
path, x = sys.argv[1], np.load(sys.argv[2])
out = {}
try:
    fg.load_model(path)
    out["unregistered"] = ["loaded", "", False]
except Exception as err:
    out["unregistered"] = [type(err).__name__, str(err), isinstance(err, fg.saving.UnknownObjectError)]
"""
    + _OFFSET_SOURCE
    + """
model = fg.load_model(path, custom_objects={"Offset": Offset})
out["custom_objects"] = model.predict(x, verbose=0).tolist()
out["layer"] = type(model.layers[-1]).__name__
print(json.dumps(out))
"""
)


def test_a_custom_layer_loads_where_registered_or_given_and_fails_by_name_elsewhere(tmp_path):
    x = np.random.default_rng(1).normal(size=(5, 4)).astype(np.float32)
    model = fg.Sequential([layers.Input((4,)), layers.Dense(3, name="dense"), Offset(0.25, name="offset")])
    model.compile(optimizer="adam", loss="mse")
    model.fit(x, np.zeros((5, 3), np.float32), epochs=1, verbose=0)
    path = tmp_path / "custom.safetensors"
    model.save(path)
    expected = model.predict(x, verbose=0)
    restored = fg.load_model(path)  # registered in this process
    assert isinstance(restored.layers[-1], Offset)
    np.testing.assert_array_equal(restored.predict(x, verbose=0), expected)
    np.save(tmp_path / "x.npy", x)

    out = _last_json(_isolated(_LOAD_CUSTOM, str(path), str(tmp_path / "x.npy")))
    kind, message, is_unknown = out["unregistered"]
    assert kind == "UnknownObjectError" and is_unknown, out["unregistered"]
    assert "'Offset'" in message and "SavingRobustness>Offset" in message and "custom_objects" in message
    assert out["layer"] == "Offset"
    np.testing.assert_array_equal(np.asarray(out["custom_objects"], np.float32), expected)

    with pytest.raises(ValueError, match="Offset") as info:
        fg._core.load_model_native(str(path))
    assert "not a built-in ferrograd layer" in str(info.value)


# ----- fuzz targets


def _fuzz_loaders(path: Path, saved: SimpleNamespace, what: str) -> None:
    for name, load in LOADERS.items():
        _assert_allowed(_outcome(load, path, saved), f"{name} of {what}")


@settings(
    max_examples=FUZZ_EXAMPLES or 200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    raw=st.one_of(
        st.binary(max_size=600),
        # A header length that fits, so the bytes reach the JSON parser.
        st.binary(max_size=600).map(lambda b: struct.pack("<Q", len(b)) + b),
        # JSON-ish headers, some of them valid JSON.
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.text(max_size=12),
            lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
            max_leaves=12,
        ).map(lambda value: _pack({"t": value} if not isinstance(value, dict) else value, b"")),
    )
)
def test_fuzz_arbitrary_bytes(saved, raw):
    path = saved.work / "fuzz.safetensors"
    path.write_bytes(raw)
    _fuzz_loaders(path, saved, f"{raw[:80]!r}")


def _mutate(data: st.DataObject, raw: bytes) -> bytes:
    """A few random deletions, duplications (a slice of the bytes inserted elsewhere),
    overwrites with random bytes and insertions of random bytes."""
    out = bytearray(raw)
    for _ in range(data.draw(st.integers(1, 3), label="operations")):
        size = len(out)
        start = data.draw(st.integers(0, size), label="start")
        length = data.draw(st.integers(0, min(64, size - start)), label="length")
        operation = data.draw(st.sampled_from(["delete", "splice", "overwrite", "insert"]), label="operation")
        if operation == "delete":
            del out[start : start + length]
        elif operation == "splice":
            target = data.draw(st.integers(0, size), label="target")
            out[target:target] = out[start : start + length]
        elif operation == "overwrite":
            out[start : start + length] = data.draw(st.binary(min_size=length, max_size=length), label="bytes")
        else:
            out[start:start] = data.draw(st.binary(min_size=1, max_size=16), label="bytes")
    return bytes(out)


@settings(
    max_examples=FUZZ_EXAMPLES or 250,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(data=st.data())
def test_fuzz_mutations_of_a_valid_file(saved, data):
    where = data.draw(st.sampled_from(["whole file", "header text", "tensor data"]), label="where")
    length = saved.data_start
    if where == "whole file":
        raw = _mutate(data, saved.raw)
    elif where == "header text":
        # Mutate the JSON and write its new length, so the damage reaches the JSON and the
        # metadata parsers instead of failing the length check.
        text = _mutate(data, saved.raw[8:length].rstrip(b" "))
        raw = struct.pack("<Q", len(text)) + text + saved.data
    else:
        raw = saved.raw[:length] + _mutate(data, saved.data)
    path = saved.work / "mutated.safetensors"
    path.write_bytes(raw)
    _fuzz_loaders(path, saved, where)


def _json_paths(value: Any, prefix: tuple = ()) -> list[tuple]:
    paths = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            paths += _json_paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            paths += _json_paths(item, (*prefix, index))
    return paths


# Small numbers only: a config may legitimately ask for a big layer, and the loaders allocate what
# it asks for before comparing with the tensors (test_a_config_with_absurd_units_...).
_JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-2, 64)
    | st.floats(-100, 100)
    | st.sampled_from([float("nan"), float("inf"), 2**63, -(2**63)])
    | st.text(max_size=8)
    | st.sampled_from([[], {}])
    | st.sampled_from(["relu", "linear", "Dense", "Functional", "keras.layers", "float64", "glorot_uniform", "__x__"]),
    lambda inner: (
        st.lists(inner, min_size=1, max_size=3)
        | st.dictionaries(
            st.sampled_from(["class_name", "config", "module", "name", "registered_name", "units", "build_config"])
            | st.text(max_size=6),
            inner,
            min_size=1,
            max_size=3,
        )
    ),
    max_leaves=6,
)


@settings(
    max_examples=FUZZ_EXAMPLES or 250,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(data=st.data())
def test_fuzz_edited_configs(saved, data):
    """Valid files whose architecture or compile settings were edited: a value somewhere in the
    JSON replaced or removed. The loaders either load or raise ValueError or TypeError, or
    NotImplementedError for a Keras feature ferrograd lacks (weight constraints, sparse inputs,
    EMA, ...)."""
    key = data.draw(st.sampled_from(["model_config", "compile_config"]), label="key")
    document = json.loads(saved.header["__metadata__"][key])
    path = data.draw(st.sampled_from(_json_paths(document)[1:]), label="path")
    parent = document
    for step in path[:-1]:
        parent = parent[step]
    if data.draw(st.booleans(), label="delete"):
        del parent[path[-1]]
    else:
        parent[path[-1]] = data.draw(_JSON_VALUES, label="value")
    header = copy.deepcopy(saved.header)
    header["__metadata__"][key] = json.dumps(document)
    file = saved.work / "config.safetensors"
    file.write_bytes(_pack(header, saved.data))
    for name, load in MODEL_LOADERS.items():
        outcome = _outcome(load, file, saved)
        if isinstance(outcome, NotImplementedError):
            continue
        _assert_allowed(outcome, f"{name} with {key} {path} edited")


# ----- atomic writes


_FAILED_WRITE = """
    import json, os, resource, signal, sys
    import ferrograd as fg
    path, how = sys.argv[1], sys.argv[2]
    model = fg.load_model(path) if how == "save" else None
    if model is None:
        from ferrograd import layers
        model = fg.Sequential([layers.Input((4,)), layers.Dense(3, name="dense"),
                               layers.BatchNormalization(name="bn"), layers.Dense(2, name="out")])
        model.load_weights(path)
    model.set_weights([w + 1.0 for w in model.get_weights()])
    # A disk that fills up halfway through the file: writes past half its size fail with EFBIG.
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    limit = os.path.getsize(path) // 2
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    try:
        model.save(path) if how == "save" else model.save_weights(path)
        print(json.dumps(["saved", ""]))
    except Exception as err:
        print(json.dumps([type(err).__name__, str(err), isinstance(err, OSError)]))
"""


@pytest.mark.parametrize("how", ["save", "save_weights"])
def test_a_write_that_fails_midway_leaves_the_old_file_and_no_temporary(saved, tmp_path, how):
    path = tmp_path / "model.safetensors"
    if how == "save":
        path.write_bytes(saved.raw)
    else:
        fg.load_model(saved.path).save_weights(path)
    before = path.read_bytes()
    kind, message, is_os_error = _last_json(_isolated(_FAILED_WRITE, str(path), how))
    assert is_os_error, (kind, message)
    assert "File too large" in message
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.safetensors"], "a temporary file was left"
    model = fg.load_model(path) if how == "save" else _load_weights(path, saved)
    np.testing.assert_array_equal(model.predict(saved.x, verbose=0), saved.predictions)


def test_overwrite_false_and_bad_destinations(saved, tmp_path):
    model = fg.load_model(saved.path)
    path = tmp_path / "model.safetensors"
    path.write_bytes(b"old bytes")
    with pytest.raises(FileExistsError, match="overwrite is false"):
        model.save(path, overwrite=False)
    with pytest.raises(FileExistsError, match="overwrite is false"):
        model.save_weights(path, overwrite=False)
    assert path.read_bytes() == b"old bytes"
    model.save(tmp_path / "new.safetensors", overwrite=False)  # a new file is fine
    with pytest.raises(FileNotFoundError, match="missing"):
        model.save(tmp_path / "missing" / "model.safetensors")
    with pytest.raises(FileNotFoundError, match="missing"):
        model.save_weights(tmp_path / "missing" / "model.weights.safetensors")
    (tmp_path / "a_directory").mkdir()
    with pytest.raises(IsADirectoryError):
        model.save(tmp_path / "a_directory")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_directory", "model.safetensors", "new.safetensors"]
    assert list((tmp_path / "a_directory").iterdir()) == []


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
def test_a_saved_file_has_the_permissions_the_umask_gives(saved, tmp_path):
    umask = os.umask(0o022)
    try:
        model = fg.load_model(saved.path)
        path = tmp_path / "model.safetensors"
        model.save(path)
        weights = tmp_path / "model.weights.safetensors"
        model.save_weights(weights)
        assert oct(path.stat().st_mode & 0o777) == oct(0o644)
        assert oct(weights.stat().st_mode & 0o777) == oct(0o644)
    finally:
        os.umask(umask)


# ----- interchange with the reference implementation


def test_the_reference_reader_reads_a_saved_model(saved):
    safetensors = pytest.importorskip("safetensors")
    from safetensors.numpy import load_file

    tensors = load_file(str(saved.path))
    model = fg.load_model(saved.path)
    for weight, value in zip(model.weights, model.get_weights()):
        np.testing.assert_array_equal(tensors[weight.path], value)
        assert tensors[weight.path].dtype == np.float32
    slots = {name for name in tensors if name.startswith("optimizer/")}
    assert slots == {f"optimizer/{w.path}/{slot}" for w in model.trainable_weights for slot in ("momentum", "velocity")}
    with safetensors.safe_open(str(saved.path), framework="numpy") as handle:
        metadata = handle.metadata()
    assert metadata["format"] == "ferrograd"
    assert metadata["format_version"] == "1"
    assert json.loads(metadata["model_config"])["class_name"] == "Sequential"
    assert json.loads(metadata["weight_names"]) == [w.path for w in model.weights]
    assert json.loads(metadata["optimizer_state"])["iterations"] == 1


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_weights_written_by_the_reference_writer_load(saved, tmp_path, dtype):
    pytest.importorskip("safetensors")
    from safetensors.numpy import save_file

    rng = np.random.default_rng(3)
    arrays = {name: rng.normal(size=value.shape).astype(dtype) for name, value in saved.weights.items()}
    arrays["bn/moving_variance"] = np.abs(arrays["bn/moving_variance"]) + 0.5
    path = tmp_path / "reference.safetensors"
    save_file(arrays, str(path))
    model = _model()
    model.load_weights(path)
    for name, value in _weights(model).items():
        np.testing.assert_array_equal(value, arrays[name].astype(np.float32))
    # The same through the independent writer of this file, with metadata.
    path.write_bytes(_write_safetensors(arrays, {"written_by": "a test"}))
    other = _model()
    other.load_weights(path)
    np.testing.assert_array_equal(other.predict(saved.x, verbose=0), model.predict(saved.x, verbose=0))
    # Half-precision weights load widened to the model's float32 (exactly: every float16 is a
    # float32).
    halves = {name: value.astype(np.float16) for name, value in arrays.items()}
    save_file(halves, str(path))
    model.load_weights(path)
    for name, value in _weights(model).items():
        np.testing.assert_array_equal(value, halves[name].astype(np.float32))


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="needs /dev/zero")
def test_an_endless_device_is_refused_without_reading_it_all():
    # Reading stops at what the header declares: /dev/zero is an empty (invalid) header.
    with pytest.raises(ValueError, match="not a valid safetensors file"):
        fg.load_model("/dev/zero")


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_half_precision_weights_load_widened_to_float32(dtype, tmp_path):
    safetensors_numpy = pytest.importorskip("safetensors.numpy")
    model = fg.Sequential([layers.Input((3,)), layers.Dense(2, name="dense")])
    model.set_weights([np.array([[0.5, -1.0], [2.0, 0.25], [1.5, -0.75]]), np.array([0.125, -3.0])])
    path = tmp_path / "model.safetensors"
    model.save(path)
    metadata, _ = fg._core.read_model_header(str(path))
    kernel, bias = (np.asarray(w) for w in model.get_weights())
    if dtype == "float16":
        tensors = {"dense/kernel": kernel.astype(np.float16), "dense/bias": bias.astype(np.float16)}
        safetensors_numpy.save_file(tensors, str(path), metadata=metadata)
    else:
        # numpy has no bfloat16: its bits are the upper halves of float32's (the values above
        # are exact in bfloat16), written as safetensors' BF16 by hand.
        header = {"__metadata__": metadata}
        data = b""
        for name, value in (("dense/kernel", kernel), ("dense/bias", bias)):
            raw = (value.astype(np.float32).view(np.uint32) >> 16).astype("<u2").tobytes()
            offsets = [len(data), len(data) + len(raw)]
            header[name] = {"dtype": "BF16", "shape": list(value.shape), "data_offsets": offsets}
            data += raw
        text = json.dumps(header).encode()
        path.write_bytes(len(text).to_bytes(8, "little") + text + data)
    loaded = fg.load_model(path)
    np.testing.assert_array_equal(loaded.get_weights()[0], kernel)
    np.testing.assert_array_equal(loaded.get_weights()[1], bias)
    assert loaded.get_weights()[0].dtype == np.float32


def _with_architecture(saved, text, tmp_path):
    metadata, _ = fg._core.read_model_header(str(saved.path))
    metadata = dict(metadata, model_config=text)
    header = json.loads(saved.path.read_bytes()[8 : 8 + struct.unpack("<Q", saved.path.read_bytes()[:8])[0]])
    header["__metadata__"] = metadata
    data = saved.path.read_bytes()[8 + struct.unpack("<Q", saved.path.read_bytes()[:8])[0] :]
    encoded = json.dumps(header).encode()
    path = tmp_path / "edited_architecture.safetensors"
    path.write_bytes(struct.pack("<Q", len(encoded)) + encoded + data)
    return path


def test_deep_or_ambiguous_architecture_json_is_a_value_error(saved, tmp_path):
    deep = "[" * 100_000 + "]" * 100_000
    with pytest.raises(ValueError, match="nests too deeply|not valid JSON"):
        fg.load_model(_with_architecture(saved, deep, tmp_path))
    config = json.loads(fg._core.read_model_header(str(saved.path))[0]["model_config"])
    duplicated = json.dumps(config)[:-1] + ', "class_name": "Sequential"}'
    with pytest.raises(ValueError, match=r"repeats the key\(s\) \['class_name'\]"):
        fg.load_model(_with_architecture(saved, duplicated, tmp_path))
