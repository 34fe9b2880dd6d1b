//! Predictions written as text, for `tract-node predict`: CSV rows (`row,label,p_<label>…` for a
//! classifier, `row,value…` for a regressor) or NDJSON objects (`{"row","label","probabilities"}`
//! or `{"row","value"}`). Written on the compute threads, so that the JS thread only moves bytes.

use std::io::Write;

use serde_json::Value;

use super::Prediction;

/// How predictions are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextFormat {
  Csv,
  Ndjson,
}

impl TextFormat {
  /// The format named `name` (`csv` or `ndjson`).
  pub fn from_name(name: &str) -> Option<TextFormat> {
    match name {
      "csv" => Some(TextFormat::Csv),
      "ndjson" => Some(TextFormat::Ndjson),
      _ => None,
    }
  }
}

/// The CSV header for predictions like `first`: class probabilities are named `p_<label>` (by
/// `labels`, else by index).
pub fn csv_header(first: &Prediction, labels: Option<&[Value]>) -> String {
  match first {
    Prediction::Value(values) if values.len() == 1 => "row,value".into(),
    Prediction::Value(values) => {
      let names = (0..values.len()).map(|i| format!("value_{i}"));
      std::iter::once("row".to_string()).chain(names).collect::<Vec<_>>().join(",")
    }
    Prediction::Class { probabilities, .. } => {
      let count = probabilities.as_ref().map_or(0, Vec::len);
      let name = |i: usize| match labels.and_then(|l| l.get(i)) {
        Some(label) => csv_cell(&format!("p_{}", label_text(label))),
        None => format!("p_{i}"),
      };
      ["row".to_string(), "label".to_string()]
        .into_iter()
        .chain((0..count).map(name))
        .collect::<Vec<_>>()
        .join(",")
    }
  }
}

/// Writes one line per prediction; `rows[i]` is prediction `i`'s 1-based record number.
pub fn write(
  out: &mut Vec<u8>,
  format: TextFormat,
  predictions: &[Prediction],
  rows: impl Iterator<Item = u64>,
) {
  for (prediction, row) in predictions.iter().zip(rows) {
    match format {
      TextFormat::Csv => write_csv(out, prediction, row),
      TextFormat::Ndjson => write_ndjson(out, prediction, row),
    }
    out.push(b'\n');
  }
}

fn write_csv(out: &mut Vec<u8>, prediction: &Prediction, row: u64) {
  out.extend_from_slice(itoa::Buffer::new().format(row).as_bytes());
  let values = match prediction {
    Prediction::Class { label, probabilities } => {
      out.push(b',');
      out.extend_from_slice(csv_cell(&label_text(label)).as_bytes());
      probabilities.as_deref().unwrap_or_default()
    }
    Prediction::Value(values) => values.as_slice(),
  };
  for value in values {
    out.push(b',');
    write_number(out, *value, "NaN");
  }
}

/// The shortest text that reads back to `value` (with `ryu`: `std`'s formatting took a tenth of a
/// CSV run), or `not_finite` for NaN and infinities.
fn write_number(out: &mut Vec<u8>, value: f32, not_finite: &str) {
  if value.is_finite() {
    out.extend_from_slice(ryu::Buffer::new().format_finite(value).as_bytes());
  } else {
    out.extend_from_slice(not_finite.as_bytes());
  }
}

fn write_ndjson(out: &mut Vec<u8>, prediction: &Prediction, row: u64) {
  write!(out, "{{\"row\":{row},").expect("writing to a Vec");
  let list = |out: &mut Vec<u8>, values: &[f32]| {
    out.push(b'[');
    for (i, value) in values.iter().enumerate() {
      if i > 0 {
        out.push(b',');
      }
      write_number(out, *value, "null");
    }
    out.push(b']');
  };
  match prediction {
    Prediction::Class { label, probabilities } => {
      out.extend_from_slice(b"\"label\":");
      serde_json::to_writer(&mut *out, label).expect("writing to a Vec");
      out.extend_from_slice(b",\"probabilities\":");
      match probabilities {
        Some(p) => list(out, p),
        None => out.extend_from_slice(b"null"),
      }
    }
    Prediction::Value(values) if values.len() == 1 => {
      out.extend_from_slice(b"\"value\":");
      write_number(out, values[0], "null");
    }
    Prediction::Value(values) => {
      out.extend_from_slice(b"\"value\":");
      list(out, values);
    }
  }
  out.push(b'}');
}

/// A label as text: strings as they are, numbers as JS prints them (`1`, not `1.0`).
fn label_text(label: &Value) -> String {
  match label {
    Value::String(s) => s.clone(),
    Value::Number(n) => match (n.as_i64(), n.as_f64()) {
      (Some(i), _) => i.to_string(),
      (None, Some(f)) if f.fract() == 0.0 && f.abs() < 1e21 => format!("{f:.0}"),
      _ => n.to_string(),
    },
    other => other.to_string(),
  }
}

/// A CSV cell, quoted when it holds a comma, a quote or a line break.
fn csv_cell(text: &str) -> String {
  if text.contains([',', '"', '\r', '\n']) {
    format!("\"{}\"", text.replace('"', "\"\""))
  } else {
    text.to_string()
  }
}

#[cfg(test)]
mod tests {
  use super::*;
  use serde_json::json;

  fn class(label: Value, probabilities: Option<Vec<f32>>) -> Prediction {
    Prediction::Class { label, probabilities }
  }

  fn text(format: TextFormat, predictions: &[Prediction]) -> String {
    let mut out = Vec::new();
    write(&mut out, format, predictions, [3, 7].into_iter());
    String::from_utf8(out).unwrap()
  }

  #[test]
  fn classifiers_write_labels_and_probabilities() {
    let labels = [json!("a,b"), json!(2)];
    let predictions = [class(json!("a,b"), Some(vec![0.75, 0.25])), class(json!(2), None)];
    assert_eq!(csv_header(&predictions[0], Some(&labels)), "row,label,\"p_a,b\",p_2");
    assert_eq!(csv_header(&predictions[0], None), "row,label,p_0,p_1");
    assert_eq!(text(TextFormat::Csv, &predictions), "3,\"a,b\",0.75,0.25\n7,2\n");
    assert_eq!(text(TextFormat::Csv, &[class(json!(1), Some(vec![1.0, 1e-9]))]), "3,1,1.0,1e-9\n");
    assert_eq!(
      text(TextFormat::Ndjson, &predictions),
      "{\"row\":3,\"label\":\"a,b\",\"probabilities\":[0.75,0.25]}\n{\"row\":7,\"label\":2,\"probabilities\":null}\n"
    );
  }

  #[test]
  fn regressors_write_values_and_floats_read_back() {
    let predictions = [Prediction::Value(vec![0.1]), Prediction::Value(vec![f32::NAN])];
    assert_eq!(csv_header(&predictions[0], None), "row,value");
    assert_eq!(csv_header(&Prediction::Value(vec![1.0, 2.0]), None), "row,value_0,value_1");
    assert_eq!(text(TextFormat::Csv, &predictions), "3,0.1\n7,NaN\n");
    assert_eq!(
      text(TextFormat::Ndjson, &predictions),
      "{\"row\":3,\"value\":0.1}\n{\"row\":7,\"value\":null}\n"
    );
    assert_eq!(label_text(&json!(3.0)), "3");
  }
}
