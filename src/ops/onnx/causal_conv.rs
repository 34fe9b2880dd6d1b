//! `CausalConvWithState` (ai.onnx), which tract lacks: a depthwise 1-D convolution over the input
//! left-padded with the carried state (zeros without one), an optional fused SiLU, and the new state
//! (the last `k − 1` positions of the padded input), as streaming speech and state-space models use.

use tract_hir::internal::*;
use tract_ndarray::{s, Array3, Axis, Ix3};
use tract_onnx::model::{optional_inputs, optional_outputs, OnnxOpRegister};
use tract_onnx::pb::NodeProto;

use crate::ops::plain::{array_of, plain, values_of, FactSpec, Plain};

/// Registers the operator.
pub fn register(reg: &mut OnnxOpRegister) {
  reg.insert("CausalConvWithState", |_, node| plain(CausalConv::parse(node)?));
}

#[derive(Debug)]
struct CausalConv {
  silu: bool,
  /// Indices among the op's inputs of the optional bias and past state.
  bias: Option<usize>,
  past_state: Option<usize>,
  present_state: bool,
}

impl CausalConv {
  fn parse(node: &NodeProto) -> TractResult<CausalConv> {
    let silu = match node.get_attr_opt::<&str>("activation")?.unwrap_or("none") {
      "none" => false,
      "silu" | "swish" => true,
      other => bail!("activation {other:?} is not none, silu or swish"),
    };
    let inputs: Vec<Option<usize>> = optional_inputs(node).take(4).collect();
    Ok(CausalConv {
      silu,
      bias: inputs[2],
      past_state: inputs[3],
      present_state: optional_outputs(node).nth(1).flatten().is_some(),
    })
  }
}

impl Plain for CausalConv {
  fn name(&self) -> &'static str {
    "CausalConvWithState"
  }

  fn nboutputs(&self) -> usize {
    1 + usize::from(self.present_state)
  }

  fn output_facts(&self, inputs: &[FactSpec]) -> TractResult<TVec<FactSpec>> {
    let (dt, input) = &inputs[0];
    let weight = &inputs[1].1;
    ensure!(input.len() == 3 && weight.len() == 3, "input and weight must be rank 3");
    let mut facts = tvec!((*dt, input.clone()));
    if self.present_state {
      let state = weight[2].clone() - 1;
      facts.push((*dt, tvec![input[0].clone(), input[1].clone(), state]));
    }
    Ok(facts)
  }

  fn eval(&self, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
    let dt = inputs[0].datum_type();
    let floats = |t: &TValue| -> TractResult<Array3<f32>> {
      Ok(array_of::<f32>(t)?.into_dimensionality::<Ix3>()?)
    };
    let input = floats(&inputs[0])?;
    let weight = floats(&inputs[1])?;
    let (batch, channels, len) = input.dim();
    let k = weight.shape()[2];
    ensure!(
      weight.shape()[0] == channels && k >= 1,
      "weight must be [{channels}, 1, k], got {:?}",
      weight.shape()
    );
    let past = match self.past_state {
      Some(ix) => floats(&inputs[ix])?,
      None => Array3::zeros((batch, channels, k - 1)),
    };
    ensure!(
      past.dim() == (batch, channels, k - 1),
      "past_state must be [{batch}, {channels}, {}]",
      k - 1
    );
    let padded = tract_ndarray::concatenate(Axis(2), &[past.view(), input.view()])?;
    let bias = self.bias.map(|ix| values_of::<f32>(&inputs[ix])).transpose()?;
    let mut output = Array3::<f32>::zeros((batch, channels, len));
    for ((b, c, t), value) in output.indexed_iter_mut() {
      let window = padded.slice(s![b, c, t..t + k]);
      let sum: f32 = window.iter().zip(weight.slice(s![c, 0, ..])).map(|(x, w)| x * w).sum();
      let sum = sum + bias.as_ref().map_or(0.0, |bias| bias[c]);
      *value = if self.silu { sum / (1.0 + (-sum).exp()) } else { sum };
    }
    let cast = |a: Array3<f32>| -> TractResult<TValue> {
      Ok(a.into_tensor().cast_to_dt(dt)?.into_owned().into_tvalue())
    };
    let mut outputs = tvec!(cast(output)?);
    if self.present_state {
      outputs.push(cast(padded.slice(s![.., .., len..]).to_owned())?);
    }
    Ok(outputs)
  }
}
