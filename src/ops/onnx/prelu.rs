//! `PRelu` (ai.onnx): `x` where `x ≥ 0`, else `slope · x`, the slope broadcast to `x`. tract lowers
//! it to a comparison, a product and a select over the whole tensor, which at batch > 1 fall to its
//! generic broadcasting (~55 % of a face detector's run at batch 4). Here one pass, a scalar slope
//! per channel when the slope is per channel (`[C, 1, 1]`, the common case).

use tract_hir::internal::*;
use tract_onnx::model::OnnxOpRegister;

use crate::ops::plain::{plain, FactSpec, Plain};

/// Registers the operator over tract's.
pub fn register(reg: &mut OnnxOpRegister) {
  reg.insert("PRelu", |_, _| plain(PRelu));
}

#[derive(Debug)]
struct PRelu;

impl Plain for PRelu {
  fn name(&self) -> &'static str {
    "PRelu"
  }

  fn output_facts(&self, inputs: &[FactSpec]) -> TractResult<TVec<FactSpec>> {
    ensure!(inputs.len() == 2, "PRelu takes x and slope");
    let broadcast =
      tract_core::broadcast::multi_broadcast(&[inputs[0].1.clone(), inputs[1].1.clone()])?;
    ensure!(
      broadcast == inputs[0].1,
      "PRelu slope {:?} does not broadcast to x {:?}",
      inputs[1].1,
      inputs[0].1
    );
    Ok(tvec!(inputs[0].clone()))
  }

  fn is_elementwise(&self) -> bool {
    true
  }

  fn eval(&self, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
    let (x, slope) = args_2!(inputs);
    let dt = x.datum_type();
    // In place when x is f32 and no one else holds it.
    let mut y =
      if dt == f32::datum_type() { x.into_tensor() } else { x.cast_to::<f32>()?.into_owned() };
    let slope = slope.cast_to::<f32>()?;
    let shape = y.shape().to_vec();
    apply_slope(y.try_as_plain_ram_mut()?.as_slice_mut::<f32>()?, &shape, &slope)?;
    if dt != f32::datum_type() {
      y = y.cast_to_dt(dt)?.into_owned();
    }
    Ok(tvec!(y.into_tvalue()))
  }
}

/// PRelu of `data` (shaped `shape`) in place, `slope` broadcast to it.
fn apply_slope(data: &mut [f32], shape: &[usize], slope: &Tensor) -> TractResult<()> {
  // The slope aligned to x's rank (leading 1s), as ONNX broadcasting reads it.
  let mut slope_shape = vec![1; shape.len() - slope.rank()];
  slope_shape.extend_from_slice(slope.shape());
  let slope_values = slope.try_as_plain_ram()?.as_slice::<f32>()?;
  // Per channel: the slope varies along one axis only; each run of `inner` values shares one.
  let varying: Vec<usize> = (0..shape.len()).filter(|&a| slope_shape[a] != 1).collect();
  match varying.as_slice() {
    [] => data.iter_mut().for_each(|v| *v = prelu(*v, slope_values[0])),
    [axis] => {
      let inner: usize = shape[axis + 1..].iter().product();
      let channels = shape[*axis];
      for (block, chunk) in data.chunks_mut(inner).enumerate() {
        let a = slope_values[block % channels];
        chunk.iter_mut().for_each(|v| *v = prelu(*v, a));
      }
    }
    _ => {
      let slope_view = slope.to_plain_array_view::<f32>()?.into_shape_with_order(slope_shape)?;
      let slope_full = slope_view.broadcast(shape.to_vec()).context("slope broadcast")?;
      data.iter_mut().zip(slope_full.iter()).for_each(|(v, &a)| *v = prelu(*v, a));
    }
  }
  Ok(())
}

#[inline]
fn prelu(x: f32, slope: f32) -> f32 {
  if x < 0.0 {
    x * slope
  } else {
    x
  }
}
