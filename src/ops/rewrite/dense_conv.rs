//! Dense 2-D convolutions of f32 NCHW images (one group, a constant kernel wider than 1 × 1) computed
//! directly on tract-node's tiles (`crate::ops::kernels::dense_conv`), as onnxruntime's MLAS does,
//! instead of tract's im2col and matrix product: tract's lazy im2col gathers each panel of the
//! image matrix again for every panel of weights.
//!
//! Here the image is laid out once per run as zero-padded rows split by column phase
//! ([`PhasedRows`]), so that for every tap a tile of consecutive outputs of a row reads consecutive
//! values. The weights are packed once, when the model is optimised, in blocks of one register of
//! output channels, tap after tap. Short rows (any row on AVX2, whose tiles are small) are laid out
//! with their padding rows so that a tile covers several rows, and each weight loaded serves all
//! their outputs. Tiles of output channels and rows are split over the intra-op threads, by
//! channels or by bands of rows, whichever moves fewer bytes between cores ([`TaskOrder`]); a ReLU
//! that follows is applied as the outputs are stored. Where a small image's few tiles are the
//! only ones to read their channels' weights (a network's last layers, whose weights exceed the L2
//! cache), they run their taps a chunk at a time and fetch the next chunk's weights ahead
//! ([`Job::run_chunked`]).
//!
//! On the tiers with tile kernels (AVX-512, AVX2); elsewhere tract's lowering stays.

use std::sync::{Arc, Mutex};

use tract_core::ops::cnn::{Conv, PoolSpec};
use tract_core::ops::math::Max;
use tract_hir::internal::*;

use super::conv::is_plain_2d;
use crate::cpu::Tier;
use crate::ops::kernels::conv_rows::{uninitialized_output, Geometry, PhasedRows};
use crate::ops::kernels::dense_conv::{kernel, Tile, TileFn, TileLimits, MAX_SUM_VALUES};
use crate::ops::kernels::split::for_each_task;

/// Most laid-out values kept from one run to the next (4 MB): larger layouts, of large images, are
/// made again each run rather than held for the session's lifetime.
const MAX_KEPT_LAYOUT_VALUES: usize = 1 << 20;

/// Most bytes of weights a tile streams, so that a thread's next rows find them in its L2 cache.
const MAX_TILE_WEIGHT_BYTES: usize = 768 << 10;

/// Tiles that run their taps a chunk at a time, one tile after the other, so that the chunk's
/// weights come from the L1 cache for all but the first (the sums wait in registers' worth of
/// memory between chunks). A task covers at least as many tiles where the image has them.
const CHUNK_TILES: usize = 4;

/// Bytes of weights one chunk of taps reads: what stays in the L1 cache while the chunk's tiles
/// run.
const CHUNK_BYTES: usize = 16 << 10;

/// Replaces every f32 NCHW 2-D `Conv` of one group with a constant OIHW kernel wider than 1 × 1 and
/// a constant bias by [`DenseConv`], its weights packed, on the tiers with tile kernels; a ReLU that
/// is the convolution's only consumer (`max(x, 0)`) is applied as the outputs are stored. Call
/// after declutter, before tract's codegen.
pub fn replace_dense_convolutions(model: &mut TypedModel, tier: Tier) -> TractResult<()> {
  let Some(limits) = TileLimits::of(tier) else { return Ok(()) };
  for id in 0..model.nodes().len() {
    let node = model.node(id);
    let Some(conv) = node.op_as::<Conv>() else { continue };
    if !is_dense(model, node, conv)? {
      continue;
    }
    let constant = |slot: usize| model.outlet_fact(node.inputs[slot]).map(|f| f.konst.clone());
    let (Some(kernel), Some(bias)) = (constant(1)?, constant(2)?) else { continue };
    let (weights, bias) = pack(&kernel, &bias, &conv.pool_spec, limits.lanes)?;
    let is_output = model.output_outlets()?.contains(&node.id.into());
    let relu = if is_output { None } else { model.find_succ_bin_with_const::<Max>(node, 0.0) };
    let op = DenseConv::new(tier, limits, conv.clone(), relu.is_some());
    let mut patch = TypedModelPatch::new("dense-conv");
    let image = patch.tap_model(model, node.inputs[0])?;
    let weights = patch.add_const(format!("{}.packed_weights", node.name), weights)?;
    let bias = patch.add_const(format!("{}.packed_bias", node.name), bias)?;
    let output = patch.wire_node(&node.name, op, &[image, weights, bias])?;
    patch.shunt_outside(model, relu.unwrap_or(node).id.into(), output[0])?;
    patch.apply(model)?;
  }
  Ok(())
}

/// Whether `conv` (at `node`) is a convolution [`DenseConv`] computes.
fn is_dense(model: &TypedModel, node: &TypedNode, conv: &Conv) -> TractResult<bool> {
  Ok(
    conv.group == 1
      && conv.pool_spec.kernel_shape.iter().product::<usize>() > 1
      && is_plain_2d(model, node, conv)?
      && model.outlet_fact(node.inputs[0])?.rank() == 4,
  )
}

/// The OIHW `kernel` of `spec` as `[blocks, taps, lanes]`: for each block of `lanes` output
/// channels, tap after tap (input channel, kernel row, kernel column), the tap's weight for each
/// channel of the block; and the bias (one value per channel, or one for all) as
/// `[blocks · lanes]`. Channels past the last are zero.
fn pack(
  kernel: &Tensor,
  bias: &Tensor,
  spec: &PoolSpec,
  lanes: usize,
) -> TractResult<(Tensor, Tensor)> {
  let (kernel, bias) = (kernel.try_as_plain_ram()?, bias.try_as_plain_ram()?);
  let (kernel, bias) = (kernel.as_slice::<f32>()?, bias.as_slice::<f32>()?);
  let (channels, [kernel_height, kernel_width]) =
    (spec.output_channels, [spec.kernel_shape[0], spec.kernel_shape[1]]);
  let taps = spec.input_channels * kernel_height * kernel_width;
  let blocks = channels.div_ceil(lanes);
  let mut weights = vec![0f32; blocks * taps * lanes];
  for (channel, weights_of_channel) in kernel.chunks_exact(taps).enumerate() {
    let block = &mut weights[channel / lanes * taps * lanes..][..taps * lanes];
    for (tap, &weight) in weights_of_channel.iter().enumerate() {
      block[tap * lanes + channel % lanes] = weight;
    }
  }
  let mut padded_bias = vec![0f32; blocks * lanes];
  for (channel, value) in padded_bias.iter_mut().take(channels).enumerate() {
    *value = bias[if bias.len() == 1 { 0 } else { channel }];
  }
  Ok((
    Tensor::from_shape(&[blocks, taps, lanes], &weights)?,
    Tensor::from_shape(&[blocks * lanes], &padded_bias)?,
  ))
}

/// tract's dense `Conv`, computed tile by tile (see the module doc). Its inputs are the image, the
/// weights and the bias as [`pack`] lays them out.
#[derive(Clone)]
pub struct DenseConv {
  tier: Tier,
  limits: TileLimits,
  conv: Conv,
  /// Whether outputs below zero are stored as zero (a fused ReLU).
  relu: bool,
  /// The last run's layout, for the next run of the same plane size (up to
  /// [`MAX_KEPT_LAYOUT_VALUES`]). Taken by a run, put back after it: runs in flight at once lay
  /// out their own.
  layout: Arc<Mutex<Option<Layout>>>,
}

impl DenseConv {
  fn new(tier: Tier, limits: TileLimits, conv: Conv, relu: bool) -> DenseConv {
    DenseConv { tier, limits, conv, relu, layout: Arc::default() }
  }

  /// The fields that make two of them the same operator.
  fn key(&self) -> (Tier, &Conv, bool) {
    (self.tier, &self.conv, self.relu)
  }
}

impl std::fmt::Debug for DenseConv {
  fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
    let mut debug = f.debug_struct("DenseConv");
    debug.field("tier", &self.tier).field("conv", &self.conv).field("relu", &self.relu).finish()
  }
}

impl PartialEq for DenseConv {
  fn eq(&self, other: &DenseConv) -> bool {
    self.key() == other.key()
  }
}

impl Eq for DenseConv {}

impl std::hash::Hash for DenseConv {
  fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
    self.key().hash(state)
  }
}

/// What a run lays out for one plane size, before the image's values: the rows (whose padding
/// stays zero from run to run), each output row's taps, the tiling and its tasks.
struct Layout {
  plane: (usize, usize),
  rows: PhasedRows,
  taps: Taps,
  tiling: Tiling,
  /// The rows the tiles cover, as (first row, rows) runs down the image.
  row_runs: Vec<(usize, usize)>,
  tasks: Vec<Task>,
}

impl Layout {
  fn new(
    conv: &DenseConv,
    geometry: &Geometry,
    channels: usize,
    out_channels: usize,
  ) -> TractResult<Layout> {
    let (columns, stackable) = tile_columns(conv.limits, geometry);
    let covered = geometry.out_width.next_multiple_of(columns);
    let stacked =
      if stackable { PhasedRows::with_padding_rows(geometry, covered, channels)? } else { None };
    let stacks_rows = stacked.is_some();
    let rows = match stacked {
      Some(rows) => rows,
      None => PhasedRows::new(geometry, covered, channels)?,
    };
    let taps = Taps::new(&rows, channels)?;
    let kernel_taps = channels * geometry.kernel_height * geometry.kernel_width;
    let tiling =
      Tiling::of(conv.tier, conv.limits, geometry, out_channels, kernel_taps, stacks_rows);
    let order = TaskOrder::of(
      out_channels * kernel_taps,
      rows.values().len(),
      out_channels * geometry.out_height * geometry.out_width,
    );
    let row_runs = tiling.row_runs(geometry.out_height);
    let tasks = tiling.tasks(&row_runs, geometry.out_width, order);
    Ok(Layout { plane: (geometry.height, geometry.width), rows, taps, tiling, row_runs, tasks })
  }
}

impl Op for DenseConv {
  fn name(&self) -> StaticName {
    "DenseConv".into()
  }

  fn info(&self) -> TractResult<Vec<String>> {
    let mut info = self.conv.pool_spec.info();
    if self.relu {
      info.push("ReLU fused".into());
    }
    Ok(info)
  }

  op_as_typed_op!();
}

impl TypedOp for DenseConv {
  fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
    self.conv.pool_spec.output_facts(&inputs[..1])
  }

  fn cost(&self, inputs: &[&TypedFact]) -> TractResult<TVec<(Cost, TDim)>> {
    let outputs =
      self.conv.pool_spec.output_shape(&inputs[0].shape)?.shape.iter().product::<TDim>();
    let taps = inputs[1].shape[1].clone();
    Ok(tvec!((Cost::FMA(f32::datum_type()), outputs * taps)))
  }

  as_op!();
}

impl EvalOp for DenseConv {
  op_out_of_plan!();

  fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
    let (input, weights, bias) = args_3!(inputs);
    // SAFETY: every value of the output is written below.
    let (channels, geometry, mut output) =
      unsafe { uninitialized_output(&self.conv.pool_spec, &input)? };
    let (height, width) = (geometry.height, geometry.width);
    let out_channels = self.conv.pool_spec.output_channels;
    let out_plane = geometry.out_height * geometry.out_width;
    if output.len() == 0 {
      return Ok(tvec!(output.into_tvalue()));
    }
    let (source, weights, bias) =
      (input.try_as_plain_ram()?, weights.try_as_plain_ram()?, bias.try_as_plain_ram()?);
    let (source, weights, bias) =
      (source.as_slice::<f32>()?, weights.as_slice::<f32>()?, bias.as_slice::<f32>()?);
    let kernel_taps = geometry.kernel_height * geometry.kernel_width;
    let lanes = self.limits.lanes;
    let blocks = out_channels.div_ceil(lanes);
    ensure!(
      weights.len() == blocks * channels * kernel_taps * lanes && bias.len() == blocks * lanes,
      "packed weights of {} values and bias of {} for {out_channels} × {channels} × {kernel_taps}",
      weights.len(),
      bias.len()
    );
    let cached = self.layout.lock().ok().and_then(|mut layout| layout.take());
    let cached = cached.filter(|layout| layout.plane == (height, width));
    let mut layout = match cached {
      Some(layout) => layout,
      None => Layout::new(self, &geometry, channels, out_channels)?,
    };
    let mut target = output.try_as_plain_ram_mut()?;
    let target = target.as_slice_mut::<f32>()?;
    let work =
      [out_plane, channels, kernel_taps].iter().fold(out_channels, |n, &d| n.saturating_mul(d));
    let plane = height * width;
    for (image, out) in target.chunks_exact_mut(out_channels * out_plane).enumerate() {
      layout.rows.fill_all(&source[image * channels * plane..][..channels * plane], work)?;
      let out = Output { values: out.as_mut_ptr(), channels: out_channels, plane: out_plane };
      let Layout { rows, taps, tiling, row_runs, tasks, .. } = &mut layout;
      let job = Job { rows, taps, weights, bias, relu: self.relu, tiling, row_runs, out };
      let weight =
        |task: &Task| task.blocks * row_runs[task.runs.clone()].iter().map(|r| r.1).sum::<usize>();
      for_each_task(tasks, weight, work, |task| job.run(task));
    }
    if layout.rows.values().len() <= MAX_KEPT_LAYOUT_VALUES {
      if let Ok(mut kept) = self.layout.lock() {
        *kept = Some(layout);
      }
    }
    Ok(tvec!(output.into_tvalue()))
  }
}

/// Each output row's taps, in one list: where among the laid-out values each reads from (for the
/// row's first output) and its index among the kernel's taps (input channel, kernel row, kernel
/// column), 32 bits each. Kernel rows that fall in the padding are left out.
struct Taps {
  list: Vec<(u32, u32)>,
  /// By output row, its taps' range in `list`.
  rows: Vec<std::ops::Range<usize>>,
}

impl Taps {
  fn new(rows: &PhasedRows, channels: usize) -> TractResult<Taps> {
    let geometry = rows.geometry();
    let (kernel_height, kernel_width) = (geometry.kernel_height, geometry.kernel_width);
    // The kernel rows output row `y` reads inside the input, with the input row each reads.
    let kernel_rows = |y| (0..kernel_height).filter_map(move |ky| Some((ky, geometry.row(y, ky)?)));
    let count = (0..geometry.out_height).map(|y| kernel_rows(y).count()).sum::<usize>();
    let len = count.checked_mul(channels * kernel_width);
    let fits = u32::try_from(rows.values().len()).is_ok()
      && u32::try_from(channels * kernel_height * kernel_width).is_ok();
    let mut list = Vec::new();
    let Some(len) = len.filter(|&len| fits && list.try_reserve_exact(len).is_ok()) else {
      bail!("a convolution's taps ({count} kernel rows × {channels} channels) cannot be listed")
    };
    let mut ranges = Vec::with_capacity(geometry.out_height);
    for y in 0..geometry.out_height {
      let start = list.len();
      for channel in 0..channels {
        for (ky, row) in kernel_rows(y) {
          let first = (channel * kernel_height + ky) * kernel_width;
          list.extend((0..kernel_width).map(|kx| {
            // Both fit in 32 bits, checked above.
            (rows.tap_offset(channel, row, kx) as u32, (first + kx) as u32)
          }));
        }
      }
      ranges.push(start..list.len());
    }
    debug_assert_eq!(list.len(), len);
    Ok(Taps { list, rows: ranges })
  }

  /// The taps of output row `y`.
  fn of_row(&self, y: usize) -> &[(u32, u32)] {
    &self.list[self.rows[y].clone()]
  }
}

/// Outputs of a row per tile, as many as `limits` allow without wasting more than one per tile,
/// and whether tiles may cover several rows (then with at most [`TileLimits::stacked_columns`]
/// outputs of each).
fn tile_columns(limits: TileLimits, geometry: &Geometry) -> (usize, bool) {
  let width = geometry.out_width.max(1);
  let fitting = |most: usize| width.div_ceil(width.div_ceil(most));
  let columns = fitting(limits.columns);
  if columns <= limits.stacking_columns && geometry.out_height > 1 {
    (fitting(limits.stacked_columns), true)
  } else {
    (columns, false)
  }
}

/// How the outputs are cut into tiles of `tier`: `rows` by `columns` outputs by `blocks_per_tile`
/// blocks of output channels (the last tiles of rows and channels may have fewer).
#[derive(Debug, Clone, Copy)]
struct Tiling {
  tier: Tier,
  lanes: usize,
  rows: usize,
  columns: usize,
  blocks_per_tile: usize,
  blocks: usize,
  /// Taps per chunk in tiles that run their taps in chunks ([`CHUNK_TILES`]).
  chunk_taps: usize,
}

impl Tiling {
  /// Tiles of [`tile_columns`], over several rows when rows are `stacked` (laid out with their
  /// padding) and short, with as many blocks of channels as registers allow (a tile that spills
  /// its sums runs slower than a smaller one). Of the row counts the registers allow, the one whose
  /// tile issues the fewest loads per multiply-add: each register of weights serves the tile's
  /// outputs and, where broadcasts are instructions of their own, each value its blocks.
  fn of(
    tier: Tier,
    limits: TileLimits,
    geometry: &Geometry,
    channels: usize,
    taps: usize,
    stacked: bool,
  ) -> Tiling {
    let (columns, stackable) = tile_columns(limits, geometry);
    let height = geometry.out_height.max(1);
    let stacks = stacked && stackable;
    // As many rows as the sums' registers hold, up to the limit and the height.
    let max_rows = if stacks { limits.rows.min(limits.sums / columns) } else { 1 };
    let lanes = limits.lanes;
    let blocks = channels.div_ceil(lanes);
    let cached_blocks = MAX_TILE_WEIGHT_BYTES / (taps * lanes * 4).max(1);
    let blocks_of = |rows: usize| {
      let outputs = rows * columns;
      // The sums, a tap's weights (one register per block) and a broadcast; one register spare
      // in tiles of one row, whose kernels spill a sum otherwise (AVX2's 1 × 4 × 3).
      let spare = usize::from(rows == 1);
      let in_registers = (limits.registers - 1 - spare) / (outputs + 1);
      (limits.sums / outputs)
        .min(in_registers)
        .min(cached_blocks)
        .clamp(1, limits.blocks)
        .min(blocks.max(1))
    };
    // Loads per multiply-add, as a fraction: (values + weights) / (outputs × blocks).
    let loads = |rows: usize| {
      let (outputs, blocks) = (rows * columns, blocks_of(rows));
      let values = if limits.separate_broadcasts { outputs } else { 0 };
      ((values + blocks) as u64, (outputs * blocks) as u64)
    };
    // 1, 2 or 4 rows: kernels are compiled for those (see `tasks`); on a tie, the most rows.
    let rows = [4, 2, 1]
      .into_iter()
      .filter(|&rows| rows <= max_rows.clamp(1, height))
      .reduce(|best, rows| {
        let ((a, b), (c, d)) = (loads(best), loads(rows));
        if c * b < a * d {
          rows
        } else {
          best
        }
      })
      .unwrap_or(1);
    let blocks_per_tile = blocks_of(rows);
    let chunk_taps = (CHUNK_BYTES / (blocks_per_tile * lanes * std::mem::size_of::<f32>())).max(1);
    Tiling { tier, lanes, rows, columns, blocks_per_tile, blocks, chunk_taps }
  }

  /// The rows the tiles cover, run after run down `height` rows: `rows` at a time, a last run of
  /// 3 rows cut in 2 and 1 (no kernel covers 3).
  fn row_runs(&self, height: usize) -> Vec<(usize, usize)> {
    let mut row_runs = Vec::new();
    let mut first_row = 0;
    while first_row < height {
      let rows = match self.rows.min(height - first_row) {
        3 => 2,
        rows => rows,
      };
      row_runs.push((first_row, rows));
      first_row += rows;
    }
    row_runs
  }

  /// Every tile of blocks of channels down a band of `row_runs` (as many runs as make
  /// [`CHUNK_TILES`] tiles on rows of `width` outputs), in the order the threads take them in
  /// runs (see [`TaskOrder`]).
  fn tasks(&self, row_runs: &[(usize, usize)], width: usize, order: TaskOrder) -> Vec<Task> {
    let runs_per_band = CHUNK_TILES.div_ceil(width.div_ceil(self.columns).max(1));
    let bands = (0..row_runs.len()).step_by(runs_per_band);
    let bands: Vec<_> =
      bands.map(|first| first..(first + runs_per_band).min(row_runs.len())).collect();
    // The blocks dealt out evenly over as few tiles as `blocks_per_tile` allows: 16 blocks as
    // 3, 3, 3, 3, 2, 2 rather than 3, 3, 3, 3, 3, 1, whose 4 sums on AVX2 (a tile of 2 × 2
    // outputs) cannot keep both multiply-add units busy.
    let count = self.blocks.div_ceil(self.blocks_per_tile);
    let tiles = (0..count).scan(0, |first_block, tile| {
      let blocks = self.blocks / count + usize::from(tile < self.blocks % count);
      *first_block += blocks;
      Some((*first_block - blocks, blocks))
    });
    let task = |(first_block, blocks), runs: &std::ops::Range<usize>| Task {
      first_block,
      blocks,
      runs: runs.clone(),
    };
    match order {
      TaskOrder::ByChannels => {
        tiles.flat_map(|tile| bands.iter().map(move |runs| task(tile, runs))).collect()
      }
      TaskOrder::ByRows => {
        bands.iter().flat_map(|runs| tiles.clone().map(move |tile| task(tile, runs))).collect()
      }
    }
  }
}

/// How the tasks are ordered, and so how the threads share them (each takes a run of consecutive
/// tasks).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TaskOrder {
  /// Each tile of channels down every row: each thread streams only its channels' weights, but
  /// reads every input value, half of which (on 2 threads) another core wrote last. For
  /// convolutions whose weights outweigh their image.
  ByChannels,
  /// Each band of rows across every channel: each thread reads every weight, but only its band of
  /// the image, and writes the band the next layer's same thread reads. For convolutions whose
  /// weights are lighter than their input and output (a network's first layers).
  ByRows,
}

impl TaskOrder {
  /// The order that moves fewer bytes between the cores: weights against the laid-out input
  /// and the output, counted in values.
  fn of(weights: usize, input: usize, output: usize) -> TaskOrder {
    if weights < input.saturating_add(output) {
      TaskOrder::ByRows
    } else {
      TaskOrder::ByChannels
    }
  }
}

/// A band of rows of outputs (runs of the layout's `row_runs`) for one tile of channels.
#[derive(Debug, Clone)]
struct Task {
  first_block: usize,
  blocks: usize,
  runs: std::ops::Range<usize>,
}

/// The output of one image, written by several threads at once, each at its own tasks' places.
#[derive(Clone, Copy)]
struct Output {
  values: *mut f32,
  channels: usize,
  plane: usize,
}

// SAFETY: tasks write disjoint outputs (their channels × their rows), see `Job::run`.
unsafe impl Send for Output {}
unsafe impl Sync for Output {}

/// Everything the tasks of one image share.
struct Job<'a> {
  rows: &'a PhasedRows,
  taps: &'a Taps,
  weights: &'a [f32],
  bias: &'a [f32],
  relu: bool,
  tiling: &'a Tiling,
  row_runs: &'a [(usize, usize)],
  out: Output,
}

impl Job<'_> {
  /// Computes the outputs of `task`: its tiles along each row run of its band, one after the
  /// other, or [`CHUNK_TILES`] at a time by chunks of taps where the band covers every row
  /// (see [`Job::run_chunked`]).
  fn run(&self, task: &Task) {
    let tiles = self.row_runs[task.runs.clone()].iter().flat_map(|&run| self.tiles(task, run));
    if task.runs.len() < self.row_runs.len() {
      // SAFETY: the CPU runs the tiling's tier (the rewrite picked it from the CPU's tiers), and
      // each tile's pointers are valid (see `tiles`).
      return tiles.for_each(|(tile, tile_fn)| unsafe { tile_fn(&tile) });
    }
    let tiles: Vec<(Tile, TileFn)> = tiles.collect();
    let mut partial = std::mem::MaybeUninit::<[f32; CHUNK_TILES * MAX_SUM_VALUES]>::uninit();
    for group in tiles.chunks(CHUNK_TILES) {
      self.run_chunked(group, partial.as_mut_ptr().cast());
    }
  }

  /// The tiles of `task`'s channels along the row run `(first_row, rows)`, each with its kernel,
  /// every tap in one chunk.
  fn tiles(
    &self,
    task: &Task,
    (first_row, rows): (usize, usize),
  ) -> impl Iterator<Item = (Tile<'_>, TileFn)> + '_ {
    let geometry = self.rows.geometry();
    let out_width = geometry.out_width;
    let taps = self.taps.of_row(first_row);
    let block_len = self.weights.len() / self.tiling.blocks;
    let lanes = self.tiling.lanes;
    let (first_block, blocks) = (task.first_block, task.blocks);
    let first_channel = first_block * lanes;
    let kernel = move |columns| kernel(self.tiling.tier, rows, columns, blocks);
    let whole = kernel(self.tiling.columns).expect("the tilings make only compiled tiles");
    (0..out_width).step_by(self.tiling.columns).map(move |first_column| {
      let columns = (out_width - first_column).min(self.tiling.columns);
      // A narrower last tile skips the outputs past the row, where a kernel of its width exists.
      let tile_fn =
        if columns < self.tiling.columns { kernel(columns).unwrap_or(whole) } else { whole };
      let first_output = first_row * out_width + first_column;
      let tile = Tile {
        // SAFETY (all offsets): the rows cover every tile's columns (`Layout::new`), the weights
        // and bias hold every block, the output every channel and row.
        values: unsafe { self.rows.values().as_ptr().add(first_column) },
        taps,
        row_step: geometry.stride_y * self.rows.row_len(),
        weights: unsafe { self.weights.as_ptr().add(first_block * block_len) },
        block_len,
        bias: unsafe { self.bias.as_ptr().add(first_channel) },
        partial: std::ptr::null_mut(),
        first: true,
        last: true,
        prefetch_from: 0,
        prefetch_taps: 0,
        relu: self.relu,
        out: unsafe { self.out.values.add(first_channel * self.out.plane + first_output) },
        plane: self.out.plane,
        out_width,
        channels: (self.out.channels - first_channel).min(blocks * lanes),
        columns,
      };
      (tile, tile_fn)
    })
  }

  /// Runs `tiles` (at most [`CHUNK_TILES`]), the only tiles to read their channels' weights in
  /// the run (from beyond the L2 cache, for big weights). Several take their taps a chunk at a
  /// time, one tile after the other: the chunk's weights come from the L1 cache for all but the
  /// first tile, and each tile asks the L2 cache for its share of the next chunk's weights, which
  /// then arrive while this chunk runs. Each tile's sums wait in its part of `partial` between
  /// chunks.
  fn run_chunked(&self, tiles: &[(Tile, TileFn)], partial: *mut f32) {
    if let [(tile, tile_fn)] = tiles {
      // SAFETY: as in `run`.
      return unsafe { tile_fn(tile) };
    }
    let chunk = self.tiling.chunk_taps;
    let share = chunk.div_ceil(tiles.len());
    let longest = tiles.iter().map(|(tile, _)| tile.taps.len()).max().unwrap_or(0);
    // One chunk at least: a tile without taps still stores its bias.
    for first_tap in (0..longest.max(1)).step_by(chunk) {
      for (index, (tile, tile_fn)) in tiles.iter().enumerate() {
        let taps = tile.taps.get(first_tap..).unwrap_or_default();
        if first_tap > 0 && taps.is_empty() {
          continue;
        }
        let prefetch = taps.get(chunk + index * share..).unwrap_or_default();
        let part = Tile {
          taps: &taps[..taps.len().min(chunk)],
          prefetch_from: prefetch.first().map_or(0, |&(_, tap)| tap as usize),
          prefetch_taps: prefetch.len().min(share),
          // SAFETY: `partial` holds CHUNK_TILES tiles' sums.
          partial: unsafe { partial.add(index * MAX_SUM_VALUES) },
          first: first_tap == 0,
          last: taps.len() <= chunk,
          ..*tile
        };
        // SAFETY: as in `run`; a chunk that is not the first reads the sums that the tile's
        // chunk before left in `partial`.
        unsafe { tile_fn(&part) };
      }
    }
  }
}

#[cfg(test)]
mod tests {
  use super::*;
  use crate::ops::rewrite::conv_case::{assert_close, Case};

  crate::cpu::test_each_tier! {
    fn convolutions_equal_the_definition(tier: Tier) {
      let cases = [
        // ResNet's 3 × 3: two blocks of channels, rows of 28 in tiles of 10.
        Case::new([1, 8, 28, 28], [3, 3]).out_channels(32).padding([1, 1], [1, 1]),
        // A stem: 3 channels, 7 × 7 stride 2, channels that end mid-block, two images.
        Case::new([2, 3, 23, 19], [7, 7]).out_channels(21).strides([2, 2]).padding([3, 3], [3, 3]),
        // Small planes: four rows in a tile (laid out with their padding), one bias for all channels.
        // Its few tiles alone read their channels' weights, a chunk of taps at a time.
        Case::new([1, 40, 4, 4], [3, 3]).out_channels(100).padding([1, 1], [1, 1]).shared_bias(),
        // Taps in chunks on every tier, rows of two lengths of taps where rows are not stacked.
        Case::new([1, 64, 3, 20], [3, 3]).out_channels(40).padding([1, 1], [0, 1]),
        // Tiles of 4 rows, then 2 and 1; stride 2 and dilation 2 across stacked rows.
        Case::new([2, 20, 7, 3], [3, 3]).out_channels(24).padding([1, 1], [1, 1]),
        Case::new([1, 16, 7, 7], [3, 3]).out_channels(40).strides([2, 2]).padding([1, 1], [1, 1]),
        Case::new([1, 16, 4, 4], [3, 3]).out_channels(16).dilations([2, 2]).padding([2, 2], [2, 2]),
        // Rows of 7: each row's last tile narrower than the others.
        Case::new([1, 24, 7, 7], [3, 3]).out_channels(40).padding([1, 1], [1, 1]),
        // Dilation, asymmetric padding, a 1-wide kernel, strides that skip rows.
        Case::new([1, 5, 17, 37], [3, 1])
          .out_channels(17)
          .strides([5, 3])
          .dilations([2, 1])
          .padding([0, 2], [3, 1]),
        // Padding wider than the kernel reaches: outputs that see only padding; a 1-column output.
        Case::new([1, 2, 2, 3], [2, 2]).out_channels(3).padding([2, 0], [1, 0]),
      ];
      let rewritten = TileLimits::of(tier).is_some();
      cases.iter().for_each(|case| case.check_on::<DenseConv>(tier, rewritten));
  }
  }

  #[test]
  fn the_tasks_cover_every_output_once_on_compiled_kernels() {
    let shapes = (1..=40).flat_map(|width| {
      (1..=9).flat_map(move |height| [1, 15, 16, 17, 50, 100, 512].map(|c| (width, height, c)))
    });
    for (out_width, out_height, channels) in shapes {
      let geometry = Geometry::of(
        &PoolSpec::new(
          tract_core::ops::nn::DataFormat::NCHW,
          tvec![1, 1],
          tract_core::ops::cnn::PaddingSpec::Valid,
          None,
          None,
          1,
          channels,
        ),
        out_height,
        out_width,
      );
      let tilings = [(9, false), (9, true), (18432, false), (18432, true)];
      for (tier, limits) in Tier::ALL.iter().filter_map(|&t| Some((t, TileLimits::of(t)?))) {
        for (taps, stacked) in tilings {
          let tiling = Tiling::of(tier, limits, &geometry, channels, taps, stacked);
          let row_runs = tiling.row_runs(out_height);
          for order in [TaskOrder::ByChannels, TaskOrder::ByRows] {
            // Every block of channels of every row, once.
            let mut covered = vec![0; tiling.blocks * out_height];
            for task in tiling.tasks(&row_runs, out_width, order) {
              for &(first_row, rows) in &row_runs[task.runs.clone()] {
                let sums = rows * tiling.columns * task.blocks;
                assert!(sums <= limits.sums || task.blocks == 1, "{tier}: {tiling:?} {task:?}");
                assert!(kernel(tier, rows, tiling.columns, task.blocks).is_some());
                for row in first_row..first_row + rows {
                  let blocks = task.first_block..task.first_block + task.blocks;
                  blocks.for_each(|block| covered[row * tiling.blocks + block] += 1);
                }
              }
            }
            assert!(covered.iter().all(|&n| n == 1), "{tier} {order:?}: {tiling:?}");
          }
        }
      }
    }
  }

  crate::cpu::test_each_tier! {
    fn a_relu_that_is_the_only_consumer_is_fused(tier: Tier) {
      let case = Case::new([1, 3, 6, 5], [3, 3]).out_channels(20).padding([1, 1], [1, 1]);
      let (x, kernel, bias) = (case.input(), case.kernel_values(), case.bias_values());
      let want = case.reference(&x, &kernel, &bias).mapv(|v| v.max(0.0));
      // The ReLU the only output; then with its input as an output too.
      for relu_only_consumer in [true, false] {
        let mut model = case.model(&kernel, &bias);
        let conv = model.output_outlets().unwrap()[0];
        let zero = model.add_const("zero", tensor4(&[[[[0f32]]]])).unwrap();
        let relu = model.wire_node("relu", tract_core::ops::math::max(), &[conv, zero]).unwrap()[0];
        let outputs = if relu_only_consumer { vec![relu] } else { vec![relu, conv] };
        model.select_output_outlets(&outputs).unwrap();
        let model = crate::ops::optimize(model, true, 1, tier).unwrap();
        let fused = model.nodes().iter().filter_map(|n| n.op_as::<DenseConv>()).any(|c| c.relu);
        assert_eq!(fused, relu_only_consumer && TileLimits::of(tier).is_some());
        let y = model.into_runnable().unwrap().run(tvec!(x.clone().into_tvalue())).unwrap();
        assert_close(&y[0], &want, "fused ReLU");
      }
  }
  }

  crate::cpu::test_each_tier! {
    fn pointwise_and_grouped_convolutions_stay_with_tract(tier: Tier) {
      let pointwise = Case::new([1, 4, 5, 5], [1, 1]).out_channels(8);
      let grouped =
        Case { group: 2, ..Case::new([1, 4, 5, 5], [3, 3]).out_channels(8).padding([1, 1], [1, 1]) };
      for case in [pointwise, grouped] {
        case.check_on::<DenseConv>(tier, false);
      }
  }
  }
}
