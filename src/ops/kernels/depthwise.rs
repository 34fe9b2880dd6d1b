//! One output row of a depthwise convolution (`crate::ops::rewrite::depthwise`): the bias plus, for
//! each tap, its weight times its values, a block of consecutive outputs at a time kept in
//! registers while every tap is accumulated.

#[cfg(target_arch = "x86_64")]
use super::simd::{Avx2, Avx512, Simd};
use crate::cpu::Tier;

/// Output columns a block covers (the portable and AVX2 kernels; the AVX-512 kernel takes up to
/// 128 at once, in registers of 16). Each tap's values run at least to the end of the output's
/// last whole block.
pub const BLOCK: usize = 32;

/// One tap of a kernel on an output row: the values it reads, from the row's first output on, and
/// its weight.
pub type Tap<'a> = (&'a [f32], f32);

/// Writes one output row: `bias` plus, for each tap, its weight times its values.
///
/// # Safety
/// The CPU runs `tier`.
pub unsafe fn accumulate_row(tier: Tier, taps: &[Tap], bias: f32, out: &mut [f32]) {
  // SAFETY (each arm): as the caller guarantees.
  match tier {
    #[cfg(target_arch = "x86_64")]
    Tier::Avx512 => unsafe { accumulate_row_avx512(taps, bias, out) },
    #[cfg(target_arch = "x86_64")]
    Tier::Avx2 => unsafe { accumulate_row_avx2(taps, bias, out) },
    _ => accumulate_row_portable(taps, bias, out),
  }
}

/// [`accumulate_row`] in plain Rust, which the compiler vectorises for the target's baseline (SSE2
/// on x86-64, NEON on aarch64).
fn accumulate_row_portable(taps: &[Tap], bias: f32, out: &mut [f32]) {
  for (start, out) in (0..).step_by(BLOCK).zip(out.chunks_mut(BLOCK)) {
    let mut sums = [bias; BLOCK];
    for &(values, weight) in taps {
      for (sum, &value) in sums.iter_mut().zip(&values[start..start + BLOCK]) {
        *sum += value * weight;
      }
    }
    out.copy_from_slice(&sums[..out.len()]);
  }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn accumulate_row_avx2(taps: &[Tap], bias: f32, out: &mut [f32]) {
  // SAFETY: this function has the features `Avx2` needs.
  unsafe { accumulate_blocks::<Avx2, { BLOCK / 8 }>(taps, bias, out) }
}

/// On 16-lane registers: up to 128 columns at a time, one register per 16 (the last one partial),
/// so that up to 8 independent sums hide the multiply-add latency.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn accumulate_row_avx512(taps: &[Tap], bias: f32, out: &mut [f32]) {
  // SAFETY: this function has the features `Avx512` needs.
  unsafe { accumulate_blocks::<Avx512, 8>(taps, bias, out) }
}

/// The row in blocks of up to `N` registers, the block's registers kept over every tap.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn accumulate_blocks<S: Simd, const N: usize>(taps: &[Tap], bias: f32, out: &mut [f32]) {
  let wide = N * S::LANES;
  for (start, out) in (0..).step_by(wide).zip(out.chunks_mut(wide)) {
    // SAFETY (all arms): the caller's function is compiled for the tier.
    unsafe {
      match out.len().div_ceil(S::LANES) {
        1 => registers::<S, 1>(taps, bias, start, out),
        2 => registers::<S, 2>(taps, bias, start, out),
        3 => registers::<S, 3>(taps, bias, start, out),
        4 => registers::<S, 4>(taps, bias, start, out),
        5 => registers::<S, 5>(taps, bias, start, out),
        6 => registers::<S, 6>(taps, bias, start, out),
        7 => registers::<S, 7>(taps, bias, start, out),
        _ => registers::<S, 8>(taps, bias, start, out),
      }
    }
  }
}

/// The `out.len()` columns (from `LANES · (N − 1) + 1` to `LANES · N`) of a row from column
/// `start` on, in `N` registers.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn registers<S: Simd, const N: usize>(
  taps: &[Tap],
  bias: f32,
  start: usize,
  out: &mut [f32],
) {
  let last = out.len() - (N - 1) * S::LANES;
  // SAFETY (all intrinsics): the caller's function is compiled for the tier; every load reads
  // within `values` (`out.len()` values), every store writes within `out`.
  unsafe {
    let mut sums = [S::splat(bias); N];
    for &(values, weight) in taps {
      let values = &values[start..start + out.len()];
      let weight = S::splat(weight);
      for (register, sum) in sums.iter_mut().enumerate() {
        let from = values.as_ptr().add(register * S::LANES);
        let count = if register + 1 < N { S::LANES } else { last };
        *sum = S::mul_add(S::load_up_to(from, count), weight, *sum);
      }
    }
    for (register, sum) in sums.iter().enumerate() {
      let count = if register + 1 < N { S::LANES } else { last };
      S::store_up_to(out.as_mut_ptr().add(register * S::LANES), count, *sum);
    }
  }
}

#[cfg(test)]
mod tests {
  use super::*;

  fn value(i: usize) -> f32 {
    ((i * 7919) % 101) as f32 / 50.0 - 1.0
  }

  crate::cpu::test_each_tier! {
    fn every_row_kernel_sums_the_taps(tier: Tier) {
      let values: Vec<f32> = (0..400).map(value).collect();
      let taps: Vec<Tap> = (0..7).map(|t| (&values[t * 3..], value(t + 500))).collect();
      for width in [1, 7, 8, 9, 15, 16, 17, 32, 80, 128, 129, 200, 257] {
        let want: Vec<f64> = (0..width)
          .map(|x| taps.iter().map(|(v, w)| v[x] as f64 * *w as f64).sum::<f64>() + 0.25)
          .collect();
        let mut out = vec![f32::NAN; width + 1];
        // SAFETY: the CPU runs the tier (the test is skipped otherwise).
        unsafe { accumulate_row(tier, &taps, 0.25, &mut out[..width]) };
        for (got, want) in out.iter().zip(&want) {
          assert!((*got as f64 - want).abs() < 1e-5, "{width} columns: {got} vs {want}");
        }
        assert!(out[width].is_nan(), "wrote past {width} columns");
      }
    }
  }
}
