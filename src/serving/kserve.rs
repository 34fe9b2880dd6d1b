//! KServe V2 JSON, straight to tensors and back, so an HTTP server's JS thread never parses or
//! serialises tensor data. Request: `{ inputs: [{ name, shape, datatype, data }], outputs?: [{ name }] }`
//! with `data` flat or nested; response: `{ model_name, outputs: [{ name, datatype, shape, data }] }`.

use serde::ser::{SerializeSeq, Serializer};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tract_onnx::prelude::{f16, Datum, Tensor};

use super::input_data::InputData;
use crate::error::{Result, TractNodeError};
use crate::session::{PreparedRun, Session};
use crate::tensor::{DType, OutputTensor};

#[derive(Deserialize)]
struct InferRequest {
  inputs: Vec<InferInput>,
  #[serde(default)]
  outputs: Option<Vec<RequestedOutput>>,
  /// Echoed as given: KServe's ids are strings, and a queue job's own `id` (any JSON) passes too.
  #[serde(default)]
  id: Option<Value>,
}

#[derive(Deserialize)]
struct InferInput {
  name: String,
  shape: Vec<usize>,
  datatype: String,
  data: InputData,
}

#[derive(Deserialize)]
struct RequestedOutput {
  name: String,
}

/// A parsed request: the checked run and the request id to echo.
pub struct Parsed {
  pub run: PreparedRun,
  pub id: Option<Value>,
}

/// The KServe datatype of a dtype.
pub fn datatype(dtype: DType) -> &'static str {
  match dtype {
    DType::Float32 => "FP32",
    DType::Float64 => "FP64",
    DType::Float16 => "FP16",
    DType::Int8 => "INT8",
    DType::Uint8 => "UINT8",
    DType::Int16 => "INT16",
    DType::Uint16 => "UINT16",
    DType::Int32 => "INT32",
    DType::Uint32 => "UINT32",
    DType::Int64 => "INT64",
    DType::Uint64 => "UINT64",
    DType::Bool => "BOOL",
    DType::String => "BYTES",
  }
}

/// Parses a request body and checks it against the session's inputs.
pub fn parse(body: &[u8], session: &Session) -> Result<Parsed> {
  let request: InferRequest = serde_json::from_slice(body).map_err(|e| {
    TractNodeError::invalid_arg("body", format!("not a KServe V2 inference request: {e}"))
  })?;
  let feeds = request
    .inputs
    .into_iter()
    .map(|input| Ok((input.name.clone(), input_tensor(input)?)))
    .collect::<Result<Vec<_>>>()?;
  let fetches: Option<Vec<String>> =
    request.outputs.map(|outputs| outputs.into_iter().map(|o| o.name).collect());
  Ok(Parsed { run: session.prepare(feeds, fetches.as_deref())?, id: request.id })
}

fn input_tensor(input: InferInput) -> Result<Tensor> {
  let InferInput { name, shape, datatype: declared, data } = input;
  let dtype = DType::ALL.into_iter().find(|d| datatype(*d) == declared).ok_or_else(|| {
    TractNodeError::invalid_arg(
      format!("inputs '{name}'.datatype"),
      format!("unknown datatype '{declared}'"),
    )
  })?;
  data.into_tensor(&name, &declared, dtype, &shape)
}

#[derive(Serialize)]
struct InferResponse<'a> {
  model_name: &'a str,
  #[serde(skip_serializing_if = "Option::is_none")]
  id: Option<Value>,
  outputs: Vec<ResponseOutput<'a>>,
}

#[derive(Serialize)]
struct ResponseOutput<'a> {
  name: &'a str,
  datatype: &'static str,
  shape: &'a [usize],
  data: Data<'a>,
}

/// A tensor's elements as a flat JSON array (int64 beyond 2^53 keeps its digits).
struct Data<'a>(&'a OutputTensor);

impl Serialize for Data<'_> {
  fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
    fn seq<S: Serializer, T: Datum + Serialize>(
      serializer: S,
      tensor: &Tensor,
    ) -> std::result::Result<S::Ok, S::Error> {
      let view = tensor.try_as_plain_ram().map_err(serde::ser::Error::custom)?;
      let values = view.as_slice::<T>().map_err(serde::ser::Error::custom)?;
      let mut seq = serializer.serialize_seq(Some(values.len()))?;
      values.iter().try_for_each(|v| seq.serialize_element(v))?;
      seq.end()
    }
    let tensor = &self.0.tensor;
    match self.0.dtype {
      DType::Float32 => seq::<S, f32>(serializer, tensor),
      DType::Float64 => seq::<S, f64>(serializer, tensor),
      DType::Float16 => {
        let view = tensor.try_as_plain_ram().map_err(serde::ser::Error::custom)?;
        let values = view.as_slice::<f16>().map_err(serde::ser::Error::custom)?;
        serializer.collect_seq(values.iter().map(|v| v.to_f32()))
      }
      DType::Int8 => seq::<S, i8>(serializer, tensor),
      DType::Uint8 => seq::<S, u8>(serializer, tensor),
      DType::Int16 => seq::<S, i16>(serializer, tensor),
      DType::Uint16 => seq::<S, u16>(serializer, tensor),
      DType::Int32 => seq::<S, i32>(serializer, tensor),
      DType::Uint32 => seq::<S, u32>(serializer, tensor),
      DType::Int64 => seq::<S, i64>(serializer, tensor),
      DType::Uint64 => seq::<S, u64>(serializer, tensor),
      DType::Bool => seq::<S, bool>(serializer, tensor),
      DType::String => seq::<S, String>(serializer, tensor),
    }
  }
}

/// The response body for `outputs`.
pub fn response(
  model_name: &str,
  id: Option<Value>,
  outputs: &[(String, OutputTensor)],
) -> Result<Vec<u8>> {
  let outputs = outputs
    .iter()
    .map(|(name, output)| ResponseOutput {
      name,
      datatype: datatype(output.dtype),
      shape: output.tensor.shape(),
      data: Data(output),
    })
    .collect();
  serde_json::to_vec(&InferResponse { model_name, id, outputs })
    .map_err(|e| TractNodeError::Internal { reason: e.to_string() })
}

#[cfg(test)]
mod tests {
  use super::*;
  use crate::session::options::SessionConfig;
  use crate::session::ModelSource;

  fn multi_io() -> Session {
    let path = format!("{}/__test__/fixtures/multi_io.onnx", env!("CARGO_MANIFEST_DIR"));
    Session::load(ModelSource::Path(std::path::Path::new(&path)), &SessionConfig::default())
      .unwrap()
  }

  #[test]
  fn requests_parse_to_runs_and_responses_serialise() {
    let session = multi_io();
    let body = br#"{"id":"r1","inputs":[{"name":"a","shape":[1,4],"datatype":"FP32","data":[[1,2,3,4]]},
      {"name":"b","shape":[1,4],"datatype":"FP32","data":[0.5,0.5,0.5,0.5]}],"outputs":[{"name":"product"}]}"#;
    let parsed = parse(body, &session).unwrap();
    let outputs = session.execute(parsed.run).unwrap();
    let text = String::from_utf8(response("m", parsed.id, &outputs).unwrap()).unwrap();
    assert_eq!(
      text,
      r#"{"model_name":"m","id":"r1","outputs":[{"name":"product","datatype":"FP32","shape":[1,4],"data":[0.5,1.0,1.5,2.0]}]}"#
    );
    // A queue job's own id, whatever JSON it is, comes back as it was.
    let body = br#"{"id":7,"inputs":[{"name":"a","shape":[1,4],"datatype":"FP32","data":[1,2,3,4]},
      {"name":"b","shape":[1,4],"datatype":"FP32","data":[1,1,1,1]}],"outputs":[{"name":"product"}]}"#;
    let parsed = parse(body, &session).unwrap();
    let outputs = session.execute(parsed.run).unwrap();
    let text = String::from_utf8(response("m", parsed.id, &outputs).unwrap()).unwrap();
    assert!(text.starts_with(r#"{"model_name":"m","id":7,"#), "{text}");
  }

  #[test]
  fn bad_requests_are_client_errors() {
    let session = multi_io();
    let code = |body: &[u8]| parse(body, &session).err().map(|e| e.code().as_str()).unwrap_or("ok");
    assert_eq!(code(b"{"), "ERR_INVALID_ARG");
    assert_eq!(
      code(br#"{"inputs":[{"name":"a","shape":[1,4],"datatype":"FP99","data":[1,2,3,4]}]}"#),
      "ERR_INVALID_ARG"
    );
    assert_eq!(
      code(br#"{"inputs":[{"name":"a","shape":[1,4],"datatype":"FP32","data":[1,2,3]}]}"#),
      "ERR_TENSOR_DATA"
    );
    assert_eq!(
      code(br#"{"inputs":[{"name":"a","shape":[1,4],"datatype":"FP32","data":["x",2,3,4]}]}"#),
      "ERR_TENSOR_DATA"
    );
    assert_eq!(
      code(br#"{"inputs":[{"name":"a","shape":[1,4],"datatype":"FP32","data":[1,2,3,4]}]}"#),
      "ERR_INPUT_MISSING"
    );
  }
}
