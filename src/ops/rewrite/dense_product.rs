//! Products of a row-major matrix of activations by constant weights (dense layers at batch > 1, a
//! transformer's projections) computed directly on tract-node's tiles
//! (`crate::ops::kernels::dense_product`), with the bias added after them and a ReLU that follows
//! folded in.
//!
//! tract packs the activations into panels before every such product (32 packings per run of
//! BERT-mini); here they are read where they are, and the weights are packed once, when the model
//! is optimised, in groups of a tile's columns, step after step. A task runs its tiles down several
//! tiles of rows one chunk of steps at a time, so that the chunk's weights ([`CHUNK_BYTES`]) are
//! read from the L1 cache after the first tile. Tasks are split over the intra-op threads by groups
//! of columns, so that each thread reads only its own columns' weights.
//!
//! On the tiers with tile kernels (AVX-512, AVX2), for products whose columns fit a tile shape and
//! whose rows are at least [`MIN_ROWS`] or symbolic (a transformer's tokens: the count is read at
//! run time, and a few rows run on the kernels for few rows); elsewhere tract's lowering stays (and
//! a single row is a `VectorProduct`). With symbolic rows, tract could only choose its
//! matrix-product kernel for an unknown row count: at 17 tokens a BERT layer ran as slowly as at 32.

use tract_core::ops::einsum::EinSum;
use tract_core::ops::math::{Add, Max};
use tract_hir::internal::*;

use super::consumer::binary_with_constant;
use crate::cpu::Tier;
use crate::ops::kernels::dense_product::{kernel, Tile, TileShape};
use crate::ops::kernels::split::{for_each_task, SharedOutput};

/// Bytes of weights a tile reads along one chunk of steps: what stays in the L1 cache while the
/// tile runs down the rows of its task (the sums so far go through the output between chunks).
const CHUNK_BYTES: usize = 32 << 10;

/// Tiles of a task: one after the other down the rows, chunk after chunk.
const TASK_TILES: usize = 8;

/// The fewest rows a product needs: fewer would leave most of a tile empty.
const MIN_ROWS: usize = 8;

/// Replaces every f32 product of a row-major matrix by constant weights ([`Form`]) of at least
/// [`MIN_ROWS`] rows (or a symbolic count) whose columns fit one of `tier`'s tile shapes with
/// [`DenseProduct`]; a constant per column added to the product (a bias) is folded in, and a ReLU
/// (`max(x, 0)`) that is then the only consumer is applied as the outputs are stored. Call after
/// declutter, before tract's codegen.
pub fn replace_dense_products(model: &mut TypedModel, tier: Tier) -> TractResult<()> {
  for id in 0..model.nodes().len() {
    let node = model.node(id);
    let Some(form) = Form::of(model, node)? else { continue };
    let enough_rows = form.rows.to_usize().map_or(true, |rows| rows >= MIN_ROWS);
    let Some(tile) = TileShape::of(tier, form.columns).filter(|_| enough_rows) else {
      continue;
    };
    let weights = model.outlet_fact(node.inputs[1 - form.activations])?;
    let weights = weights.konst.as_ref().context("constant weights")?;
    let bias = added_bias(model, node, form.columns)?;
    let replaced = bias.as_ref().map_or(node, |(consumer, _)| consumer);
    let is_output = model.output_outlets()?.contains(&replaced.id.into());
    let relu = if is_output { None } else { model.find_succ_bin_with_const::<Max>(replaced, 0.0) };
    let replaced = relu.unwrap_or(replaced);
    let mut patch = TypedModelPatch::new("dense-product");
    let activations = patch.tap_model(model, node.inputs[form.activations])?;
    let packed_weights = form.pack(weights, tile.group())?;
    let weights = patch.add_const(format!("{}.packed_weights", node.name), packed_weights)?;
    let bias = form.pack_bias(bias.map(|(_, bias)| bias), tile.group())?;
    let bias = patch.add_const(format!("{}.packed_bias", node.name), bias)?;
    let output_shape = model.outlet_fact(OutletId::new(node.id, 0))?.shape.to_tvec();
    let (rows, depth, columns, relu) = (form.rows, form.depth, form.columns, relu.is_some());
    let op = DenseProduct { tier, rows, depth, columns, tile, relu, output_shape };
    let output = patch.wire_node(&replaced.name, op, &[activations, weights, bias])?;
    patch.shunt_outside(model, replaced.id.into(), output[0])?;
    patch.apply(model)?;
  }
  model.compact()
}

/// The product an `EinSum` computes, when it multiplies a row-major matrix of activations (row
/// axes, then summed axes: `[rows, depth]` in memory) by constant weights (the summed axes in the
/// same order, with one column axis before or after them) into a row-major `[rows, columns]`
/// output. Axes of size 1 anywhere are ignored. Only the rows may be symbolic.
#[derive(Debug, Clone, PartialEq)]
struct Form {
  /// The activations' input slot.
  activations: usize,
  rows: TDim,
  depth: usize,
  columns: usize,
  /// Whether the weights hold the column axis before the summed ones (`[columns, depth]`).
  transposed: bool,
}

impl Form {
  /// `node`'s form, if it is such a product of f32 values with concrete weights.
  fn of(model: &TypedModel, node: &TypedNode) -> TractResult<Option<Form>> {
    let Some(einsum) = node.op_as::<EinSum>() else { return Ok(None) };
    let f32_dt = f32::datum_type();
    let output = model.outlet_fact(OutletId::new(node.id, 0))?;
    if node.inputs.len() != 2
      || einsum.q_params.is_some()
      || einsum.operating_dt != f32_dt
      || output.datum_type != f32_dt
    {
      return Ok(None);
    }
    let output_shape = output.shape.to_tvec();
    let facts = model.node_input_facts(node.id)?;
    for (activations, weights) in [(0, 1), (1, 0)] {
      let (x, w) = (facts[activations], facts[weights]);
      if x.konst.is_some() || w.konst.is_none() || x.datum_type != f32_dt || w.datum_type != f32_dt
      {
        continue;
      }
      let (x_shape, w_shape) = (x.shape.to_tvec(), w.shape.to_tvec());
      let shapes = [&x_shape[..], &w_shape[..], &output_shape[..]];
      if let Some(form) = Self::of_axes(&einsum.axes, [activations, weights], shapes) {
        return Ok(Some(form));
      }
    }
    Ok(None)
  }

  /// The form of `axes` with the activations and weights in `slots`, of `shapes` (activations,
  /// weights, output).
  fn of_axes(axes: &AxesMapping, slots: [usize; 2], shapes: [&[TDim]; 3]) -> Option<Form> {
    let [activations, weights] = slots;
    let [x_shape, w_shape, out_shape] = shapes;
    // Positions of each kind of axis: in the activations and output (rows), the activations and
    // weights (summed), the weights and output (columns).
    let (mut rows, mut summed, mut columns) = (vec![], vec![], vec![]);
    for axis in axes.iter_all_axes() {
      let (x, w, out) = (&axis.inputs[activations], &axis.inputs[weights], &axis.outputs[0]);
      let unit = |positions: &[usize], shape: &[TDim]| positions.iter().all(|&p| shape[p].is_one());
      match (&x[..], &w[..], &out[..]) {
        (&[x], [], &[out]) => rows.push((x, out)),
        (&[x], &[w], []) => summed.push((x, w)),
        ([], &[w], &[out]) => columns.push((w, out)),
        _ if unit(x, x_shape) && unit(w, w_shape) && unit(out, out_shape) => {}
        _ => return None,
      }
    }
    let [(column_in_weights, column_in_output)] = columns[..] else { return None };
    rows.sort_unstable();
    summed.sort_unstable();
    let x_order = rows.iter().map(|r| r.0).chain(summed.iter().map(|s| s.0));
    let out_order = rows.iter().map(|r| r.1).chain([column_in_output]);
    let summed_in_weights = summed.iter().map(|s| s.1);
    let transposed = summed.first().is_some_and(|s| column_in_weights < s.1);
    let column_outside = summed.iter().all(|s| (column_in_weights < s.1) == transposed);
    let in_order = x_order.is_sorted_by(|a, b| a < b)
      && out_order.is_sorted_by(|a, b| a < b)
      && summed_in_weights.is_sorted_by(|a, b| a < b);
    if summed.is_empty() || !in_order || !column_outside {
      return None;
    }
    let concrete = |dim: &TDim| dim.to_usize().ok();
    let depth = summed.iter().map(|s| concrete(&x_shape[s.0])).product::<Option<usize>>()?;
    Some(Form {
      activations,
      rows: rows.iter().map(|r| x_shape[r.0].clone()).product(),
      depth,
      columns: concrete(&w_shape[column_in_weights])?,
      transposed,
    })
  }

  /// The weights as `[groups, depth, group]`: for each `group` of columns (a tile's), step after
  /// step along the summed axes, the step's weight for each column of the group (zero past the
  /// last).
  fn pack(&self, weights: &Tensor, group: usize) -> TractResult<Tensor> {
    let weights = weights.try_as_plain_ram()?;
    let weights = weights.as_slice::<f32>()?;
    let groups = self.columns.div_ceil(group);
    let mut packed = vec![0f32; groups * self.depth * group];
    for step in 0..self.depth {
      for column in 0..self.columns {
        let weight = if self.transposed {
          weights[column * self.depth + step]
        } else {
          weights[step * self.columns + column]
        };
        packed[(column / group * self.depth + step) * group + column % group] = weight;
      }
    }
    Tensor::from_shape(&[groups, self.depth, group], &packed)
  }

  /// The bias (one value per column, zero without one) padded to whole groups of `group` columns.
  fn pack_bias(&self, bias: Option<Arc<Tensor>>, group: usize) -> TractResult<Tensor> {
    let mut padded = vec![0f32; self.columns.next_multiple_of(group)];
    if let Some(bias) = bias {
      let bias = bias.try_as_plain_ram()?;
      padded[..self.columns].copy_from_slice(bias.as_slice::<f32>()?);
    }
    Tensor::from_shape(&[padded.len()], &padded)
  }
}

/// The sum that is `node`'s only consumer and adds a constant per column (the output's last
/// axis, of `columns`), and that constant.
fn added_bias<'a>(
  model: &'a TypedModel,
  node: &TypedNode,
  columns: usize,
) -> TractResult<Option<(&'a TypedNode, Arc<Tensor>)>> {
  let Some((consumer, bin, bias)) = binary_with_constant(model, node)? else { return Ok(None) };
  let output = model.outlet_fact(OutletId::new(node.id, 0))?;
  // A sum that broadcasts the product (a unit axis after the columns) is no bias.
  let same_shape = model.outlet_fact(OutletId::new(consumer.id, 0))?.shape == output.shape;
  let per_column = bias.rank() == output.rank()
    && bias.shape().last() == Some(&columns)
    && bias.len() == columns
    && bias.datum_type() == f32::datum_type();
  Ok((bin.0.is::<Add>() && bin.1.is_none() && same_shape && per_column).then_some((consumer, bias)))
}

/// A product of `[rows, depth]` activations by `[depth, columns]` weights (see the module doc),
/// into `output_shape`. Its inputs are the activations, the weights and the bias as
/// [`Form::pack`] and [`Form::pack_bias`] lay them out. `rows` (and the output shape) may be
/// symbolic: a run reads its rows from the activations.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DenseProduct {
  tier: Tier,
  rows: TDim,
  depth: usize,
  columns: usize,
  tile: TileShape,
  /// Whether outputs below zero are stored as zero (a fused ReLU).
  relu: bool,
  output_shape: TVec<TDim>,
}

impl Op for DenseProduct {
  fn name(&self) -> StaticName {
    "DenseProduct".into()
  }

  fn info(&self) -> TractResult<Vec<String>> {
    let relu = if self.relu { ", ReLU fused" } else { "" };
    Ok(vec![format!("{} × {} × {}{relu}", self.rows, self.depth, self.columns)])
  }

  op_as_typed_op!();
}

impl TypedOp for DenseProduct {
  fn output_facts(&self, _inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
    Ok(tvec!(f32::fact(&*self.output_shape)))
  }

  fn cost(&self, _inputs: &[&TypedFact]) -> TractResult<TVec<(Cost, TDim)>> {
    let fmas = self.rows.clone() * (self.depth * self.columns);
    Ok(tvec!((Cost::FMA(f32::datum_type()), fmas)))
  }

  as_op!();
}

impl EvalOp for DenseProduct {
  op_out_of_plan!();

  fn eval(&self, ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
    let (input, weights, bias) = args_3!(inputs);
    let (depth, columns) = (self.depth, self.columns);
    let rows = input.len() / depth;
    let output_shape = concrete_shape(&self.output_shape, ctx.symbols, rows * columns)?;
    let (x, weights, bias) =
      (input.try_as_plain_ram()?, weights.try_as_plain_ram()?, bias.try_as_plain_ram()?);
    let (x, weights, bias) =
      (x.as_slice::<f32>()?, weights.as_slice::<f32>()?, bias.as_slice::<f32>()?);
    let (tile_rows, group) = (self.tile.rows, self.tile.group());
    let groups = columns.div_ceil(group);
    ensure!(
      x.len() == rows * depth
        && output_shape.iter().product::<usize>() == rows * columns
        && weights.len() == groups * depth * group
        && bias.len() == groups * group,
      "a product of {} activations, {} weights and {} biases for {rows} × {depth} × {columns}",
      x.len(),
      weights.len(),
      bias.len()
    );
    // SAFETY: every value of the output is written below.
    let mut output = unsafe { Tensor::uninitialized::<f32>(&output_shape)? };
    let out = SharedOutput::new(output.try_as_plain_ram_mut()?.as_slice_mut::<f32>()?);
    // The last tile's rows, copied after zeros so that the kernel reads whole tiles.
    let whole = rows / tile_rows * tile_rows;
    let mut last_rows = vec![0f32; tile_rows * depth];
    last_rows[..(rows - whole) * depth].copy_from_slice(&x[whole * depth..]);
    let task_rows = TASK_TILES * tile_rows;
    let tasks: Vec<(usize, usize)> = (0..groups)
      .flat_map(|index| (0..rows).step_by(task_rows).map(move |first_row| (index, first_row)))
      .collect();
    let kernel = |rows: usize| kernel(self.tier, self.tile, rows);
    let chunk = (CHUNK_BYTES / (group * std::mem::size_of::<f32>())).max(1);
    let tile = |index: usize, first_row: usize, first_step: usize| {
      let first_column = index * group;
      let values = if first_row < whole { &x[first_row * depth..] } else { &last_rows[..] };
      Tile {
        // SAFETY (all offsets): the activations (or the last rows) hold every step of the tile's
        // rows, the weights and bias every group, the output every row and column.
        values: unsafe { values.as_ptr().add(first_step) },
        depth,
        steps: (depth - first_step).min(chunk),
        weights: unsafe { weights.as_ptr().add((index * depth + first_step) * group) },
        bias: unsafe { bias.as_ptr().add(first_column) },
        out: unsafe { out.at(first_row * columns + first_column) },
        out_row: columns,
        first: first_step == 0,
        relu: self.relu && first_step + chunk >= depth,
        rows: (rows - first_row).min(tile_rows),
        columns: (columns - first_column).min(group),
      }
    };
    for_each_task(
      &tasks,
      |_| 1,
      rows * depth * columns,
      |&(index, first_rows)| {
        for first_step in (0..depth).step_by(chunk) {
          for first_row in (first_rows..rows.min(first_rows + task_rows)).step_by(tile_rows) {
            // SAFETY: the CPU runs `self.tier` (the rewrite picked it from the CPU's tiers), and
            // the tile's pointers are valid as above.
            let tile = tile(index, first_row, first_step);
            unsafe { kernel(tile.rows)(&tile) };
          }
        }
      },
    );
    Ok(tvec!(output.into_tvalue()))
  }
}

/// `shape` for this run: its dims evaluated with the run's `symbols`; a single dim the symbols do
/// not give (a size only known from data) is what makes the product of the dims `len`.
fn concrete_shape(shape: &[TDim], symbols: &SymbolValues, len: usize) -> TractResult<TVec<usize>> {
  let dims: TVec<Option<usize>> =
    shape.iter().map(|dim| dim.eval_to_i64(symbols).ok().and_then(|d| d.try_into().ok())).collect();
  let known: usize = dims.iter().flatten().product();
  match dims.iter().filter(|d| d.is_none()).count() {
    0 => Ok(dims.into_iter().flatten().collect()),
    1 if known > 0 && len.is_multiple_of(known) => {
      Ok(dims.into_iter().map(|d| d.unwrap_or(len / known)).collect())
    }
    _ => bail!("the output shape {shape:?} is not known for this run"),
  }
}

#[cfg(test)]
mod tests {
  use super::*;
  use tract_linalg::multithread::{multithread_tract_scope, Executor};

  fn value(i: usize) -> f32 {
    ((i * 7919) % 101) as f32 / 50.0 - 1.0
  }

  /// One product: the `EinSum` expression, the activations' and weights' shapes, whether the
  /// weights come first and hold the columns first (`[columns, depth]`), and whether a bias of
  /// `[1, …, columns]` is added after.
  struct Case {
    expr: &'static str,
    x_shape: &'static [usize],
    w_shape: &'static [usize],
    weights_first: bool,
    columns_first: bool,
    bias: bool,
    relu: bool,
  }

  impl Case {
    fn new(expr: &'static str, x_shape: &'static [usize], w_shape: &'static [usize]) -> Case {
      let (weights_first, columns_first, bias, relu) = (false, false, false, false);
      Case { expr, x_shape, w_shape, weights_first, columns_first, bias, relu }
    }

    /// The case's model after tract-node's optimisation for `tier`, its input and its weights and
    /// bias.
    fn optimized(&self, tier: Tier) -> (TypedModel, Tensor, Vec<f32>, Vec<f32>) {
      let mut model = TypedModel::default();
      let x_values: Vec<f32> = (0..self.x_shape.iter().product()).map(value).collect();
      let x = model.add_source("x", f32::fact(self.x_shape)).unwrap();
      let w_len: usize = self.w_shape.iter().product();
      let w_values: Vec<f32> = (0..w_len).map(|i| value(i * 3 + 1)).collect();
      let w = model.add_const("w", Tensor::from_shape(self.w_shape, &w_values).unwrap()).unwrap();
      let inputs = if self.weights_first { [w, x] } else { [x, w] };
      let einsum = EinSum::new(self.expr.parse().unwrap(), f32::datum_type());
      let mut y = model.wire_node("y", einsum, &inputs).unwrap()[0];
      let rank = model.outlet_fact(y).unwrap().rank();
      let columns = *model.outlet_fact(y).unwrap().shape.as_concrete().unwrap().last().unwrap();
      let bias: Vec<f32> = (0..columns).map(|i| value(i * 5 + 2)).collect();
      if self.bias {
        let shape: Vec<usize> =
          (0..rank).map(|a| if a + 1 == rank { columns } else { 1 }).collect();
        let b = model.add_const("b", Tensor::from_shape(&shape, &bias).unwrap()).unwrap();
        y = model.wire_node("bias", tract_core::ops::math::add(), &[y, b]).unwrap()[0];
      }
      if self.relu {
        let zero = Tensor::zero::<f32>(&vec![1; rank]).unwrap();
        let zero = model.add_const("zero", zero).unwrap();
        y = model.wire_node("relu", tract_core::ops::math::max(), &[y, zero]).unwrap()[0];
      }
      model.select_output_outlets(&[y]).unwrap();
      let model = crate::ops::optimize(model, true, 1, tier).unwrap();
      let bias = if self.bias { bias } else { vec![0.0; columns] };
      (model, Tensor::from_shape(self.x_shape, &x_values).unwrap(), w_values, bias)
    }

    /// Checks that the product is rewritten on `tier` where the tier has tiles for it, and equals
    /// `[rows, depth] · [depth, columns] + bias` in f64 (the activations and weights flattened),
    /// on 1 and 2 threads.
    fn check(&self, tier: Tier) {
      let (model, x, weights, bias) = self.optimized(tier);
      let product = model.nodes().iter().find_map(|n| n.op_as::<DenseProduct>());
      let has_tiles = TileShape::of(tier, bias.len()).is_some();
      let want_relu = has_tiles.then_some(self.relu);
      assert_eq!(product.map(|p| p.relu), want_relu, "{} on {tier}", self.expr);
      let columns = bias.len();
      let depth = weights.len() / columns;
      let x_values = x.try_as_plain_ram().unwrap().as_slice::<f32>().unwrap().to_vec();
      let want: Vec<f64> = (0..x_values.len() / depth * columns)
        .map(|i| {
          let (row, column) = (i / columns, i % columns);
          let weight = |k: usize| {
            weights[if self.columns_first { column * depth + k } else { k * columns + column }]
          };
          let sum: f64 =
            (0..depth).map(|k| x_values[row * depth + k] as f64 * weight(k) as f64).sum();
          let value = sum + bias[column] as f64;
          if self.relu {
            value.max(0.0)
          } else {
            value
          }
        })
        .collect();
      let plan = model.into_runnable().unwrap();
      for executor in [Executor::SingleThread, Executor::multithread(2)] {
        let run = || plan.run(tvec!(x.clone().into_tvalue()));
        let y = multithread_tract_scope(executor, run).unwrap();
        let got = y[0].try_as_plain_ram().unwrap();
        let got = got.as_slice::<f32>().unwrap();
        assert_eq!(got.len(), want.len(), "{}", self.expr);
        for (got, want) in got.iter().zip(&want) {
          assert!((*got as f64 - want).abs() < 1e-4, "{}: {got} vs {want}", self.expr);
        }
      }
    }
  }

  crate::cpu::test_each_tier! {
    fn products_by_constant_weights_equal_the_definition(tier: Tier) {
      let cases = [
        // A dense layer, weights `[columns, depth]`; rows and columns that end mid-tile.
        Case { columns_first: true, bias: true, ..Case::new("mk,nk->mn", &[13, 37], &[100, 37]) },
        // The same, then a ReLU.
        Case {
          columns_first: true,
          bias: true,
          relu: true,
          ..Case::new("mk,nk->mn", &[13, 37], &[100, 37])
        },
        // A classifier's last layer: narrow tiles (one register of columns), 10 columns of them
        // (AVX2: a wide tile of 16).
        Case { columns_first: true, bias: true, ..Case::new("mk,nk->mn", &[50, 300], &[10, 300]) },
        // Several chunks of steps (sums kept in the output between them), tasks of rows.
        Case { bias: true, relu: true, ..Case::new("mk,kn->mn", &[50, 300], &[300, 70]) },
        // A transformer's projection: a unit batch axis, weights `[depth, columns]`.
        Case { bias: true, ..Case::new("amk,kn->mn", &[1, 20, 33], &[33, 64]) },
        // Heads merged back: two summed axes.
        Case::new("mbk,bkn->amn", &[9, 4, 8], &[4, 8, 70]),
        // Weights first, a unit axis in the output.
        Case { weights_first: true, bias: true, ..Case::new("kn,mk->amn", &[12, 5], &[5, 130]) },
        // Narrow tiles on AVX2, past one register of rows (12).
        Case { columns_first: true, relu: true, ..Case::new("mk,nk->mn", &[29, 40], &[5, 40]) },
      ];
      cases.iter().for_each(|case| case.check(tier));
  }
  }

  crate::cpu::test_each_tier! {
    fn a_sum_that_broadcasts_the_product_is_not_folded_as_its_bias(tier: Tier) {
      // `[m, n, 1]` (a unit axis after the columns) plus `[1, 1, n]`: a `[m, n, n]` output.
      let (m, k, n) = (10, 20, 64);
      let x_values: Vec<f32> = (0..m * k).map(value).collect();
      let w_values: Vec<f32> = (0..k * n).map(|i| value(i * 3 + 1)).collect();
      let b_values: Vec<f32> = (0..n).map(|i| value(i * 5 + 2)).collect();
      let mut model = TypedModel::default();
      let x = model.add_source("x", f32::fact([m, k])).unwrap();
      let w = model.add_const("w", Tensor::from_shape(&[k, n], &w_values).unwrap()).unwrap();
      let b = model.add_const("b", Tensor::from_shape(&[1, 1, n], &b_values).unwrap()).unwrap();
      let einsum = EinSum::new("mk,kn->mna".parse().unwrap(), f32::datum_type());
      let y = model.wire_node("y", einsum, &[x, w]).unwrap()[0];
      let y = model.wire_node("sum", tract_core::ops::math::add(), &[y, b]).unwrap();
      model.select_output_outlets(&y).unwrap();
      let model = crate::ops::optimize(model, true, 1, tier).unwrap();
      let has_tiles = TileShape::of(tier, n).is_some();
      assert_eq!(model.nodes().iter().any(|n| n.op_is::<DenseProduct>()), has_tiles);
      let x = Tensor::from_shape(&[m, k], &x_values).unwrap();
      let y = model.into_runnable().unwrap().run(tvec!(x.into_tvalue())).unwrap();
      assert_eq!(y[0].shape(), [m, n, n]);
      let got = y[0].try_as_plain_ram().unwrap();
      for (i, got) in got.as_slice::<f32>().unwrap().iter().enumerate() {
        let (row, column, added) = (i / (n * n), i / n % n, i % n);
        let product: f64 =
          (0..k).map(|s| x_values[row * k + s] as f64 * w_values[s * n + column] as f64).sum();
        let want = product + b_values[added] as f64;
        assert!((*got as f64 - want).abs() < 1e-4, "at {i}: {got} vs {want}");
      }
  }
  }

  crate::cpu::test_each_tier! {
    fn symbolic_rows_are_counted_at_run_time(tier: Tier) {
      // A transformer's projection over a symbolic number of tokens, with a bias: every row count
      // from one (the kernels for few rows) past a few whole tiles, on one plan.
      let (k, n) = (37, 70);
      let w_values: Vec<f32> = (0..k * n).map(|i| value(i * 3 + 1)).collect();
      let b_values: Vec<f32> = (0..n).map(|i| value(i * 5 + 2)).collect();
      let mut model = TypedModel::default();
      let tokens = model.symbols.sym("tokens");
      let x = model.add_source("x", f32::fact(dims![1, tokens, k])).unwrap();
      let w = model.add_const("w", Tensor::from_shape(&[k, n], &w_values).unwrap()).unwrap();
      let b = model.add_const("b", Tensor::from_shape(&[1, 1, n], &b_values).unwrap()).unwrap();
      let einsum = EinSum::new("amk,kn->amn".parse().unwrap(), f32::datum_type());
      let y = model.wire_node("y", einsum, &[x, w]).unwrap()[0];
      let y = model.wire_node("bias", tract_core::ops::math::add(), &[y, b]).unwrap();
      model.select_output_outlets(&y).unwrap();
      let model = crate::ops::optimize(model, true, 1, tier).unwrap();
      let product = model.nodes().iter().find_map(|n| n.op_as::<DenseProduct>());
      assert_eq!(product.is_some(), TileShape::of(tier, n).is_some());
      let plan = model.into_runnable().unwrap();
      for m in [1, 2, 3, 5, 7, 9, 17, 30] {
        let x_values: Vec<f32> = (0..m * k).map(value).collect();
        let x = Tensor::from_shape(&[1, m, k], &x_values).unwrap();
        let y = plan.run(tvec!(x.into_tvalue())).unwrap();
        assert_eq!(y[0].shape(), [1, m, n]);
        let got = y[0].try_as_plain_ram().unwrap();
        for (i, got) in got.as_slice::<f32>().unwrap().iter().enumerate() {
          let (row, column) = (i / n, i % n);
          let product: f64 =
            (0..k).map(|s| x_values[row * k + s] as f64 * w_values[s * n + column] as f64).sum();
          let want = product + b_values[column] as f64;
          assert!((*got as f64 - want).abs() < 1e-4, "{m} rows, at {i}: {got} vs {want}");
        }
      }
  }
  }

  crate::cpu::test_each_tier! {
    fn small_or_column_major_products_stay_with_tract(tier: Tier) {
      let cases = [
        // Too few rows.
        Case::new("mk,nk->mn", &[4, 37], &[100, 37]),
        // Activations summed along their first axis (column-major in memory).
        Case::new("km,kn->mn", &[37, 20], &[37, 100]),
      ];
      for case in cases {
        let (model, ..) = case.optimized(tier);
        assert!(!model.nodes().iter().any(|n| n.op_is::<DenseProduct>()), "{}", case.expr);
      }
  }
  }

  #[test]
  fn an_output_dim_the_symbols_do_not_give_is_solved_from_the_length() {
    let scope = SymbolScope::default();
    let n = scope.sym("n");
    let shape = [TDim::Val(1), TDim::from(n.clone()), TDim::Val(4)];
    let values = SymbolValues::default().with(&n, 3);
    assert_eq!(concrete_shape(&shape, &values, 12).unwrap(), tvec![1, 3, 4]);
    assert_eq!(concrete_shape(&shape, &SymbolValues::default(), 20).unwrap(), tvec![1, 5, 4]);
    assert!(concrete_shape(&shape, &SymbolValues::default(), 10).is_err());
  }

  #[test]
  fn tiles_take_one_register_of_columns_or_a_mostly_full_wide_tile() {
    let shape = |tier, columns| TileShape::of(tier, columns).map(|s| (s.rows, s.group()));
    assert_eq!(shape(Tier::Avx512, 10), Some((24, 16)));
    assert_eq!(shape(Tier::Avx512, 40), None);
    assert_eq!(shape(Tier::Avx512, 64), Some((6, 64)));
    assert_eq!(shape(Tier::Avx2, 8), Some((12, 8)));
    assert_eq!(shape(Tier::Avx2, 9), Some((6, 16)));
    assert_eq!(shape(Tier::Portable, 64), None);
  }
}
