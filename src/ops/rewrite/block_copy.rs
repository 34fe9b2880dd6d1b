//! Constant-mode `Pad` and `Downsample` (every `stride`-th index of one axis) as copies of
//! contiguous rows. tract computes both through ndarray's element-by-element indexing over dynamic
//! dims, and fills a padded output before copying the input over it. tract inserts both when it
//! lowers padded or strided convolutions, so the rewrite runs on the optimised plan. Values are only moved, so one implementation serves every element type of 1, 2, 4 or 8 bytes.

use tract_core::ops::array::{Pad, PadMode};
use tract_core::ops::downsample::Downsample;
use tract_hir::internal::*;

/// Replaces tract's constant-mode `Pad` and forward `Downsample` by [`ConstantPad`] and
/// [`Subsample`], for element types they can move. Call last, on the optimised model.
pub fn replace_block_copies(model: &mut TypedModel) -> TractResult<()> {
  for id in 0..model.nodes().len() {
    let node = model.node(id);
    let Some(&input) = node.inputs.first() else { continue };
    let datum_type = model.outlet_fact(input)?.datum_type;
    if !movable(datum_type) {
      continue;
    }
    let op: Box<dyn TypedOp> = if let Some(pad) = node.op_as::<Pad>() {
      let PadMode::Constant(value) = &pad.mode else { continue };
      let value = value.cast_to_dt(datum_type)?.into_owned().into_arc_tensor();
      Box::new(ConstantPad { pad: pad.clone(), value })
    } else if let Some(down) = node.op_as::<Downsample>() {
      let Ok(stride) = usize::try_from(down.stride) else { continue };
      Box::new(Subsample { down: down.clone(), stride })
    } else {
      continue;
    };
    model.node_mut(id).op = op;
  }
  Ok(())
}

/// Whether values of `datum_type` are plain bytes of a size the copies handle.
fn movable(datum_type: DatumType) -> bool {
  datum_type.is_copy() && matches!(datum_type.size_of(), 1 | 2 | 4 | 8)
}

/// `$copy::<T>(args)` with `T` an integer type of `$size` bytes (1, 2, 4 or 8, see [`movable`]).
macro_rules! by_size {
  ($size:expr, $copy:ident($($arg:expr),*)) => {
    match $size {
      1 => $copy::<i8>($($arg),*),
      2 => $copy::<i16>($($arg),*),
      4 => $copy::<i32>($($arg),*),
      _ => $copy::<i64>($($arg),*),
    }
  };
}

/// The values of a tensor held in plain memory, as `T` (of the same size as its element type).
fn values<T: Datum + Copy>(tensor: &Tensor) -> TractResult<&[T]> {
  ensure!(tensor.as_plain_ram_storage().is_some(), "tensor is not in plain memory");
  // SAFETY: plain storage, and `T` has the element type's size (`movable`) and alignment.
  Ok(unsafe { tensor.as_slice_unchecked::<T>() })
}

/// A new tensor of `shape`, its values given by `fill`.
fn tensor_filled<T: Datum + Copy>(
  datum_type: DatumType,
  shape: &[usize],
  fill: impl FnOnce(&mut [T]),
) -> TractResult<Tensor> {
  // SAFETY: `fill` writes every value before the tensor is read.
  let mut tensor = unsafe { Tensor::uninitialized_dt(datum_type, shape)? };
  // SAFETY: as in `values`.
  fill(unsafe { tensor.as_slice_mut_unchecked::<T>() });
  Ok(tensor)
}

/// tract's `Pad` in constant mode: `pads[axis] = (before, after)` values of `value` around each axis.
#[derive(Debug, Clone, Hash, PartialEq, Eq)]
pub struct ConstantPad {
  /// The op replaced, whose output facts this one keeps.
  pad: Pad,
  /// Its constant, as a scalar of the input's element type.
  value: Arc<Tensor>,
}

impl Op for ConstantPad {
  fn name(&self) -> StaticName {
    "Pad".into()
  }

  op_as_typed_op!();
}

impl TypedOp for ConstantPad {
  fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
    self.pad.output_facts(inputs)
  }

  as_op!();
}

impl EvalOp for ConstantPad {
  op_out_of_plan!();

  fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
    let input = args_1!(inputs);
    let size = input.datum_type().size_of();
    let output = by_size!(size, pad(&input, &self.pad.pads, &self.value))?;
    Ok(tvec!(output.into_tvalue()))
  }
}

/// `input` with `pads` values of `value` around each axis, written row by row of the last axis,
/// each output value once: a row inside the input's extent is `value`s, a row of the input, and
/// `value`s; any other row is all `value`s.
fn pad<T: Datum + Copy>(
  input: &Tensor,
  pads: &[(usize, usize)],
  value: &Tensor,
) -> TractResult<Tensor> {
  let shape = input.shape();
  ensure!(pads.len() == shape.len(), "one (before, after) pair per axis");
  let padded: TVec<usize> = shape
    .iter()
    .zip(pads)
    .map(|(d, (before, after))| d.checked_add(*before)?.checked_add(*after))
    .collect::<Option<_>>()
    .context("padded shape overflows")?;
  let (source, fill) = (values::<T>(input)?, values::<T>(value)?[0]);
  tensor_filled(input.datum_type(), &padded, |output: &mut [T]| {
    let (Some((&row, outer_shape)), Some((&(left, _), outer_pads))) =
      (padded.split_last(), pads.split_last())
    else {
      return output.copy_from_slice(source);
    };
    if output.is_empty() {
      return;
    }
    let width = shape[shape.len() - 1];
    let strides = input.strides();
    let mut outer = vec![0usize; outer_shape.len()];
    for output_row in output.chunks_exact_mut(row) {
      // Where the input row sits, when this output row lies inside the input's extent.
      let source_start =
        outer.iter().enumerate().zip(outer_pads).try_fold(0, |start, ((axis, i), (before, _))| {
          let i = i.checked_sub(*before).filter(|i| *i < shape[axis])?;
          Some(start + i * strides[axis] as usize)
        });
      match source_start {
        Some(start) => {
          let (head, rest) = output_row.split_at_mut(left);
          let (middle, tail) = rest.split_at_mut(width);
          head.fill(fill);
          middle.copy_from_slice(&source[start..start + width]);
          tail.fill(fill);
        }
        None => output_row.fill(fill),
      }
      next_index(&mut outer, outer_shape);
    }
  })
}

/// Advances `index` to the next one in row-major order within `shape` (wrapping to all zeros).
/// (ndarray's `indices` iterator over dynamic dims doubled the padding's time.)
fn next_index(index: &mut [usize], shape: &[usize]) {
  for axis in (0..index.len()).rev() {
    index[axis] += 1;
    if index[axis] < shape[axis] {
      return;
    }
    index[axis] = 0;
  }
}

/// tract's `Downsample` with a forward stride: indices `modulo`, `modulo + stride`, … of `axis`.
#[derive(Debug, Clone, Hash, PartialEq, Eq)]
pub struct Subsample {
  /// The op replaced, whose output facts this one keeps.
  down: Downsample,
  /// Its stride, positive.
  stride: usize,
}

impl Op for Subsample {
  fn name(&self) -> StaticName {
    "Downsample".into()
  }

  op_as_typed_op!();
}

impl TypedOp for Subsample {
  fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
    self.down.output_facts(inputs)
  }

  as_op!();
}

impl EvalOp for Subsample {
  op_out_of_plan!();

  fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
    let input = args_1!(inputs);
    let size = input.datum_type().size_of();
    let output = by_size!(size, subsample(&input, self))?;
    Ok(tvec!(output.into_tvalue()))
  }
}

/// The indices of the axis that `op` keeps, each a block of the axes after it copied whole.
fn subsample<T: Datum + Copy>(input: &Tensor, op: &Subsample) -> TractResult<Tensor> {
  let (shape, axis, start, stride) = (input.shape(), op.down.axis, op.down.modulo, op.stride);
  ensure!(axis < shape.len() && stride > 0);
  let len = shape[axis];
  let kept = len.saturating_sub(start).div_ceil(stride);
  let inner = input.strides()[axis] as usize;
  let mut output_shape = shape.to_vec();
  output_shape[axis] = kept;
  let source = values::<T>(input)?;
  tensor_filled(input.datum_type(), &output_shape, |output: &mut [T]| {
    if output.is_empty() {
      return;
    }
    for (from, to) in source.chunks_exact(len * inner).zip(output.chunks_exact_mut(kept * inner)) {
      let rows = from[start * inner..].chunks(inner).step_by(stride);
      for (row, target) in rows.zip(to.chunks_exact_mut(inner)) {
        target.copy_from_slice(row);
      }
    }
  })
}

#[cfg(test)]
mod tests {
  use super::*;
  use tract_ndarray::{ArrayD, Dimension, IxDyn};

  const SHAPE: [usize; 4] = [2, 3, 4, 5];

  /// A `[2, 3, 4, 5]` tensor of `datum_type` whose values tell their index apart.
  fn input(datum_type: DatumType) -> Tensor {
    let values = ArrayD::from_shape_fn(&SHAPE[..], |index| {
      (index[0] * 37 + index[1] * 11 + index[2] * 5 + index[3]) as f64 % 100.0
    });
    values.into_tensor().cast_to_dt(datum_type).unwrap().into_owned()
  }

  fn as_f64(tensor: &Tensor) -> ArrayD<f64> {
    tensor.cast_to::<f64>().unwrap().to_plain_array_view::<f64>().unwrap().to_owned()
  }

  /// A model of one tract `op` on a `[2, 3, 4, 5]` input of `datum_type`, after the rewrite.
  fn rewritten(op: impl TypedOp, datum_type: DatumType) -> TypedModel {
    let mut model = TypedModel::default();
    let x = model.add_source("x", TypedFact::dt_shape(datum_type, SHAPE)).unwrap();
    let y = model.wire_node("y", op, &[x]).unwrap();
    model.select_output_outlets(&y).unwrap();
    replace_block_copies(&mut model).unwrap();
    model
  }

  /// The rewritten model of `op` and its output for [`input`].
  fn run(op: impl TypedOp, datum_type: DatumType) -> (TypedModel, Tensor) {
    let model = rewritten(op, datum_type);
    let plan = model.clone().into_runnable().unwrap();
    let output = plan.run(tvec!(input(datum_type).into_tvalue())).unwrap();
    (model, output[0].clone().into_tensor())
  }

  #[test]
  fn constant_pads_equal_the_definition_for_every_element_size() {
    let pads = vec![(0, 1), (2, 0), (1, 1), (0, 3)];
    for (datum_type, value) in [
      (DatumType::F32, -1.5),
      (DatumType::I64, 7.0),
      (DatumType::U8, 9.0),
      (DatumType::I16, -3.0),
      (DatumType::Bool, 1.0),
    ] {
      let mode = PadMode::Constant(tensor0(value as f32).into_arc_tensor());
      let (model, padded) = run(Pad::new(pads.clone(), mode), datum_type);
      assert!(model.node(1).op_is::<ConstantPad>(), "{datum_type:?}");
      let (source, padded) = (as_f64(&input(datum_type)), as_f64(&padded));
      let fill = as_f64(&tensor0(value as f32).cast_to_dt(datum_type).unwrap())[[]];
      assert_eq!(padded.shape(), [3, 5, 6, 8], "{datum_type:?}");
      for (index, got) in padded.indexed_iter() {
        let at: Option<Vec<usize>> = (0..4)
          .map(|axis| index[axis].checked_sub(pads[axis].0).filter(|i| *i < SHAPE[axis]))
          .collect();
        let want = at.map_or(fill, |at| source[IxDyn(&at)]);
        assert_eq!(*got, want, "{datum_type:?} at {index:?}");
      }
    }
  }

  #[test]
  fn pads_of_vectors_scalars_and_empty_tensors() {
    let padded = |input: Tensor, pads: &[(usize, usize)]| {
      let output = pad::<i32>(&input, pads, &tensor0(9i32)).unwrap();
      (output.shape().to_vec(), values::<i32>(&output).unwrap().to_vec())
    };
    assert_eq!(padded(tensor1(&[1i32, 2, 3]), &[(2, 1)]), (vec![6], vec![9, 9, 1, 2, 3, 9]));
    assert_eq!(padded(tensor0(5i32), &[]), (vec![], vec![5]));
    let empty = Tensor::zero::<i32>(&[2, 0]).unwrap();
    assert_eq!(padded(empty.clone(), &[(0, 0), (1, 1)]), (vec![2, 2], vec![9; 4]));
    assert_eq!(padded(empty, &[(1, 0), (0, 0)]), (vec![3, 0], vec![]));
  }

  #[test]
  fn subsamples_equal_the_definition_on_every_axis() {
    for (axis, stride, start) in [(0, 2, 1), (1, 2, 0), (2, 3, 1), (3, 2, 0), (3, 4, 3), (2, 1, 0)]
    {
      let op = Downsample::new(axis, stride as isize, start);
      let (model, output) = run(op, DatumType::F32);
      assert!(model.node(1).op_is::<Subsample>());
      let (source, output) = (as_f64(&input(DatumType::F32)), as_f64(&output));
      let mut shape = SHAPE.to_vec();
      shape[axis] = SHAPE[axis].saturating_sub(start).div_ceil(stride);
      assert_eq!(output.shape(), shape, "axis {axis} stride {stride} from {start}");
      for (index, got) in output.indexed_iter() {
        let mut at = index.slice().to_vec();
        at[axis] = start + at[axis] * stride;
        assert_eq!(*got, source[IxDyn(&at)], "axis {axis} stride {stride} from {start}");
      }
    }
  }

  #[test]
  fn edge_pads_backward_strides_and_strings_stay_with_tract() {
    let edge = Pad::new(vec![(1, 1); 4], PadMode::Edge);
    assert!(rewritten(edge, DatumType::F32).node(1).op_is::<Pad>());
    let backward = Downsample::new(1, -1, 0);
    assert!(rewritten(backward, DatumType::F32).node(1).op_is::<Downsample>());
    let constant = PadMode::Constant(tensor0(0f32).into_arc_tensor());
    let strings = Pad::new(vec![(1, 1); 4], constant);
    assert!(rewritten(strings, DatumType::String).node(1).op_is::<Pad>());
  }
}
