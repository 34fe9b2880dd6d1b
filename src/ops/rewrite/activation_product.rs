//! Products of two activations over a batch of matrices — a transformer's attention scores (queries
//! by keys) and its weighted values (scores by values) — computed on tract-node's narrow tiles
//! (`crate::ops::kernels::dense_product`).
//!
//! tract runs such a product as one matrix product per batch item (per text and head), packing
//! both operands each time: for 16 tokens and 12 heads, items of 16 × 32 × 16 spend far more on
//! dispatch and packing than on arithmetic (a tenth of a batch-32 MiniLM run). Here the items are
//! split over the intra-op threads in runs; each item's left rows are gathered and its right
//! operand packed into the tiles' layout in scratch kept for the run, then tiled like a dense
//! product. Any axis layout works: the operands' strides are read at run time, so the symbolic
//! dims of a generic plan (texts, tokens) are fine.
//!
//! Attention scales its scores by a constant and adds a mask that varies along the keys only; both
//! are folded in when they follow the product (the scale as the left rows are gathered, the mask as
//! each item's bias), instead of two passes over the scores.

use std::ops::Range;

use tract_core::ops::einsum::EinSum;
use tract_core::ops::math::{Add, Mul};
use tract_hir::internal::*;

use super::consumer::{binary_consumer, binary_with_constant};
use crate::cpu::Tier;
use crate::ops::kernels::dense_product::{kernel, Tile, TileShape};
use crate::ops::kernels::split::{for_each_range, SharedOutput};

/// Replaces every f32 `EinSum` of two activations that is a batch of matrix products ([`Layout`])
/// by [`ActivationProduct`], on the tiers with tile kernels. Call after declutter, before tract's
/// codegen (after `replace_dense_products`, which takes the products by constant weights).
pub fn replace_activation_products(model: &mut TypedModel, tier: Tier) -> TractResult<()> {
  // Narrow tiles (one register of columns, many rows) where the columns are few or unknown
  // (tokens, or a head's dims); wide ones where they are known to fill them.
  let Some(narrow) = TileShape::of(tier, 1) else { return Ok(()) };
  for id in 0..model.nodes().len() {
    let node = model.node(id);
    let Some(layout) = Layout::of(model, node)? else { continue };
    let output_shape = model.outlet_fact(OutletId::new(node.id, 0))?.shape.to_tvec();
    let columns = output_shape.last().and_then(|dim| dim.to_usize().ok());
    let tile = columns.and_then(|columns| TileShape::of(tier, columns)).unwrap_or(narrow);
    let summed = model.outlet_fact(node.inputs[0])?.shape[layout.summed.0].clone();
    let scaled = scale_after(model, node)?;
    let (scale, replaced) = scaled.map_or((1.0, node), |(scale, consumer)| (scale, consumer));
    let added = mask_after(model, replaced, &layout)?;
    let replaced = added.map_or(replaced, |(consumer, _)| consumer);
    let op = ActivationProduct { tier, tile, layout, output_shape, summed, scale };
    let mut patch = TypedModelPatch::new("activation-product");
    let mut inputs = patch.taps(model, &node.inputs)?;
    if let Some((_, mask)) = added {
      inputs.push(patch.tap_model(model, mask)?);
    }
    let output = patch.wire_node(&replaced.name, op, &inputs)?;
    patch.shunt_outside(model, replaced.id.into(), output[0])?;
    patch.apply(model)?;
  }
  model.compact()
}

/// The constant that `node`'s only consumer multiplies it by (a scalar), and that consumer.
fn scale_after<'a>(
  model: &'a TypedModel,
  node: &TypedNode,
) -> TractResult<Option<(f32, &'a TypedNode)>> {
  let Some((consumer, bin, constant)) = binary_with_constant(model, node)? else { return Ok(None) };
  let same_shape = model.outlet_fact(OutletId::new(consumer.id, 0))?.shape
    == model.outlet_fact(OutletId::new(node.id, 0))?.shape;
  let scalar = constant.len() == 1 && constant.datum_type() == f32::datum_type();
  if !(bin.0.is::<Mul>() && bin.1.is_none() && same_shape && scalar) {
    return Ok(None);
  }
  Ok(Some((
    *constant.try_as_plain_ram()?.as_slice::<f32>()?.first().context("a scalar")?,
    consumer,
  )))
}

/// The sum that is `node`'s only consumer and adds an f32 operand of the output's rank that has
/// one row for all the rows of the output (size 1 on the row axis, as attention's mask): that
/// consumer and the operand.
fn mask_after<'a>(
  model: &'a TypedModel,
  node: &TypedNode,
  layout: &Layout,
) -> TractResult<Option<(&'a TypedNode, OutletId)>> {
  let Some((consumer, bin, mask)) = binary_consumer(model, node)? else { return Ok(None) };
  let output = model.outlet_fact(OutletId::new(node.id, 0))?;
  let mask_fact = model.outlet_fact(mask)?;
  let one_row = mask_fact.rank() == output.rank() && mask_fact.shape[layout.row_axis()].is_one();
  let same_shape = model.outlet_fact(OutletId::new(consumer.id, 0))?.shape == output.shape;
  let fits = mask_fact.datum_type == f32::datum_type() && one_row && same_shape;
  Ok((bin.0.is::<Add>() && bin.1.is_none() && fits).then_some((consumer, mask)))
}

/// Where a batch of products finds its axes: each output axis is a batch axis (in both operands,
/// or of size 1 in one of them), the row axis (left operand only) or the column axis (right
/// operand only, last in the output); one axis is summed (in both operands, not in the output).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Layout {
  /// Per output axis, its position in the left and in the right operand.
  output: TVec<(Option<usize>, Option<usize>)>,
  /// The summed axis in the left and in the right operand.
  summed: (usize, usize),
}

impl Layout {
  /// `node`'s layout, if it is such a product of two f32 activations.
  fn of(model: &TypedModel, node: &TypedNode) -> TractResult<Option<Layout>> {
    let Some(einsum) = node.op_as::<EinSum>() else { return Ok(None) };
    let f32_dt = f32::datum_type();
    let facts = model.node_input_facts(node.id)?;
    let activations = |fact: &&TypedFact| fact.konst.is_none() && fact.datum_type == f32_dt;
    if node.inputs.len() != 2
      || einsum.q_params.is_some()
      || einsum.operating_dt != f32_dt
      || !facts.iter().all(activations)
    {
      return Ok(None);
    }
    Ok(Self::of_axes(&einsum.axes, facts[0].rank(), facts[1].rank()))
  }

  /// The output's row axis (the one only the left operand has).
  fn row_axis(&self) -> usize {
    self.output.iter().position(|(_, right)| right.is_none()).expect("a layout has a row axis")
  }

  /// The layout of `axes` over operands of ranks `left` and `right`.
  fn of_axes(axes: &AxesMapping, left: usize, right: usize) -> Option<Layout> {
    let rank = axes.rank(InOut::Out(0));
    let mut output: TVec<Option<(Option<usize>, Option<usize>)>> = tvec![None; rank];
    let (mut summed, mut rows, mut columns, mut seen) = (None, 0, 0, 0);
    for axis in axes.iter_all_axes() {
      let at = |positions: &[usize]| match positions {
        [] => Some(None),
        &[position] => Some(Some(position)),
        _ => None,
      };
      let (l, r, out) = (at(&axis.inputs[0])?, at(&axis.inputs[1])?, at(&axis.outputs[0])?);
      seen += usize::from(l.is_some()) + usize::from(r.is_some());
      match (l, r, out) {
        (Some(l), Some(r), None) if summed.is_none() => summed = Some((l, r)),
        (l, r, Some(out)) if l.is_some() || r.is_some() => {
          rows += usize::from(r.is_none());
          columns += usize::from(l.is_none());
          output[out] = Some((l, r));
        }
        _ => return None,
      }
    }
    let output: TVec<_> = output.into_iter().collect::<Option<_>>()?;
    let column_last = output.last().is_some_and(|(l, _)| l.is_none());
    (seen == left + right && rows == 1 && columns == 1 && column_last)
      .then_some(Layout { output, summed: summed? })
  }
}

/// A batch of matrix products of two f32 activations laid out as [`Layout`] says, times `scale`,
/// plus a third input if there is one (a mask: of the output's rank, one row for all rows, other
/// axes of the output's size or 1), into a row-major output of `output_shape` (symbolic dims
/// allowed: a run reads them from its inputs).
#[derive(Debug, Clone, PartialEq)]
pub struct ActivationProduct {
  tier: Tier,
  tile: TileShape,
  layout: Layout,
  output_shape: TVec<TDim>,
  /// The summed axis' size, for the cost.
  summed: TDim,
  scale: f32,
}

impl std::hash::Hash for ActivationProduct {
  fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
    (self.tier, self.tile, &self.layout, &self.output_shape, &self.summed).hash(state);
    self.scale.to_bits().hash(state);
  }
}

impl Eq for ActivationProduct {}

impl Op for ActivationProduct {
  fn name(&self) -> StaticName {
    "ActivationProduct".into()
  }

  fn info(&self) -> TractResult<Vec<String>> {
    Ok(vec![format!("{:?} summing {}, scaled by {}", self.output_shape, self.summed, self.scale)])
  }

  op_as_typed_op!();
}

impl TypedOp for ActivationProduct {
  fn output_facts(&self, _inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
    Ok(tvec!(f32::fact(&*self.output_shape)))
  }

  fn cost(&self, _inputs: &[&TypedFact]) -> TractResult<TVec<(Cost, TDim)>> {
    let fmas = self.output_shape.iter().product::<TDim>() * self.summed.clone();
    Ok(tvec!((Cost::FMA(f32::datum_type()), fmas)))
  }

  as_op!();
}

impl EvalOp for ActivationProduct {
  op_out_of_plan!();

  fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
    let (left, right, mask) = match &inputs[..] {
      [left, right] => (left, right, None),
      [left, right, mask] => (left, right, Some(mask)),
      _ => bail!("a product of {} inputs", inputs.len()),
    };
    let shapes = Shapes::of(&self.layout, left.shape(), right.shape(), mask.map(|m| m.shape()))?;
    let (left, right) = (left.try_as_plain_ram()?, right.try_as_plain_ram()?);
    let (left, right) = (left.as_slice::<f32>()?, right.as_slice::<f32>()?);
    let mask = mask.map(|m| m.try_as_plain_ram()).transpose()?;
    let mask = mask.as_ref().map(|m| m.as_slice::<f32>()).transpose()?;
    // SAFETY: every value of the output is written below (each item's rows and columns).
    let mut output = unsafe { Tensor::uninitialized::<f32>(&shapes.output)? };
    let out = SharedOutput::new(output.try_as_plain_ram_mut()?.as_slice_mut::<f32>()?);
    let run = Run { op: self, shapes: &shapes, left, right, mask, out };
    let (items, groups) = (shapes.items, shapes.columns.div_ceil(self.tile.group()));
    let work = items * shapes.rows * shapes.depth * shapes.columns;
    if items == 1 {
      // One product (a batch of one): its groups of columns are split over the threads.
      for_each_range(groups, work, |groups| run.item(0, groups, &mut run.scratch()));
    } else {
      for_each_range(items, work, |items| {
        let mut scratch = run.scratch();
        items.for_each(|item| run.item(item, 0..groups, &mut scratch));
      });
    }
    Ok(tvec!(output.into_tvalue()))
  }
}

/// One run's inputs and output, for its items.
struct Run<'a> {
  op: &'a ActivationProduct,
  shapes: &'a Shapes,
  left: &'a [f32],
  right: &'a [f32],
  mask: Option<&'a [f32]>,
  out: SharedOutput,
}

/// A thread's scratch: an item's rows (scaled), zero past the last so that tiles read whole
/// kernels of rows; its right operand packed in groups of columns, step after step; its row of the
/// mask (zero without one, and past the last column). What the scratch holds is kept by item (the
/// rows and mask) and by right operand (the packing: items that share it, as along a batch axis the
/// operand has once, pack it once).
struct Scratch {
  gathered: Vec<f32>,
  gathered_item: Option<usize>,
  packed: Vec<f32>,
  packed_from: Option<(usize, Range<usize>)>,
  bias: Vec<f32>,
}

impl Run<'_> {
  fn scratch(&self) -> Scratch {
    let Shapes { rows, depth, columns, .. } = *self.shapes;
    let group = self.op.tile.group();
    Scratch {
      gathered: vec![0f32; rows.next_multiple_of(self.op.tile.rows) * depth],
      gathered_item: None,
      packed: vec![0f32; columns.next_multiple_of(group) * depth],
      packed_from: None,
      bias: vec![0f32; columns.next_multiple_of(group)],
    }
  }

  /// Computes `groups` of columns of item `item`.
  fn item(&self, item: usize, groups: Range<usize>, scratch: &mut Scratch) {
    let (shapes, op) = (self.shapes, self.op);
    let Shapes { rows, depth, columns, .. } = *shapes;
    let (tile_rows, group) = (op.tile.rows, op.tile.group());
    let at = shapes.offsets(item);
    if scratch.gathered_item != Some(item) {
      let gathered = scratch.gathered.chunks_exact_mut(depth.max(1)).take(rows);
      for (row, gathered) in gathered.enumerate() {
        let first = at.left + row * shapes.left_row;
        if shapes.left_step == 1 {
          let values = &self.left[first..first + depth];
          gathered.iter_mut().zip(values).for_each(|(to, &value)| *to = value * op.scale);
        } else {
          for (step, to) in gathered.iter_mut().enumerate() {
            *to = self.left[first + step * shapes.left_step] * op.scale;
          }
        }
      }
      if let Some(mask) = self.mask {
        for (column, bias) in scratch.bias[..columns].iter_mut().enumerate() {
          *bias = mask[at.mask + column * shapes.mask_column];
        }
      }
      scratch.gathered_item = Some(item);
    }
    let packing = Some((at.right, groups.clone()));
    if scratch.packed_from != packing {
      // Group after group, each `depth` steps of `group` columns: a step's columns copied in a
      // row where they are contiguous (values in weighted sums), else a column's steps read in a
      // row where those are (keys in attention scores), else value by value.
      for index in groups.clone() {
        let packed = &mut scratch.packed[index * depth * group..(index + 1) * depth * group];
        let (first_column, count) = (index * group, group.min(columns - index * group));
        if shapes.right_column == 1 {
          for (step, to) in packed.chunks_exact_mut(group).enumerate() {
            let first = at.right + step * shapes.right_step + first_column;
            to[..count].copy_from_slice(&self.right[first..first + count]);
          }
          continue;
        }
        for column in first_column..first_column + count {
          let first = at.right + column * shapes.right_column;
          let to = packed.iter_mut().skip(column % group).step_by(group);
          if shapes.right_step == 1 {
            to.zip(&self.right[first..first + depth]).for_each(|(to, &value)| *to = value);
          } else {
            let values = (0..depth).map(|step| self.right[first + step * shapes.right_step]);
            to.zip(values).for_each(|(to, value)| *to = value);
          }
        }
      }
      scratch.packed_from = packing;
    }
    for index in groups {
      for first_row in (0..rows).step_by(tile_rows) {
        let tile = Tile {
          // SAFETY (all offsets): the scratch holds whole tiles of rows and every group, the bias
          // every group, the output this item's rows and columns.
          values: unsafe { scratch.gathered.as_ptr().add(first_row * depth) },
          depth,
          steps: depth,
          weights: unsafe { scratch.packed.as_ptr().add(index * depth * group) },
          bias: unsafe { scratch.bias.as_ptr().add(index * group) },
          out: unsafe { self.out.at(at.output + first_row * shapes.output_row + index * group) },
          out_row: shapes.output_row,
          first: true,
          relu: false,
          rows: (rows - first_row).min(tile_rows),
          columns: (columns - index * group).min(group),
        };
        // SAFETY: the CPU runs the op's tier (the rewrite picked it from the CPU's tiers), and the
        // tile's pointers are valid as above; items, and groups of an item, write disjoint parts
        // of the output.
        unsafe { kernel(op.tier, op.tile, tile.rows)(&tile) };
      }
    }
  }
}

/// A run's sizes and strides (in values), from its operands' shapes.
#[derive(Debug)]
struct Shapes {
  output: TVec<usize>,
  /// Items (products), rows, summed steps and columns of each.
  items: usize,
  rows: usize,
  depth: usize,
  columns: usize,
  left_row: usize,
  left_step: usize,
  right_step: usize,
  right_column: usize,
  output_row: usize,
  mask_column: usize,
  batch: TVec<BatchAxis>,
}

/// A batch axis (in output order): its size, and its stride in each input (0 where the input has it
/// of size 1, or there is no mask) and in the output.
#[derive(Debug)]
struct BatchAxis {
  size: usize,
  left: usize,
  right: usize,
  mask: usize,
  output: usize,
}

/// Where one item starts in each input and in the output.
struct Offsets {
  left: usize,
  right: usize,
  mask: usize,
  output: usize,
}

impl Shapes {
  fn of(
    layout: &Layout,
    left: &[usize],
    right: &[usize],
    mask: Option<&[usize]>,
  ) -> TractResult<Shapes> {
    // Row-major strides, 0 for an axis of size 1 (it broadcasts, or has a single index).
    let strides = |shape: &[usize]| -> TVec<usize> {
      let mut strides: TVec<usize> = tvec![1; shape.len()];
      for axis in (0..shape.len().saturating_sub(1)).rev() {
        strides[axis] = strides[axis + 1] * shape[axis + 1];
      }
      strides.iter().zip(shape).map(|(&stride, &dim)| if dim == 1 { 0 } else { stride }).collect()
    };
    let (left_strides, right_strides) = (strides(left), strides(right));
    let (summed_left, summed_right) = layout.summed;
    let depth = left[summed_left];
    ensure!(
      right[summed_right] == depth,
      "a product summing {depth} values by {} values",
      right[summed_right]
    );
    let output: TVec<usize> = layout
      .output
      .iter()
      .map(|&(l, r)| match (l.map(|l| left[l]), r.map(|r| right[r])) {
        (Some(l), Some(r)) if l == r || l == 1 || r == 1 => Ok(l.max(r)),
        (Some(l), Some(r)) => bail!("batch axes of {l} and {r} items"),
        (size, None) | (None, size) => Ok(size.unwrap_or(1)),
      })
      .collect::<TractResult<_>>()?;
    let output_strides = strides(&output);
    let mask_strides = match mask {
      Some(mask) => {
        let fits = |(&dim, &out): (&usize, &usize)| dim == out || dim == 1;
        ensure!(
          mask.len() == output.len()
            && mask.iter().zip(&output).all(fits)
            && mask[layout.row_axis()] == 1,
          "a mask of {mask:?} for products of {output:?}"
        );
        strides(mask)
      }
      None => tvec![0; output.len()],
    };
    let (mut rows, mut columns) = ((1, 0, 0), (1, 0, 0));
    let mut batch = tvec![];
    for (axis, &(l, r)) in layout.output.iter().enumerate() {
      let (size, output, mask) = (output[axis], output_strides[axis], mask_strides[axis]);
      match (l, r) {
        (Some(l), Some(r)) => {
          let (left, right) = (left_strides[l], right_strides[r]);
          batch.push(BatchAxis { size, left, right, mask, output });
        }
        (Some(l), None) => rows = (size, left_strides[l], output),
        (None, Some(r)) => columns = (size, right_strides[r], mask),
        (None, None) => unreachable!("every output axis is in an operand"),
      }
    }
    Ok(Shapes {
      items: batch.iter().map(|b| b.size).product(),
      rows: rows.0,
      depth,
      columns: columns.0,
      left_row: rows.1,
      left_step: left_strides[summed_left],
      right_step: right_strides[summed_right],
      right_column: columns.1,
      output_row: rows.2,
      mask_column: columns.2,
      output,
      batch,
    })
  }

  /// Where item `item` (in row-major order of the batch axes) starts.
  fn offsets(&self, mut item: usize) -> Offsets {
    let mut at = Offsets { left: 0, right: 0, mask: 0, output: 0 };
    for axis in self.batch.iter().rev() {
      let index = item % axis.size;
      item /= axis.size;
      at.left += index * axis.left;
      at.right += index * axis.right;
      at.mask += index * axis.mask;
      at.output += index * axis.output;
    }
    at
  }
}

#[cfg(test)]
mod tests {
  use super::*;
  use tract_linalg::multithread::{multithread_tract_scope, Executor};

  fn values(len: usize, seed: usize) -> Vec<f32> {
    (0..len).map(|i| (((i + seed) * 7919) % 101) as f32 / 50.0 - 1.0).collect()
  }

  /// A product `expr` of operands of `left` and `right` shapes, then (optionally) times a scalar
  /// and plus a mask of the output's rank.
  #[derive(Default)]
  struct Case {
    expr: &'static str,
    left: &'static [usize],
    right: &'static [usize],
    scale: Option<f32>,
    mask: Option<&'static [usize]>,
  }

  impl Case {
    fn new(expr: &'static str, left: &'static [usize], right: &'static [usize]) -> Case {
      Case { expr, left, right, ..Case::default() }
    }

    /// The case after tract-node's optimisation for `tier`, against its definition in f64 (the
    /// einsum, scaled, plus the mask broadcast), on 1 and 2 threads: the ops left besides the
    /// sources.
    fn check(&self, tier: Tier) -> Vec<String> {
      let mut model = TypedModel::default();
      let a = model.add_source("a", f32::fact(self.left)).unwrap();
      let b = model.add_source("b", f32::fact(self.right)).unwrap();
      let axes: AxesMapping = self.expr.parse().unwrap();
      let einsum = EinSum::new(axes.clone(), f32::datum_type());
      let mut y = model.wire_node("y", einsum, &[a, b]).unwrap()[0];
      let rank = model.outlet_fact(y).unwrap().rank();
      if let Some(scale) = self.scale {
        let scale =
          model.add_const("s", tensor0(scale).broadcast_into_rank(rank).unwrap()).unwrap();
        y = model.wire_node("scaled", tract_core::ops::math::mul(), &[y, scale]).unwrap()[0];
      }
      let mut sources =
        vec![values(self.left.iter().product(), 1), values(self.right.iter().product(), 2)];
      let mut shapes = vec![self.left, self.right];
      if let Some(mask) = self.mask {
        let m = model.add_source("m", f32::fact(mask)).unwrap();
        y = model.wire_node("masked", tract_core::ops::math::add(), &[y, m]).unwrap()[0];
        sources.push(values(mask.iter().product(), 3));
        shapes.push(mask);
      }
      model.select_output_outlets(&[y]).unwrap();
      let model = crate::ops::optimize(model, true, 1, tier).unwrap();
      let ops = model
        .nodes()
        .iter()
        .filter(|n| !n.op_is::<tract_core::ops::source::TypedSource>())
        .map(|n| n.op.name().to_string());
      let ops = ops.collect();
      let product = definition(&axes, (self.left, &sources[0]), (self.right, &sources[1]));
      let out_shape = model.output_fact(0).unwrap().shape.as_concrete().unwrap().to_vec();
      let want: Vec<f64> = product
        .iter()
        .enumerate()
        .map(|(i, &value)| {
          let masked =
            self.mask.map_or(0.0, |mask| sources[2][broadcast_index(i, &out_shape, mask)] as f64);
          value * self.scale.unwrap_or(1.0) as f64 + masked
        })
        .collect();
      let plan = model.into_runnable().unwrap();
      let inputs = || -> TVec<TValue> {
        shapes
          .iter()
          .zip(&sources)
          .map(|(s, v)| Tensor::from_shape(s, v).unwrap().into_tvalue())
          .collect()
      };
      for executor in [Executor::SingleThread, Executor::multithread(2)] {
        let y = multithread_tract_scope(executor, || plan.run(inputs())).unwrap();
        let got = y[0].try_as_plain_ram().unwrap();
        let got = got.as_slice::<f32>().unwrap();
        assert_eq!(got.len(), want.len(), "{}", self.expr);
        for (i, (got, want)) in got.iter().zip(&want).enumerate() {
          assert!(
            (*got as f64 - want).abs() < 1e-4,
            "{} [{i}] on {tier}: {got} vs {want}",
            self.expr
          );
        }
      }
      ops
    }
  }

  /// The index in an operand of `shape` (size-1 axes broadcast) of output value `i`, the output of
  /// `out_shape`.
  fn broadcast_index(mut i: usize, out_shape: &[usize], shape: &[usize]) -> usize {
    let mut at = vec![0; out_shape.len()];
    for (axis, &dim) in out_shape.iter().enumerate().rev() {
      at[axis] = i % dim;
      i /= dim;
    }
    shape
      .iter()
      .zip(&at)
      .fold(0, |flat, (&dim, &index)| flat * dim + if dim == 1 { 0 } else { index })
  }

  /// The einsum `axes` of two operands in f64: every output value sums the products over the
  /// axes absent from the output (an operand's axis of size 1 broadcasts).
  fn definition(axes: &AxesMapping, a: (&[usize], &[f32]), b: (&[usize], &[f32])) -> Vec<f64> {
    let all: Vec<&Axis> = axes.iter_all_axes().collect();
    let size = |axis: &Axis| {
      let of = |slot: usize, shape: &[usize]| axis.inputs[slot].first().map(|&p| shape[p]);
      of(0, a.0).into_iter().chain(of(1, b.0)).max().unwrap_or(1)
    };
    let sizes: Vec<usize> = all.iter().map(|axis| size(axis)).collect();
    let out_rank = axes.rank(InOut::Out(0));
    let mut out_shape = vec![1; out_rank];
    for (axis, &size) in all.iter().zip(&sizes) {
      if let Some(&p) = axis.outputs[0].first() {
        out_shape[p] = size;
      }
    }
    let index = |slot: usize, shape: &[usize], at: &[usize]| -> usize {
      let mut flat = 0;
      for (p, &dim) in shape.iter().enumerate() {
        let axis = all.iter().position(|axis| axis.inputs[slot].contains(&p)).unwrap();
        flat = flat * dim + if dim == 1 { 0 } else { at[axis] };
      }
      flat
    };
    let total: usize = sizes.iter().product();
    let mut out = vec![0f64; out_shape.iter().product()];
    let mut at = vec![0; all.len()];
    for mut flat in 0..total {
      for (i, &size) in sizes.iter().enumerate().rev() {
        at[i] = flat % size;
        flat /= size;
      }
      let mut o = 0;
      for (p, &dim) in out_shape.iter().enumerate() {
        let axis = all.iter().position(|axis| axis.outputs[0].contains(&p)).unwrap();
        o = o * dim + at[axis];
      }
      out[o] += a.1[index(0, a.0, &at)] as f64 * b.1[index(1, b.0, &at)] as f64;
    }
    out
  }

  crate::cpu::test_each_tier! {
    fn batches_of_products_of_activations_equal_the_definition(tier: Tier) {
      let replaced = |ops: Vec<String>| {
        let tiles = TileShape::of(tier, 1).is_some();
        assert_eq!(ops == ["ActivationProduct"], tiles, "{ops:?} on {tier}");
      };
      // Attention scores: queries by keys, heads in the middle (rows and columns end mid-tile).
      replaced(Case::new("bmhk,bnhk->bhmn", &[2, 17, 3, 8], &[2, 17, 3, 8]).check(tier));
      // The same, scaled and masked along the keys (the mask broadcast over heads and rows).
      replaced(
        Case {
          scale: Some(0.125),
          mask: Some(&[2, 1, 1, 17]),
          ..Case::new("bmhk,bnhk->bhmn", &[2, 17, 3, 8], &[2, 17, 3, 8])
        }
        .check(tier),
      );
      // Weighted values: scores by values, back to tokens by heads; columns past one register.
      replaced(Case::new("bhmn,bnhd->bmhd", &[2, 3, 30, 30], &[2, 30, 3, 40]).check(tier));
      // A batch axis of size 1 in one operand broadcasts (shared keys).
      replaced(Case::new("bmk,bkn->bmn", &[4, 5, 7], &[1, 7, 9]).check(tier));
      // Known columns that fill wide tiles (a classifier over a shared operand), rows mid-tile.
      replaced(Case::new("bmk,bkn->bmn", &[3, 13, 20], &[1, 20, 70]).check(tier));
      // Operands with neither steps nor columns contiguous (batch axes innermost).
      replaced(Case::new("kmb,knb->bmn", &[7, 5, 2], &[7, 9, 2]).check(tier));
      // One product, no batch; a single row.
      replaced(Case::new("mk,kn->mn", &[1, 50], &[50, 3]).check(tier));
      // One product, its groups of columns split over the threads.
      replaced(Case::new("mk,kn->mn", &[30, 64], &[64, 200]).check(tier));
      // A mask that varies along the rows (causal) stays a sum of its own.
      let causal = Case { mask: Some(&[1, 5, 9]), ..Case::new("bmk,bkn->bmn", &[2, 5, 7], &[2, 7, 9]) };
      let ops = causal.check(tier);
      if TileShape::of(tier, 1).is_some() {
        assert!(ops.len() == 2 && ops[0] == "ActivationProduct", "{ops:?}");
      }
      // Columns not last in the output, or no summed axis: tract's own lowering.
      let tract = |ops: Vec<String>| assert!(!ops.contains(&"ActivationProduct".to_string()), "{ops:?}");
      tract(Case::new("bmk,bkn->bnm", &[2, 5, 7], &[2, 7, 9]).check(tier));
      tract(Case::new("bm,bn->bmn", &[2, 5], &[2, 9]).check(tier));
    }
  }

  #[test]
  fn layouts_name_batch_row_and_column_axes() {
    let layout = |expr: &str, ranks: (usize, usize)| {
      Layout::of_axes(&expr.parse().unwrap(), ranks.0, ranks.1).map(|l| (l.output, l.summed))
    };
    let some = |p: usize| Some(p);
    assert_eq!(
      layout("bmhk,bnhk->bhmn", (4, 4)),
      Some((
        tvec![(some(0), some(0)), (some(2), some(2)), (some(1), None), (None, some(1))],
        (3, 3)
      ))
    );
    assert_eq!(layout("mk,kn->nm", (2, 2)), None);
    assert_eq!(layout("mak,kn->mn", (3, 2)), None);
    assert_eq!(layout("mk,kjn->mjn", (2, 3)), None);
  }
}
