//! SimpleImputer: replaces missing (null) values with a fitted statistic or a constant, as
//! scikit-learn's `SimpleImputer` (mean, median, most_frequent, constant) does.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{Result, TractNodeError};
use crate::schema::dates::{parse_date, parse_datetime};
use crate::schema::field::Kind;
use crate::schema::value::Clean;

use super::numeric;

/// How a missing value is filled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
  Mean,
  Median,
  MostFrequent,
  Constant,
}

/// Imputation of one column; `fill_value` is given (constant) or fitted (the others).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Imputation {
  /// The strategy, if the column is imputed: `impute` on any step, or `strategy` (scikit-learn's
  /// name) on an `impute` step.
  #[serde(default, alias = "strategy", skip_serializing_if = "Option::is_none")]
  pub impute: Option<Strategy>,
  /// The value that replaces null: given for `constant`, fitted otherwise.
  #[serde(default, skip_serializing_if = "Option::is_none")]
  pub fill_value: Option<Value>,
  /// `fill_value` as a value of the column's kind.
  #[serde(skip)]
  fill: Option<Clean>,
}

impl Imputation {
  /// Whether values can be filled (no strategy, or a fill value known).
  pub fn is_fitted(&self) -> bool {
    self.impute.is_none() || self.fill_value.is_some()
  }

  /// Fits the fill value on a column's non-missing values.
  pub fn fit(&mut self, column: &str, kind: &Kind, values: &[&Clean]) -> Result<()> {
    self.fit_value(column, values)?;
    self.prepare(kind);
    Ok(())
  }

  /// Reads `fill_value` as a value of the column's kind (after fit or after loading).
  pub fn prepare(&mut self, kind: &Kind) {
    self.fill = self.fill_value.as_ref().map(|value| match (value, kind) {
      (Value::String(s), Kind::Date) => parse_date(s).map_or(Clean::Null, Clean::Date),
      (Value::String(s), Kind::DateTime) => parse_datetime(s).map_or(Clean::Null, Clean::DateTime),
      (Value::String(s), _) => Clean::String(s.clone()),
      (Value::Bool(b), _) => Clean::Bool(*b),
      (Value::Number(n), _) => Clean::Float(n.as_f64().unwrap_or(f64::NAN)),
      _ => Clean::Null,
    });
  }

  fn fit_value(&mut self, column: &str, values: &[&Clean]) -> Result<()> {
    let Some(strategy) = self.impute else { return Ok(()) };
    let present: Vec<&Clean> = values.iter().copied().filter(|v| **v != Clean::Null).collect();
    let missing = || TractNodeError::Schema {
      field: column.to_string(),
      reason: format!("cannot impute with '{strategy:?}': the column has no values to fit on"),
    };
    self.fill_value = Some(match strategy {
      Strategy::Constant => {
        return self.fill_value.as_ref().map(|_| ()).ok_or_else(|| TractNodeError::Schema {
          field: column.to_string(),
          reason: "impute 'constant' needs a fillValue".into(),
        })
      }
      Strategy::Mean | Strategy::Median => {
        let mut numbers: Vec<f64> = present.iter().filter_map(|v| numeric(v)).collect();
        if numbers.is_empty() {
          return Err(missing());
        }
        Value::from(if strategy == Strategy::Mean { mean(&numbers) } else { median(&mut numbers) })
      }
      Strategy::MostFrequent => most_frequent(&present).ok_or_else(missing)?.to_json(),
    });
    Ok(())
  }

  /// The value to encode: the fill value in place of null.
  pub fn apply<'a>(&'a self, value: &'a Clean) -> &'a Clean {
    match (value, &self.fill) {
      (Clean::Null, Some(fill)) => fill,
      _ => value,
    }
  }
}

/// numpy's mean (pairwise summation is not needed at 1e-6 for the sizes pipelines fit on).
pub fn mean(values: &[f64]) -> f64 {
  values.iter().sum::<f64>() / values.len() as f64
}

/// numpy's median: the middle value, or the mean of the two middle values.
pub fn median(values: &mut [f64]) -> f64 {
  values.sort_by(f64::total_cmp);
  let n = values.len();
  if n % 2 == 1 {
    values[n / 2]
  } else {
    (values[n / 2 - 1] + values[n / 2]) / 2.0
  }
}

/// scikit-learn's most_frequent: the most common value; ties go to the smallest.
fn most_frequent<'a>(values: &[&'a Clean]) -> Option<&'a Clean> {
  let mut sorted: Vec<&Clean> = values.to_vec();
  sorted.sort_by(|a, b| super::compare(a, b));
  let mut best: Option<(&Clean, usize)> = None;
  let mut i = 0;
  while i < sorted.len() {
    let run = sorted[i..].iter().take_while(|v| **v == sorted[i]).count();
    if best.is_none_or(|(_, count)| run > count) {
      best = Some((sorted[i], run));
    }
    i += run;
  }
  best.map(|(value, _)| value)
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn statistics_match_numpy() {
    assert_eq!(mean(&[1.0, 2.0, 6.0]), 3.0);
    assert_eq!(median(&mut [5.0, 1.0, 3.0]), 3.0);
    assert_eq!(median(&mut [4.0, 1.0, 3.0, 2.0]), 2.5);
  }

  #[test]
  fn most_frequent_breaks_ties_with_the_smallest() {
    let values = [
      Clean::String("b".into()),
      Clean::String("a".into()),
      Clean::String("b".into()),
      Clean::String("a".into()),
    ];
    let refs: Vec<&Clean> = values.iter().collect();
    assert_eq!(most_frequent(&refs), Some(&Clean::String("a".into())));
  }
}
