"""Keras 3's progress bar, ``keras.utils.Progbar``, with one change for logs.

On a terminal (or in a notebook) the bar is redrawn in place with ``\\r``, in Keras 3's format
and colours::

    7/10 ━━━━━━━━━━━━━━━━━━━━ 3s 1s/step - loss: 0.4123
    10/10 ━━━━━━━━━━━━━━━━━━━━ 10s 1s/step - accuracy: 0.9000 - loss: 0.1234

When standard output is not a terminal (a log file, CI), Keras 3 writes a new line at every
refresh; here the bar writes exactly one line when it finishes, without escape codes. With
``verbose=2`` it writes one line at the end, as Keras does::

    10/10 - 10s - 1s/step - accuracy: 0.9000 - loss: 0.1234

Example::

    bar = Progbar(target=100)
    for step in range(1, 101):
        bar.update(step, values=[("loss", loss_value)])

Source of the format: ``keras/src/utils/progbar.py`` (Keras 3).
"""

from __future__ import annotations

import math
import os
import sys
import time
from collections.abc import Iterable
from typing import Any

import numpy as np

__all__ = ["Progbar"]

# ANSI escape sequences Keras 3 uses: bold for the counter and the time, green for the done
# part of the bar, white for the rest.
_BOLD = "\x1b[1m"
_GREEN = "\x1b[32m"
_WHITE = "\x1b[37m"
_RESET = "\x1b[0m"


def _now() -> float:
    """The clock the bar reads (a module function so tests can replace it)."""
    return time.monotonic()


def _is_dynamic_display() -> bool:
    """Whether stdout can redraw a line in place: a terminal, a Jupyter kernel or PyCharm's
    console, as Keras decides (minus its ``"posix" in sys.modules`` test, which holds on every
    Unix and so treats log files as terminals)."""
    isatty = getattr(sys.stdout, "isatty", None)
    try:
        tty = bool(isatty is not None and isatty())
    except ValueError:  # closed stream
        tty = False
    return tty or "ipykernel" in sys.modules or "PYCHARM_HOSTED" in os.environ


def _stdout_can_encode(text: str) -> bool:
    encoding = getattr(sys.stdout, "encoding", None) or "ascii"
    try:
        text.encode(encoding)
    except (UnicodeEncodeError, LookupError):
        return False
    return True


def _write(message: str) -> None:
    sys.stdout.write(message)
    sys.stdout.flush()


def format_eta(seconds: float) -> str:
    """The time left as Keras writes it: ``h:mm:ss`` above an hour, ``m:ss`` above a minute,
    else whole seconds (``"42s"``)."""
    if seconds > 3600:
        return f"{int(seconds // 3600)}:{int(seconds % 3600 // 60):02d}:{int(seconds % 60):02d}"
    if seconds > 60:
        return f"{int(seconds // 60)}:{int(seconds % 60):02d}"
    return f"{int(seconds)}s"


def format_time_per_unit(time_per_unit: float, unit_name: str) -> str:
    """The duration of one step, with a leading space: ``" 3s/step"``, ``" 12ms/step"`` or
    ``" 850us/step"`` (Keras's ``Progbar._format_time``)."""
    if time_per_unit >= 1 or time_per_unit == 0:
        return f" {time_per_unit:.0f}s/{unit_name}"
    if time_per_unit >= 1e-3:
        return f" {time_per_unit * 1000.0:.0f}ms/{unit_name}"
    return f" {time_per_unit * 1000000.0:.0f}us/{unit_name}"


def format_value(value: float) -> str:
    """A metric value as Keras shows it: four decimals, or scientific notation with four
    decimals when ``|value| <= 1e-3`` (so ``0.0`` shows as ``0.0000e+00``)."""
    return f"{value:.4f}" if abs(value) > 1e-3 else f"{value:.4e}"


class Progbar:
    """Displays a progress bar.

    If neither ``stateful_metrics`` nor ``stateless_metrics`` is given, every metric is
    stateless: the bar shows its average over the steps so far, weighted by the number of steps
    each value covers. At the final update each value is shown as passed.

    Args:
        target: Total number of steps expected, ``None`` if unknown.
        width: Progress bar width on screen, in characters.
        verbose: Verbosity mode: 0 (silent), 1 (the bar), 2 (one line at the end).
        interval: Minimum time between two redraws of the bar, in seconds.
        stateful_metrics: Names of metrics that are *not* averaged: their latest value is shown
            as is. Give this or ``stateless_metrics``, not both.
        stateless_metrics: Names of the only metrics that are averaged; the others are shown as
            is.
        unit_name: Name of a step in the time per step (``"step"`` or ``"sample"``).
    """

    def __init__(
        self,
        target: int | None,
        width: int = 20,
        verbose: int = 1,
        interval: float = 0.05,
        stateful_metrics: Iterable[str] | None = None,
        stateless_metrics: Iterable[str] | None = None,
        unit_name: str = "step",
    ) -> None:
        if stateful_metrics is not None and stateless_metrics is not None:
            raise ValueError(
                "Progbar: pass `stateful_metrics` (the metrics listed are shown as is, the others "
                "averaged) or `stateless_metrics` (the metrics listed are averaged, the others shown as "
                "is), not both."
            )
        self.target = target
        self.width = width
        self.verbose = verbose
        self.interval = interval
        self.unit_name = unit_name
        if stateless_metrics is not None:
            self.stateful_metrics = None
            self.stateless_metrics: set[str] | None = set(stateless_metrics)
        else:
            self.stateful_metrics = set(stateful_metrics or ())
            self.stateless_metrics = None

        self._dynamic_display = _is_dynamic_display()
        # Colours only where the line is redrawn in place; NO_COLOR (https://no-color.org) turns
        # them off there too.
        self._ansi = self._dynamic_display and "NO_COLOR" not in os.environ
        # An ASCII bar where stdout cannot encode "━" (a cp1252 console), not an encoding error.
        self._unicode_bar = _stdout_can_encode("━─")

        self._seen_so_far = 0
        # name -> [sum of value * steps, steps] for averaged metrics, [value, 1] otherwise.
        self._values: dict[str, list[Any]] = {}
        self._values_order: list[str] = []
        self._start = _now()
        self._last_update = -math.inf
        self._time_after_first_step: float | None = None
        self._prev_total_width = 0

    def update(self, current: int, values: Iterable[tuple[str, Any]] | None = None, finalize: bool | None = None):
        """Updates the progress bar.

        Args:
            current: Index of the current step (1 after the first step).
            values: ``(name, value_for_last_step)`` pairs. Stateless metrics are averaged over
                the steps; stateful ones are shown as is.
            finalize: Whether this is the last update. ``None`` means ``current >= target``.
        """
        if finalize is None:
            finalize = False if self.target is None else current >= self.target

        for name, value in values or ():
            if name not in self._values:
                self._values_order.append(name)
            if self.stateful_metrics is not None:
                stateless = name not in self.stateful_metrics
            else:
                stateless = name in self.stateless_metrics
            value = _as_number(value)
            if stateless and not finalize and _is_numeric(value):
                # Each value stands for the steps since the previous update (at least one).
                value_base = max(current - self._seen_so_far, 1)
                entry = self._values.get(name)
                if entry is None:
                    self._values[name] = [value * value_base, value_base]
                else:
                    entry[0] = entry[0] + value * value_base
                    entry[1] += value_base
            else:
                # A stateful metric, or the final value of a stateless one: shown as passed.
                self._values[name] = [value, 1]
        self._seen_so_far = current

        now = _now()
        time_per_unit = self._estimate_step_duration(current, now)

        if self.verbose == 1:
            if not finalize and (not self._dynamic_display or now - self._last_update < self.interval):
                return
            line, visible_width = self._bar_line(current, finalize, now, time_per_unit)
            if self._dynamic_display:
                padding = " " * max(self._prev_total_width - visible_width, 0)
                _write("\r" + line + padding + ("\n" if finalize else ""))
                self._prev_total_width = visible_width
            else:
                _write(line + "\n")
        elif self.verbose == 2:
            if finalize and self.target is not None and self.target > 0:
                count = self._count(current)
                line = f"{count} - {now - self._start:.0f}s -"
                line += format_time_per_unit(time_per_unit, self.unit_name)
                _write(line + self._metrics_text() + "\n")
        self._last_update = now

    def add(self, n: int, values: Iterable[tuple[str, Any]] | None = None) -> None:
        """Advances the bar by ``n`` steps."""
        self.update(self._seen_so_far + n, values)

    def _bar_line(self, current: int, finalize: bool, now: float, time_per_unit: float) -> tuple[str, int]:
        """The verbose=1 line and its width on screen (escape codes take no room)."""
        bold, reset = (_BOLD, _RESET) if self._ansi else ("", "")
        if self.target is not None and self.target > 0:
            count = self._count(current)
            done = min(max(int(self.width * float(current) / self.target), 0), self.width)
            todo = self.width - done
            if not self._unicode_bar:
                done_char, todo_char = "=", "."
            else:
                # Keras draws both parts with "━" and tells them apart by colour.
                done_char, todo_char = "━", "━" if self._ansi else "─"
            if self._ansi:
                bar = f"{_BOLD}{count}{_RESET} "
                if done > 0:
                    bar += f"{_GREEN}{done_char * done}{_RESET}"
                bar += f"{_WHITE}{todo_char * todo}{_RESET}"
            else:
                bar = f"{count} {done_char * done}{todo_char * todo}"
            visible = len(count) + 1 + self.width
        else:
            bar = f"{int(current):7d}/Unknown"
            visible = len(bar)

        if self.target is not None and self.target > 0 and not finalize:
            clock = format_eta(time_per_unit * (self.target - current))
        else:
            clock = f"{now - self._start:.0f}s"  # time elapsed since the start
        info = f" {bold}{clock}{reset}" + format_time_per_unit(time_per_unit, self.unit_name)
        info += self._metrics_text()
        visible += len(info) - len(bold) - len(reset)
        return bar + info, visible

    def _count(self, current: int) -> str:
        """``" 7/10"``: the step, right-aligned to the width of the target."""
        numdigits = int(math.log10(self.target)) + 1
        return f"{int(current):{numdigits}d}/{int(self.target)}"

    def _metrics_text(self) -> str:
        parts = []
        for name in self._values_order:
            total, count = self._values[name]
            parts.append(f" - {name}: {_display(total, count)}")
        return "".join(parts)

    def _estimate_step_duration(self, current: int, now: float) -> float:
        """Seconds per step. The first step (compilation, warm-up) is left out of the estimate
        once later steps exist; before any step the estimate is 0."""
        if not current:
            return 0.0
        if self._time_after_first_step is not None and current > 1:
            time_per_unit = (now - self._time_after_first_step) / (current - 1)
        else:
            time_per_unit = (now - self._start) / current
        if current == 1:
            self._time_after_first_step = now
        return time_per_unit


def _as_number(value: Any) -> Any:
    """A Python float when the value is a scalar (fast to add up); arrays stay arrays and are
    averaged when shown, as Keras does with ``np.mean``; anything else (a string) is kept."""
    if isinstance(value, float):
        return value
    try:
        return float(value)
    except (TypeError, ValueError):
        array = np.asarray(value)
        return array if array.dtype.kind in "biuf" else value


def _is_numeric(value: Any) -> bool:
    return isinstance(value, (float, np.ndarray))


def _display(total: Any, count: int) -> str:
    try:
        if not isinstance(total, float):
            total = float(np.mean(total))
        return format_value(total / max(1, count))
    except (TypeError, ValueError):
        return f"{total}"
