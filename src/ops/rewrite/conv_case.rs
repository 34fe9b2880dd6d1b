//! Test support for the convolution rewrites: one 2-D NCHW convolution (shape, groups, kernel,
//! strides, dilations, padding), its definition in f64, the model an ONNX import gives tract-node's
//! optimisation, and the check that the optimised model computes the definition.

use tract_core::ops::cnn::{Conv, KernelFormat, PaddingSpec, PoolSpec};
use tract_core::ops::nn::DataFormat;
use tract_hir::internal::*;
use tract_linalg::multithread::{multithread_tract_scope, Executor};
use tract_ndarray::{Array4, ArrayD};

use crate::cpu::Tier;

/// A value per index, with negatives and no pattern a wrong offset would repeat.
pub fn value(i: usize) -> f32 {
  ((i * 7919) % 101) as f32 / 50.0 - 1.0
}

/// One convolution: input shape, output channels, groups, kernel, strides, dilations, padding
/// before and after each axis, and whether the bias is one value per output channel (or one for
/// all).
#[derive(Debug, Clone)]
pub struct Case {
  pub shape: [usize; 4],
  pub out_channels: usize,
  pub group: usize,
  pub kernel: [usize; 2],
  pub strides: [usize; 2],
  pub dilations: [usize; 2],
  pub before: [usize; 2],
  pub after: [usize; 2],
  pub per_channel_bias: bool,
}

impl Case {
  /// A convolution of `shape` by a `kernel`, of one group, as many output channels as input
  /// channels, strides and dilations 1, no padding, one bias per output channel.
  pub fn new(shape: [usize; 4], kernel: [usize; 2]) -> Case {
    let (ones, zeros) = ([1, 1], [0, 0]);
    Case {
      shape,
      out_channels: shape[1],
      group: 1,
      kernel,
      strides: ones,
      dilations: ones,
      before: zeros,
      after: zeros,
      per_channel_bias: true,
    }
  }

  /// With `out_channels` output channels.
  pub fn out_channels(self, out_channels: usize) -> Case {
    Case { out_channels, ..self }
  }

  /// Depthwise: one group per input channel, as many output channels.
  pub fn depthwise(self) -> Case {
    Case { group: self.shape[1], out_channels: self.shape[1], ..self }
  }

  /// With `strides`.
  pub fn strides(self, strides: [usize; 2]) -> Case {
    Case { strides, ..self }
  }

  /// With `dilations`.
  pub fn dilations(self, dilations: [usize; 2]) -> Case {
    Case { dilations, ..self }
  }

  /// With padding `before` and `after` each spatial axis.
  pub fn padding(self, before: [usize; 2], after: [usize; 2]) -> Case {
    Case { before, after, ..self }
  }

  /// With one bias value for all output channels.
  pub fn shared_bias(self) -> Case {
    Case { per_channel_bias: false, ..self }
  }

  /// Output size along spatial `axis`.
  pub fn output_size(&self, axis: usize) -> usize {
    let reach = self.dilations[axis] * (self.kernel[axis] - 1) + 1;
    (self.shape[axis + 2] + self.before[axis] + self.after[axis] - reach) / self.strides[axis] + 1
  }

  /// Input channels per group.
  fn group_channels(&self) -> usize {
    self.shape[1] / self.group
  }

  /// The input: [`value`] of each index.
  pub fn input(&self) -> Array4<f32> {
    let [n, c, h, w] = self.shape;
    Array4::from_shape_fn((n, c, h, w), |(n, c_, y, x)| value(((n * c + c_) * h + y) * w + x))
  }

  /// The OIHW kernel's values.
  pub fn kernel_values(&self) -> Vec<f32> {
    let len = self.out_channels * self.group_channels() * self.kernel[0] * self.kernel[1];
    (0..len).map(|i| value(i + 3) / 4.0).collect()
  }

  /// The bias's values.
  pub fn bias_values(&self) -> Vec<f32> {
    (0..if self.per_channel_bias { self.out_channels } else { 1 }).map(|i| value(i + 11)).collect()
  }

  /// The definition, in f64: bias plus every tap inside the input, over the input channels of the
  /// output channel's group.
  pub fn reference(&self, x: &Array4<f32>, kernel: &[f32], bias: &[f32]) -> Array4<f64> {
    let [n, _, h, w] = self.shape;
    let [kh, kw] = self.kernel;
    let (group_channels, outputs_per_group) =
      (self.group_channels(), self.out_channels / self.group);
    let shape = (n, self.out_channels, self.output_size(0), self.output_size(1));
    Array4::from_shape_fn(shape, |(n, o, oy, ox)| {
      let mut sum = bias[if bias.len() == 1 { 0 } else { o }] as f64;
      let first_input = o / outputs_per_group * group_channels;
      for i in 0..group_channels {
        for ky in 0..kh {
          for kx in 0..kw {
            let y =
              (oy * self.strides[0] + ky * self.dilations[0]) as isize - self.before[0] as isize;
            let x_ =
              (ox * self.strides[1] + kx * self.dilations[1]) as isize - self.before[1] as isize;
            if (0..h as isize).contains(&y) && (0..w as isize).contains(&x_) {
              let weight = kernel[((o * group_channels + i) * kh + ky) * kw + kx] as f64;
              sum += weight * x[(n, first_input + i, y as usize, x_ as usize)] as f64;
            }
          }
        }
      }
      sum
    })
  }

  /// The convolution as an ONNX import gives it to tract-node's optimisation (a one-value bias is
  /// a scalar).
  pub fn model(&self, kernel: &[f32], bias: &[f32]) -> TypedModel {
    let spec = PoolSpec::new(
      DataFormat::NCHW,
      self.kernel.iter().copied().collect(),
      PaddingSpec::ExplicitOnnxPool(
        self.before.iter().copied().collect(),
        self.after.iter().copied().collect(),
        false,
      ),
      Some(self.dilations.iter().copied().collect()),
      Some(self.strides.iter().copied().collect()),
      self.shape[1],
      self.out_channels,
    );
    let conv =
      Conv { pool_spec: spec, kernel_fmt: KernelFormat::OIHW, group: self.group, q_params: None };
    let mut model = TypedModel::default();
    let x = model.add_source("x", f32::fact(self.shape)).unwrap();
    let kernel_shape = [self.out_channels, self.group_channels(), self.kernel[0], self.kernel[1]];
    let k = model.add_const("k", Tensor::from_shape(&kernel_shape, kernel).unwrap()).unwrap();
    let bias_shape: &[usize] = if self.per_channel_bias { &[self.out_channels] } else { &[] };
    let b = model.add_const("b", Tensor::from_shape(bias_shape, bias).unwrap()).unwrap();
    let y = model.wire_node("conv", conv, &[x, k, b]).unwrap();
    model.select_output_outlets(&y).unwrap();
    model
  }

  /// The model after tract-node's optimisation for `tier` (one intra-op thread).
  pub fn optimized(&self, tier: Tier) -> TypedModel {
    let model = self.model(&self.kernel_values(), &self.bias_values());
    crate::ops::optimize(model, true, 1, tier).unwrap()
  }

  /// Checks that tract-node's optimisation of the model for `tier` puts an `O` in it exactly when
  /// `rewritten`, and that it computes the definition.
  pub fn check_on<O: TypedOp>(&self, tier: Tier, rewritten: bool) {
    let model = self.optimized(tier);
    assert_eq!(model.nodes().iter().any(|n| n.op_is::<O>()), rewritten, "{self:?} on {tier}");
    self.check_computes_the_definition(model);
  }

  /// Checks that `model` (this case's, optimised) computes the definition on 1 and 2 threads (and
  /// on 1 again, after a run has left its state).
  pub fn check_computes_the_definition(&self, model: TypedModel) {
    let x = self.input();
    let want = self.reference(&x, &self.kernel_values(), &self.bias_values());
    let plan = model.into_runnable().unwrap();
    for threads in [1, 2, 1] {
      let executor =
        if threads == 1 { Executor::SingleThread } else { Executor::multithread(threads) };
      let y =
        multithread_tract_scope(executor, || plan.run(tvec!(x.clone().into_tvalue()))).unwrap();
      assert_close(&y[0], &want, &format!("{self:?}, {threads} threads"));
    }
  }
}

/// Asserts that `got` has `want`'s shape and each value within 1e-4 of it (`label` says which).
pub fn assert_close(got: &TValue, want: &Array4<f64>, label: &str) {
  let got: ArrayD<f32> = got.to_plain_array_view::<f32>().unwrap().to_owned();
  assert_eq!(got.shape(), want.shape(), "{label}");
  for (got, want) in got.iter().zip(want.iter()) {
    assert!((*got as f64 - want).abs() < 1e-4, "{label}: {got} vs {want}");
  }
}
