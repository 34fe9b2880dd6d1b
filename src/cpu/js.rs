//! JS export of the CPU's kernel tier.

use napi_derive::napi;

/// Which of tract-node's kernels run on this CPU.
#[napi(object, object_from_js = false)]
pub struct CpuInfo {
  /// The tier in use: the best this CPU runs, or the one `TRACT_NODE_CPU` names.
  #[napi(ts_type = "CpuTier")]
  pub tier: String,
  /// Every tier this CPU runs, best first.
  #[napi(ts_type = "CpuTier[]")]
  pub supported: Vec<String>,
  /// What `TRACT_NODE_CPU` asked for, when it is set.
  pub requested: Option<String>,
  /// Why `TRACT_NODE_CPU` was not followed, when it was not (a tier this CPU lacks, or an
  /// unknown name).
  pub ignored: Option<String>,
  /// The instruction-set features found (`avx2`, `fma`, `avx512f`, `fp16`, `dotprod`, …).
  pub features: Vec<String>,
}

/// The CPU's kernel tier and instruction-set features, as tract-node uses them.
#[napi]
pub fn cpu_info() -> CpuInfo {
  let selection = super::selection();
  CpuInfo {
    tier: selection.tier.name().into(),
    supported: super::supported().iter().map(|tier| tier.name().into()).collect(),
    requested: selection.requested.clone(),
    ignored: selection.ignored.clone(),
    features: super::features().names().iter().map(|&name| name.into()).collect(),
  }
}
