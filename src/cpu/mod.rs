//! The CPU's instruction sets, detected once per process, and the kernel tier tract-node runs on.
//!
//! A tier names the instruction sets every hand-written kernel may use: AVX-512 (x86-64 with
//! `avx512f`, `avx2` and `fma`), AVX2 + FMA, NEON (every aarch64 CPU), and portable (Rust compiled
//! for the target's baseline). The best tier the CPU has is used, unless `TRACT_NODE_CPU` names a
//! lower one — for tests, and for users who hit a kernel bug. tract's own kernels are held to the
//! same tier through its `TRACT_CPU_ISA` knob, set before tract first asks which kernels the CPU
//! runs ([`tier`] is called before any model is loaded or optimised).
//!
//! This is the one place that asks the CPU what it has: kernels are picked through [`Tier`], never
//! by a feature check of their own.

use std::sync::OnceLock;

#[cfg(feature = "binding")]
pub mod js;

/// The environment variable that forces a lower tier.
pub const TIER_VARIABLE: &str = "TRACT_NODE_CPU";

/// A set of instruction sets tract-node's kernels are compiled for, from the most capable.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Tier {
  /// x86-64 with AVX-512F (and AVX2 and FMA, which every AVX-512 CPU has).
  Avx512,
  /// x86-64 with AVX2 and FMA.
  Avx2,
  /// aarch64 (Advanced SIMD is part of the architecture).
  Neon,
  /// The target's baseline: SSE2 on x86-64, NEON on aarch64, for code the compiler vectorises.
  Portable,
}

impl Tier {
  /// Every tier, most capable first.
  pub const ALL: [Tier; 4] = [Tier::Avx512, Tier::Avx2, Tier::Neon, Tier::Portable];

  /// The name `TRACT_NODE_CPU` and `cpuInfo()` use.
  pub fn name(self) -> &'static str {
    match self {
      Tier::Avx512 => "avx512",
      Tier::Avx2 => "avx2",
      Tier::Neon => "neon",
      Tier::Portable => "portable",
    }
  }

  /// The tier named `name` (as [`Tier::name`] spells it, in any case).
  pub fn from_name(name: &str) -> Option<Tier> {
    Tier::ALL.into_iter().find(|tier| tier.name().eq_ignore_ascii_case(name.trim()))
  }

  /// Whether this CPU runs the tier's kernels.
  pub fn is_supported(self) -> bool {
    supported().contains(&self)
  }

  /// The features tract's `TRACT_CPU_ISA` knob removes to keep tract's kernels on this tier:
  /// what the tier does not have, of what tract would otherwise use on this architecture.
  fn tract_isa_removals(self) -> Vec<&'static str> {
    const AVX512: [&str; 5] = ["avx512f", "avx512vnni", "avx512fp16", "amx-int8", "amx-bf16"];
    const AVX: [&str; 5] = ["avx", "avx2", "fma", "f16c", "avxvnni"];
    // aarch64's baseline is NEON, which tract's kernels need: only its extensions go.
    const ARM_EXTENSIONS: [&str; 5] = ["fp16", "dotprod", "sve2", "sme", "sme2"];
    match self {
      Tier::Avx512 | Tier::Neon => Vec::new(),
      Tier::Avx2 => AVX512.to_vec(),
      Tier::Portable if cfg!(target_arch = "x86_64") => [AVX512, AVX].concat(),
      Tier::Portable if cfg!(target_arch = "aarch64") => ARM_EXTENSIONS.to_vec(),
      Tier::Portable => Vec::new(),
    }
  }
}

impl std::fmt::Display for Tier {
  fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
    f.write_str(self.name())
  }
}

/// The tiers this CPU runs, most capable first (portable always last).
pub fn supported() -> &'static [Tier] {
  static SUPPORTED: OnceLock<Vec<Tier>> = OnceLock::new();
  SUPPORTED.get_or_init(|| {
    let features = features();
    let mut tiers = Vec::new();
    if features.has("avx512f") && features.has("avx2") && features.has("fma") {
      tiers.push(Tier::Avx512);
    }
    if features.has("avx2") && features.has("fma") {
      tiers.push(Tier::Avx2);
    }
    if cfg!(target_arch = "aarch64") {
      tiers.push(Tier::Neon);
    }
    tiers.push(Tier::Portable);
    tiers
  })
}

/// The tier tract-node's kernels (and tract's) run on in this process: the best this CPU has, or
/// the one `TRACT_NODE_CPU` names.
pub fn tier() -> Tier {
  selection().tier
}

/// How [`tier`] was chosen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selection {
  pub tier: Tier,
  /// What `TRACT_NODE_CPU` asked for, when set.
  pub requested: Option<String>,
  /// Why the request was not followed, when it was not.
  pub ignored: Option<String>,
}

/// The process's [`Selection`], made on the first call: `TRACT_NODE_CPU` read, and tract's
/// `TRACT_CPU_ISA` knob set to match.
pub fn selection() -> &'static Selection {
  static SELECTION: OnceLock<Selection> = OnceLock::new();
  SELECTION.get_or_init(|| {
    let requested = std::env::var(TIER_VARIABLE).ok().filter(|value| !value.trim().is_empty());
    let selection = select(requested.as_deref(), supported());
    if let Some(why) = &selection.ignored {
      eprintln!("tract-node: {TIER_VARIABLE}={}: {why}", requested.as_deref().unwrap_or(""));
    }
    hold_tract_to(selection.tier);
    selection
  })
}

/// The tier for a `requested` name on a CPU that runs the `supported` tiers (best first).
fn select(requested: Option<&str>, supported: &[Tier]) -> Selection {
  let best = supported[0];
  let Some(name) = requested else {
    return Selection { tier: best, requested: None, ignored: None };
  };
  let requested = Some(name.to_string());
  match Tier::from_name(name) {
    Some(tier) if supported.contains(&tier) => Selection { tier, requested, ignored: None },
    Some(tier) => {
      let why = format!("this CPU cannot run the {tier} tier; using {best}");
      Selection { tier: best, requested, ignored: Some(why) }
    }
    None => {
      let names: Vec<&str> = supported.iter().map(|tier| tier.name()).collect();
      let why = format!("unknown tier; this CPU runs {}; using {best}", names.join(", "));
      Selection { tier: best, requested, ignored: Some(why) }
    }
  }
}

/// Keeps tract's kernels on `tier`: removes what the tier lacks from the instruction sets tract
/// detects, after any edit the user made with `TRACT_CPU_ISA` themselves.
fn hold_tract_to(tier: Tier) {
  let removals = tier.tract_isa_removals();
  if removals.is_empty() {
    return;
  }
  let knob = &tract_linalg::knobs::TRACT_CPU_ISA;
  let mut spec: Vec<String> = knob.get().into_iter().collect();
  spec.extend(removals.iter().map(|feature| format!("-{feature}")));
  knob.set(Some(spec.join(",")));
}

/// Clears the upper halves of the AVX registers (`vzeroupper`), where the CPU has AVX.
///
/// tract's AVX-512 matrix-product kernels return with the upper halves of the registers they used
/// still set, and code compiled for baseline x86-64 (SSE instructions) that runs next on the thread
/// then pays a transition on some CPUs (on a Xeon, a copy after a convolution took 15 times as
/// long). The plans call this after each node.
pub fn clear_upper_vectors() {
  #[cfg(target_arch = "x86_64")]
  {
    static AVX: OnceLock<bool> = OnceLock::new();
    if *AVX.get_or_init(|| features().has("avx")) {
      // SAFETY: the CPU has AVX; `vzeroupper` only zeroes bits no Rust value lives in between
      // calls.
      unsafe { std::arch::x86_64::_mm256_zeroupper() }
    }
  }
}

/// The instruction-set features this CPU reports, by the names `is_x86_feature_detected!` and
/// `is_aarch64_feature_detected!` use.
#[derive(Debug, Clone, Default)]
pub struct Features(Vec<&'static str>);

impl Features {
  /// Whether the CPU has `feature`.
  pub fn has(&self, feature: &str) -> bool {
    self.0.contains(&feature)
  }

  /// Every feature found, in a fixed order.
  pub fn names(&self) -> &[&'static str] {
    &self.0
  }
}

/// The features of this CPU that tract-node and tract use, detected once.
pub fn features() -> &'static Features {
  static FEATURES: OnceLock<Features> = OnceLock::new();
  FEATURES.get_or_init(detect)
}

#[cfg(target_arch = "x86_64")]
fn detect() -> Features {
  use std::arch::is_x86_feature_detected as has;
  let found = [
    ("sse4.1", has!("sse4.1")),
    ("avx", has!("avx")),
    ("avx2", has!("avx2")),
    ("fma", has!("fma")),
    ("f16c", has!("f16c")),
    ("avx512f", has!("avx512f")),
    ("avx512bw", has!("avx512bw")),
    ("avx512vl", has!("avx512vl")),
    ("avx512vnni", has!("avx512vnni")),
  ];
  Features(found.into_iter().filter(|(_, has)| *has).map(|(name, _)| name).collect())
}

#[cfg(target_arch = "aarch64")]
fn detect() -> Features {
  use std::arch::is_aarch64_feature_detected as has;
  let found = [
    ("neon", has!("neon")),
    ("fp16", has!("fp16")),
    ("dotprod", has!("dotprod")),
    ("i8mm", has!("i8mm")),
    ("sve2", has!("sve2")),
  ];
  Features(found.into_iter().filter(|(_, has)| *has).map(|(name, _)| name).collect())
}

#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
fn detect() -> Features {
  Features::default()
}

/// Declares a test that runs `check(tier)` once per tier, as tests named after the tiers
/// (`…::avx2`, `…::portable`): those of another architecture are not compiled, and those this CPU
/// lacks are reported as ignored by the test runner, never passed. Which x86-64 tiers the CPU has
/// is read by the build script (`cfg(tract_node_cpu_avx512)`, `cfg(tract_node_cpu_avx2)`), since a
/// test binary runs where it is built; a binary run on a CPU without a tier its build machine had
/// fails.
#[cfg(test)]
macro_rules! test_each_tier {
  ($(#[$meta:meta])* fn $name:ident($tier:ident: Tier) $body:block) => {
    $(#[$meta])*
    mod $name {
      #[allow(unused_imports)]
      use super::*;

      fn check($tier: $crate::cpu::Tier) $body

      #[test]
      #[cfg(target_arch = "x86_64")]
      #[cfg_attr(not(tract_node_cpu_avx512), ignore = "this CPU has no AVX-512")]
      fn avx512() {
        check($crate::cpu::Tier::Avx512.expect_supported())
      }

      #[test]
      #[cfg(target_arch = "x86_64")]
      #[cfg_attr(not(tract_node_cpu_avx2), ignore = "this CPU has no AVX2 + FMA")]
      fn avx2() {
        check($crate::cpu::Tier::Avx2.expect_supported())
      }

      #[test]
      #[cfg(target_arch = "aarch64")]
      fn neon() {
        check($crate::cpu::Tier::Neon.expect_supported())
      }

      #[test]
      fn portable() {
        check($crate::cpu::Tier::Portable)
      }
    }
  };
}
#[cfg(test)]
pub(crate) use test_each_tier;

#[cfg(test)]
impl Tier {
  /// The tier, which a test is about to run: fails when the CPU lacks it.
  pub fn expect_supported(self) -> Tier {
    assert!(
      self.is_supported(),
      "this test binary was built on a CPU with the {self} tier, and this one lacks it: rebuild it"
    );
    self
  }
}

#[cfg(test)]
mod tests {
  use super::*;

  const AVX512_MACHINE: &[Tier] = &[Tier::Avx512, Tier::Avx2, Tier::Portable];

  #[test]
  fn the_best_tier_applies_unless_a_supported_one_is_requested() {
    assert_eq!(select(None, AVX512_MACHINE).tier, Tier::Avx512);
    let forced = select(Some("AVX2"), AVX512_MACHINE);
    assert_eq!((forced.tier, forced.ignored), (Tier::Avx2, None));
    assert_eq!(select(Some(" portable "), AVX512_MACHINE).tier, Tier::Portable);
  }

  #[test]
  fn a_tier_the_cpu_lacks_or_an_unknown_name_is_ignored_with_the_reason() {
    let avx2_machine = &[Tier::Avx2, Tier::Portable];
    let higher = select(Some("avx512"), avx2_machine);
    assert_eq!(higher.tier, Tier::Avx2);
    assert_eq!(higher.ignored.as_deref(), Some("this CPU cannot run the avx512 tier; using avx2"));
    let unknown = select(Some("sse9"), avx2_machine);
    assert_eq!(unknown.tier, Tier::Avx2);
    assert_eq!(
      unknown.ignored.as_deref(),
      Some("unknown tier; this CPU runs avx2, portable; using avx2")
    );
  }

  #[test]
  fn every_machine_runs_the_portable_tier_and_names_round_trip() {
    assert_eq!(supported().last(), Some(&Tier::Portable));
    for tier in Tier::ALL {
      assert_eq!(Tier::from_name(tier.name()), Some(tier));
    }
  }
}
