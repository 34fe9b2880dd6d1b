//! OneHotEncoder(handle_unknown='ignore') and OrdinalEncoder over categories sorted as scikit-learn
//! sorts them (`np.unique`).

use std::borrow::Cow;
use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::schema::value::Clean;

/// The lookup key of a category: its text (strings as is, borrowed; numbers and dates in canonical form).
pub fn category_key(value: &Clean) -> Option<Cow<'_, str>> {
  Some(match value {
    Clean::Null => return None,
    Clean::String(s) => Cow::Borrowed(s.as_str()),
    Clean::Int(i) => Cow::Owned(i.to_string()),
    Clean::Float(f) if f.fract() == 0.0 && f.abs() < 1e15 => Cow::Owned((*f as i64).to_string()),
    other => Cow::Owned(match other.to_json() {
      Value::String(s) => s,
      json => json.to_string(),
    }),
  })
}

/// Sorted distinct categories with a key index.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Categories {
  #[serde(default, skip_serializing_if = "Option::is_none")]
  pub categories: Option<Vec<Value>>,
  #[serde(skip)]
  index: HashMap<String, usize>,
}

impl Categories {
  /// Learns the sorted distinct non-null values (unless categories were given).
  pub fn fit(&mut self, values: &[&Clean]) {
    if self.categories.is_none() {
      let mut distinct: Vec<&Clean> =
        values.iter().copied().filter(|v| **v != Clean::Null).collect();
      distinct.sort_by(|a, b| super::compare(a, b));
      distinct.dedup();
      self.categories = Some(distinct.into_iter().map(Clean::to_json).collect());
    }
    self.prepare();
  }

  /// Builds the key index (after fit or after loading).
  pub fn prepare(&mut self) {
    let categories = self.categories.iter().flatten();
    self.index = categories.enumerate().map(|(i, c)| (json_key(c), i)).collect();
  }

  pub fn is_fitted(&self) -> bool {
    self.categories.is_some()
  }

  /// Number of categories (0 before fit).
  pub fn count(&self) -> usize {
    self.categories.as_ref().map_or(0, Vec::len)
  }

  /// Position of a value among the categories.
  pub fn position(&self, value: &Clean) -> Option<usize> {
    category_key(value).and_then(|key| self.index.get(key.as_ref()).copied())
  }

  /// Category names for feature names, as scikit-learn prints them (`True`, not `true`).
  pub fn names(&self) -> Vec<String> {
    let name = |c: &Value| match c {
      Value::Bool(b) => if *b { "True" } else { "False" }.to_string(),
      other => json_key(other),
    };
    self.categories.iter().flatten().map(name).collect()
  }
}

fn json_key(value: &Value) -> String {
  match value {
    Value::String(s) => s.clone(),
    Value::Number(n) => match n.as_f64() {
      Some(f) if f.fract() == 0.0 && f.abs() < 1e15 => (f as i64).to_string(),
      _ => n.to_string(),
    },
    other => other.to_string(),
  }
}

/// One column per category: 1 for the value's category, all zeros for unknown values and null.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct OneHot {
  #[serde(flatten)]
  pub categories: Categories,
}

impl OneHot {
  pub fn encode(&self, value: &Clean, out: &mut [f32]) {
    out.fill(0.0);
    if let Some(i) = self.categories.position(value) {
      out[i] = 1.0;
    }
  }
}

/// The category's position; `unknownValue` (default -1) for unknown values, NaN for null.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Ordinal {
  #[serde(flatten)]
  pub categories: Categories,
  #[serde(default, skip_serializing_if = "Option::is_none")]
  pub unknown_value: Option<f64>,
}

impl Ordinal {
  pub fn encode(&self, value: &Clean) -> f32 {
    match (value, self.categories.position(value)) {
      (Clean::Null, _) => f32::NAN,
      (_, Some(i)) => i as f32,
      (_, None) => self.unknown_value.unwrap_or(-1.0) as f32,
    }
  }
}
