//! Data-parallel runs: a batch cut into one chunk per intra-op thread, each chunk run by one thread
//! alone on a plan built for the chunk's shapes, and the outputs joined.
//!
//! tract splits a run's work node by node, and a node of a small model is too small to split well:
//! PP-OCR's direction classifier at batch 4 runs its 46 products as loops of 4 small ones, as fast
//! on 2 threads as on 1. Its images, though, never meet: every output row depends only on the same row
//! of the inputs. Two chunks of 2 images, each on its own thread, take as long as one batch-2 run.
//!
//! Which models allow it is read from tract's axis tracking on the decluttered model: the first
//! input's first axis must reach every output, pass through no node that sums or reshapes it away,
//! and meet no tensor computed along it from elsewhere (only inputs and constants may enter it,
//! broadcast). Inputs without that axis (a sample rate) go whole to every chunk. Splitting also
//! needs chunks that use each weight often enough ([`MIN_CHUNK_REUSE`]): a dense network's products
//! split better by weights, as tract splits them.

use std::collections::HashMap;
use std::ops::Range;

use tract_onnx::prelude::*;
use tract_onnx::tract_core::axes::{AxesMapping, Axis};
use tract_onnx::tract_core::ops::change_axes::InOut;
use tract_onnx::tract_core::ops::cnn::{MaxPool, SumPool};
use tract_onnx::tract_core::ops::nn::NearestUpsample;

use super::gate;

/// How a model's batches split: where the batch lies, and the fewest rows a chunk needs for
/// splitting to pay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Splitting {
  pub axes: BatchAxes,
  pub min_chunk_rows: usize,
}

impl Splitting {
  /// How `model` (decluttered for a concrete batch of `rows`) splits, if its rows are independent.
  pub fn of(model: &TypedModel, rows: usize) -> Option<Splitting> {
    Some(Splitting { axes: BatchAxes::of(model)?, min_chunk_rows: min_chunk_rows(model, rows) })
  }
}

/// Where the batch lies in a model's inputs and outputs, when every output row depends only on the
/// same row of the inputs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchAxes {
  /// Per input: its batch axis, or `None` for an input every row shares.
  pub inputs: Vec<Option<usize>>,
  /// Per output: its batch axis.
  pub outputs: Vec<usize>,
}

impl BatchAxes {
  /// The batch axes of `model` (decluttered, with its batch dim symbolic or known), if its rows are
  /// independent along the first input's first axis (see the module doc).
  pub fn of(model: &TypedModel) -> Option<BatchAxes> {
    let inputs = model.input_outlets().ok()?;
    let first = *inputs.first()?;
    if model.outlet_fact(first).ok()?.rank() == 0 {
      return None;
    }
    let axes = track(model, first, 0)?;
    let dim =
      |outlet: &OutletId, axis: usize| Some(model.outlet_fact(*outlet).ok()?.shape[axis].clone());
    let batch = dim(&first, 0)?;
    // Inputs broadcast along the batch (a dim of 1) go whole to every chunk; outputs hold every row.
    let input_axis = |input: &OutletId| match axes.get(input) {
      Some(&axis) if dim(input, axis)? == batch => Some(Some(axis)),
      Some(&axis) if dim(input, axis)? == TDim::Val(1) => Some(None),
      Some(_) => None,
      None => Some(None),
    };
    let output_axis = |output: &OutletId| {
      axes.get(output).copied().filter(|&a| dim(output, a) == Some(batch.clone()))
    };
    let outputs: Option<Vec<usize>> =
      model.output_outlets().ok()?.iter().map(output_axis).collect();
    Some(BatchAxes {
      inputs: inputs.iter().map(input_axis).collect::<Option<_>>()?,
      outputs: outputs.filter(|o| !o.is_empty())?,
    })
  }

  /// The batch size of `inputs`, when every batched input has the same one.
  pub fn batch_size(&self, inputs: &[TValue]) -> Option<usize> {
    let batched =
      self.inputs.iter().zip(inputs).filter_map(|(axis, input)| Some((axis.as_ref()?, input)));
    let mut sizes = batched.map(|(&axis, input)| input.shape().get(axis).copied());
    let size = sizes.next()??;
    sizes.all(|s| s == Some(size)).then_some(size)
  }

  /// The types and shapes of rows `rows` of `inputs`.
  pub fn chunk_shapes(
    &self,
    inputs: &[TValue],
    rows: &Range<usize>,
  ) -> Vec<(DatumType, TVec<usize>)> {
    let shape = |axis: &Option<usize>, input: &TValue| {
      let mut shape: TVec<usize> = input.shape().into();
      if let Some(axis) = axis {
        shape[*axis] = rows.len();
      }
      (input.datum_type(), shape)
    };
    self.inputs.iter().zip(inputs).map(|(axis, input)| shape(axis, input)).collect()
  }

  /// Rows `rows` of `inputs`: their batched inputs sliced, the others shared.
  pub fn chunk(&self, inputs: &[TValue], rows: &Range<usize>) -> TractResult<TVec<TValue>> {
    self
      .inputs
      .iter()
      .zip(inputs)
      .map(|(axis, input)| match axis {
        Some(axis) => Ok(input.slice(*axis, rows.start, rows.end)?.into_tvalue()),
        None => Ok(input.clone()),
      })
      .collect()
  }

  /// The outputs of the chunks, in order, joined along each output's batch axis.
  pub fn join(&self, chunks: Vec<TVec<TValue>>) -> TractResult<TVec<TValue>> {
    let mut joined = TVec::new();
    for (ix, &axis) in self.outputs.iter().enumerate() {
      let parts: Vec<&Tensor> = chunks.iter().map(|outputs| &*outputs[ix]).collect();
      joined.push(Tensor::stack_tensors(axis, &parts)?.into_tvalue());
    }
    Ok(joined)
  }
}

/// Every outlet axis `axis` of `start` reaches through nodes that keep it row by row, by tract's
/// axes mappings (and [`unmapped_axes`]), with its position there. `None` when it reaches a node
/// that sums or reshapes it away, or enters from a node that has inputs but computes it from none
/// of them (a reduction kept with size 1, broadcast back).
fn track(model: &TypedModel, start: OutletId, axis: usize) -> Option<HashMap<OutletId, usize>> {
  let mut reached = HashMap::from([(start, axis)]);
  let mut todo = vec![start];
  while let Some(outlet) = todo.pop() {
    let axis = reached[&outlet];
    let producer = model.node(outlet.node);
    let mapping = axes_mapping(model, producer)?;
    let producer_axis = mapping.axis((InOut::Out(outlet.slot), axis)).ok()?;
    if producer_axis.inputs.iter().all(|positions| positions.is_empty())
      && !producer.inputs.is_empty()
    {
      return None;
    }
    let mut next = linked(producer, producer_axis)?;
    for inlet in model.outlet_successors(outlet) {
      let consumer = model.node(inlet.node);
      let consumer_axis =
        axes_mapping(model, consumer)?.axis((InOut::In(inlet.slot), axis)).ok()?.clone();
      if consumer_axis.outputs.iter().all(|positions| positions.is_empty()) {
        return None;
      }
      next.extend(linked(consumer, &consumer_axis)?);
    }
    for (outlet, axis) in next {
      match reached.insert(outlet, axis) {
        None => todo.push(outlet),
        Some(previous) if previous != axis => return None,
        Some(_) => {}
      }
    }
  }
  Some(reached)
}

/// The inputs and outputs of `node` where `axis` (of its mapping) lies, once each (`None` when it
/// appears twice in one of them: a diagonal).
fn linked(node: &TypedNode, axis: &Axis) -> Option<Vec<(OutletId, usize)>> {
  let inputs = axis.inputs.iter().zip(&node.inputs).map(|(positions, &outlet)| (positions, outlet));
  let outputs = axis
    .outputs
    .iter()
    .enumerate()
    .map(|(slot, positions)| (positions, OutletId::new(node.id, slot)));
  let mut linked = Vec::new();
  for (positions, outlet) in inputs.chain(outputs) {
    match positions[..] {
      [] => {}
      [position] => linked.push((outlet, position)),
      _ => return None,
    }
  }
  Some(linked)
}

/// tract's axes mapping of `node`, or [`unmapped_axes`] for the operators it maps none of.
fn axes_mapping(model: &TypedModel, node: &TypedNode) -> Option<AxesMapping> {
  let (inputs, outputs) = model.node_facts(node.id).ok()?;
  unmapped_axes(node, &inputs, &outputs).or_else(|| node.op.axes_mapping(&inputs, &outputs).ok())
}

/// The axes tract maps none of for operators that keep some row by row: the batch axis of max and
/// average pooling, the axes nearest-neighbour upsampling does not scale.
fn unmapped_axes(
  node: &TypedNode,
  inputs: &[&TypedFact],
  outputs: &[&TypedFact],
) -> Option<AxesMapping> {
  let kept: Vec<usize> = if let Some(pool) = node.op_as::<MaxPool>() {
    pool.pool_spec.data_format.has_n().then_some(vec![0])?
  } else if let Some(pool) = node.op_as::<SumPool>() {
    pool.pool_spec.data_format.has_n().then_some(vec![0])?
  } else if let Some(upsample) = node.op_as::<NearestUpsample>() {
    upsample
      .scales
      .iter()
      .enumerate()
      .filter(|(_, &scale)| scale == 1)
      .map(|(axis, _)| axis)
      .collect()
  } else {
    return None;
  };
  let disconnected = AxesMapping::disconnected(inputs, outputs).ok()?;
  let linked = kept.into_iter().try_fold(disconnected, |mapping, axis| {
    mapping.linking((InOut::In(0), axis), (InOut::Out(0), axis))
  });
  linked.ok()
}

/// `batch` rows cut into `parts` ranges of sizes differing by at most one (fewer for fewer rows).
pub fn chunk_rows(batch: usize, parts: usize) -> Vec<Range<usize>> {
  let parts = parts.clamp(1, batch.max(1));
  let (size, larger) = (batch / parts, batch % parts);
  let mut start = 0;
  (0..parts)
    .map(|part| {
      let end = start + size + usize::from(part < larger);
      let rows = start..end;
      start = end;
      rows
    })
    .collect()
}

/// Multiply-adds per weight a chunk must do for splitting to pay: each thread then streams every
/// weight of the model instead of its share. An MLP (one multiply-add per weight per row) broke
/// even at 256 rows; the ResNet-style CNN (44 per image) ran slower split, PP-OCR's classifier (144
/// per image) nearly twice as fast.
const MIN_CHUNK_REUSE: f64 = 128.0;

/// The fewest rows a chunk of `model` (decluttered for a concrete batch of `rows`) needs for
/// splitting to pay (see [`MIN_CHUNK_REUSE`]).
pub fn min_chunk_rows(model: &TypedModel, rows: usize) -> usize {
  let (mut fmas, mut weights) = (0u64, 0u64);
  for node in model.nodes() {
    let Some(node_fmas) = gate::fmas(model, node) else { continue };
    fmas = fmas.saturating_add(node_fmas);
    let facts = model.node_input_facts(node.id).unwrap_or_default();
    let constants = facts.iter().filter(|f| f.konst.is_some());
    weights += constants.map(|f| f.shape.volume().to_i64().unwrap_or(0) as u64).sum::<u64>();
  }
  if weights == 0 || fmas == 0 {
    return 1;
  }
  let reuse_per_row = fmas as f64 / rows as f64 / weights as f64;
  (MIN_CHUNK_REUSE / reuse_per_row).ceil().max(1.0) as usize
}

#[cfg(test)]
mod tests {
  use super::*;
  use tract_onnx::tract_core::ops::change_axes::AxisOp;
  use tract_onnx::tract_core::ops::cnn::{Conv, KernelFormat, PaddingSpec, PoolSpec};
  use tract_onnx::tract_core::ops::einsum::EinSum;
  use tract_onnx::tract_core::ops::math;
  use tract_onnx::tract_core::ops::nn::{DataFormat, Reduce, Reducer};

  /// A model with a symbolic batch `N`: `x [N, 3, 8, 8]`, then what `build` wires after it.
  fn model(build: impl FnOnce(&mut TypedModel, OutletId, TDim) -> TVec<OutletId>) -> TypedModel {
    let mut model = TypedModel::default();
    let n = model.symbols.sym("N").to_dim();
    let x = model.add_source("x", f32::fact([n.clone(), 3.into(), 8.into(), 8.into()])).unwrap();
    let outputs = build(&mut model, x, n);
    model.select_output_outlets(&outputs).unwrap();
    model
  }

  fn constant(model: &mut TypedModel, name: &str, tensor: Tensor) -> OutletId {
    model.add_const(name, tensor).unwrap()
  }

  #[test]
  fn rows_kept_through_pooling_activations_and_reshapes_split() {
    let model = model(|model, x, n| {
      let strides = Some(tvec!(2, 2));
      let spec =
        PoolSpec::new(DataFormat::NCHW, tvec!(2, 2), PaddingSpec::Valid, None, strides, 3, 3);
      let pooled = model.wire_node("pool", MaxPool::new(spec, None), &[x]).unwrap();
      let zero = constant(model, "zero", tensor4(&[[[[0f32]]]]));
      let relu = model.wire_node("relu", math::max(), &[pooled[0], zero]).unwrap();
      let hw = AxisOp::Reshape(2, tvec!(4.into(), 4.into()), tvec!(16.into()));
      let flat = model.wire_node("flat", hw, &relu).unwrap();
      let _ = n;
      flat
    });
    assert_eq!(BatchAxes::of(&model), Some(BatchAxes { inputs: vec![Some(0)], outputs: vec![0] }));
  }

  #[test]
  fn inputs_without_the_batch_are_shared() {
    let mut model = model(|_, x, _| tvec!(x));
    let scale = model.add_source("scale", f32::fact([1, 1, 1, 1])).unwrap();
    let x = model.input_outlets().unwrap()[0];
    let y = model.wire_node("scaled", math::mul(), &[x, scale]).unwrap();
    model.select_output_outlets(&y).unwrap();
    let axes = BatchAxes::of(&model).unwrap();
    assert_eq!(axes, BatchAxes { inputs: vec![Some(0), None], outputs: vec![0] });
  }

  #[test]
  fn rows_that_meet_do_not_split() {
    // x minus its mean over the batch: every row depends on every other.
    let centred = model(|model, x, _| {
      let sum = model.wire_node("sum", Reduce::new(tvec!(0), Reducer::Sum), &[x]).unwrap();
      model.wire_node("centred", math::sub(), &[x, sum[0]]).unwrap()
    });
    assert_eq!(BatchAxes::of(&centred), None);
    // x minus the sum of another input over its batch.
    let mut offset = model(|_, x, _| tvec!(x));
    let n = offset.symbols.sym("N").to_dim();
    let z = offset.add_source("z", f32::fact([n, 3.into(), 8.into(), 8.into()])).unwrap();
    let sum = offset.wire_node("sum", Reduce::new(tvec!(0), Reducer::Sum), &[z]).unwrap();
    let x = offset.input_outlets().unwrap()[0];
    let y = offset.wire_node("offset", math::sub(), &[x, sum[0]]).unwrap();
    offset.select_output_outlets(&y).unwrap();
    assert_eq!(BatchAxes::of(&offset), None);
    // The batch merged with the channels.
    let merged = model(|model, x, n| {
      let merge = AxisOp::Reshape(0, tvec!(n.clone(), 3.into()), tvec!(n * 3));
      model.wire_node("merge", merge, &[x]).unwrap()
    });
    assert_eq!(BatchAxes::of(&merged), None);
  }

  #[test]
  fn chunks_cover_the_batch_and_join_back() {
    assert_eq!(chunk_rows(5, 2), vec![0..3, 3..5]);
    assert_eq!(chunk_rows(1, 2), vec![0..1]);
    assert_eq!(chunk_rows(3, 8), vec![0..1, 1..2, 2..3]);
    let axes = BatchAxes { inputs: vec![Some(1), None], outputs: vec![1] };
    let x = Tensor::from_shape(&[2, 5], &(0..10).map(|v| v as f32).collect::<Vec<_>>()).unwrap();
    let shared = tensor0(7f32).into_tvalue();
    let inputs = [x.clone().into_tvalue(), shared];
    assert_eq!(axes.batch_size(&inputs), Some(5));
    let chunks: Vec<TVec<TValue>> =
      chunk_rows(5, 2).iter().map(|rows| axes.chunk(&inputs, rows).unwrap()).collect();
    assert_eq!(chunks[0][0].shape(), &[2, 3]);
    assert_eq!(axes.chunk_shapes(&inputs, &(3..5))[0].1.to_vec(), vec![2, 2]);
    assert_eq!(*chunks[1][1], tensor0(7f32));
    let outputs = chunks.into_iter().map(|chunk| tvec!(chunk[0].clone())).collect();
    assert_eq!(*axes.join(outputs).unwrap()[0], x);
  }

  #[test]
  fn splitting_pays_from_enough_multiply_adds_per_weight() {
    // A dense layer uses each weight once per row: chunks need MIN_CHUNK_REUSE rows.
    let mut dense = TypedModel::default();
    let x = dense.add_source("x", f32::fact([4, 64])).unwrap();
    let w = constant(&mut dense, "w", Tensor::zero::<f32>(&[64, 32]).unwrap());
    let product = EinSum::new("mk,kn->mn".parse().unwrap(), f32::datum_type());
    let y = dense.wire_node("y", product, &[x, w]).unwrap();
    dense.select_output_outlets(&y).unwrap();
    assert_eq!(min_chunk_rows(&dense, 4), MIN_CHUNK_REUSE as usize);
    // A 3 × 3 convolution over 16 × 16 images uses each weight 256 times per image.
    let mut conv = TypedModel::default();
    let x = conv.add_source("x", f32::fact([2, 3, 16, 16])).unwrap();
    let w = constant(&mut conv, "w", Tensor::zero::<f32>(&[4, 3, 3, 3]).unwrap());
    let b = constant(&mut conv, "b", Tensor::zero::<f32>(&[4]).unwrap());
    let padding = PaddingSpec::ExplicitOnnxPool(tvec!(1, 1), tvec!(1, 1), false);
    let spec = PoolSpec::new(DataFormat::NCHW, tvec!(3, 3), padding, None, None, 3, 4);
    let op = Conv { pool_spec: spec, kernel_fmt: KernelFormat::OIHW, group: 1, q_params: None };
    let y = conv.wire_node("y", op, &[x, w, b]).unwrap();
    conv.select_output_outlets(&y).unwrap();
    assert_eq!(min_chunk_rows(&conv, 2), 1);
  }
}
