//! Pipeline tests against scikit-learn's outputs (`scripts/make_feature_refs.py`).

use std::sync::Arc;

use serde_json::{json, Value};

use super::*;
use crate::schema::value::RawRecord;
use crate::schema::{Entries, SchemaOptions};

fn refs() -> Value {
  let path = format!("{}/__test__/fixtures/feature_refs.json", env!("CARGO_MANIFEST_DIR"));
  serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn schema(refs: &Value) -> Arc<Schema> {
  let entries: Entries = serde_json::from_value(refs["schema"].clone()).unwrap();
  Arc::new(Schema::from_definition(&entries.0, SchemaOptions::default()).unwrap())
}

fn rows(schema: &Schema, records: &Value) -> Vec<Vec<Clean>> {
  let records = records.as_array().unwrap().iter();
  let record = |r: &Value| RawRecord::from_json(schema, r.clone()).unwrap();
  records.map(|r| schema.clean(record(r), None).unwrap()).collect()
}

#[test]
fn every_step_matches_scikit_learn_within_1e_6() {
  let refs = refs();
  let schema = schema(&refs);
  let (fit_rows, transform_rows) = (rows(&schema, &refs["fit"]), rows(&schema, &refs["transform"]));
  for case in refs["cases"].as_array().unwrap() {
    let mut pipeline = Pipeline::new(schema.clone(), std::slice::from_ref(&case["step"])).unwrap();
    pipeline.fit(&fit_rows).unwrap();
    assert_eq!(json!(pipeline.feature_names().unwrap()), case["featureNames"], "{}", case["step"]);
    let out = pipeline.transform(&transform_rows).unwrap();
    let expected: Vec<f64> = case["output"]
      .as_array()
      .unwrap()
      .iter()
      .flat_map(|row| row.as_array().unwrap().iter().map(|v| v.as_f64().unwrap()))
      .collect();
    assert_eq!(out.len(), expected.len(), "{}", case["step"]);
    for (i, (a, e)) in out.iter().zip(&expected).enumerate() {
      assert!(
        (*a as f64 - e).abs() <= 1e-6 * e.abs().max(1.0),
        "{} [{i}]: {a} vs {e}",
        case["step"]
      );
    }
  }
}

#[test]
fn fitted_state_survives_json_round_trips() {
  let refs = refs();
  let schema = schema(&refs);
  let steps: Vec<Value> =
    refs["cases"].as_array().unwrap().iter().map(|c| c["step"].clone()).collect();
  let mut pipeline = Pipeline::new(schema.clone(), &steps).unwrap();
  let fit_rows = rows(&schema, &refs["fit"]);
  pipeline.fit(&fit_rows).unwrap();
  let json = serde_json::to_string(&pipeline.steps_json()).unwrap();
  let restored =
    Pipeline::new(schema.clone(), &serde_json::from_str::<Vec<Value>>(&json).unwrap()).unwrap();
  assert!(restored.is_fitted());
  let transform_rows = rows(&schema, &refs["transform"]);
  let (a, b) =
    (pipeline.transform(&transform_rows).unwrap(), restored.transform(&transform_rows).unwrap());
  assert_eq!(
    a.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
    b.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
  );
}

#[test]
fn transform_before_fit_is_not_fitted() {
  let refs = refs();
  let pipeline =
    Pipeline::new(schema(&refs), &[json!({ "column": "age", "transform": "standardize" })])
      .unwrap();
  assert_eq!(pipeline.transform(&[]).unwrap_err().code().as_str(), "ERR_NOT_FITTED");
  // Stateless steps need no fit.
  let hashing =
    Pipeline::new(schema(&refs), &[json!({ "column": "name", "transform": "hash", "buckets": 4 })])
      .unwrap();
  assert!(hashing.is_fitted());
}

#[test]
fn bad_steps_name_the_column() {
  let refs = refs();
  let cases = [
    json!({ "column": "nope", "transform": "standardize" }),
    json!({ "column": "name", "transform": "standardize" }),
    json!({ "column": "age", "transform": "scale" }),
    json!({ "column": "age", "transform": "standardize", "withMean": false }),
    json!({ "column": "age", "transform": "impute" }),
    json!({ "column": "age", "transform": "standardize", "impute": "mode" }),
    json!({ "column": "name", "transform": "hash", "buckets": 0 }),
    json!({ "column": "age", "transform": "dateParts", "parts": ["year"] }),
  ];
  for step in cases {
    let err = Pipeline::new(schema(&refs), std::slice::from_ref(&step)).unwrap_err();
    assert_eq!(err.code().as_str(), "ERR_SCHEMA", "{step}");
    assert!(err.to_string().contains(step["column"].as_str().unwrap()), "{err}");
  }
}

#[test]
fn matrix_rows_take_each_row_in_place_and_refuse_rows_past_the_end() {
  let matrix = MatrixRows::new(3, 2).unwrap();
  matrix.write(Some(2), |row| row.copy_from_slice(&[5.0, 6.0]));
  matrix.write(Some(0), |row| row.copy_from_slice(&[1.0, 2.0]));
  assert_eq!(matrix.into_data(2), Some(vec![1.0, 2.0, 0.0, 0.0]));

  let matrix = MatrixRows::new(1, 2).unwrap();
  matrix.write(Some(1), |row| row.fill(1.0));
  assert_eq!(matrix.into_data(1), None);
  let matrix = MatrixRows::new(1, 2).unwrap();
  matrix.write(None, |row| row.fill(1.0));
  assert_eq!(matrix.into_data(1), None);
  assert_eq!(MatrixRows::new(1, 2).unwrap().into_data(2), None);
}

#[test]
fn matrix_rows_are_refused_when_the_memory_cannot_be_had() {
  // A sparse JS array's length times a wide pipeline: more than the address space, or than usize.
  assert!(MatrixRows::new(1 << 50, 16).is_none());
  assert!(MatrixRows::new(usize::MAX / 2, 4).is_none());
}
