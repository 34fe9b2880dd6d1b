//! Reading the numbers JS passes as arguments and options: every wrapper checks them the same way,
//! and names the argument in its error.

use crate::error::{Result, TractNodeError};

/// Reads a JS number as an integer in `min..=max`.
pub fn count(arg: &str, value: f64, min: usize, max: usize) -> Result<usize> {
  let valid = value.is_finite()
    && value.fract() == 0.0
    && value >= min as f64
    && value <= (max as f64).min(9_007_199_254_740_991.0);
  if valid {
    Ok(value as usize)
  } else {
    let upper = if max == usize::MAX { String::new() } else { format!(" and {max}") };
    let range =
      if upper.is_empty() { format!("≥ {min}") } else { format!("between {min}{upper}") };
    Err(TractNodeError::invalid_arg(arg, format!("expected an integer {range}, got {value}")))
  }
}
