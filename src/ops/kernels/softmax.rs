//! Softmax and LogSoftmax of `[outer, n, inner]` blocks along `n` (`crate::ops::rewrite::softmax`),
//! with the reductions running along contiguous `inner` lanes and a polynomial `exp` (relative
//! error < 3e-7) the compiler vectorises for each tier.

use crate::cpu::Tier;

/// Softmax (or LogSoftmax) along `n` of every `[n, inner]` block of `data`, in place, compiled for
/// `tier`.
///
/// # Safety
/// The CPU runs `tier`.
pub unsafe fn softmax(tier: Tier, data: &mut [f32], n: usize, inner: usize, log: bool) {
  // SAFETY (each arm): as the caller guarantees.
  match tier {
    #[cfg(target_arch = "x86_64")]
    Tier::Avx512 => unsafe { softmax_avx512(data, n, inner, log) },
    #[cfg(target_arch = "x86_64")]
    Tier::Avx2 => unsafe { softmax_avx2(data, n, inner, log) },
    _ => softmax_blocks(data, n, inner, log),
  }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn softmax_avx512(data: &mut [f32], n: usize, inner: usize, log: bool) {
  softmax_blocks(data, n, inner, log)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn softmax_avx2(data: &mut [f32], n: usize, inner: usize, log: bool) {
  softmax_blocks(data, n, inner, log)
}

/// [`softmax`], for whichever instructions the caller is compiled for.
#[inline(always)]
fn softmax_blocks(data: &mut [f32], n: usize, inner: usize, log: bool) {
  if n > 0 && inner > 0 {
    for block in data.chunks_exact_mut(n * inner) {
      softmax_block(block, inner, log);
    }
  }
}

/// One `[n, inner]` block (`n` rows of `inner` lanes), softmax along `n`, in place.
#[inline(always)]
fn softmax_block(block: &mut [f32], inner: usize, log: bool) {
  if inner == 1 {
    return softmax_row(block, log);
  }
  let mut max = block[..inner].to_vec();
  for row in block.chunks_exact(inner).skip(1) {
    max.iter_mut().zip(row).for_each(|(m, &x)| *m = if x > *m || x.is_nan() { x } else { *m });
  }
  let mut sum = vec![0f32; inner];
  for row in block.chunks_exact_mut(inner) {
    for ((x, m), s) in row.iter_mut().zip(&max).zip(&mut sum) {
      let shifted = *x - m;
      let e = exp(shifted);
      *s += e;
      *x = if log { shifted } else { e };
    }
  }
  for row in block.chunks_exact_mut(inner) {
    if log {
      row.iter_mut().zip(&sum).for_each(|(x, s)| *x -= s.ln());
    } else {
      row.iter_mut().zip(&sum).for_each(|(x, s)| *x /= s);
    }
  }
}

/// One contiguous row, in place (separate passes, so the `exp` pass vectorises).
#[inline(always)]
fn softmax_row(row: &mut [f32], log: bool) {
  let max =
    row.iter().copied().fold(f32::NEG_INFINITY, |m, x| if x > m || x.is_nan() { x } else { m });
  if log {
    row.iter_mut().for_each(|x| *x -= max);
    let log_sum = row.iter().map(|&x| exp(x)).sum::<f32>().ln();
    row.iter_mut().for_each(|x| *x -= log_sum);
  } else {
    row.iter_mut().for_each(|x| *x = exp(*x - max));
    let sum: f32 = row.iter().sum();
    row.iter_mut().for_each(|x| *x /= sum);
  }
}

/// `e^x` for f32: range reduction to `x = k·ln 2 + r`, `|r| ≤ ln 2 / 2`, a degree-6 polynomial
/// for `e^r`, and `2^k` through the exponent bits. For `x ≤ 88.3` (softmax feeds it `x − max ≤ 0`):
/// 0 below −87.3, NaN stays NaN.
#[inline(always)]
fn exp(x: f32) -> f32 {
  const LN2_HI: f32 = 0.693_145_75;
  const LN2_LO: f32 = 1.428_606_8e-6;
  // Adding and subtracting 1.5 · 2²³ rounds to the nearest integer without a libm call.
  const ROUND: f32 = 12_582_912.0;
  let clamped = x.clamp(-87.3, 88.3); // NaN stays NaN, and so does the result
  let k = (clamped * std::f32::consts::LOG2_E + ROUND) - ROUND;
  let r = clamped - k * LN2_HI - k * LN2_LO;
  let p = 1.0
    + r
      * (1.0
        + r * (0.5 + r * (1.0 / 6.0 + r * (1.0 / 24.0 + r * (1.0 / 120.0 + r * (1.0 / 720.0))))));
  let scaled = p * f32::from_bits(((k as i32 + 127) << 23) as u32);
  if x < -87.3 {
    0.0
  } else {
    scaled
  }
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn exp_is_within_3e7_relative() {
    for i in -8700..=8800 {
      let x = i as f32 / 100.0;
      let (fast, exact) = (exp(x), (x as f64).exp());
      assert!(((fast as f64 - exact) / exact).abs() < 3e-7, "exp({x}) = {fast}, expected {exact}");
    }
    assert_eq!(exp(f32::NEG_INFINITY), 0.0);
    assert!(exp(f32::NAN).is_nan());
  }

  crate::cpu::test_each_tier! {
    fn softmaxes_equal_the_definition(tier: Tier) {
      // [2, 3, 2]: softmax along axis 1, lanes of 2; then rows of 37 (inner 1).
      for (n, inner, outer) in [(3, 2, 2), (37, 1, 3)] {
        let data: Vec<f32> = (0..n * inner * outer).map(|i| ((i * 7) % 5) as f32 - 2.0).collect();
        for log in [false, true] {
          let mut got = data.clone();
          // SAFETY: the CPU runs the tier (the test is skipped otherwise).
          unsafe { softmax(tier, &mut got, n, inner, log) };
          for (block, lane) in (0..outer).flat_map(|o| (0..inner).map(move |l| (o, l))) {
            let at = |k: usize| block * n * inner + k * inner + lane;
            let total: f64 = (0..n).map(|k| (data[at(k)] as f64).exp()).sum();
            for k in 0..n {
              let p = (data[at(k)] as f64).exp() / total;
              let want = if log { p.ln() } else { p };
              assert!((got[at(k)] as f64 - want).abs() < 1e-6, "{n}×{inner}, log {log}");
            }
          }
        }
      }
    }
  }
}
