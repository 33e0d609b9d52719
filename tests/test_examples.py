"""The examples run and do what they claim."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_mlp_digits_example_trains():
    result = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "mlp_digits.py"), "--steps", "200", "--seed", "0"],
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
