//! `LpPool` (ai.onnx), which tract lacks: `(Σ |x|^p)^(1/p)` over each window of the spatial axes
//! (`[N, C, d…]`), padding contributing nothing, with strides, dilations, explicit or `SAME_*` /
//! `VALID` padding and `ceil_mode`.

use tract_hir::internal::*;
use tract_ndarray::{ArrayD, Dimension, IxDyn};
use tract_onnx::model::OnnxOpRegister;
use tract_onnx::pb::NodeProto;

use crate::ops::plain::{array_of, plain, FactSpec, Plain};

/// Registers the operator.
pub fn register(reg: &mut OnnxOpRegister) {
  reg.insert("LpPool", |_, node| plain(LpPool::parse(node)?));
}

#[derive(Debug)]
struct LpPool {
  p: f32,
  kernel: Vec<usize>,
  strides: Vec<usize>,
  dilations: Vec<usize>,
  /// Explicit pads, begins then ends; `None` for `auto_pad`.
  pads: Option<Vec<usize>>,
  auto_pad: String,
  ceil_mode: bool,
}

impl LpPool {
  fn parse(node: &NodeProto) -> TractResult<LpPool> {
    let kernel: Vec<usize> = node.get_attr_vec::<usize>("kernel_shape")?;
    let spatial = kernel.len();
    let ones = || vec![1; spatial];
    let auto_pad = node.get_attr_opt::<&str>("auto_pad")?.unwrap_or("NOTSET").to_string();
    let pads = node.get_attr_opt_vec::<usize>("pads")?;
    ensure!(
      pads.as_ref().is_none_or(|p| p.len() == 2 * spatial),
      "pads must list a begin and an end per spatial axis"
    );
    Ok(LpPool {
      p: node.get_attr_opt::<i64>("p")?.unwrap_or(2) as f32,
      strides: node.get_attr_opt_vec::<usize>("strides")?.unwrap_or_else(ones),
      dilations: node.get_attr_opt_vec::<usize>("dilations")?.unwrap_or_else(ones),
      pads: if auto_pad == "NOTSET" {
        Some(pads.unwrap_or_else(|| vec![0; 2 * spatial]))
      } else {
        None
      },
      ceil_mode: node.get_attr_opt::<i64>("ceil_mode")?.unwrap_or(0) != 0,
      auto_pad,
      kernel,
    })
  }

  /// Per spatial axis: the output length and the padding before the first window.
  fn geometry(&self, input: &[usize]) -> TractResult<Vec<(usize, usize)>> {
    ensure!(
      input.len() == self.kernel.len(),
      "LpPool has {} spatial axes, the input {}",
      self.kernel.len(),
      input.len()
    );
    (0..input.len())
      .map(|axis| {
        let (len, stride) = (input[axis], self.strides[axis]);
        let extent = (self.kernel[axis] - 1) * self.dilations[axis] + 1;
        Ok(match (self.auto_pad.as_str(), &self.pads) {
          (_, Some(pads)) => {
            let padded = len + pads[axis] + pads[axis + input.len()];
            ensure!(
              padded >= extent,
              "the window ({extent}) is wider than the padded input ({padded})"
            );
            let steps = (padded - extent) as f64 / stride as f64;
            let steps = if self.ceil_mode { steps.ceil() } else { steps.floor() } as usize;
            (steps + 1, pads[axis])
          }
          ("VALID", None) => {
            ensure!(len >= extent, "the window ({extent}) is wider than the input ({len})");
            ((len - extent) / stride + 1, 0)
          }
          (same, None) => {
            let out = len.div_ceil(stride);
            let total = ((out - 1) * stride + extent).saturating_sub(len);
            (out, if same == "SAME_LOWER" { total.div_ceil(2) } else { total / 2 })
          }
        })
      })
      .collect()
  }
}

impl Plain for LpPool {
  fn name(&self) -> &'static str {
    "LpPool"
  }

  fn output_facts(&self, inputs: &[FactSpec]) -> TractResult<TVec<FactSpec>> {
    let (dt, shape) = &inputs[0];
    ensure!(shape.len() == self.kernel.len() + 2, "LpPool takes [N, C, spatial…]");
    let spatial: Vec<usize> =
      shape[2..].iter().map(|d| Ok(d.to_usize()?)).collect::<TractResult<_>>()?;
    let mut out: TVec<TDim> = shape[..2].into();
    out.extend(self.geometry(&spatial)?.into_iter().map(|(len, _)| len.to_dim()));
    Ok(tvec!((*dt, out)))
  }

  fn eval(&self, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
    let dt = inputs[0].datum_type();
    let x = array_of::<f32>(&inputs[0])?;
    let geometry = self.geometry(&x.shape()[2..])?;
    let mut shape = x.shape()[..2].to_vec();
    shape.extend(geometry.iter().map(|(len, _)| *len));
    let mut out = ArrayD::<f32>::zeros(IxDyn(&shape));
    let kernel_positions: Vec<Vec<usize>> = tract_ndarray::indices(IxDyn(&self.kernel))
      .into_iter()
      .map(|ix| ix.slice().to_vec())
      .collect();
    for (ix, value) in out.indexed_iter_mut() {
      let mut sum = 0f32;
      'window: for offsets in &kernel_positions {
        let mut source = vec![ix[0], ix[1]];
        for (axis, &(_, pad)) in geometry.iter().enumerate() {
          let position = (ix[axis + 2] * self.strides[axis] + offsets[axis] * self.dilations[axis])
            as isize
            - pad as isize;
          if position < 0 || position as usize >= x.shape()[axis + 2] {
            continue 'window;
          }
          source.push(position as usize);
        }
        sum += x[IxDyn(&source)].abs().powf(self.p);
      }
      *value = sum.powf(1.0 / self.p);
    }
    Ok(tvec!(out.into_tensor().cast_to_dt(dt)?.into_owned().into_tvalue()))
  }
}
