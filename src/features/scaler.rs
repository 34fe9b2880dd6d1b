//! StandardScaler and MinMaxScaler, numerically as scikit-learn computes them.

use serde::{Deserialize, Serialize};

use super::impute::mean;

/// `_handle_zeros_in_scale`: a (near) zero scale becomes 1 so constant columns map to 0.
fn handle_zero(scale: f64) -> f64 {
  if scale < 10.0 * f64::EPSILON {
    1.0
  } else {
    scale
  }
}

/// `(x - mean) / std` with the population standard deviation (ddof = 0).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Standardize {
  #[serde(default, skip_serializing_if = "Option::is_none")]
  pub mean: Option<f64>,
  #[serde(default, skip_serializing_if = "Option::is_none")]
  pub scale: Option<f64>,
}

impl Standardize {
  /// Fits on the non-missing values.
  pub fn fit(&mut self, values: &[f64]) {
    let present: Vec<f64> = values.iter().copied().filter(|v| !v.is_nan()).collect();
    if present.is_empty() {
      (self.mean, self.scale) = (Some(0.0), Some(1.0));
      return;
    }
    let m = mean(&present);
    let variance = present.iter().map(|v| (v - m) * (v - m)).sum::<f64>() / present.len() as f64;
    (self.mean, self.scale) = (Some(m), Some(handle_zero(variance.sqrt())));
  }

  pub fn is_fitted(&self) -> bool {
    self.mean.is_some() && self.scale.is_some()
  }

  pub fn encode(&self, value: f64) -> f32 {
    ((value - self.mean.unwrap_or(0.0)) / self.scale.unwrap_or(1.0)) as f32
  }
}

/// `(x - min) / (max - min)` into [0, 1], as `x * scale_ + min_`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MinMax {
  #[serde(default, skip_serializing_if = "Option::is_none")]
  pub data_min: Option<f64>,
  #[serde(default, skip_serializing_if = "Option::is_none")]
  pub data_max: Option<f64>,
}

impl MinMax {
  pub fn fit(&mut self, values: &[f64]) {
    let present = values.iter().copied().filter(|v| !v.is_nan());
    let (min, max) =
      present.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(v), hi.max(v)));
    (self.data_min, self.data_max) =
      if min.is_finite() { (Some(min), Some(max)) } else { (Some(0.0), Some(1.0)) };
  }

  pub fn is_fitted(&self) -> bool {
    self.data_min.is_some() && self.data_max.is_some()
  }

  pub fn encode(&self, value: f64) -> f32 {
    let (min, max) = (self.data_min.unwrap_or(0.0), self.data_max.unwrap_or(1.0));
    let scale = 1.0 / handle_zero(max - min);
    (value * scale + (0.0 - min * scale)) as f32
  }
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn standardize_uses_population_std_and_unit_scale_for_constants() {
    let mut s = Standardize::default();
    s.fit(&[1.0, 2.0, 3.0, f64::NAN]);
    assert_eq!(s.mean, Some(2.0));
    assert!((s.scale.unwrap() - (2.0f64 / 3.0).sqrt()).abs() < 1e-12);
    s.fit(&[5.0, 5.0]);
    assert_eq!((s.mean, s.scale), (Some(5.0), Some(1.0)));
    assert_eq!(s.encode(5.0), 0.0);
  }

  #[test]
  fn minmax_maps_into_unit_range() {
    let mut m = MinMax::default();
    m.fit(&[2.0, 4.0, 6.0]);
    assert_eq!([m.encode(2.0), m.encode(4.0), m.encode(6.0), m.encode(8.0)], [0.0, 0.5, 1.0, 1.5]);
  }
}
