"""SGD, momentum, RMSprop and Adam near a saddle point and in Rosenbrock's valley.

The seed material's claim (cs231n's saddle animation): on a saddle, plain SGD "has a very hard
time breaking symmetry and gets stuck on the top", while momentum and RMSprop-style methods, whose
effective step along the flat, descending direction is larger, move on. This script checks it
with ferrograd's real optimizers (``fg.optimizers.trajectory`` runs ``apply_gradients`` on an
``fg.Variable``):

- saddle ``f = x**2 - y**2`` from ``(1, 1e-3)``, every optimizer at ``learning_rate=0.01``: the
  path slides down ``x`` into the saddle point; there the only push is the tiny ``-2y``.
  SGD multiplies ``y`` by ``1 + 2 lr`` per step, so its escape takes ~ln(1e3)/0.02 = 350 steps;
  at 200 steps (the default) it is still sitting on the saddle while the others are gone. SGD is
  not trapped for ever: run ``--saddle-steps 600`` and it escapes at step 349, after which its
  exponential growth overtakes Adam's ~lr per step. "Stuck" means a plateau whose length grows
  as ln(1/distance from the ridge) / lr, which is what makes saddles expensive for plain SGD;
- Rosenbrock ``(1 - x)**2 + 100 (y - x**2)**2`` from ``(-1.2, 1)``, with a learning rate per
  optimizer that is stable for it (SGD diverges above ~2e-3 on the valley's steep walls).

Printed per run: the final point, ``f`` there, the distance from the saddle point (or the
minimum) after the last step, and the first step at which the run had escaped (saddle:
``f < -1``, i.e. the loss has fallen clearly below the saddle's level 0) or converged
(Rosenbrock: within 0.01 of ``(1, 1)``). With matplotlib installed, PNG figures go to ``--out``.

Run: python examples/gradient_health/optimizers_on_a_saddle.py [--saddle-steps 200]
[--rosenbrock-steps 2000] [--out docs/figures]
"""

from __future__ import annotations

import argparse
import importlib.util
from pathlib import Path

import numpy as np

import ferrograd as fg
from ferrograd.optimizers import surfaces, trajectory
from ferrograd.optimizers.trajectory import distance

# name -> (make optimizer for the saddle, make optimizer for Rosenbrock, Rosenbrock learning rate)
SADDLE_LR = 0.01
OPTIMIZERS = {
    "SGD": (lambda: fg.optimizers.SGD(SADDLE_LR), lambda: fg.optimizers.SGD(1e-3), 1e-3),
    "SGD+momentum": (
        lambda: fg.optimizers.SGD(SADDLE_LR, momentum=0.9),
        lambda: fg.optimizers.SGD(1e-3, momentum=0.9),
        1e-3,
    ),
    "RMSprop": (lambda: fg.optimizers.RMSprop(SADDLE_LR), lambda: fg.optimizers.RMSprop(1e-2), 1e-2),
    "Adam": (lambda: fg.optimizers.Adam(SADDLE_LR), lambda: fg.optimizers.Adam(5e-2), 5e-2),
}


def first_step(mask: np.ndarray) -> str:
    """The first index where ``mask`` holds, or "never" (within the run)."""
    hits = np.flatnonzero(mask)
    return str(int(hits[0])) if hits.size else "never"


def run(surface: surfaces.Surface, which: int, steps: int) -> dict[str, np.ndarray]:
    """Every optimizer's path on ``surface`` (``which`` picks the saddle or Rosenbrock setting)."""
    return {name: trajectory(surface, makers[which](), surface.start, steps) for name, makers in OPTIMIZERS.items()}


def print_table(title: str, surface: surfaces.Surface, paths: dict[str, np.ndarray], event: str) -> None:
    print(f"\n{title}")
    print(f"{'optimizer':<14}{'lr':>8}{'final x':>14}{'final y':>14}{'f(final)':>14}{'distance':>12}  {event}")
    for name, points in paths.items():
        values = np.array([float(surface(p)) for p in points])
        d = distance(points, surface.critical_point)
        if surface.minimum is None:
            when = first_step(values < -1.0)
            lr = SADDLE_LR
        else:
            when = first_step(d < 0.01)
            lr = OPTIMIZERS[name][2]
        x, y = points[-1]
        print(f"{name:<14}{lr:>8g}{x:>14.6g}{y:>14.6g}{values[-1]:>14.6g}{d[-1]:>12.4g}  {when}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--saddle-steps", type=int, default=200)
    parser.add_argument("--rosenbrock-steps", type=int, default=2000)
    parser.add_argument("--out", type=Path, default=Path("docs/figures"), help="where the PNG figures go")
    args = parser.parse_args()
    # The runs are deterministic (no randomness anywhere); the seed only pins the engine's state.
    fg.utils.set_random_seed(0)

    saddle_paths = run(surfaces.saddle, 0, args.saddle_steps)
    print_table(
        f"saddle f = x**2 - y**2 from {surfaces.saddle.start}, {args.saddle_steps} steps "
        "(distance from the saddle point (0, 0))",
        surfaces.saddle,
        saddle_paths,
        "escaped (f < -1) at step",
    )
    rosen_paths = run(surfaces.rosenbrock, 1, args.rosenbrock_steps)
    print_table(
        f"rosenbrock from {surfaces.rosenbrock.start}, {args.rosenbrock_steps} steps "
        "(distance from the minimum (1, 1))",
        surfaces.rosenbrock,
        rosen_paths,
        "within 0.01 of (1, 1) at step",
    )

    sgd_distance = float(distance(saddle_paths["SGD"][-1:], (0.0, 0.0))[0])
    others = {n: float(distance(p[-1:], (0.0, 0.0))[0]) for n, p in saddle_paths.items() if n != "SGD"}
    verdict = all(d > 10 * sgd_distance for d in others.values())
    print(
        f"\nsaddle claim (after {args.saddle_steps} steps every other optimizer is >10x farther from the saddle "
        f"than SGD): {'holds' if verdict else 'does NOT hold'}"
    )

    if importlib.util.find_spec("matplotlib") is None:
        print("matplotlib is not installed: no figures (pip install ferrograd[plot])")
        return
    args.out.mkdir(parents=True, exist_ok=True)
    for surface, paths in ((surfaces.saddle, saddle_paths), (surfaces.rosenbrock, rosen_paths)):
        path = args.out / f"optimizers_{surface.name}.png"
        fg.utils.plot_trajectories(surface, paths, path=path)
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
