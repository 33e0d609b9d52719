"""Tests for ferrograd.progbar.Progbar: Keras 3's output format (keras/src/utils/progbar.py),
checked against lines written out by hand from that code and against real Keras 3 logs such as

    1563/1563 ━━━━━━━━━━━━━━━━━━━━ 4s 3ms/step - accuracy: 0.9854 - loss: 0.0458

plus ferrograd's change: one line per epoch when stdout is not a terminal.

The clock is replaced by a fake one that advances only when the test says so.
"""

from __future__ import annotations

import pytest

from ferrograd import progbar as progbar_module
from ferrograd.progbar import Progbar, format_eta, format_time_per_unit, format_value

BAR = "━" * 20


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock(monkeypatch):
    fake = FakeClock()
    monkeypatch.setattr(progbar_module, "_now", fake)
    return fake


def run_steps(bar, clock, steps, seconds_per_step, values=None):
    for step in range(1, steps + 1):
        clock.advance(seconds_per_step)
        bar.update(step, values(step) if values else None)


# ----------------------------------------------------------------------------- formatting helpers


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0.4, "0s"), (5.9, "5s"), (60, "60s"), (75, "1:15"), (3600, "60:00"), (3725, "1:02:05"), (90061, "25:01:01")],
)
def test_eta_format(seconds, text):
    # Keras: "%d:%02d:%02d" above 3600 s, "%d:%02d" above 60 s, else "%ds" (truncated).
    assert format_eta(seconds) == text


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, " 0s/step"), (2.4, " 2s/step"), (1.0, " 1s/step"), (0.0123, " 12ms/step"), (0.000456, " 456us/step")],
)
def test_time_per_step_format(seconds, text):
    assert format_time_per_unit(seconds, "step") == text


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0.1234, "0.1234"),
        (12.3456789, "12.3457"),
        (-0.5, "-0.5000"),
        (0.0011, "0.0011"),
        (0.001, "1.0000e-03"),  # |v| > 1e-3 is needed for fixed point
        (0.0001234, "1.2340e-04"),
        (-2e-5, "-2.0000e-05"),
        (0.0, "0.0000e+00"),
    ],
)
def test_value_format(value, text):
    assert format_value(value) == text


# ----------------------------------------------------------------------------- not a terminal


def test_final_line_format_when_not_a_terminal(capsys, clock):
    # 10 steps of 0.1 s: elapsed 1 s; the time per step leaves out the first step:
    # (1.0 - 0.1) / 9 = 0.1 s -> "100ms/step". The final update shows the values as passed.
    bar = Progbar(target=10)
    run_steps(bar, clock, 10, 0.1, lambda step: [("loss", 1.0 / step), ("accuracy", 0.9)])
    assert capsys.readouterr().out == f"10/10 {BAR} 1s 100ms/step - loss: 0.1000 - accuracy: 0.9000\n"


def test_one_line_per_epoch_when_not_a_terminal(capsys, clock):
    for _ in range(3):
        bar = Progbar(target=500, interval=0.0)
        run_steps(bar, clock, 500, 0.01, lambda step: [("loss", 0.5)])
    out = capsys.readouterr().out
    assert out.count("\n") == 3
    assert "\r" not in out and "\x1b" not in out and "\b" not in out
    assert out.splitlines()[0] == f"500/500 {BAR} 5s 10ms/step - loss: 0.5000"


def test_small_values_in_scientific_notation(capsys, clock):
    bar = Progbar(target=2)
    run_steps(bar, clock, 2, 1.0, lambda step: [("loss", 0.0001234), ("lr", 0.0), ("mae", -3e-4)])
    assert capsys.readouterr().out == f"2/2 {BAR} 2s 1s/step - loss: 1.2340e-04 - lr: 0.0000e+00 - mae: -3.0000e-04\n"


def test_counter_is_right_aligned_to_the_target_width(capsys, clock):
    bar = Progbar(target=100)
    bar.update(7, finalize=True)
    assert capsys.readouterr().out.startswith(f"  7/100 {'━' * 1}{'─' * 19} ")


def test_unknown_target(capsys, clock):
    bar = Progbar(target=None)
    run_steps(bar, clock, 3, 0.5)
    assert capsys.readouterr().out == ""  # never finalizes by itself
    bar.update(3, [("loss", 2.0)], finalize=True)
    assert capsys.readouterr().out == "      3/Unknown 2s 500ms/step - loss: 2.0000\n"


def test_add_advances_by_n(capsys, clock):
    bar = Progbar(target=4)
    clock.advance(1.0)
    bar.add(2)
    clock.advance(1.0)
    bar.add(2, [("loss", 1.0)])
    assert capsys.readouterr().out.startswith(f"4/4 {BAR} 2s ")


def test_verbose_zero_prints_nothing(capsys, clock):
    bar = Progbar(target=3, verbose=0)
    run_steps(bar, clock, 3, 0.1, lambda step: [("loss", 1.0)])
    assert capsys.readouterr().out == ""


# ----------------------------------------------------------------------------- verbose=2


def test_verbose_2_line(capsys, clock):
    bar = Progbar(target=10, verbose=2)
    run_steps(bar, clock, 10, 0.1, lambda step: [("loss", 0.25), ("accuracy", 0.5)])
    assert capsys.readouterr().out == "10/10 - 1s - 100ms/step - loss: 0.2500 - accuracy: 0.5000\n"


def test_verbose_2_writes_only_at_the_end(capsys, clock):
    bar = Progbar(target=10, verbose=2, interval=0.0)
    run_steps(bar, clock, 9, 0.1)
    assert capsys.readouterr().out == ""


# ----------------------------------------------------------------------------- on a terminal


def dynamic_bar(target, ansi, **kwargs):
    bar = Progbar(target=target, **kwargs)
    bar._dynamic_display = True
    bar._ansi = ansi
    return bar


def test_terminal_redraws_in_place_with_eta(capsys, clock):
    # 1 s a step; at step 5 of 10 the ETA is 5 * 1 s. Stateless values are averaged over the
    # steps so far: (1 + 2 + 3 + 4 + 5) / 5 = 3.
    bar = dynamic_bar(10, ansi=False, interval=0.0)
    run_steps(bar, clock, 5, 1.0, lambda step: [("loss", float(step))])
    frames = capsys.readouterr().out.split("\r")[1:]
    assert len(frames) == 5
    assert frames[-1] == f" 5/10 {'━' * 10}{'─' * 10} 5s 1s/step - loss: 3.0000"
    # Jump to the end 1 s later: elapsed 6 s; per step (6 - 1) / 9 s, leaving out the first.
    clock.advance(1.0)
    bar.update(10, [("loss", 0.5)])
    assert capsys.readouterr().out == f"\r10/10 {BAR} 6s 556ms/step - loss: 0.5000\n"


def test_terminal_colours_as_keras(capsys, clock):
    bar = dynamic_bar(10, ansi=True)
    clock.advance(1.0)
    bar.update(5, [("loss", 0.5)])
    assert capsys.readouterr().out == (
        "\r\x1b[1m 5/10\x1b[0m \x1b[32m━━━━━━━━━━\x1b[0m\x1b[37m━━━━━━━━━━\x1b[0m \x1b[1m1s\x1b[0m 200ms/step"
        " - loss: 0.5000"
    )


def test_terminal_long_eta(capsys, clock):
    bar = dynamic_bar(1000, ansi=False)
    clock.advance(10.0)
    bar.update(1)  # 10 s a step, 999 steps left: 9990 s
    assert " 2:46:30 10s/step" in capsys.readouterr().out


def test_terminal_respects_interval(capsys, clock):
    # Steps of 1/16 s and an interval of 1/4 s (exact in binary): a redraw at the first update,
    # then every fourth step: steps 1, 5, ..., 49.
    bar = dynamic_bar(100, ansi=False, interval=0.25)
    for step in range(1, 50):
        clock.advance(0.0625)
        bar.update(step)
    assert capsys.readouterr().out.count("\r") == 13


def test_terminal_pads_a_shorter_line(capsys, clock):
    bar = dynamic_bar(10, ansi=True, interval=0.0)
    clock.advance(1.0)
    bar.update(1, [("loss", 123456.0)])
    clock.advance(1.0)
    bar.update(2, [("loss", -123456.0)])  # average 0.0 -> shorter text
    last = capsys.readouterr().out.split("\r")[-1]
    assert last.endswith("loss: 0.0000e+00" + " " * 1)


def test_stateful_metrics_are_shown_as_is(capsys, clock):
    bar = dynamic_bar(10, ansi=False, interval=0.0, stateful_metrics=["accuracy"])
    clock.advance(1.0)
    bar.update(1, [("loss", 1.0), ("accuracy", 0.2)])
    clock.advance(1.0)
    bar.update(2, [("loss", 3.0), ("accuracy", 0.6)])
    assert capsys.readouterr().out.split("\r")[-1].endswith("loss: 2.0000 - accuracy: 0.6000")


def test_stateful_and_stateless_together_is_an_error():
    with pytest.raises(ValueError, match="not both"):
        Progbar(10, stateful_metrics=["a"], stateless_metrics=["b"])
