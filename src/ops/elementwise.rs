//! `CumProd` and `BitCast` (ai.onnx), which tract lacks.

use tract_hir::internal::*;
use tract_ndarray::{ArrayD, Axis};
use tract_onnx::model::OnnxOpRegister;
use tract_onnx::pb::NodeProto;

use super::plain::{plain, FactSpec, Plain};

/// Registers both operators.
pub fn register(reg: &mut OnnxOpRegister) {
  reg.insert("CumProd", |_, node| plain(CumProd::parse(node)?));
  reg.insert("BitCast", |_, node| plain(BitCast::parse(node)?));
}

/// Running products along the axis given by the second input, optionally exclusive (starting from
/// 1) and from the end.
#[derive(Debug)]
struct CumProd {
  exclusive: bool,
  reverse: bool,
}

impl CumProd {
  fn parse(node: &NodeProto) -> TractResult<CumProd> {
    Ok(CumProd {
      exclusive: node.get_attr_opt::<i64>("exclusive")?.unwrap_or(0) != 0,
      reverse: node.get_attr_opt::<i64>("reverse")?.unwrap_or(0) != 0,
    })
  }

  fn products<T: Datum + Copy + std::ops::Mul<Output = T>>(
    &self,
    data: &mut ArrayD<T>,
    axis: usize,
    one: T,
  ) {
    for mut lane in data.lanes_mut(Axis(axis)) {
      let len = lane.len();
      let mut product = one;
      for step in 0..len {
        let ix = if self.reverse { len - 1 - step } else { step };
        let value = lane[ix];
        if self.exclusive {
          lane[ix] = product;
          product = product * value;
        } else {
          product = product * value;
          lane[ix] = product;
        }
      }
    }
  }
}

impl Plain for CumProd {
  fn name(&self) -> &'static str {
    "CumProd"
  }

  fn output_facts(&self, inputs: &[FactSpec]) -> TractResult<TVec<FactSpec>> {
    Ok(tvec!(inputs[0].clone()))
  }

  fn eval(&self, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
    let (x, axis) = (&inputs[0], &inputs[1]);
    let rank = x.rank() as i64;
    let axis = axis.cast_to_scalar::<i64>()?;
    ensure!((-rank..rank).contains(&axis), "axis {axis} is out of range for rank {rank}");
    let axis = axis.rem_euclid(rank.max(1)) as usize;
    macro_rules! run {
      ($t:ty, $one:expr) => {{
        let mut data = x.to_plain_array_view::<$t>()?.to_owned();
        self.products(&mut data, axis, $one);
        data.into_tensor()
      }};
    }
    let result = match x.datum_type() {
      DatumType::F32 => run!(f32, 1.0),
      DatumType::F64 => run!(f64, 1.0),
      DatumType::I32 => run!(i32, 1),
      DatumType::I64 => run!(i64, 1),
      DatumType::U32 => run!(u32, 1),
      DatumType::U64 => run!(u64, 1),
      DatumType::F16 => {
        let mut data = x.cast_to::<f32>()?.to_plain_array_view::<f32>()?.to_owned();
        self.products(&mut data, axis, 1.0);
        data.into_tensor().cast_to::<f16>()?.into_owned()
      }
      other => bail!("CumProd of {other:?} is not supported"),
    };
    Ok(tvec!(result.into_tvalue()))
  }
}

/// The input's bytes read as another type of the same width.
#[derive(Debug)]
struct BitCast {
  to: DatumType,
}

impl BitCast {
  fn parse(node: &NodeProto) -> TractResult<BitCast> {
    let to = node.get_attr::<DatumType>("to")?;
    ensure!(to != DatumType::String, "BitCast to strings is not supported");
    Ok(BitCast { to })
  }
}

impl Plain for BitCast {
  fn name(&self) -> &'static str {
    "BitCast"
  }

  fn output_facts(&self, inputs: &[FactSpec]) -> TractResult<TVec<FactSpec>> {
    let (dt, shape) = &inputs[0];
    ensure!(
      dt.size_of() == self.to.size_of(),
      "BitCast from {dt:?} to {:?}: their widths differ",
      self.to
    );
    Ok(tvec!((self.to, shape.clone())))
  }

  fn eval(&self, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
    let x = &inputs[0];
    ensure!(x.datum_type() != DatumType::String, "BitCast of strings is not supported");
    let bytes = x.try_as_plain_ram()?.as_bytes().to_vec();
    let cast = unsafe { Tensor::from_raw_dt(self.to, x.shape(), &bytes)? };
    Ok(tvec!(cast.into_tvalue()))
  }
}
