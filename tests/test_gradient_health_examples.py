"""The gradient-health examples reproduce the seed material's claims with their own numbers:
parse the tables the scripts print and check the ordering (a deep sigmoid MLP vanishes while
tanh+Xavier, ReLU+He, BatchNormalization and residual blocks keep the gradient; an exploding
network blows up without clipping and trains with it)."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_example(name, *args):
    result = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "gradient_health" / name), *args],
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    )
    return result.stdout


def table(out):
    """Rows of the markdown table the example prints: {first cell: [other cells]}."""
    rows = {}
    for line in out.splitlines():
        if line.startswith("| ") and not line.startswith("| model") and not line.startswith("| run"):
            cells = [c.strip() for c in line.strip("|").split("|")]
            rows[cells[0]] = cells[1:]
    return rows


def test_deep_networks_table_orders_the_remedies():
    rows = table(run_example("deep_networks.py", "--epochs", "2"))
    assert len(rows) == 6, rows
    ratio = {name: float(cells[0]) for name, cells in rows.items()}
    verdict = {name: cells[1] for name, cells in rows.items()}
    sigmoid = "sigmoid, Glorot (Keras default)"
    assert verdict[sigmoid] == "vanishing"
    assert ratio[sigmoid] < 1e-8  # twenty factors of at most 1/4
    for name in ("ReLU, He normal", "ReLU, He, BatchNormalization", "ReLU, He, residual blocks"):
        assert verdict[name] == "healthy", rows
        assert 1e-2 < ratio[name] < 1e3, rows
    assert min(ratio, key=ratio.get) == sigmoid
    # The vanishing network has not learnt (chance is 0.1); the healthy ones have.
    accuracy = {name: float(cells[4]) for name, cells in rows.items()}
    assert accuracy[sigmoid] < 0.2
    assert accuracy["ReLU, He, residual blocks"] > 0.6 and accuracy["ReLU, He normal"] > 0.6


def test_exploding_table_shows_clipping_and_lstm_rescue():
    rows = table(run_example("exploding.py", "--epochs", "2", "--rnn-epochs", "4"))
    assert len(rows) == 6, rows
    plain, clipped, he = (rows[k] for k in list(rows)[:3])
    assert plain[2] != "-"  # diverged: the monitor stopped on a non-finite step
    assert clipped[2] == "-" and clipped[3] == "100%"
    assert he[2] == "-" and float(he[5]) > 0.3
    rnn_plain, rnn_clipped, lstm = (rows[k] for k in list(rows)[3:])
    assert float(rnn_plain[1]) > 1e6 or rnn_plain[2] != "-"  # exploded
    assert float(rnn_clipped[1]) < 1e3 and rnn_clipped[2] == "-"
    assert float(lstm[1]) < 1e2 and lstm[2] == "-"  # the LSTM's gradient stays bounded
