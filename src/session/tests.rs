//! Session tests on the committed fixtures, against outputs computed by onnxruntime
//! (`scripts/make_fixtures.py`), never against outputs of this crate.

use std::path::PathBuf;

use serde_json::Value;
use tract_onnx::prelude::{DatumType, Tensor};

use super::options::{SessionConfig, SessionOptions};
use super::*;
use crate::error::ErrorCode;
use crate::tensor::{tensor_from_bytes, tensor_from_strings};

fn fixture(name: &str) -> PathBuf {
  PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("__test__/fixtures").join(name)
}

fn load(name: &str) -> Session {
  load_with(name, SessionConfig::default())
}

fn load_with(name: &str, config: SessionConfig) -> Session {
  Session::load(ModelSource::Path(&fixture(&format!("{name}.onnx"))), &config).unwrap()
}

fn cases(name: &str) -> Vec<Value> {
  let text = std::fs::read_to_string(fixture(&format!("{name}.json"))).unwrap();
  serde_json::from_str::<Value>(&text).unwrap()["cases"].as_array().unwrap().clone()
}

/// A fixture tensor `{ type, dims, data }` as a tract tensor.
fn tensor(name: &str, json: &Value) -> Tensor {
  let dtype = DType::from_name(json["type"].as_str().unwrap()).unwrap();
  let dims: Vec<usize> =
    json["dims"].as_array().unwrap().iter().map(|d| d.as_u64().unwrap() as usize).collect();
  let data = json["data"].as_array().unwrap();
  if dtype == DType::String {
    return tensor_from_strings(
      name,
      &dims,
      data.iter().map(|v| v.as_str().unwrap().to_string()).collect(),
    )
    .unwrap();
  }
  let bytes: Vec<u8> = data
    .iter()
    .flat_map(|v| -> Vec<u8> {
      match dtype {
        DType::Float32 => (v.as_f64().unwrap() as f32).to_le_bytes().to_vec(),
        DType::Float64 => v.as_f64().unwrap().to_le_bytes().to_vec(),
        // 64-bit integers are decimal strings in the JSON.
        DType::Int64 => v.as_str().unwrap().parse::<i64>().unwrap().to_le_bytes().to_vec(),
        DType::Uint64 => v.as_str().unwrap().parse::<u64>().unwrap().to_le_bytes().to_vec(),
        _ => v.as_i64().unwrap().to_le_bytes()[..dtype.element_size().unwrap()].to_vec(),
      }
    })
    .collect();
  tensor_from_bytes(name, dtype, &dims, &bytes).unwrap()
}

fn feeds(case: &Value) -> Vec<(String, Tensor)> {
  case["inputs"]
    .as_object()
    .unwrap()
    .iter()
    .map(|(name, json)| (name.clone(), tensor(name, json)))
    .collect()
}

/// Asserts an output equals the reference: exactly for integers, bools and strings, within 1e-5
/// relative (1e-6 absolute near zero) for floats.
fn assert_matches(name: &str, output: &OutputTensor, expected: &Value) {
  assert_eq!(output.dtype.name(), expected["type"].as_str().unwrap(), "{name}: type");
  let expected_tensor = tensor(name, expected);
  assert_eq!(output.tensor.shape(), expected_tensor.shape(), "{name}: dims");
  if output.dtype == DType::String {
    assert_eq!(output.tensor, expected_tensor, "{name}: strings");
    return;
  }
  if matches!(output.dtype, DType::Float32 | DType::Float64) {
    let actual = output.tensor.cast_to_dt(DatumType::F64).unwrap();
    let expected = expected_tensor.cast_to_dt(DatumType::F64).unwrap();
    let actual = actual.try_as_plain_ram().unwrap();
    let expected = expected.try_as_plain_ram().unwrap();
    let expected = expected.as_slice::<f64>().unwrap();
    // Absolute tolerance relative to the output's scale: a value near 0 that came out of big sums
    // carries their rounding.
    let scale = expected.iter().fold(1f64, |m, e| m.max(e.abs()));
    for (i, (a, e)) in actual.as_slice::<f64>().unwrap().iter().zip(expected).enumerate() {
      assert!((a - e).abs() <= 1e-6 * scale + 1e-5 * e.abs(), "{name}[{i}]: {a} != {e}");
    }
  } else {
    assert_eq!(output.tensor.as_bytes(), expected_tensor.as_bytes(), "{name}: data");
  }
}

fn assert_case(session: &Session, case: &Value) {
  let outputs = session.run(feeds(case), None).unwrap();
  let expected = case["outputs"].as_object().unwrap();
  assert_eq!(outputs.len(), expected.len());
  for (name, output) in &outputs {
    assert_matches(name, output, &expected[name]);
  }
}

#[test]
fn mlp_cnn_and_typed_fixtures_match_onnxruntime() {
  for name in [
    "mlp",
    "cnn",
    "multi_io",
    "int_bool_string",
    "all_types",
    "outer",
    "per_channel",
    "upsample7_nearest",
    "upsample9_linear",
    "category_mapper_to_int",
    "category_mapper_to_string",
    "hard_swish",
  ] {
    let session = load(name);
    assert!(!session.uses_per_shape_plans(), "{name}");
    for case in cases(name) {
      assert_case(&session, &case);
    }
  }
}

#[test]
fn open_dims_fall_back_to_per_shape_plans() {
  let session = load("per_shape");
  assert!(session.uses_per_shape_plans());
  let cases = cases("per_shape");
  // More shapes than one plan, and a shape seen twice (served by the cache).
  for case in cases.iter().chain(&cases[..1]) {
    assert_case(&session, case);
  }
}

#[test]
fn bytes_load_like_a_path() {
  let bytes = std::fs::read(fixture("mlp.onnx")).unwrap();
  let session = Session::load(ModelSource::Bytes(&bytes), &SessionConfig::default()).unwrap();
  assert_case(&session, &cases("mlp")[0]);
}

#[test]
fn metadata_keeps_symbolic_names() {
  let session = load("multi_io");
  assert_eq!(
    session.inputs().iter().map(|i| i.shape_text()).collect::<Vec<_>>(),
    ["[batch, 4]", "[batch, 4]"]
  );
  assert_eq!(
    session.outputs().iter().map(|o| o.name.as_str()).collect::<Vec<_>>(),
    ["sum", "product"]
  );
}

#[test]
fn fetches_select_outputs_in_the_asked_order() {
  let session = load("multi_io");
  let case = &cases("multi_io")[0];
  let outputs = session.run(feeds(case), Some(&["product".to_string()])).unwrap();
  assert_eq!(outputs.len(), 1);
  assert_matches("product", &outputs[0].1, &case["outputs"]["product"]);
  let err = session.run(feeds(case), Some(&["nope".to_string()])).err().unwrap();
  assert_eq!(err.code(), ErrorCode::ErrInputUnknown);
  assert!(err.to_string().starts_with("output 'nope'"));
}

fn run_error(session: &Session, feeds: Vec<(String, Tensor)>) -> TractNodeError {
  session.run(feeds, None).expect_err("the run should fail")
}

#[test]
fn feeds_are_checked_by_name_type_and_shape() {
  let session = load("multi_io");
  let a = || Tensor::from_shape(&[2, 4], &[0f32; 8]).unwrap();
  let err = run_error(&session, vec![("a".into(), a())]);
  assert_eq!(
    (err.code(), err.to_string().as_str()),
    (ErrorCode::ErrInputMissing, "input 'b': missing from feeds")
  );
  let err = run_error(&session, vec![("a".into(), a()), ("b".into(), a()), ("c".into(), a())]);
  assert_eq!(err.code(), ErrorCode::ErrInputUnknown);
  let ints = Tensor::from_shape(&[2, 4], &[0i32; 8]).unwrap();
  let err = run_error(&session, vec![("a".into(), a()), ("b".into(), ints)]);
  assert_eq!(err.to_string(), "input 'b': expected a float32 tensor, got int32");
  let three = Tensor::from_shape(&[3, 4], &[0f32; 12]).unwrap();
  let err = run_error(&session, vec![("a".into(), a()), ("b".into(), three)]);
  assert_eq!(err.code(), ErrorCode::ErrInputShape);
  assert_eq!(
    err.to_string(),
    "input 'b': expected shape [batch, 4] with batch = 2 as in input 'a', got [3, 4]"
  );
  let rank3 = Tensor::from_shape(&[2, 4, 1], &[0f32; 8]).unwrap();
  let err = run_error(&session, vec![("a".into(), rank3), ("b".into(), a())]);
  assert_eq!(err.to_string(), "input 'a': expected shape [batch, 4] (rank 2), got [2, 4, 1]");
}

#[test]
fn pinned_shapes_are_enforced() {
  let shapes = [("x".to_string(), vec![2.0, 16.0])].into_iter().collect();
  let config =
    SessionOptions { input_shapes: Some(shapes), ..Default::default() }.resolve().unwrap();
  let session = load_with("mlp", config);
  assert_eq!(session.inputs()[0].shape_text(), "[2, 16]");
  let two = cases("mlp").into_iter().find(|c| c["inputs"]["x"]["dims"][0] == 2).unwrap();
  assert_case(&session, &two);
  let err = run_error(&session, feeds(&cases("mlp")[0]));
  assert_eq!(err.code(), ErrorCode::ErrInputShape);

  let shapes = [("nope".to_string(), vec![1.0])].into_iter().collect();
  let config =
    SessionOptions { input_shapes: Some(shapes), ..Default::default() }.resolve().unwrap();
  let err = Session::load(ModelSource::Path(&fixture("mlp.onnx")), &config).err().unwrap();
  assert_eq!(err.code(), ErrorCode::ErrInvalidArg);
}

#[test]
fn free_dimension_overrides_and_threads_keep_results() {
  let overrides = [("batch".to_string(), 3.0)].into_iter().collect();
  let options = SessionOptions {
    free_dimension_overrides: Some(overrides),
    intra_op_num_threads: Some(2.0),
    ..Default::default()
  };
  let session = load_with("mlp", options.resolve().unwrap());
  assert_eq!(session.inputs()[0].shape_text(), "[3, 16]");
  assert_case(&session, &cases("mlp")[1]);
}

#[test]
fn bad_models_are_classified() {
  let err =
    Session::load(ModelSource::Bytes(b"not a model"), &SessionConfig::default()).err().unwrap();
  assert_eq!(err.code(), ErrorCode::ErrInvalidModel);
  let err = Session::load(ModelSource::Path(&fixture("missing.onnx")), &SessionConfig::default())
    .err()
    .unwrap();
  assert_eq!(err.code(), ErrorCode::ErrModelNotFound);
  let err =
    Session::load(ModelSource::Path(&fixture("")), &SessionConfig::default()).err().unwrap();
  assert_eq!(err.code(), ErrorCode::ErrModelNotFound);
  let err =
    Session::load(ModelSource::Path(&fixture("unsupported_op.onnx")), &SessionConfig::default())
      .err()
      .unwrap();
  assert_eq!(err, TractNodeError::UnsupportedOp { ops: vec!["com.example.Frobnicate".into()] });
  // A valid file cut in half.
  let bytes = std::fs::read(fixture("cnn.onnx")).unwrap();
  let err = Session::load(ModelSource::Bytes(&bytes[..bytes.len() / 2]), &SessionConfig::default())
    .err()
    .unwrap();
  assert_eq!(err.code(), ErrorCode::ErrInvalidModel);
}

#[test]
fn inspect_counts_operators_and_names_the_unsupported_ones() {
  // The graph scripts/make_fixtures.py writes: one node of each.
  let summary = super::inspect(ModelSource::Path(&fixture("cnn.onnx"))).unwrap();
  let ops: Vec<(&str, usize, bool)> =
    summary.operators.iter().map(|o| (o.op.as_str(), o.count, o.supported)).collect();
  let expected = ["BatchNormalization", "Conv", "Flatten", "Gemm", "MaxPool", "Relu"];
  assert_eq!(ops, expected.map(|op| (op, 1, true)));
  assert_eq!(summary.inputs[0].name, "image");
  let summary = super::inspect(ModelSource::Path(&fixture("unsupported_op.onnx"))).unwrap();
  assert_eq!(summary.operators[0].op, "com.example.Frobnicate");
  assert!(!summary.operators[0].supported);
  assert!(summary.opsets.iter().any(|(domain, _)| domain == "com.example"));
}

#[test]
fn oversized_tensors_are_refused_before_allocating() {
  let session = load("outer");
  let n = 1 << 20; // [2^20, 1] x [1, 2^20] -> a 4 TiB float grid
  let col = Tensor::from_shape(&[n, 1], &vec![1f32; n]).unwrap();
  let row = Tensor::from_shape(&[1, n], &vec![1f32; n]).unwrap();
  let err = run_error(&session, vec![("col".into(), col), ("row".into(), row)]);
  assert_eq!(err.code(), ErrorCode::ErrResource);
  assert!(err.to_string().contains("4096.0 GiB"), "{err}");
}

#[test]
fn a_batch_of_runs_splits_back_to_each_run_exactly() {
  let session = load("mlp");
  let cases = cases("mlp");
  // Runs of 1, 3 and 2 rows stacked into one execution of 6 rows.
  let picked = [&cases[0], &cases[1], &cases[2]];
  let runs = picked.iter().map(|case| session.prepare(feeds(case), None).unwrap()).collect();
  let outputs = session.execute_batch(runs).unwrap();
  for (case, outputs) in picked.iter().zip(&outputs) {
    assert_matches("probs", &outputs[0].1, &case["outputs"]["probs"]);
  }
}

#[test]
fn conditionals_take_only_their_branch() {
  let session = load("conditional");
  for case in cases("conditional") {
    assert_case(&session, &case);
  }
  // A run-time condition that picks the branch which cannot be typed for these shapes fails that run
  // with a coded error naming the reason, and the session keeps serving.
  let x = || ("x".to_string(), Tensor::from_shape(&[1, 4], &[1f32, 2., 3., 4.]).unwrap());
  let rate = |hz: i64| ("rate".to_string(), Tensor::from_shape(&[], &[hz]).unwrap());
  let err = run_error(&session, vec![x(), rate(8000)]);
  assert_eq!(err.code(), ErrorCode::ErrInternal, "{err}");
  assert!(err.to_string().contains("cannot run on these input shapes"), "{err}");
  let outputs = session.run(vec![x(), rate(16000)], None).unwrap();
  assert_eq!(
    outputs[0].1.tensor.try_as_plain_ram().unwrap().as_slice::<f32>().unwrap(),
    &[2., 4., 6., 8.]
  );
}

#[test]
fn frequent_shapes_get_a_specialised_plan_with_the_same_results() {
  let session = load("mlp");
  let case = &cases("mlp")[2]; // batch 2, like the cases after it
  for _ in 0..plan::SPECIALISE_AFTER_RUNS {
    assert_case(&session, case);
  }
  let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
  while session.planner.specialised_plans() == 0 {
    assert!(std::time::Instant::now() < deadline, "no specialised plan after 10 s");
    std::thread::sleep(std::time::Duration::from_millis(5));
  }
  for case in &cases("mlp")[2..] {
    assert_case(&session, case); // now on the specialised plan
  }
  assert_case(&session, &cases("mlp")[1]); // another shape: the generic plan
}

#[test]
fn batched_convolutions_run_per_image_with_the_same_results() {
  // Pinned at batch 3, convolutions run per image (`crate::ops::rewrite`).
  let shapes = [("image".to_string(), vec![3.0, 6.0, 8.0, 8.0])].into_iter().collect();
  let config =
    SessionOptions { input_shapes: Some(shapes), ..Default::default() }.resolve().unwrap();
  let session = load_with("per_channel", config);
  let batch3 =
    cases("per_channel").into_iter().find(|c| c["inputs"]["image"]["dims"][0] == 3).unwrap();
  assert_case(&session, &batch3);
}

#[test]
fn batches_split_over_threads_give_the_same_results() {
  // A 3 × 3 convolution over 12 × 12 images uses each weight 144 times per image: chunks of one
  // image pay (`batch_split::min_chunk_rows`).
  let config = SessionOptions { intra_op_num_threads: Some(2.0), ..Default::default() };
  let session = load_with("hard_swish", config.resolve().unwrap());
  let batched: Vec<Value> =
    cases("hard_swish").into_iter().filter(|c| c["inputs"]["image"]["dims"][0] == 2).collect();
  assert!(!batched.is_empty());
  let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
  while session.planner.chunk_plans() == 0 {
    assert!(std::time::Instant::now() < deadline, "no chunk plan after 20 s");
    assert_case(&session, &batched[0]); // the usual way, meanwhile
    std::thread::sleep(std::time::Duration::from_millis(5));
  }
  for case in &batched {
    assert_case(&session, case); // as one chunk per thread
  }
}
