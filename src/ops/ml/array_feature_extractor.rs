//! `ArrayFeatureExtractor` (ai.onnx.ml), which tract lacks: a gather along the last axis.

use tract_hir::internal::*;
use tract_onnx::model::OnnxOpRegister;

/// Registers the operator.
pub fn register(registry: &mut OnnxOpRegister) {
  registry.insert("ArrayFeatureExtractor", |_, _| Ok((expand(ArrayFeatureExtractor), vec![])));
}

/// `ArrayFeatureExtractor`: the entries of `X`'s last axis listed by the int64 indices `Y` (any
/// shape, read flat), as `X.shape[..-1] + [Y.size]`; a 1-D `X` gives `[1, Y.size]`, as onnxruntime
/// does. ColumnTransformer selects columns with it, and classifiers turn class indices into labels.
#[derive(Debug, Clone)]
struct ArrayFeatureExtractor;

impl Expansion for ArrayFeatureExtractor {
  fn name(&self) -> StaticName {
    "ArrayFeatureExtractor".into()
  }

  fn rules<'r, 'p: 'r, 's: 'r>(
    &'s self,
    s: &mut Solver<'r>,
    inputs: &'p [TensorProxy],
    outputs: &'p [TensorProxy],
  ) -> InferenceResult {
    check_input_arity(inputs, 2)?;
    check_output_arity(outputs, 1)?;
    s.equals(&outputs[0].datum_type, &inputs[0].datum_type)?;
    s.given(&inputs[0].rank, move |s, rank| s.equals(&outputs[0].rank, rank.max(2)))?;
    s.given_2(&inputs[0].shape, &inputs[1].shape, move |s, data, indices| {
      let count: TDim = indices.iter().product();
      let shape: TVec<TDim> = match data.len() {
        1 => tvec![1.to_dim(), count],
        rank => data[..rank - 1].iter().cloned().chain([count]).collect(),
      };
      s.equals(&outputs[0].shape, ShapeFactoid::from(shape))
    })
  }

  fn wire(
    &self,
    prefix: &str,
    model: &mut TypedModel,
    inputs: &[OutletId],
  ) -> TractResult<TVec<OutletId>> {
    use tract_core::ops::change_axes::AxisOp;
    let rank = model.outlet_fact(inputs[0])?.rank();
    ensure!(rank >= 1, "ArrayFeatureExtractor needs an input of rank 1 or more");
    let mut indices = model.wire_node(
      format!("{prefix}.indices"),
      tract_core::ops::cast::cast(i64::datum_type()),
      &[inputs[1]],
    )?;
    let indices_shape = model.outlet_fact(indices[0])?.shape.to_tvec();
    if indices_shape.len() != 1 {
      let flat = tvec![indices_shape.iter().product::<TDim>()];
      let reshape = AxisOp::Reshape(0, indices_shape, flat);
      indices = model.wire_node(format!("{prefix}.flat_indices"), reshape, &indices)?;
    }
    let gathered = model.wire_node(
      format!("{prefix}.gather"),
      tract_core::ops::array::Gather::new(rank - 1),
      &[inputs[0], indices[0]],
    )?;
    if rank > 1 {
      return Ok(gathered);
    }
    model.wire_node(prefix, AxisOp::Add(0), &gathered)
  }
}
