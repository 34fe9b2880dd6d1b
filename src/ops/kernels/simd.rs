//! f32 vector registers of each tier, behind one trait, so that a kernel is written once and
//! compiled for every tier that runs it.
//!
//! A kernel is a generic `#[inline(always)]` function over [`Simd`]; each tier's entry point is a
//! thin function compiled for that tier's instruction sets (`#[target_feature]`) that calls it with
//! the tier's type. The trait's methods are `#[inline(always)]` too, so the intrinsics end up
//! inlined into a function compiled with the features they need (as `memchr` does with its
//! vector types). Calling an entry point is only sound on a CPU that has its tier: the rewrites
//! pick a kernel through `crate::cpu::Tier`, which says so.
//!
//! Keep a kernel's sums in plain arrays walked by `for` loops: behind iterator adaptors such as
//! `flatten`, LLVM kept a copy of them in memory, stored at every step (a third of the speed).
//!
//! x86-64 only. On aarch64 the register-tiled products and convolutions stay with tract's NEON
//! assembly kernels, tuned per core family, which no machine here can measure against; the
//! other kernels are plain Rust the compiler vectorises for NEON.

/// A tier's f32 vector register and the operations kernels use on it.
///
/// # Safety
/// Every method is an intrinsic of the tier's instruction sets: call them only from a function
/// compiled with those features (see the module doc), on a CPU that has them. Pointers must be
/// valid for the lanes read or written.
pub trait Simd: Copy {
  /// f32 values per register.
  const LANES: usize;
  /// The register.
  type V: Copy;

  unsafe fn zero() -> Self::V;
  unsafe fn splat(value: f32) -> Self::V;
  unsafe fn load(from: *const f32) -> Self::V;
  /// The first `count` values (fewer than [`Simd::LANES`]); the other lanes are zero and their
  /// memory is not read.
  unsafe fn load_first(from: *const f32, count: usize) -> Self::V;
  unsafe fn store(to: *mut f32, value: Self::V);
  /// Stores the first `count` lanes (fewer than [`Simd::LANES`]) and writes nothing past them.
  unsafe fn store_first(to: *mut f32, count: usize, value: Self::V);
  /// `a · b + c`, fused where the tier has fused multiply-adds.
  unsafe fn mul_add(a: Self::V, b: Self::V, c: Self::V) -> Self::V;
  unsafe fn add(a: Self::V, b: Self::V) -> Self::V;
  /// The larger of each pair of lanes; `b` where either is NaN, as x86's `max` instructions give.
  unsafe fn max(a: Self::V, b: Self::V) -> Self::V;

  /// Every lane of `value`, in order, as the first [`Simd::LANES`] values of an array.
  #[inline(always)]
  unsafe fn lanes(value: Self::V) -> [f32; MAX_LANES] {
    let mut lanes = [0f32; MAX_LANES];
    // SAFETY: `lanes` holds MAX_LANES ≥ LANES values.
    unsafe { Self::store(lanes.as_mut_ptr(), value) };
    lanes
  }

  /// Loads `count` values (at most [`Simd::LANES`]): every lane, or the first `count`.
  #[inline(always)]
  unsafe fn load_up_to(from: *const f32, count: usize) -> Self::V {
    // SAFETY: as the caller guarantees for `count` values.
    unsafe {
      if count >= Self::LANES {
        Self::load(from)
      } else {
        Self::load_first(from, count)
      }
    }
  }

  /// Stores `count` lanes (at most [`Simd::LANES`]): every lane, or the first `count`.
  #[inline(always)]
  unsafe fn store_up_to(to: *mut f32, count: usize, value: Self::V) {
    // SAFETY: as the caller guarantees for `count` values.
    unsafe {
      if count >= Self::LANES {
        Self::store(to, value)
      } else {
        Self::store_first(to, count, value)
      }
    }
  }
}

/// The most lanes any tier's register holds.
pub const MAX_LANES: usize = 16;

#[cfg(target_arch = "x86_64")]
pub use x86_64::{Avx2, Avx512};

#[cfg(target_arch = "x86_64")]
mod x86_64 {
  use std::arch::x86_64::*;

  use super::Simd;

  /// AVX-512F: 16 lanes, masked loads and stores.
  #[derive(Clone, Copy, Debug)]
  pub struct Avx512;

  /// The mask of the first `count` lanes of 16.
  #[inline(always)]
  fn first_lanes_16(count: usize) -> __mmask16 {
    ((1u32 << count.min(16)) - 1) as __mmask16
  }

  // SAFETY (every method): AVX-512F intrinsics, called as the trait requires.
  impl Simd for Avx512 {
    const LANES: usize = 16;
    type V = __m512;

    #[inline(always)]
    unsafe fn zero() -> __m512 {
      unsafe { _mm512_setzero_ps() }
    }
    #[inline(always)]
    unsafe fn splat(value: f32) -> __m512 {
      unsafe { _mm512_set1_ps(value) }
    }
    #[inline(always)]
    unsafe fn load(from: *const f32) -> __m512 {
      unsafe { _mm512_loadu_ps(from) }
    }
    #[inline(always)]
    unsafe fn load_first(from: *const f32, count: usize) -> __m512 {
      unsafe { _mm512_maskz_loadu_ps(first_lanes_16(count), from) }
    }
    #[inline(always)]
    unsafe fn store(to: *mut f32, value: __m512) {
      unsafe { _mm512_storeu_ps(to, value) }
    }
    #[inline(always)]
    unsafe fn store_first(to: *mut f32, count: usize, value: __m512) {
      unsafe { _mm512_mask_storeu_ps(to, first_lanes_16(count), value) }
    }
    #[inline(always)]
    unsafe fn mul_add(a: __m512, b: __m512, c: __m512) -> __m512 {
      unsafe { _mm512_fmadd_ps(a, b, c) }
    }
    #[inline(always)]
    unsafe fn add(a: __m512, b: __m512) -> __m512 {
      unsafe { _mm512_add_ps(a, b) }
    }
    #[inline(always)]
    unsafe fn max(a: __m512, b: __m512) -> __m512 {
      unsafe { _mm512_max_ps(a, b) }
    }
  }

  /// AVX2 with FMA: 8 lanes; partial loads and stores through lane masks.
  #[derive(Clone, Copy, Debug)]
  pub struct Avx2;

  /// Eight all-ones lanes then eight zero ones: the mask of the first `count` lanes starts
  /// `8 - count` lanes in.
  static FIRST_LANES_8: [i32; 16] = [-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0];

  #[inline(always)]
  unsafe fn first_lanes_8(count: usize) -> __m256i {
    // SAFETY: `8 - min(count, 8)` is at most 8, so 8 values follow it in the table.
    unsafe { _mm256_loadu_si256(FIRST_LANES_8.as_ptr().add(8 - count.min(8)).cast()) }
  }

  // SAFETY (every method): AVX2 and FMA intrinsics, called as the trait requires.
  impl Simd for Avx2 {
    const LANES: usize = 8;
    type V = __m256;

    #[inline(always)]
    unsafe fn zero() -> __m256 {
      unsafe { _mm256_setzero_ps() }
    }
    #[inline(always)]
    unsafe fn splat(value: f32) -> __m256 {
      unsafe { _mm256_set1_ps(value) }
    }
    #[inline(always)]
    unsafe fn load(from: *const f32) -> __m256 {
      unsafe { _mm256_loadu_ps(from) }
    }
    #[inline(always)]
    unsafe fn load_first(from: *const f32, count: usize) -> __m256 {
      unsafe { _mm256_maskload_ps(from, first_lanes_8(count)) }
    }
    #[inline(always)]
    unsafe fn store(to: *mut f32, value: __m256) {
      unsafe { _mm256_storeu_ps(to, value) }
    }
    #[inline(always)]
    unsafe fn store_first(to: *mut f32, count: usize, value: __m256) {
      unsafe { _mm256_maskstore_ps(to, first_lanes_8(count), value) }
    }
    #[inline(always)]
    unsafe fn mul_add(a: __m256, b: __m256, c: __m256) -> __m256 {
      unsafe { _mm256_fmadd_ps(a, b, c) }
    }
    #[inline(always)]
    unsafe fn add(a: __m256, b: __m256) -> __m256 {
      unsafe { _mm256_add_ps(a, b) }
    }
    #[inline(always)]
    unsafe fn max(a: __m256, b: __m256) -> __m256 {
      unsafe { _mm256_max_ps(a, b) }
    }
  }
}
