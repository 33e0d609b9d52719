"""Classic 2-D test surfaces for watching optimizers move: ``saddle``, ``rosenbrock``, ``beale``.

Each is a :class:`Surface`: callable on a point ``p`` (an fg Tensor of shape ``(2,)``) returning
a scalar fg Tensor, so autodiff gives its gradient, with the facts needed to run and plot an
experiment: the point of interest (the minimum, or the saddle point), a start and a plotting
window. Pass one to :func:`ferrograd.optimizers.trajectory` and
:func:`ferrograd.utils.plot_trajectories`::

    from ferrograd.optimizers import surfaces, trajectory
    path = trajectory(surfaces.rosenbrock, fg.optimizers.Adam(0.02), surfaces.rosenbrock.start, 500)

The formulas index ``p[0]`` and ``p[1]`` and use only arithmetic, so they also evaluate a whole
grid at once when ``p`` has shape ``(2, H, W)`` (a Tensor or a numpy array), which is how the
contour plots are drawn.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

__all__ = ["ALL", "Surface", "beale", "rosenbrock", "saddle"]


@dataclass(frozen=True)
class Surface:
    """A named 2-D function with its landmarks.

    Attributes:
        name: Short name, used in titles and tables.
        formula: The function in plain text.
        fn: ``fn(p) -> f(p[0], p[1])``; also reached by calling the surface itself.
        critical_point: The point the experiment is about: the global minimum, or the saddle point.
        minimum: The global minimum ``(x, y)``, or ``None`` when the function has none (the saddle
            is unbounded below).
        minimum_value: ``f`` at ``minimum`` (``None`` without one).
        start: A suggested start for trajectories, chosen to show something (see each surface).
        window: ``((x_min, x_max), (y_min, y_max))``, a plotting window around the action.
    """

    name: str
    formula: str
    fn: Callable[[Any], Any]
    critical_point: tuple[float, float]
    minimum: tuple[float, float] | None
    minimum_value: float | None
    start: tuple[float, float]
    window: tuple[tuple[float, float], tuple[float, float]]

    def __call__(self, p: Any) -> Any:
        return self.fn(p)


def _saddle(p: Any) -> Any:
    x, y = p[0], p[1]
    return x * x - y * y


def _rosenbrock(p: Any, a: float = 1.0, b: float = 100.0) -> Any:
    x, y = p[0], p[1]
    return (a - x) ** 2 + b * (y - x * x) ** 2


def _beale(p: Any) -> Any:
    x, y = p[0], p[1]
    return (1.5 - x + x * y) ** 2 + (2.25 - x + x * y * y) ** 2 + (2.625 - x + x * y * y * y) ** 2


saddle = Surface(
    name="saddle",
    formula="x**2 - y**2",
    fn=_saddle,
    critical_point=(0.0, 0.0),
    minimum=None,
    minimum_value=None,
    # On the ridge direction x the surface curves up, along y it curves down. Starting at
    # (1, 1e-3), gradient descent first slides down x to the saddle point (0, 0) and is then left
    # with the tiny y-gradient -2y: plain SGD multiplies y by (1 + 2 lr) per step, so it needs
    # about ln(1/1e-3) / (2 lr) steps (~350 at lr = 0.01) before it leaves the plateau. Momentum
    # compounds that growth, and RMSprop/Adam divide the gradient by its own running scale, so
    # their y-steps are ~lr from the start: they escape in a fraction of the time. (Exactly on the
    # ridge, y = 0, no gradient method ever leaves: the gradient's y-component is exactly 0.)
    start=(1.0, 1e-3),
    # Taller above the ridge: the escaping paths leave upwards (y > 0, the side the start is on).
    window=((-1.5, 1.5), (-1.0, 3.5)),
)

rosenbrock = Surface(
    name="rosenbrock",
    formula="(1 - x)**2 + 100 * (y - x**2)**2",
    fn=_rosenbrock,
    critical_point=(1.0, 1.0),
    minimum=(1.0, 1.0),
    minimum_value=0.0,
    # Rosenbrock (1960), a = 1, b = 100: a curved, flat-bottomed valley along y = x**2; reaching the
    # valley is easy, following it to (1, 1) is hard. (-1.2, 1) is the customary start.
    start=(-1.2, 1.0),
    window=((-2.0, 2.0), (-1.0, 3.0)),
)

beale = Surface(
    name="beale",
    formula="(1.5 - x + x*y)**2 + (2.25 - x + x*y**2)**2 + (2.625 - x + x*y**3)**2",
    fn=_beale,
    critical_point=(3.0, 0.5),
    minimum=(3.0, 0.5),
    minimum_value=0.0,
    # Beale (1958): flat plateaus cut by steep ridges where y**3 takes over; gradient sizes span
    # orders of magnitude, which is what adaptive step sizes are for.
    start=(1.0, 1.5),
    window=((-4.5, 4.5), (-4.5, 4.5)),
)

#: Every surface by name.
ALL: dict[str, Surface] = {s.name: s for s in (saddle, rosenbrock, beale)}
