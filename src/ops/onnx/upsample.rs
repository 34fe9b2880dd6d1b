//! `Upsample` (ai.onnx opsets 7–9, deprecated since 10 but in many older exports: YOLOv3, early
//! super-resolution and segmentation models), which tract lacks. It is tract's `Resize` with the
//! asymmetric coordinate transform and floor rounding for nearest, the scales from the attribute
//! (opset 7) or the second input (opset 9, a constant in real models).

use tract_core::ops::nn::resize::{CoordTransformer, Interpolator, Nearest, Resize};
use tract_hir::internal::*;
use tract_onnx::model::OnnxOpRegister;
use tract_onnx::pb::NodeProto;

/// Registers the operator.
pub fn register(reg: &mut OnnxOpRegister) {
  reg.insert("Upsample", |_, node| Ok((expand(Upsample::parse(node)?), vec![])));
}

#[derive(Debug, Clone)]
struct Upsample {
  resize: Resize,
  /// Opset 7's `scales` attribute; `None` when they come as the second input.
  scales: Option<Arc<Tensor>>,
}

impl Upsample {
  fn parse(node: &NodeProto) -> TractResult<Upsample> {
    let interpolator = match node.get_attr_opt::<&str>("mode")?.unwrap_or("nearest") {
      "nearest" => Interpolator::Nearest,
      "linear" | "bilinear" => Interpolator::Linear,
      other => bail!("Upsample mode {other:?} is not nearest or linear"),
    };
    let scales = node.get_attr_opt_vec::<f32>("scales")?.map(|s| tensor1(&s).into_arc_tensor());
    let resize = Resize {
      coord_transformer: CoordTransformer::Asymmetric,
      interpolator,
      nearest: Nearest::Floor,
      optional_scales_input: Some(1),
      optional_sizes_input: None,
    };
    Ok(Upsample { resize, scales })
  }

  fn output_shape(&self, input: &[TDim], scales: &Tensor) -> TractResult<TVec<TDim>> {
    self.resize.compute_output_shape(input, Some(scales), None)
  }
}

impl Expansion for Upsample {
  fn name(&self) -> StaticName {
    "Upsample".into()
  }

  fn rules<'r, 'p: 'r, 's: 'r>(
    &'s self,
    s: &mut Solver<'r>,
    inputs: &'p [TensorProxy],
    outputs: &'p [TensorProxy],
  ) -> InferenceResult {
    check_input_arity(inputs, if self.scales.is_some() { 1 } else { 2 })?;
    check_output_arity(outputs, 1)?;
    s.equals(&inputs[0].datum_type, &outputs[0].datum_type)?;
    s.equals(&inputs[0].rank, &outputs[0].rank)?;
    match &self.scales {
      Some(scales) => s.given(&inputs[0].shape, move |s, shape| {
        s.equals(&outputs[0].shape, ShapeFactoid::from(self.output_shape(&shape, scales)?))
      }),
      None => s.given_2(&inputs[0].shape, &inputs[1].value, move |s, shape, scales| {
        s.equals(&outputs[0].shape, ShapeFactoid::from(self.output_shape(&shape, &scales)?))
      }),
    }
  }

  fn wire(
    &self,
    prefix: &str,
    model: &mut TypedModel,
    inputs: &[OutletId],
  ) -> TractResult<TVec<OutletId>> {
    let scales = match &self.scales {
      Some(scales) => model.add_const(format!("{prefix}.scales"), scales.clone())?,
      None => inputs[1],
    };
    model.wire_node(prefix, self.resize.clone(), &[inputs[0], scales])
  }
}
