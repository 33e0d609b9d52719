"""fg.initializers against Keras 3's definitions: bounds and variances from the formulas in
keras/src/initializers (VarianceScaling: variance = scale / fan; uniform limit sqrt(3·variance);
truncated normal at two standard deviations, rescaled by 1/0.87962566), seeding rules."""

from __future__ import annotations

import numpy as np
import pytest

import ferrograd as fg
from ferrograd import initializers as init


def fans(shape):
    if len(shape) == 2:
        return shape[0], shape[1]
    receptive = int(np.prod(shape[:-2]))
    return shape[-2] * receptive, shape[-1] * receptive


@pytest.mark.parametrize(
    "cls, scale, mode, uniform",
    [
        (init.GlorotUniform, 1.0, "fan_avg", True),
        (init.GlorotNormal, 1.0, "fan_avg", False),
        (init.HeUniform, 2.0, "fan_in", True),
        (init.HeNormal, 2.0, "fan_in", False),
        (init.LecunUniform, 1.0, "fan_in", True),
        (init.LecunNormal, 1.0, "fan_in", False),
    ],
)
@pytest.mark.parametrize("shape", [(300, 200), (3, 3, 16, 32)])
def test_variance_scaling_presets(cls, scale, mode, uniform, shape):
    sampled = cls(seed=1)(shape)
    assert sampled.dtype == "float32" and sampled.shape == shape  # Keras's default float dtype
    w = sampled.numpy().astype(np.float64)
    fan_in, fan_out = fans(shape)
    fan = {"fan_in": fan_in, "fan_avg": (fan_in + fan_out) / 2}[mode]
    variance = scale / fan
    assert abs(w.var() / variance - 1) < 0.05
    if uniform:
        assert np.abs(w).max() <= np.sqrt(3 * variance)
    else:
        # truncated at 2 stddev of the rescaled normal
        assert np.abs(w).max() <= 2 * np.sqrt(variance) / 0.87962566103423978 + 1e-7


def test_simple_initializers_and_defaults():
    assert init.Zeros()((2, 3)).numpy().sum() == 0.0
    np.testing.assert_array_equal(init.Ones()((2,)).numpy(), [1.0, 1.0])
    np.testing.assert_array_equal(init.Constant(3.5)((2,)).numpy(), [3.5, 3.5])
    w = init.RandomUniform(seed=0)((4000,)).numpy()
    assert w.min() >= -0.05 and w.max() < 0.05  # Keras defaults minval=-0.05, maxval=0.05
    n = init.RandomNormal(seed=0)((20000,)).numpy()
    assert abs(n.std() - 0.05) < 0.002
    t = init.TruncatedNormal(seed=0)((20000,)).numpy()
    assert np.abs(t).max() <= 0.1 + 1e-7
    np.testing.assert_array_equal(init.Identity(gain=2.0)((2, 3)).numpy(), 2 * np.eye(2, 3))
    assert init.Zeros()((2,)).dtype == "float32"
    assert init.Ones()((2,), dtype="float64").dtype == "float64"


@pytest.mark.parametrize("shape", [(6, 4), (4, 6), (3, 2, 5)])
def test_orthogonal(shape):
    w = init.Orthogonal(gain=1.0, seed=3)(shape, dtype="float64").numpy().reshape(-1, shape[-1])
    gram = w.T @ w if w.shape[0] >= w.shape[1] else w @ w.T
    np.testing.assert_allclose(gram, np.eye(gram.shape[0]), atol=1e-10)


def test_seeding_rules():
    a = init.GlorotUniform(seed=5)((3, 3)).numpy()
    np.testing.assert_array_equal(init.GlorotUniform(seed=5)((3, 3)).numpy(), a)  # seeded: same every call
    assert not np.array_equal(init.GlorotUniform(seed=6)((3, 3)).numpy(), a)
    fg.utils.set_random_seed(11)
    first = [init.HeNormal()((3,)).numpy() for _ in range(2)]
    fg.utils.set_random_seed(11)
    second = [init.HeNormal()((3,)).numpy() for _ in range(2)]
    for x, y in zip(first, second):
        np.testing.assert_array_equal(x, y)
    assert not np.array_equal(first[0], first[1])  # unseeded calls differ from each other


def test_get_and_errors():
    assert isinstance(init.get("he_normal"), init.HeNormal)
    assert isinstance(init.get("GlorotUniform"), init.GlorotUniform)
    custom = init.Constant(2.0)
    assert init.get(custom) is custom
    with pytest.raises(ValueError, match="valid names are:.*glorot_uniform"):
        init.get("glorot")
    with pytest.raises(ValueError, match="minval < maxval"):
        init.RandomUniform(1.0, -1.0)((2,))
    with pytest.raises(ValueError, match="2-D"):
        init.Identity()((2, 2, 2))
    with pytest.raises(ValueError, match="mode"):
        init.VarianceScaling(mode="fan_sideways")((2, 2))
    assert init.HeNormal(seed=3).get_config() == {"seed": 3}
    assert init.VarianceScaling.from_config(init.VarianceScaling(2.0).get_config()).scale == 2.0
