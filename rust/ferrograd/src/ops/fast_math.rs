//! Branch-free `exp`, `sigmoid` and `tanh` for `f32` that the compiler vectorizes.
//!
//! Why: an LSTM step evaluates five sigmoids/tanhs per unit and sample; through libm's scalar
//! `expf`/`tanhf` they took a quarter of an LSTM's training time (measured with `perf`). The
//! polynomials below run eight lanes at a time (in a kernel compiled for AVX2, see
//! [`simd_available`]) and stay within a few ulp in the ranges that matter. `f64` keeps the exact libm functions: gradient checks run in `f64`.
//!
//! Sources: `exp` is Cephes's `expf` (range reduction by `ln 2` split in two parts, degree-6
//! polynomial); `tanh` is Eigen's `generic_fast_tanh_float` (a 13/6 rational approximation on
//! `[-7.9, 7.9]`, exact to float precision and `±1` beyond).

use crate::tensor::{DType, Element};

/// `a * b + c`: one fused multiply-add when `FMA` (a single rounding; the kernels compiled for
/// AVX2 + FMA pass `true`, see [`simd_available`]), a multiply and an add otherwise. The fused
/// form halves the instructions of the polynomials below (exp of 2^22 floats: ~1.6x faster)
/// but changes their last bits, so results differ in the last ulp between CPUs with and
/// without FMA, as numpy's and PyTorch's SIMD paths do; everything in the baseline build (and
/// every f64 path) is unchanged.
#[inline(always)]
fn madd<const FMA: bool>(a: f32, b: f32, c: f32) -> f32 {
    if FMA {
        a.mul_add(b, c)
    } else {
        a * b + c
    }
}

/// `e^x` for `f32`, clamped to `[-87, 88]` so that `2^n` stays a normal float (below `-87` the
/// result is `~1.6e-38` instead of smaller; above `88` it is `~1.65e38`, not infinity); with
/// fused multiply-adds when `FMA` (see [`madd`]).
#[inline(always)]
pub(crate) fn exp_f32_with<const FMA: bool>(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    // ln 2 = LN2_HI + LN2_LO, with LN2_HI exact in a few bits so `n * LN2_HI` is exact.
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    // 1.5 * 2^23: adding it rounds to the nearest integer (the default rounding mode).
    const ROUND: f32 = 12_582_912.0;
    let x = x.clamp(-87.0, 88.0);
    let t = madd::<FMA>(x, LOG2E, ROUND);
    let n = t - ROUND;
    // n as an integer, read from t's low mantissa bits (t = ROUND + n exactly). `n as i32`
    // (a saturating conversion) kept the whole function from vectorizing: 4x slower.
    let n_int = (t.to_bits() as i32).wrapping_sub(ROUND.to_bits() as i32);
    let r = if FMA {
        madd::<true>(-n, LN2_LO, madd::<true>(-n, LN2_HI, x))
    } else {
        x - n * LN2_HI - n * LN2_LO
    };
    let mut p = 1.987_569_2e-4_f32;
    p = madd::<FMA>(p, r, 1.398_199_9e-3);
    p = madd::<FMA>(p, r, 8.333_452e-3);
    p = madd::<FMA>(p, r, 4.166_579_6e-2);
    p = madd::<FMA>(p, r, 1.666_666_5e-1);
    p = madd::<FMA>(p, r, 5e-1);
    let y = madd::<FMA>(p * r, r, r) + 1.0;
    // 2^n from its exponent bits; n is in [-126, 127] after the clamp.
    y * f32::from_bits(((n_int + 127) as u32) << 23)
}

/// `1 / (1 + e^-x)` for `f32`; relative error a few ulp wherever the result is a normal float.
#[inline(always)]
pub(crate) fn sigmoid_f32(x: f32) -> f32 {
    sigmoid_f32_with::<false>(x)
}

/// [`sigmoid_f32`], with fused multiply-adds when `FMA`.
#[inline(always)]
pub(crate) fn sigmoid_f32_with<const FMA: bool>(x: f32) -> f32 {
    1.0 / (1.0 + exp_f32_with::<FMA>(-x))
}

/// `tanh` for `f32` (Eigen's rational approximation); odd, exact near 0, `±1` beyond `±7.9`.
#[inline(always)]
pub(crate) fn tanh_f32(a: f32) -> f32 {
    tanh_f32_with::<false>(a)
}

/// [`tanh_f32`], with fused multiply-adds when `FMA`.
#[inline(always)]
pub(crate) fn tanh_f32_with<const FMA: bool>(a: f32) -> f32 {
    let x = a.clamp(-7.905_311, 7.905_311);
    let x2 = x * x;
    let mut p = -2.760_768_5e-16_f32;
    p = madd::<FMA>(p, x2, 2.000_188e-13);
    p = madd::<FMA>(p, x2, -8.604_672e-11);
    p = madd::<FMA>(p, x2, 5.122_297e-8);
    p = madd::<FMA>(p, x2, 1.485_722_4e-5);
    p = madd::<FMA>(p, x2, 6.372_619_3e-4);
    p = madd::<FMA>(p, x2, 4.893_524_6e-3);
    p *= x;
    let mut q = 1.198_258_4e-6_f32;
    q = madd::<FMA>(q, x2, 1.185_347e-4);
    q = madd::<FMA>(q, x2, 2.268_434_6e-3);
    q = madd::<FMA>(q, x2, 4.893_525e-3);
    // Below 4e-4, tanh(x) rounds to x in f32; the quotient could be off by an ulp there. At
    // the clamp the quotient is exactly ±1 without FMA but an ulp short of it with: saturate
    // explicitly, as tanh(800) must be 1.
    if a.abs() < 4e-4 {
        a
    } else if a.abs() >= 7.905_311 {
        1.0f32.copysign(a)
    } else {
        p / q
    }
}

/// The logistic sigmoid: the polynomial for `f32`, the stable exact form for `f64`.
#[inline(always)]
pub(crate) fn sigmoid<F: Element>(v: F) -> F {
    if F::DTYPE == DType::F32 {
        let x = v.to_f32().expect("f32");
        F::from_f32(sigmoid_f32(x)).expect("f32")
    } else if v >= F::zero() {
        // Never exponentiate a large positive number.
        F::one() / (F::one() + (-v).exp())
    } else {
        let e = v.exp();
        e / (F::one() + e)
    }
}

/// `tanh`: the rational approximation for `f32`, libm's for `f64`.
#[inline(always)]
pub(crate) fn tanh<F: Element>(v: F) -> F {
    if F::DTYPE == DType::F32 {
        let x = v.to_f32().expect("f32");
        F::from_f32(tanh_f32(x)).expect("f32")
    } else {
        v.tanh()
    }
}

/// Whether the CPU has AVX2 and FMA, for kernels that keep a copy compiled for them: the wheel
/// targets baseline x86-64, whose SSE2 has 4-lane floats and no FMA. Such a copy is a
/// `#[target_feature(enable = "avx2,fma")]` function calling an `#[inline(always)]` kernel
/// (closures would not inherit the features).
#[cfg(target_arch = "x86_64")]
#[inline]
pub(crate) fn simd_available() -> bool {
    std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Points across the range, dense near 0 where relative errors show.
    fn grid() -> Vec<f32> {
        let mut points: Vec<f32> = (-20_000..=20_000).map(|i| i as f32 * 1e-3).collect();
        points.extend((-2000..=2000).map(|i| i as f32 * 1e-6));
        points.extend([-100.0, -88.5, 88.5, 100.0, 1e-30, -1e-30, 0.0]);
        points
    }

    #[test]
    fn fast_math_exp_is_accurate_to_a_few_ulp() {
        // Both forms: separate multiplies and adds, and fused (here through libm's `fmaf`).
        for exp in [exp_f32_with::<false>, exp_f32_with::<true>] {
            for x in (-8700..=8800).map(|i| i as f32 * 0.01) {
                let want = (x as f64).exp();
                let got = exp(x) as f64;
                assert!(
                    ((got - want) / want).abs() < 4e-7,
                    "exp({x}) = {got}, want {want}"
                );
            }
            assert!(exp(1000.0).is_finite() && exp(-1000.0) >= 0.0);
            assert!(exp(f32::NAN).is_nan());
        }
    }

    #[test]
    fn fast_math_sigmoid_and_tanh_match_f64() {
        for (sigmoid_f32, tanh_f32) in [
            (
                sigmoid_f32_with::<false> as fn(f32) -> f32,
                tanh_f32_with::<false> as fn(f32) -> f32,
            ),
            (sigmoid_f32_with::<true>, tanh_f32_with::<true>),
        ] {
            check_sigmoid_and_tanh(sigmoid_f32, tanh_f32);
        }
    }

    fn check_sigmoid_and_tanh(sigmoid_f32: fn(f32) -> f32, tanh_f32: fn(f32) -> f32) {
        for x in grid() {
            let xd = x as f64;
            let s_want = 1.0 / (1.0 + (-xd).exp());
            let s_got = sigmoid_f32(x) as f64;
            assert!(
                (s_got - s_want).abs() <= 4e-7 * s_want || (s_got - s_want).abs() < 1e-37,
                "sigmoid({x}) = {s_got}, want {s_want}"
            );
            let t_want = xd.tanh();
            let t_got = tanh_f32(x) as f64;
            // At most ~7 ulp (the worst case is the clamp at 7.9, where tanh = 1 - 4e-7).
            assert!(
                (t_got - t_want).abs() <= 5e-7 * t_want.abs(),
                "tanh({x}) = {t_got}, want {t_want}"
            );
        }
        assert!(sigmoid_f32(f32::NAN).is_nan() && tanh_f32(f32::NAN).is_nan());
        // Saturated exactly from the clamp on, with or without FMA.
        for x in [7.905_311f32, 8.0, 800.0, f32::INFINITY] {
            assert_eq!((tanh_f32(x), tanh_f32(-x)), (1.0, -1.0), "tanh(±{x})");
        }
    }

    #[test]
    fn fast_math_generic_wrappers_pick_exact_f64() {
        assert_eq!(sigmoid(0.3f64), 1.0 / (1.0 + (-0.3f64).exp()));
        assert_eq!(tanh(0.3f64), 0.3f64.tanh());
        assert_eq!(tanh(0.5f32), tanh_f32(0.5));
    }
}
