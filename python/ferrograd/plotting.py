"""Training curves from a ``History``: ``plot_history`` (re-exported as ``fg.utils.plot_history``),
and optimizer paths over a 2-D surface: ``plot_trajectories`` (``fg.utils.plot_trajectories``).

matplotlib is an optional dependency: ``pip install ferrograd[plot]``. Figures are built with
matplotlib's object API (``matplotlib.figure.Figure``), so saving a PNG needs no display and
never switches the global pyplot backend; pyplot is imported only for ``show=True``.

Example::

    history = model.fit(x, y, validation_split=0.2, epochs=20)
    fig = fg.utils.plot_history(history, path="curves.png")
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from types import SimpleNamespace
from typing import Any

import numpy as np

from . import _core
from .autodiff import no_grad

__all__ = ["plot_gradient_flow", "plot_history", "plot_trajectories"]

_INSTALL_HINT = (
    "plot_history needs matplotlib, an optional dependency of ferrograd. "
    "Install it with `pip install ferrograd[plot]` (or `pip install matplotlib`)."
)


def _history_dict(history: Any) -> tuple[dict[str, list[float]], list[int] | None]:
    """The per-epoch series and the epoch indices of a History, or of its ``.history`` dict."""
    epochs = None
    if not isinstance(history, Mapping):
        series = getattr(history, "history", None)
        if not isinstance(series, Mapping):
            raise TypeError(
                f"plot_history: expected a History (what fit returns) or its .history dict, "
                f"got {type(history).__name__}"
            )
        epochs = list(getattr(history, "epoch", None) or []) or None
        history = series
    return {str(key): list(values) for key, values in history.items()}, epochs


def _metric_names(series: Mapping[str, list[float]], metrics: Sequence[str] | str | None) -> list[str]:
    """The metrics to plot, one subplot each; a ``val_`` name is drawn with its training pair."""
    if isinstance(metrics, str):
        metrics = [metrics]
    if metrics is None:
        names = [key for key in series if not key.startswith("val_")]
        # A validation series without a training one still gets its subplot.
        names += [key[4:] for key in series if key.startswith("val_") and key[4:] not in series]
        return names
    names = []
    for metric in metrics:
        name = metric[4:] if metric.startswith("val_") else metric
        if name not in series and f"val_{name}" not in series:
            raise ValueError(f"plot_history: no metric {metric!r} in the history; it has {', '.join(series)}")
        if name not in names:
            names.append(name)
    return names


def plot_history(
    history: Any,
    metrics: Sequence[str] | str | None = None,
    path: str | os.PathLike | None = None,
    show: bool = False,
):
    """Plots training curves: one subplot per metric, training and validation (``val_``) together.

    Args:
        history: The ``History`` that ``fit`` returns, or its ``.history`` dict
            (``{"loss": [...], "val_loss": [...], ...}``).
        metrics: Names to plot (``"loss"``, ``"accuracy"``; a ``val_`` prefix is ignored: the pair is
            always drawn together). ``None`` plots every metric in the history, in its order.
        path: If given, the figure is saved there as a PNG (150 dpi).
        show: Open the figure in a window (or inline in a notebook) with ``pyplot.show()``.

    Returns:
        The ``matplotlib.figure.Figure``.

    Raises:
        ImportError: If matplotlib is not installed (``pip install ferrograd[plot]``).
        ValueError: If the history is empty or lacks a requested metric.
    """
    mpl = _matplotlib("plot_history")

    series, epochs = _history_dict(history)
    if not series:
        raise ValueError("plot_history: the history is empty (did fit run for at least one epoch?)")
    names = _metric_names(series, metrics)

    ncols = min(len(names), 3)
    nrows = math.ceil(len(names) / ncols)
    figsize = (5.0 * ncols, 3.6 * nrows)
    fig = _pyplot().figure(figsize=figsize) if show else mpl.figure.Figure(figsize=figsize)

    for index, name in enumerate(names):
        ax = fig.add_subplot(nrows, ncols, index + 1)
        for key, style in ((name, "-"), (f"val_{name}", "--")):
            values = series.get(key)
            if not values:
                continue
            # Epochs are numbered from 1 on the axis, as the progress bar counts them.
            if epochs is not None and len(epochs) == len(values):
                x = [epoch + 1 for epoch in epochs]
            else:
                x = list(range(1, len(values) + 1))
            ax.plot(x, values, style, marker="o", markersize=3, label=key)
        ax.set_title(name)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(mpl.ticker.MaxNLocator(integer=True))
        ax.grid(True, alpha=0.3)
        ax.legend()
    fig.tight_layout()

    if path is not None:
        fig.savefig(os.fspath(path), format="png", dpi=150)
    if show:
        _pyplot().show()
    return fig


def _install_hint(function_name: str) -> str:
    """The message of the ImportError raised when matplotlib is missing, naming the function."""
    return _INSTALL_HINT.replace("plot_history", function_name, 1)


def _matplotlib(function_name: str) -> SimpleNamespace:
    """The parts of matplotlib the plots use (``figure``, ``ticker``, ``colormaps``); an
    ``ImportError`` saying how to install matplotlib, naming ``function_name``, when it is missing."""
    try:
        # matplotlib is an optional dependency: imported by the plots, never by ferrograd itself.
        from matplotlib import colormaps, figure, ticker
    except ImportError as e:
        raise ImportError(_install_hint(function_name)) from e
    return SimpleNamespace(figure=figure, ticker=ticker, colormaps=colormaps)


def _pyplot() -> Any:
    """``matplotlib.pyplot``, only for ``show=True``: importing it may switch the global backend."""
    # Optional dependency (see _matplotlib), and pyplot only when a figure is shown.
    import matplotlib.pyplot as pyplot

    return pyplot


def _surface_grid(fn: Any, window: Any, resolution: int):
    """``(X, Y, Z)``: ``fn`` evaluated on a ``resolution`` x ``resolution`` grid over ``window``.

    The whole grid goes through ``fn`` at once as a ``(2, H, W)`` tensor when ``fn`` handles it
    (the built-in surfaces do: they index ``p[0]``, ``p[1]`` and use arithmetic); any other
    function is evaluated point by point, as ``trajectory`` calls it.
    """
    (x_min, x_max), (y_min, y_max) = window
    xs = np.linspace(float(x_min), float(x_max), resolution)
    ys = np.linspace(float(y_min), float(y_max), resolution)
    X, Y = np.meshgrid(xs, ys)
    with no_grad():
        try:
            Z = np.asarray(fn(_core.tensor(np.stack([X, Y]), dtype="float64")), dtype=np.float64)
        except Exception:  # a function written for one point only: fall back to a loop
            Z = None
        if Z is None or Z.shape != X.shape:
            Z = np.empty_like(X)
            for index in np.ndindex(X.shape):
                point = _core.tensor(np.array([X[index], Y[index]]), dtype="float64")
                Z[index] = float(np.asarray(fn(point), dtype=np.float64).reshape(-1)[0])
    return X, Y, Z


def _contour_levels(Z: Any, count: int, scale: str):
    """``count`` contour levels over the grid's range.

    ``"log"``: spaced logarithmically above the grid's lowest value, so that the narrow valleys
    near a minimum (Rosenbrock's, Beale's) get as many lines as the steep walls around them; the
    offset from the lowest value makes this work for negative values too. ``"linear"``: evenly
    spaced, for a surface with no minimum to zoom into (the saddle, symmetric around its level 0).
    """
    finite = Z[np.isfinite(Z)]
    if finite.size == 0:
        raise ValueError("plot_trajectories: the function is not finite anywhere in the window")
    low, high = float(finite.min()), float(finite.max())
    span = high - low
    if span <= 0:
        return None  # a flat window: let matplotlib choose
    if scale == "linear":
        return np.linspace(low, high, count)
    return low + np.geomspace(span * 1e-4, span, count)


def plot_trajectories(
    fn_or_surface: Any,
    trajectories: Mapping[str, Any],
    path: str | os.PathLike | None = None,
    window: Any = None,
    levels: int | Sequence[float] = 30,
    level_scale: str | None = None,
    resolution: int = 200,
    title: str | None = None,
    show: bool = False,
):
    """Draws optimizer paths over the contour plot of a 2-D function.

    Args:
        fn_or_surface: A :class:`~ferrograd.optimizers.surfaces.Surface` (its window, name and
            critical point are used) or any ``fn(p)`` taking an fg Tensor of shape ``(2,)``.
        trajectories: ``{name: points}``, each ``points`` an array of shape ``(n, 2)`` as
            :func:`~ferrograd.optimizers.trajectory` returns; each is drawn as a line from its
            start (a circle) to its end (a cross). Non-finite points (a diverged run) are left out.
        path: If given, the figure is saved there as a PNG (150 dpi).
        window: ``((x_min, x_max), (y_min, y_max))``; defaults to the surface's window, or to the
            trajectories' extent (with a margin) for a plain function.
        levels: The number of contour levels, or explicit level values.
        level_scale: How ``levels`` levels are spaced: ``"log"`` (logarithmically above the lowest
            value in the window) or ``"linear"``. Default: ``"linear"`` for a surface with no
            minimum (the saddle), ``"log"`` otherwise.
        resolution: Grid points per axis for the contours.
        title: The axes title (default: the surface's name and formula).
        show: Open the figure with ``pyplot.show()``.

    Returns:
        The ``matplotlib.figure.Figure``.

    Raises:
        ImportError: If matplotlib is not installed (``pip install ferrograd[plot]``).
        ValueError: If a trajectory is not an ``(n, 2)`` array, no window can be found, or
            ``level_scale`` is unknown.
        TypeError: If ``fn_or_surface`` is not callable or ``trajectories`` is not a mapping.
    """
    mpl = _matplotlib("plot_trajectories")

    if not callable(fn_or_surface):
        raise TypeError(f"plot_trajectories: expected a surface or a function, got {type(fn_or_surface).__name__}")
    if not isinstance(trajectories, Mapping):
        raise TypeError(
            f"plot_trajectories: trajectories must be a dict {{name: points}}, got {type(trajectories).__name__}"
        )
    paths = {}
    for name, points in trajectories.items():
        array = np.asarray(points, dtype=np.float64)
        if array.ndim != 2 or array.shape[1] != 2 or array.shape[0] == 0:
            raise ValueError(f"plot_trajectories: trajectory {name!r} must have shape (n, 2), got {array.shape}")
        paths[str(name)] = array
    if level_scale is None:
        no_minimum = hasattr(fn_or_surface, "minimum") and fn_or_surface.minimum is None
        level_scale = "linear" if no_minimum else "log"
    if level_scale not in ("log", "linear"):
        raise ValueError(f"plot_trajectories: level_scale must be 'log' or 'linear', got {level_scale!r}")

    surface_window = getattr(fn_or_surface, "window", None)
    if window is None:
        window = surface_window
    if window is None:
        finite = [p[np.isfinite(p).all(axis=1)] for p in paths.values()]
        finite = np.concatenate(finite) if finite else np.empty((0, 2))
        if finite.size == 0:
            raise ValueError("plot_trajectories: give a window: there is no surface window and no finite point")
        low, high = finite.min(axis=0), finite.max(axis=0)
        margin = np.maximum((high - low) * 0.15, 0.5)
        window = ((low[0] - margin[0], high[0] + margin[0]), (low[1] - margin[1], high[1] + margin[1]))

    X, Y, Z = _surface_grid(fn_or_surface, window, int(resolution))
    contour_levels = _contour_levels(Z, int(levels), level_scale) if isinstance(levels, int) else list(levels)

    figsize = (6.4, 5.6)
    fig = _pyplot().figure(figsize=figsize) if show else mpl.figure.Figure(figsize=figsize)
    ax = fig.add_subplot(1, 1, 1)
    # Masked: a function that overflows somewhere in the window leaves a hole, not a broken plot.
    ax.contour(X, Y, np.ma.masked_invalid(Z), levels=contour_levels, cmap="viridis", linewidths=0.7, alpha=0.8)

    for name, points in paths.items():
        finite = points[np.isfinite(points).all(axis=1)]
        if finite.shape[0] == 0:
            continue
        (line,) = ax.plot(finite[:, 0], finite[:, 1], "-", linewidth=1.5, label=name)
        ax.plot(finite[0, 0], finite[0, 1], "o", color=line.get_color(), markersize=5)
        ax.plot(finite[-1, 0], finite[-1, 1], "x", color=line.get_color(), markersize=8)

    critical = getattr(fn_or_surface, "critical_point", None)
    if critical is not None:
        label = "minimum" if getattr(fn_or_surface, "minimum", None) is not None else "critical point"
        ax.plot(critical[0], critical[1], "*", color="black", markersize=12, label=label)

    (x_min, x_max), (y_min, y_max) = window
    ax.set_xlim(x_min, x_max)
    ax.set_ylim(y_min, y_max)
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    if title is None:
        name = getattr(fn_or_surface, "name", None)
        formula = getattr(fn_or_surface, "formula", None)
        title = f"{name}: {formula}" if name and formula else (name or "")
    ax.set_title(title)
    ax.legend(loc="best", fontsize="small")
    fig.tight_layout()

    if path is not None:
        fig.savefig(os.fspath(path), format="png", dpi=150)
    if show:
        _pyplot().show()
    return fig


def _gradient_series(source: Any) -> tuple[list[int], dict[str, list[float]]] | None:
    """``(steps, {layer: norms})`` from a GradientMonitor, a History it filled, or its
    ``history`` dict; None when ``source`` is none of these."""
    if hasattr(source, "gradients") and not callable(source.gradients):  # History
        source = source.gradients
        if source is None:
            raise ValueError(
                "plot_gradient_flow: this History has no gradient records; "
                "train with callbacks=[fg.callbacks.GradientMonitor()]"
            )
    elif hasattr(source, "history") and isinstance(source.history, Mapping) and "layers" in source.history:
        source = source.history  # GradientMonitor
    if isinstance(source, Mapping) and "layers" in source and "step" in source:
        return list(source["step"]), {k: list(v) for k, v in source["layers"].items()}
    return None


def plot_gradient_flow(
    source: Any,
    path: str | os.PathLike | None = None,
    show: bool = False,
):
    """Per-layer gradient norms on a log scale: where the gradient vanishes or explodes.

    Args:
        source: A ``GradientReport`` (``fg.diagnostics.gradient_report``): one bar per layer,
            from the input side to the output side, so a vanishing gradient shows as bars
            falling towards the first layers. Or what a ``GradientMonitor`` recorded during
            ``fit`` (the monitor, the ``History`` that ``fit`` returned, or
            ``history.gradients``): one line per layer over the training steps.
        path: If given, the figure is saved there as a PNG (150 dpi).
        show: Open the figure with ``pyplot.show()``.

    Returns:
        The ``matplotlib.figure.Figure``.

    Raises:
        ImportError: If matplotlib is not installed (``pip install ferrograd[plot]``).
        TypeError: If ``source`` is none of the above.
        ValueError: If it holds no gradient norms.
    """
    mpl = _matplotlib("plot_gradient_flow")

    series = _gradient_series(source)
    layers = getattr(source, "layers", None)
    if series is None and not (isinstance(layers, list) and hasattr(source, "first_last_ratio")):
        raise TypeError(
            "plot_gradient_flow takes a GradientReport, a GradientMonitor, the History of a fit that "
            f"used one, or its history.gradients dict; got {type(source).__name__}"
        )
    fig = _pyplot().figure(figsize=(8.0, 4.5)) if show else mpl.figure.Figure(figsize=(8.0, 4.5))
    ax = fig.add_subplot(1, 1, 1)
    if series is None:
        names = [layer.name for layer in layers if layer.gradient_norm is not None]
        norms = [layer.gradient_norm for layer in layers if layer.gradient_norm is not None]
        if not norms:
            raise ValueError("plot_gradient_flow: the report has no layer with a gradient")
        colors = {
            "healthy": "tab:green",
            "vanishing": "tab:blue",
            "exploding": "tab:red",
            "non-finite": "black",
            "dead units": "tab:gray",
            "saturated": "tab:orange",
        }
        verdicts = [layer.verdict for layer in layers if layer.gradient_norm is not None]
        finite = [n if math.isfinite(n) and n > 0 else float("nan") for n in norms]
        ax.bar(range(len(norms)), finite, color=[colors.get(v, "tab:purple") for v in verdicts])
        ax.set_xticks(range(len(norms)))
        ax.set_xticklabels(names, rotation=60, ha="right", fontsize=8)
        ax.set_xlabel("layer (input side → output side)")
        ax.set_title(f"gradient norm per layer; verdict: {source.verdict}")
    else:
        steps, per_layer = series
        if not steps or not per_layer:
            raise ValueError("plot_gradient_flow: no gradient records (did fit run with a GradientMonitor?)")
        count = len(per_layer)
        cmap = mpl.colormaps["viridis"]
        for index, (name, norms) in enumerate(per_layer.items()):
            values = [n if math.isfinite(n) and n > 0 else float("nan") for n in norms]
            ax.plot(steps[: len(values)], values, color=cmap(index / max(count - 1, 1)), label=name, linewidth=1.2)
        ax.set_xlabel("training step (batch)")
        ax.set_title("gradient norm per layer during training")
        if count <= 12:
            ax.legend(fontsize=7, loc="best")
    ax.set_yscale("log")
    ax.set_ylabel("gradient L2 norm")
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    if path is not None:
        fig.savefig(os.fspath(path), format="png", dpi=150)
    if show:
        _pyplot().show()
    return fig
