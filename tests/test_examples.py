"""The examples run and do what they claim."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_main_demo_trains_with_fit_and_reports_accuracy():
    result = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "train_digits.py"), "--seed", "0"],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    out = result.stdout
    assert "Epoch 30/30" in out and "Total params: 17,226" in out, out
    # not a terminal: one progress line per epoch, not one per batch
    assert out.count("41/41") == 30, out
    accuracy = re.search(r"test accuracy ([\d.]+)$", out.strip())
    assert accuracy, out
    assert float(accuracy.group(1)) > 0.93, out  # chance is 0.1


def test_custom_loop_example_trains():
    result = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "custom_loop_digits.py"), "--steps", "200", "--seed", "0"],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    out = result.stdout
    final = re.search(r"test loss ([\d.]+) \(from ([\d.]+)\)", out)
    accuracy = re.search(r"test accuracy ([\d.]+)$", out.strip())
    assert final and accuracy, out
    final_loss, initial_loss = float(final.group(1)), float(final.group(2))
    assert final_loss < initial_loss / 5, out  # the loss falls by far more than noise
    assert float(accuracy.group(1)) > 0.9, out  # chance is 0.1
