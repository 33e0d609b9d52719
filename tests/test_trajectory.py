"""Tests for fg.optimizers.trajectory, fg.optimizers.surfaces, fg.utils.plot_trajectories and the
gradient_health examples. Reference paths come from closed forms and from the optimizers' update
formulas written out here with numpy (Keras's definitions), not from the code under test."""

from __future__ import annotations

import re
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

import ferrograd as fg
from ferrograd.optimizers import surfaces, trajectory
from ferrograd.optimizers.trajectory import distance
from ferrograd.plotting import _contour_levels, _surface_grid

ROOT = Path(__file__).resolve().parent.parent


def half_square_norm(p):
    return (p * p).sum() * 0.5


# ----------------------------------------------------------------------------- trajectory


@pytest.mark.parametrize("lr", [0.1, 0.5, 1.5])
def test_sgd_on_half_square_norm_is_geometric(lr):
    # f = ||p||^2 / 2 has gradient p, so SGD gives p_k = (1 - lr)^k p0 exactly.
    start = np.array([2.0, -0.5])
    points = trajectory(half_square_norm, fg.optimizers.SGD(lr), start, 25)
    assert points.shape == (26, 2) and points.dtype == np.float64
    expected = (1 - lr) ** np.arange(26)[:, None] * start
    np.testing.assert_allclose(points, expected, rtol=1e-12, atol=1e-300)


def test_momentum_and_nesterov_follow_keras_formulas():
    # Keras: v = m v - lr g; p += v (nesterov: p += m v - lr g), with g = p on ||p||^2/2.
    lr, m, start = 0.1, 0.9, np.array([1.0, -2.0])
    for nesterov in (False, True):
        p, v, expected = start.copy(), np.zeros(2), [start.copy()]
        for _ in range(30):
            g = p.copy()
            v = m * v - lr * g
            p = p + (m * v - lr * g if nesterov else v)
            expected.append(p.copy())
        points = trajectory(half_square_norm, fg.optimizers.SGD(lr, momentum=m, nesterov=nesterov), start, 30)
        np.testing.assert_allclose(points, np.array(expected), rtol=1e-12)


def test_adam_first_step_has_size_lr_in_each_coordinate():
    # Keras's Adam at step 1: m = (1 - b1) g, v = (1 - b2) g^2, alpha = lr sqrt(1 - b2) / (1 - b1),
    # step = alpha m / (sqrt(v) + eps) = lr g / (|g| + eps / sqrt(1 - b2)): about lr in every
    # coordinate whatever the gradient's scale (here 2 and -2e-3 on the saddle), against the gradient.
    lr, eps, beta_2 = 0.01, 1e-7, 0.999
    points = trajectory(surfaces.saddle, fg.optimizers.Adam(lr), (1.0, 1e-3), 1)
    step = points[1] - points[0]
    grad = np.array([2.0, -2e-3])
    np.testing.assert_allclose(step, -lr * grad / (np.abs(grad) + eps / np.sqrt(1 - beta_2)), rtol=1e-9)
    np.testing.assert_allclose(np.abs(step), [lr, lr], rtol=2e-3)


def test_saddle_sgd_stays_near_while_adaptive_and_momentum_methods_escape():
    steps, lr = 200, 0.01
    start = surfaces.saddle.start
    finals = {
        "sgd": trajectory(surfaces.saddle, fg.optimizers.SGD(lr), start, steps)[-1],
        "momentum": trajectory(surfaces.saddle, fg.optimizers.SGD(lr, momentum=0.9), start, steps)[-1],
        "rmsprop": trajectory(surfaces.saddle, fg.optimizers.RMSprop(lr), start, steps)[-1],
        "adam": trajectory(surfaces.saddle, fg.optimizers.Adam(lr), start, steps)[-1],
    }
    to_saddle = {name: float(np.linalg.norm(p)) for name, p in finals.items()}
    # SGD: y grows by (1 + 2 lr) per step, 1e-3 * 1.02**200 = 0.052; x decays to 0.98**200 = 0.018.
    assert to_saddle["sgd"] < 0.1
    np.testing.assert_allclose(finals["sgd"], [0.98**200, 1e-3 * 1.02**200], rtol=1e-9)
    for name in ("momentum", "rmsprop", "adam"):
        assert to_saddle[name] > 1.5, (name, finals[name])


def test_adam_reaches_the_rosenbrock_minimum():
    points = trajectory(surfaces.rosenbrock, fg.optimizers.Adam(0.05), surfaces.rosenbrock.start, 2000)
    assert distance(points[-1:], (1.0, 1.0))[0] < 1e-2
    assert float(surfaces.rosenbrock(points[-1])) < 1e-4


def test_zero_steps_float32_and_tensor_start():
    start = fg.tensor(np.array([0.5, 0.25]), dtype="float32")
    points = trajectory(half_square_norm, fg.optimizers.SGD(0.1), start, 0)
    np.testing.assert_array_equal(points, [[0.5, 0.25]])
    points = trajectory(half_square_norm, fg.optimizers.SGD(0.5), [1.0, 1.0], 3, dtype="float32")
    np.testing.assert_allclose(points[-1], [0.125, 0.125], rtol=1e-7)


def test_divergence_keeps_going_and_warns_once():
    # SGD with lr = 0.1 on Rosenbrock from (-1.2, 1) blows up within a few steps (the walls' curvature
    # is ~1000). The documented choice: keep the (steps + 1, 2) shape, fill on, warn once.
    with pytest.warns(RuntimeWarning, match="non-finite at step") as record:
        points = trajectory(surfaces.rosenbrock, fg.optimizers.SGD(0.1), surfaces.rosenbrock.start, 40)
    assert len([w for w in record if issubclass(w.category, RuntimeWarning)]) == 1
    assert points.shape == (41, 2)
    finite_rows = np.isfinite(points).all(axis=1)
    assert finite_rows[0] and not finite_rows[-1]
    first_bad = int(np.argmin(finite_rows))
    assert not finite_rows[first_bad:].any()  # once lost, never back
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a healthy run does not warn
        trajectory(surfaces.rosenbrock, fg.optimizers.SGD(1e-3), surfaces.rosenbrock.start, 10)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"start": (1.0, 2.0, 3.0)}, ValueError, r"shape \(2,\)"),
        ({"start": [[1.0, 2.0]]}, ValueError, r"shape \(2,\)"),
        ({"start": (np.nan, 1.0)}, ValueError, "finite"),
        ({"start": ("a", "b")}, TypeError, "two numbers"),
        ({"steps": -1}, ValueError, ">= 0"),
        ({"steps": 2.0}, TypeError, "steps must be an int"),
        ({"steps": True}, TypeError, "steps must be an int"),
        ({"fn": "rosenbrock"}, TypeError, "fn must be callable"),
        ({"fn": lambda p: 1.0}, TypeError, "must return an fg Tensor"),
        ({"fn": lambda p: p * 2.0}, ValueError, "must return a scalar"),
        ({"fn": lambda p: fg.tensor(np.array(1.0))}, ValueError, "does not depend on its argument"),
        ({"optimizer": "adam"}, TypeError, "apply_gradients"),
        ({"dtype": "int32"}, ValueError, "dtype must be"),
    ],
)
def test_bad_inputs_raise_clear_errors(kwargs, error, match):
    call = {"fn": half_square_norm, "optimizer": fg.optimizers.SGD(0.1), "start": (1.0, 1.0), "steps": 3}
    call.update(kwargs)
    with pytest.raises(error, match=match):
        trajectory(**call)


# ----------------------------------------------------------------------------- surfaces


def analytic_gradient(name, x, y):
    """The surfaces' gradients differentiated by hand."""
    if name == "saddle":
        return np.array([2 * x, -2 * y])
    if name == "rosenbrock":
        return np.array([-2 * (1 - x) - 400 * x * (y - x * x), 200 * (y - x * x)])
    terms = [(1.5, 1), (2.25, 2), (2.625, 3)]  # beale: sum (c - x + x y^k)^2
    gx = sum(2 * (c - x + x * y**k) * (-1 + y**k) for c, k in terms)
    gy = sum(2 * (c - x + x * y**k) * (k * x * y ** (k - 1)) for c, k in terms)
    return np.array([gx, gy])


@pytest.mark.parametrize("surface", list(surfaces.ALL.values()), ids=list(surfaces.ALL))
def test_surface_gradients_values_and_landmarks(surface):
    rng = np.random.default_rng(3)
    (x_min, x_max), (y_min, y_max) = surface.window
    for _ in range(5):
        point = np.array([rng.uniform(x_min, x_max), rng.uniform(y_min, y_max)])
        grad = fg.grad(surface, point).numpy()
        np.testing.assert_allclose(grad, analytic_gradient(surface.name, *point), rtol=1e-10, atol=1e-10)
    # the critical point is stationary; the minimum has its stated value
    np.testing.assert_allclose(fg.grad(surface, np.array(surface.critical_point)).numpy(), [0.0, 0.0], atol=1e-12)
    if surface.minimum is not None:
        assert float(surface(np.array(surface.minimum))) == pytest.approx(surface.minimum_value, abs=1e-12)
    start_value = surface(fg.tensor(np.array(surface.start), dtype="float64"))
    assert isinstance(start_value, fg.Tensor) and start_value.size == 1


def test_surface_grid_evaluation_matches_pointwise_and_falls_back_for_point_functions():
    X, Y, Z = _surface_grid(surfaces.beale, surfaces.beale.window, 12)
    pointwise = np.array([[float(surfaces.beale(np.array([x, y]))) for x, y in zip(xr, yr)] for xr, yr in zip(X, Y)])
    np.testing.assert_allclose(Z, pointwise, rtol=1e-12)

    # a function that only handles a (2,) point (matmul with a 2x2 matrix) is evaluated point by point
    matrix = fg.tensor(np.array([[2.0, 0.0], [0.0, 1.0]]), dtype="float64")
    X, Y, Z = _surface_grid(lambda p: (p @ matrix * p).sum(), ((-1, 1), (-2, 2)), 9)
    np.testing.assert_allclose(Z, 2 * X**2 + Y**2, rtol=1e-12)


def test_contour_levels_are_log_or_linear_over_the_range():
    Z = np.array([[-1.0, 0.0], [5.0, np.inf]])
    log = _contour_levels(Z, 5, "log")
    np.testing.assert_allclose(log, -1.0 + np.geomspace(6e-4, 6.0, 5))
    np.testing.assert_allclose(_contour_levels(Z, 4, "linear"), [-1.0, 1.0, 3.0, 5.0])
    assert _contour_levels(np.zeros((2, 2)), 5, "log") is None
    with pytest.raises(ValueError, match="not finite anywhere"):
        _contour_levels(np.full((2, 2), np.nan), 5, "log")


# ----------------------------------------------------------------------------- plotting


def test_plot_trajectories_without_matplotlib_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # makes `import matplotlib` fail
    with pytest.raises(ImportError, match=r"plot_trajectories needs matplotlib.*pip install ferrograd\[plot\]"):
        fg.utils.plot_trajectories(surfaces.saddle, {"sgd": np.zeros((3, 2))})


def test_plot_trajectories_writes_png(tmp_path):
    pytest.importorskip("matplotlib")
    paths = {
        "SGD": trajectory(surfaces.rosenbrock, fg.optimizers.SGD(1e-3), surfaces.rosenbrock.start, 50),
        "Adam": trajectory(surfaces.rosenbrock, fg.optimizers.Adam(0.05), surfaces.rosenbrock.start, 50),
        "diverged": np.array([[0.0, 0.0], [np.nan, np.nan]]),
    }
    path = tmp_path / "rosenbrock.png"
    fig = fg.utils.plot_trajectories(surfaces.rosenbrock, paths, path=path, resolution=40)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert fig.axes[0].get_title().startswith("rosenbrock")
    # a plain function: the window comes from the trajectories
    fig = fg.utils.plot_trajectories(half_square_norm, {"p": np.array([[1.0, 1.0], [0.5, 0.5]])}, resolution=20)
    assert fig.axes[0].get_xlim()[0] < 0.5
    with pytest.raises(ValueError, match=r"shape \(n, 2\)"):
        fg.utils.plot_trajectories(surfaces.saddle, {"bad": np.zeros((3, 3))})
    with pytest.raises(ValueError, match="level_scale"):
        fg.utils.plot_trajectories(surfaces.saddle, {"p": np.zeros((2, 2))}, level_scale="sqrt")


# ----------------------------------------------------------------------------- examples


def run_example(name, *args):
    result = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "gradient_health" / name), *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    return result.stdout


def test_saddle_example_shows_the_claim(tmp_path):
    out = run_example("optimizers_on_a_saddle.py", "--out", str(tmp_path))
    assert "saddle claim" in out and "): holds" in out, out
    sgd_row = re.search(r"^SGD\s+0\.01\s+\S+\s+\S+\s+\S+\s+(\S+)\s+never$", out, re.MULTILINE)
    assert sgd_row and float(sgd_row.group(1)) < 0.1, out


def test_batch_noise_example_orders_the_noise(tmp_path):
    out = run_example("batch_noise.py", "--out", str(tmp_path))
    rows = {
        m.group(1).strip(): (float(m.group(2)), float(m.group(3)))
        for m in re.finditer(r"^(batch GD|mini-batch 32|SGD \(batch 1\))\s+\d+\s+\d+\s+\S+\s+(\S+)\s+(\S+)$", out, re.M)
    }
    assert len(rows) == 3, out
    excess = {name: value[0] for name, value in rows.items()}
    noise = {name: value[1] for name, value in rows.items()}
    assert excess["batch GD"] < 1e-3, out  # full-batch GD converges to the least-squares optimum
    assert noise["SGD (batch 1)"] > 10 * noise["mini-batch 32"] > 10 * noise["batch GD"], out
