//! The shell of the ai.onnx.ml preprocessing operators computed by one function of their whole
//! input tensor ([`Map`]), and the value helpers they share.

use std::fmt;

use tract_hir::internal::*;

use crate::ops::plain::{plain, values_of, FactSpec, Plain};

type Compute = dyn Fn(&Tensor) -> TractResult<Tensor> + Send + Sync;

/// A one-input, one-output operator computed by a function of the whole input.
struct Map {
  name: &'static str,
  /// The output's element type; `None` keeps the input's.
  output_type: Option<DatumType>,
  /// A last dim the output adds to the input's shape (one-hot categories); `None` keeps the shape.
  appended_dim: Option<usize>,
  compute: Box<Compute>,
}

impl fmt::Debug for Map {
  fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    write!(f, "{}", self.name)
  }
}

pub fn map(
  name: &'static str,
  output_type: Option<DatumType>,
  appended_dim: Option<usize>,
  compute: impl Fn(&Tensor) -> TractResult<Tensor> + Send + Sync + 'static,
) -> TractResult<(Box<dyn InferenceOp>, Vec<String>)> {
  plain(Map { name, output_type, appended_dim, compute: Box::new(compute) })
}

impl Plain for Map {
  fn name(&self) -> &'static str {
    self.name
  }

  fn output_facts(&self, inputs: &[FactSpec]) -> TractResult<TVec<FactSpec>> {
    let [(dt, shape)] = inputs else { bail!("{} takes one input", self.name) };
    let mut shape = shape.clone();
    if let Some(dim) = self.appended_dim {
      shape.push(dim.to_dim());
    }
    Ok(tvec!((self.output_type.unwrap_or(*dt), shape)))
  }

  fn eval(&self, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
    let input = args_1!(inputs);
    Ok(tvec!((self.compute)(&input)?.into_tvalue()))
  }
}

/// The input as f32 values, with its shape.
pub fn floats(input: &Tensor) -> TractResult<(Vec<usize>, Vec<f32>)> {
  Ok((input.shape().to_vec(), values_of::<f32>(input)?))
}

/// Per-column parameter `values` for a row of `width`: one per column, or one for all.
pub fn per_column(values: &[f32], width: usize, what: &str) -> TractResult<Vec<f32>> {
  match values.len() {
    1 => Ok(vec![values[0]; width]),
    n if n == width => Ok(values.to_vec()),
    n => bail!("{what} has {n} values for rows of {width}"),
  }
}
