"""``model.summary()``: Keras 3's table of layers, output shapes and parameter counts, drawn
with the same box characters (without needing ``rich``)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..layers.base import InputLayer


def readable_size(n_bytes: float) -> str:
    """Keras's ``readable_memory_size``: ``1.53 MB``."""
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if n_bytes < 1024 or unit == "TB":
            return f"{n_bytes:.2f} {unit}"
        n_bytes /= 1024
    raise AssertionError("unreachable")


def _shape_text(shape: Any) -> str:
    if isinstance(shape, list):
        return ", ".join(_shape_text(s) for s in shape)
    return str(tuple(shape)) if len(shape) != 1 else f"({shape[0]},)"


def _params(layer: Any) -> int:
    return int(sum(int(np.prod(v.shape)) for v in layer.weights))


def _count(weights: list[Any]) -> tuple[int, int]:
    seen: dict[int, Any] = {}
    for w in weights:
        seen[id(w)] = w
    n = sum(int(np.prod(w.shape)) for w in seen.values())
    size = sum(int(np.prod(w.shape)) * np.dtype(w.dtype).itemsize for w in seen.values())
    return n, size


def summary_text(model: Any, line_length: int | None = None) -> str:
    functional = not type(model).__name__ == "Sequential" and bool(model._nodes)
    rows: list[list[str]] = []
    if functional:
        headers = ["Layer (type)", "Output Shape", "Param #", "Connected to"]
        positions = [0.3, 0.6, 0.7, 1.0]
        line_length = line_length or 108
        node_ids = {id(n) for n in model._nodes}
        seen: list[Any] = []
        for node in model._nodes:
            layer = node.layer
            if any(layer is s for s in seen):
                continue
            seen.append(layer)
            nodes = [n for n in layer._inbound_nodes if id(n) in node_ids]
            inbound = ", ".join(
                f"{t._node.layer.name}[{t._node.layer._inbound_nodes.index(t._node)}][{t._output_index}]"
                for n in nodes
                for t in n.inputs
            )
            shapes = [t.shape for t in node.outputs]
            params = 0 if isinstance(layer, InputLayer) else _params(layer)
            rows.append(
                [
                    f"{layer.name} ({type(layer).__name__})",
                    _shape_text(shapes[0] if len(shapes) == 1 else shapes),
                    f"{params:,}",
                    inbound if inbound else "-",
                ]
            )
    else:
        headers = ["Layer (type)", "Output Shape", "Param #"]
        positions = [0.45, 0.84, 1.0]
        line_length = line_length or 84
        nodes = {id(n.layer): n for n in model._nodes}
        for layer in model.layers:
            node = nodes.get(id(layer))
            shape = "?" if node is None else _shape_text(node.outputs[0].shape)
            params = f"{_params(layer):,}" if layer.built else "0 (unbuilt)"
            rows.append([f"{layer.name} ({type(layer).__name__})", shape, params])
    widths = []
    start = 0
    for p in positions:
        end = int(round(p * line_length))
        widths.append(max(end - start - 3, 8))
        start = end
    for row in [headers] + rows:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))
    right = {2}

    def line(left: str, fill: str, mid: str, end: str) -> str:
        return left + mid.join(fill * (w + 2) for w in widths) + end

    def cells(values: list[str], bar: str) -> str:
        parts = [f" {v.rjust(w) if i in right else v.ljust(w)} " for i, (v, w) in enumerate(zip(values, widths))]
        return bar + bar.join(parts) + bar

    out = [f'Model: "{model.name}"', line("┏", "━", "┳", "┓"), cells(headers, "┃"), line("┡", "━", "╇", "┩")]
    for i, row in enumerate(rows):
        out.append(cells(row, "│"))
        out.append(line("├", "─", "┼", "┤") if i < len(rows) - 1 else line("└", "─", "┴", "┘"))
    if not rows:
        out.append(line("└", "─", "┴", "┘"))
    total, total_size = _count(model.weights)
    trainable, trainable_size = _count(model.trainable_weights)
    out.append(f" Total params: {total:,} ({readable_size(total_size)})")
    out.append(f" Trainable params: {trainable:,} ({readable_size(trainable_size)})")
    out.append(f" Non-trainable params: {total - trainable:,} ({readable_size(total_size - trainable_size)})")
    return "\n".join(out)
