//! `CumProd` and `BitCast` (ai.onnx), which tract lacks, and `BitShift`, whose edge cases it gets
//! wrong.

use tract_hir::internal::*;
use tract_ndarray::ArrayD;
use tract_onnx::model::OnnxOpRegister;
use tract_onnx::pb::NodeProto;

use crate::ops::plain::{array_of, plain, FactSpec, Plain};

/// Registers the operators.
pub fn register(reg: &mut OnnxOpRegister) {
  reg.insert("CumProd", |_, node| plain(CumProd::parse(node)?));
  reg.insert("BitCast", |_, node| plain(BitCast::parse(node)?));
  reg.insert("BitShift", |_, node| plain(BitShift::parse(node)?));
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

  /// The cumulative products of `data`, row-major, along an axis of `len` values with `inner`
  /// values after each: on the flat values (over ndarray's lanes, 6 types took 38 KB).
  fn products<T: Copy + std::ops::Mul<Output = T>>(
    &self,
    data: &mut [T],
    [len, inner]: [usize; 2],
    one: T,
  ) {
    if len == 0 || inner == 0 {
      return;
    }
    for block in data.chunks_exact_mut(len * inner) {
      for first in 0..inner {
        let mut product = one;
        for step in 0..len {
          let ix = if self.reverse { len - 1 - step } else { step } * inner + first;
          let value = block[ix];
          if self.exclusive {
            block[ix] = product;
            product = product * value;
          } else {
            product = product * value;
            block[ix] = product;
          }
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
    let shape = [x.shape()[axis], x.shape()[axis + 1..].iter().product()];
    macro_rules! run {
      ($data:expr, $t:ty, $one:expr) => {{
        let mut data = $data;
        self.products(data.try_as_plain_ram_mut()?.as_slice_mut::<$t>()?, shape, $one);
        data
      }};
    }
    let result = match x.datum_type() {
      DatumType::F32 => run!(x.clone().into_tensor(), f32, 1.0),
      DatumType::F64 => run!(x.clone().into_tensor(), f64, 1.0),
      DatumType::I32 => run!(x.clone().into_tensor(), i32, 1),
      DatumType::I64 => run!(x.clone().into_tensor(), i64, 1),
      DatumType::U32 => run!(x.clone().into_tensor(), u32, 1),
      DatumType::U64 => run!(x.clone().into_tensor(), u64, 1),
      DatumType::F16 => {
        run!(x.cast_to::<f32>()?.into_owned(), f32, 1.0).cast_to::<f16>()?.into_owned()
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
    let mut bytes = x.try_as_plain_ram()?.as_bytes().to_vec();
    if self.to == DatumType::Bool {
      // A Rust bool is 0 or 1, nothing else: any other byte reads as true.
      bytes.iter_mut().for_each(|byte| *byte = u8::from(*byte != 0));
    }
    // SAFETY: `bytes` holds the tensor's values, as many bytes as `self.to` needs for `x`'s shape
    // (the widths are equal, checked when the op was typed), and every byte pattern is a valid
    // value of the plain types BitCast allows (bool bytes made 0 or 1 above).
    let cast = unsafe { Tensor::from_raw_dt(self.to, x.shape(), &bytes)? };
    Ok(tvec!(cast.into_tvalue()))
  }
}

/// `BitShift` with the edges onnxruntime and the reference define: a shift that is negative or
/// not smaller than the width gives 0 (−1 for a right shift of a negative signed value); left shifts
/// wrap; right shifts of signed values are arithmetic. tract's wraps the shift amount instead.
#[derive(Debug)]
struct BitShift {
  left: bool,
}

impl BitShift {
  fn parse(node: &NodeProto) -> TractResult<BitShift> {
    match node.get_attr::<&str>("direction")? {
      "LEFT" => Ok(BitShift { left: true }),
      "RIGHT" => Ok(BitShift { left: false }),
      other => bail!("direction {other:?} is not LEFT or RIGHT"),
    }
  }

  /// One element: `value` shifted by `amount` bits, in a type `bits` wide (values as i128).
  fn shift(&self, value: i128, amount: i128, bits: u32, signed: bool) -> i128 {
    if amount < 0 || amount >= bits as i128 {
      return if !self.left && signed && value < 0 { -1 } else { 0 };
    }
    if !self.left {
      return value >> amount;
    }
    // Wrap into the type's width.
    let mask = (1i128 << bits) - 1;
    let wrapped = (value << amount) & mask;
    if signed && wrapped >> (bits - 1) == 1 {
      wrapped - (1i128 << bits)
    } else {
      wrapped
    }
  }
}

impl Plain for BitShift {
  fn name(&self) -> &'static str {
    "BitShift"
  }

  fn output_facts(&self, inputs: &[FactSpec]) -> TractResult<TVec<FactSpec>> {
    ensure!(
      inputs.len() == 2 && inputs[0].0 == inputs[1].0,
      "BitShift takes two integers of one type"
    );
    let shape =
      tract_core::broadcast::multi_broadcast(&[inputs[0].1.clone(), inputs[1].1.clone()])?;
    Ok(tvec!((inputs[0].0, shape)))
  }

  fn is_elementwise(&self) -> bool {
    true
  }

  fn eval(&self, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
    let dt = inputs[0].datum_type();
    ensure!(dt.is_integer(), "BitShift takes integers, got {dt:?}");
    let (bits, signed) = (8 * dt.size_of() as u32, dt.is_signed());
    // Every integer type fits an i128; compute there and cast back.
    let unsigned64 = dt == DatumType::U64;
    let (x, y) = if unsigned64 {
      let as_u64 = |t: &TValue| -> TractResult<ArrayD<i128>> {
        Ok(t.to_plain_array_view::<u64>()?.mapv(|v| v as i128))
      };
      (as_u64(&inputs[0])?, as_u64(&inputs[1])?)
    } else {
      let wide =
        |t: &TValue| -> TractResult<ArrayD<i128>> { Ok(array_of::<i64>(t)?.mapv(|v| v as i128)) };
      (wide(&inputs[0])?, wide(&inputs[1])?)
    };
    let shape = tract_core::broadcast::multi_broadcast(&[x.shape().to_vec(), y.shape().to_vec()])?;
    let shape = shape.to_vec();
    let (x, y) = (
      x.broadcast(shape.clone()).context("x broadcast")?,
      y.broadcast(shape).context("y broadcast")?,
    );
    let shifted =
      tract_ndarray::Zip::from(&x).and(&y).map_collect(|&v, &a| self.shift(v, a, bits, signed));
    let result = if unsigned64 {
      shifted.mapv(|v| v as u64).into_tensor()
    } else {
      shifted.mapv(|v| v as i64).into_tensor().cast_to_dt(dt)?.into_owned()
    };
    Ok(tvec!(result.into_tvalue()))
  }
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn bitcast_to_bool_makes_every_nonzero_byte_true() {
    let bytes = tensor1(&[0u8, 1, 2, 255]);
    let cast = BitCast { to: DatumType::Bool }.eval(tvec!(bytes.into_tvalue())).unwrap();
    let plain = cast[0].try_as_plain_ram().unwrap();
    assert_eq!(plain.as_bytes(), [0, 1, 1, 1]);
    assert_eq!(plain.as_slice::<bool>().unwrap(), [false, true, true, true]);
  }
}
