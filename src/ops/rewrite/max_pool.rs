//! 2-D max pooling of f32 planes (NCHW) in two passes over whole rows
//! (`crate::ops::kernels::max_pool`), split over the intra-op threads by planes. tract takes every
//! tap of every window (9 strided passes per output row for a 3 × 3 window).
//!
//! The padding, output size and ceil mode come from tract's own geometry for the input shape, and
//! values are compared as tract compares them (a NaN never replaces a value; a window that lies
//! wholly in the padding gives `f32::MIN`), so the rewrite changes no output.

use tract_core::ops::cnn::OptMaxPool;
use tract_hir::internal::*;

use crate::cpu::Tier;
use crate::ops::kernels::max_pool::Window;

/// Replaces tract's f32 NCHW 2-D `OptMaxPool` (no dilation, no index output) by [`PlaneMaxPool`],
/// on `tier`'s kernel. Call on the optimised model.
pub fn replace_max_pools(model: &mut TypedModel, tier: Tier) -> TractResult<()> {
  for id in 0..model.nodes().len() {
    let node = model.node(id);
    let Some(pool) = node.op_as::<OptMaxPool>() else { continue };
    let spec = &pool.pool_spec;
    let f32_input = model.outlet_fact(node.inputs[0])?.datum_type == f32::datum_type();
    let no_dilation = spec.dilations.as_ref().is_none_or(|d| d.iter().all(|&d| d == 1));
    if f32_input
      && no_dilation
      && pool.with_index_outputs.is_none()
      && !spec.data_format.c_is_last()
      && spec.kernel_shape.len() == 2
    {
      model.node_mut(id).op = Box::new(PlaneMaxPool { tier, pool: pool.clone() });
    }
  }
  Ok(())
}

/// tract's `OptMaxPool`, evaluated plane by plane in two passes.
#[derive(Debug, Clone, Hash, PartialEq, Eq)]
pub struct PlaneMaxPool {
  tier: Tier,
  pool: OptMaxPool,
}

impl Op for PlaneMaxPool {
  fn name(&self) -> StaticName {
    "MaxPool".into()
  }

  fn info(&self) -> TractResult<Vec<String>> {
    self.pool.info()
  }

  op_as_typed_op!();
}

impl TypedOp for PlaneMaxPool {
  fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
    self.pool.output_facts(inputs)
  }

  as_op!();
}

impl EvalOp for PlaneMaxPool {
  op_out_of_plan!();

  fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
    let input = args_1!(inputs);
    let geometry = self.pool.geometry.to_concrete(input.shape())?;
    let patch = &geometry.patch;
    let [height, width] = geometry.input_shape.hw_dims() else { bail!("2-D pooling expected") };
    let window = Window {
      rows: patch.spec.kernel_shape[0],
      columns: patch.spec.kernel_shape[1],
      stride_y: patch.spec.strides[0],
      stride_x: patch.spec.strides[1],
      top: patch.pad_before[0],
      left: patch.pad_before[1],
    };
    let (out_height, out_width) = (patch.output_shape[0], patch.output_shape[1]);
    let source = input.try_as_plain_ram()?;
    let source = source.as_slice::<f32>()?;
    // SAFETY: every output value is written below (the output's planes and rows, or the fill).
    let mut output = unsafe { Tensor::uninitialized::<f32>(&geometry.output_shape.shape)? };
    let mut target = output.try_as_plain_ram_mut()?;
    let target = target.as_slice_mut::<f32>()?;
    let (plane, out_plane) = (height * width, out_height * out_width);
    if plane == 0 {
      // An empty input plane: every window lies in the padding.
      target.fill(f32::MIN);
    } else if out_plane > 0 {
      tract_linalg::multithread::par_chunks_mut(
        target,
        out_plane,
        source.len(),
        |first, planes| {
          let (shape, out) = ([*height, *width], [out_height, out_width]);
          // SAFETY: the CPU runs the op's tier (the rewrite picked it from the CPU's tiers).
          unsafe { window.pool(self.tier, &source[first * plane..], shape, planes, out) };
          Ok(())
        },
      )?;
    }
    Ok(tvec!(output.into_tvalue()))
  }
}

#[cfg(test)]
mod tests {
  use super::*;
  use tract_core::ops::cnn::{MaxPool, PaddingSpec, PoolSpec};
  use tract_core::ops::nn::DataFormat;
  use tract_ndarray::{Array4, ArrayD};

  /// A value per index, with repeats, negatives and a NaN.
  fn input(shape: [usize; 4]) -> Array4<f32> {
    Array4::from_shape_fn(shape, |(n, c, y, x)| {
      if (n, c, y, x) == (0, 0, 1, 2) {
        f32::NAN
      } else {
        ((n * 131 + c * 71 + y * 13 + x * 7) % 23) as f32 - 11.0
      }
    })
  }

  /// The definition: each window's largest value, padding ignored (`f32::MIN` for none).
  fn reference(
    input: &Array4<f32>,
    kernel: [usize; 2],
    strides: [usize; 2],
    before: [usize; 2],
    out: [usize; 2],
  ) -> Array4<f32> {
    let (n, c, h, w) = input.dim();
    Array4::from_shape_fn((n, c, out[0], out[1]), |(n, c, oy, ox)| {
      let mut max = f32::MIN;
      for ky in 0..kernel[0] {
        for kx in 0..kernel[1] {
          let y = (oy * strides[0] + ky) as isize - before[0] as isize;
          let x = (ox * strides[1] + kx) as isize - before[1] as isize;
          if (0..h as isize).contains(&y) && (0..w as isize).contains(&x) {
            let value = input[(n, c, y as usize, x as usize)];
            if max < value {
              max = value;
            }
          }
        }
      }
      max
    })
  }

  /// One pooling: input shape, window, strides, padding before and after each axis, ceil mode.
  struct Case {
    shape: [usize; 4],
    kernel: [usize; 2],
    strides: [usize; 2],
    before: [usize; 2],
    after: [usize; 2],
    ceil_mode: bool,
  }

  crate::cpu::test_each_tier! {
    fn pools_equal_the_definition(tier: Tier) {
      let cases = [
        // Windows wider than the rows: none lies wholly inside.
        Case {
          shape: [1, 2, 3, 2],
          kernel: [3, 4],
          strides: [1, 1],
          before: [1, 0],
          after: [1, 3],
          ceil_mode: false,
        },
        // Rows over several register widths, odd (the last column phase is a value short).
        Case {
          shape: [1, 2, 21, 37],
          kernel: [3, 3],
          strides: [2, 2],
          before: [1, 0],
          after: [1, 0],
          ceil_mode: false,
        },
        Case {
          shape: [1, 1, 5, 40],
          kernel: [2, 4],
          strides: [1, 1],
          before: [0, 1],
          after: [1, 2],
          ceil_mode: false,
        },
        Case {
          shape: [1, 3, 12, 12],
          kernel: [3, 3],
          strides: [2, 2],
          before: [1, 1],
          after: [1, 1],
          ceil_mode: false,
        },
        Case {
          shape: [2, 2, 7, 9],
          kernel: [2, 2],
          strides: [2, 2],
          before: [0, 0],
          after: [0, 0],
          ceil_mode: false,
        },
        Case {
          shape: [1, 2, 9, 8],
          kernel: [5, 5],
          strides: [1, 1],
          before: [2, 2],
          after: [2, 2],
          ceil_mode: false,
        },
        Case {
          shape: [1, 1, 8, 11],
          kernel: [3, 2],
          strides: [2, 3],
          before: [0, 1],
          after: [2, 0],
          ceil_mode: false,
        },
        Case {
          shape: [1, 2, 8, 8],
          kernel: [3, 3],
          strides: [2, 2],
          before: [0, 0],
          after: [0, 0],
          ceil_mode: true,
        },
        Case {
          shape: [1, 1, 4, 5],
          kernel: [1, 1],
          strides: [1, 1],
          before: [0, 0],
          after: [0, 0],
          ceil_mode: false,
        },
      ];
      for Case { shape, kernel, strides, before, after, ceil_mode } in cases {
        let spec = PoolSpec::new(
          DataFormat::NCHW,
          kernel.iter().copied().collect(),
          PaddingSpec::ExplicitOnnxPool(
            before.iter().copied().collect(),
            after.iter().copied().collect(),
            ceil_mode,
          ),
          None,
          Some(strides.iter().copied().collect()),
          shape[1],
          shape[1],
        );
        let mut model = TypedModel::default();
        let x = model.add_source("x", f32::fact(shape)).unwrap();
        let y = model.wire_node("pool", MaxPool::new(spec, None), &[x]).unwrap();
        model.select_output_outlets(&y).unwrap();
        let mut model = model.into_optimized().unwrap();
        replace_max_pools(&mut model, tier).unwrap();
        let case =
          format!("{shape:?} kernel {kernel:?} strides {strides:?} pads {before:?} {after:?}");
        assert!(model.nodes().iter().any(|n| n.op_is::<PlaneMaxPool>()), "{case}");
        let x = input(shape);
        let y = model.into_runnable().unwrap().run(tvec!(x.clone().into_tvalue())).unwrap();
        let y: ArrayD<f32> = y[0].to_plain_array_view::<f32>().unwrap().to_owned();
        let out = [0, 1].map(|axis| {
          let span = shape[axis + 2] + before[axis] + after[axis] - kernel[axis];
          let steps = if ceil_mode { span.div_ceil(strides[axis]) } else { span / strides[axis] };
          steps + 1
        });
        let want = reference(&x, kernel, strides, before, out);
        assert_eq!(y.shape(), want.shape(), "{case}");
        for (got, want) in y.iter().zip(want.iter()) {
          assert!(got == want || (got.is_nan() && want.is_nan()), "{case}: {got} vs {want}");
        }
      }
  }
  }
}
