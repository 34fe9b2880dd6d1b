//! napi's link setup, and which of tract-node's x86-64 kernel tiers the build machine runs: its
//! tests run one case per tier and report the tiers the CPU lacks as ignored
//! (`crate::cpu::test_each_tier`), which needs the answer when they are compiled.

fn main() {
  napi_build::setup();
  println!("cargo::rerun-if-changed=build.rs");
  println!("cargo::rustc-check-cfg=cfg(tract_node_cpu_avx512, tract_node_cpu_avx2)");
  let native = std::env::var("HOST").ok() == std::env::var("TARGET").ok();
  for tier in native.then(host_x86_64_tiers).into_iter().flatten() {
    println!("cargo::rustc-cfg=tract_node_cpu_{tier}");
  }
}

/// The x86-64 tiers the machine running this build has.
fn host_x86_64_tiers() -> Vec<&'static str> {
  #[cfg(target_arch = "x86_64")]
  {
    use std::arch::is_x86_feature_detected as has;
    let avx2 = has!("avx2") && has!("fma");
    let avx512 = avx2 && has!("avx512f");
    [(avx512, "avx512"), (avx2, "avx2")]
      .into_iter()
      .filter(|(has, _)| *has)
      .map(|(_, t)| t)
      .collect()
  }
  #[cfg(not(target_arch = "x86_64"))]
  Vec::new()
}
