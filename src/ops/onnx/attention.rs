//! `Attention` (ai.onnx, opsets 23–25). tract's implementation runs the common form on its fused
//! kernels but refuses `softcap`, `qk_matmul_output_mode`, the `qk_matmul_output` output and
//! `nonpad_kv_seqlen`, cannot lower boolean masks, ignores the window attributes, and gets causal
//! masking with a KV cache wrong (it does not offset the causal frontier by the cache length). Nodes
//! using any of those run on this direct implementation of the specification (the ONNX reference's
//! semantics: bottom-right causal alignment, fully masked rows give zeros); the others stay on
//! tract's.

use tract_hir::internal::*;
use tract_ndarray::{s, Array2, Array4, ArrayD, Axis, Ix4};
use tract_onnx::model::{optional_inputs, optional_outputs, OnnxOpRegister, ParsingContext};
use tract_onnx::pb::NodeProto;

use crate::ops::plain::{array_of, plain, values_of, FactSpec, Plain};

/// Registers `Attention` over tract's, which stays in use for the nodes it handles.
pub fn register(reg: &mut OnnxOpRegister) {
  let tracts = reg.0.get("Attention").copied();
  reg.0.insert("Attention".to_string(), attention_with(tracts));
}

type Builder = fn(&ParsingContext, &NodeProto) -> TractResult<(Box<dyn InferenceOp>, Vec<String>)>;

/// tract's builder when the node is within what it does right, this module's otherwise.
fn attention_with(tracts: Option<Builder>) -> Builder {
  // A fn item cannot capture; the only builder there is to delegate to is tract's own, kept in a
  // static the first time.
  static TRACTS: std::sync::OnceLock<Option<Builder>> = std::sync::OnceLock::new();
  TRACTS.get_or_init(|| tracts);
  |ctx, node| {
    let spec = Spec::parse(node)?;
    match TRACTS.get().copied().flatten() {
      Some(tracts) if spec.tract_handles(node) => tracts(ctx, node),
      _ => plain(spec),
    }
  }
}

const Q: usize = 0;
const K: usize = 1;
const V: usize = 2;
const MASK: usize = 3;
const PAST_KEY: usize = 4;
const PAST_VALUE: usize = 5;
const NONPAD_KV_SEQLEN: usize = 6;

/// The node's attributes, and where each optional input and output sits among the node's present ones.
#[derive(Debug, Clone)]
struct Spec {
  scale: Option<f32>,
  is_causal: bool,
  q_num_heads: Option<usize>,
  kv_num_heads: Option<usize>,
  softcap: f32,
  qk_matmul_output_mode: i64,
  left_window: i64,
  right_window: i64,
  /// Per ONNX input slot (Q, K, V, attn_mask, past_key, past_value, nonpad_kv_seqlen): its index
  /// among the op's inputs.
  inputs: [Option<usize>; 7],
  /// Per output slot (Y, present_key, present_value, qk_matmul_output): its index among the op's outputs.
  outputs: [Option<usize>; 4],
}

impl Spec {
  fn parse(node: &NodeProto) -> TractResult<Spec> {
    let mut inputs = [None; 7];
    optional_inputs(node).take(7).enumerate().for_each(|(slot, ix)| inputs[slot] = ix);
    let mut outputs = [None; 4];
    optional_outputs(node).take(4).enumerate().for_each(|(slot, ix)| outputs[slot] = ix);
    let heads = |name: &str| -> TractResult<Option<usize>> {
      node
        .get_attr_opt::<i64>(name)?
        .map(|n| usize::try_from(n).with_context(|| format!("{name} must be positive")))
        .transpose()
    };
    ensure!(
      inputs[Q].is_some() && inputs[K].is_some() && inputs[V].is_some(),
      "Attention needs Q, K and V"
    );
    ensure!(
      inputs[PAST_KEY].is_some() == inputs[PAST_VALUE].is_some(),
      "past_key and past_value go together"
    );
    Ok(Spec {
      scale: node.get_attr_opt::<f32>("scale")?,
      is_causal: node.get_attr_opt::<i64>("is_causal")?.unwrap_or(0) != 0,
      q_num_heads: heads("q_num_heads")?,
      kv_num_heads: heads("kv_num_heads")?,
      softcap: node.get_attr_opt::<f32>("softcap")?.unwrap_or(0.0),
      qk_matmul_output_mode: node.get_attr_opt::<i64>("qk_matmul_output_mode")?.unwrap_or(0),
      left_window: node.get_attr_opt::<i64>("left_window_size")?.unwrap_or(-1),
      right_window: node.get_attr_opt::<i64>("right_window_size")?.unwrap_or(-1),
      inputs,
      outputs,
    })
  }

  /// Whether tract's own operator computes this node correctly.
  fn tract_handles(&self, node: &NodeProto) -> bool {
    let has = |name: &str| node.attribute.iter().any(|a| a.name == name);
    !has("softcap")
      && !has("qk_matmul_output_mode")
      && self.outputs[3].is_none()
      && self.inputs[NONPAD_KV_SEQLEN].is_none()
      && self.left_window < 0
      && self.right_window < 0
      && !(self.is_causal && self.inputs[PAST_KEY].is_some())
      && self.inputs[MASK].is_none()
  }
}

/// Y, present_key, present_value and qk_matmul_output shapes from the input shapes.
fn output_shapes(spec: &Spec, shapes: &[TVec<TDim>]) -> TractResult<[TVec<TDim>; 4]> {
  let input = |slot: usize| spec.inputs[slot].map(|ix| &shapes[ix]);
  let (q, k, v) = (input(Q).unwrap(), input(K).unwrap(), input(V).unwrap());
  ensure!(
    q.len() == k.len() && k.len() == v.len() && (q.len() == 3 || q.len() == 4),
    "Attention takes Q, K and V all 3-D or all 4-D"
  );
  let batch = q[0].clone();
  let (q_heads, q_len, kv_heads, kv_len, head, v_head) = if q.len() == 4 {
    (q[1].clone(), q[2].clone(), k[1].clone(), k[2].clone(), k[3].clone(), v[3].clone())
  } else {
    let q_heads = spec.q_num_heads.context("3-D Attention needs q_num_heads")?.to_dim();
    let kv_heads = spec.kv_num_heads.context("3-D Attention needs kv_num_heads")?.to_dim();
    let head = k[2].clone() / kv_heads.to_i64()? as u64;
    let v_head = v[2].clone() / kv_heads.to_i64()? as u64;
    (q_heads, q[1].clone(), kv_heads, k[1].clone(), head, v_head)
  };
  let past = input(PAST_KEY).map_or(0.to_dim(), |p| p[2].clone());
  let total = past + kv_len;
  let y = if q.len() == 4 {
    tvec![batch.clone(), q_heads.clone(), q_len.clone(), v_head.clone()]
  } else {
    tvec![batch.clone(), q_len.clone(), q_heads.clone() * v_head.clone()]
  };
  Ok([
    y,
    tvec![batch.clone(), kv_heads.clone(), total.clone(), head],
    tvec![batch.clone(), kv_heads, total.clone(), v_head],
    tvec![batch, q_heads, q_len, total],
  ])
}

impl Plain for Spec {
  fn name(&self) -> &'static str {
    "Attention"
  }

  fn nboutputs(&self) -> usize {
    self.outputs.iter().flatten().count()
  }

  fn output_facts(&self, inputs: &[FactSpec]) -> TractResult<TVec<FactSpec>> {
    let shapes: Vec<TVec<TDim>> = inputs.iter().map(|(_, shape)| shape.clone()).collect();
    let all = output_shapes(self, &shapes)?;
    let dt = inputs[0].0;
    Ok(
      (0..4)
        .filter(|&slot| self.outputs[slot].is_some())
        .map(|slot| (dt, all[slot].clone()))
        .collect(),
    )
  }

  fn eval(&self, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
    let spec = self;
    let dt = inputs[0].datum_type();
    let input = |slot: usize| spec.inputs[slot].map(|ix| &inputs[ix]);
    let rank = inputs[0].rank();
    let to_heads = |t: &TValue, heads: Option<usize>| -> TractResult<Array4<f32>> {
      let array = array_of::<f32>(t)?;
      if rank == 4 {
        return Ok(array.into_dimensionality::<Ix4>()?);
      }
      let heads = heads.context("3-D Attention needs q_num_heads and kv_num_heads")?;
      let (b, len, hidden) = (array.shape()[0], array.shape()[1], array.shape()[2]);
      ensure!(hidden % heads == 0, "hidden size {hidden} is not a multiple of {heads} heads");
      let split = array.into_shape_with_order((b, len, heads, hidden / heads))?;
      Ok(split.permuted_axes([0, 2, 1, 3]).as_standard_layout().to_owned())
    };
    let q = to_heads(input(Q).unwrap(), spec.q_num_heads)?;
    let mut k = to_heads(input(K).unwrap(), spec.kv_num_heads)?;
    let mut v = to_heads(input(V).unwrap(), spec.kv_num_heads)?;
    let past = input(PAST_KEY).map(|p| p.shape()[2]).unwrap_or(0);
    if let (Some(past_key), Some(past_value)) = (input(PAST_KEY), input(PAST_VALUE)) {
      k = tract_ndarray::concatenate(
        Axis(2),
        &[array_of::<f32>(past_key)?.into_dimensionality::<Ix4>()?.view(), k.view()],
      )?;
      v = tract_ndarray::concatenate(
        Axis(2),
        &[array_of::<f32>(past_value)?.into_dimensionality::<Ix4>()?.view(), v.view()],
      )?;
    }
    let nonpad = input(NONPAD_KV_SEQLEN).map(|t| values_of::<i64>(t)).transpose()?;
    let mask = input(MASK).map(|m| mask_bias(m, k.shape()[2])).transpose()?;
    let (y, qk) = attend(spec, &q, &k, &v, mask.as_ref(), past, nonpad.as_deref())?;

    let y = if rank == 4 {
      y.into_dyn()
    } else {
      let (b, h, len, d) = y.dim();
      y.permuted_axes([0, 2, 1, 3])
        .as_standard_layout()
        .into_owned()
        .into_shape_with_order(vec![b, len, h * d])?
    };
    let cast = |a: ArrayD<f32>| -> TractResult<TValue> {
      Ok(a.into_tensor().cast_to_dt(dt)?.into_owned().into_tvalue())
    };
    let mut outputs = tvec![cast(y)?];
    if spec.outputs[1].is_some() {
      outputs.push(cast(k.into_dyn())?);
    }
    if spec.outputs[2].is_some() {
      outputs.push(cast(v.into_dyn())?);
    }
    if spec.outputs[3].is_some() {
      outputs.push(cast(qk.into_dyn())?);
    }
    Ok(outputs)
  }
}

/// The attention mask as an additive bias (boolean `false` → −∞), its last axis padded to `total`
/// (with −∞) when shorter.
fn mask_bias(mask: &TValue, total: usize) -> TractResult<ArrayD<f32>> {
  let bias: ArrayD<f32> = if mask.datum_type() == bool::datum_type() {
    mask.to_plain_array_view::<bool>()?.mapv(|attend| if attend { 0.0 } else { f32::NEG_INFINITY })
  } else {
    array_of::<f32>(mask)?
  };
  let last = bias.ndim() - 1;
  let width = bias.shape()[last];
  if width >= total {
    return Ok(bias);
  }
  let mut shape = bias.shape().to_vec();
  shape[last] = total;
  let mut padded = ArrayD::from_elem(shape, f32::NEG_INFINITY);
  padded.slice_axis_mut(Axis(last), (0..width).into()).assign(&bias);
  Ok(padded)
}

/// The attention itself on `[batch, heads, len, head]` arrays: `Y` and the `qk_matmul_output`
/// the mode asks for.
fn attend(
  spec: &Spec,
  q: &Array4<f32>,
  k: &Array4<f32>,
  v: &Array4<f32>,
  mask: Option<&ArrayD<f32>>,
  past: usize,
  nonpad: Option<&[i64]>,
) -> TractResult<(Array4<f32>, Array4<f32>)> {
  let (batch, q_heads, q_len, head) = q.dim();
  let (kv_heads, total, v_head) = (k.shape()[1], k.shape()[2], v.shape()[3]);
  ensure!(
    kv_heads > 0 && q_heads % kv_heads == 0,
    "{q_heads} query heads cannot share {kv_heads} key/value heads"
  );
  let group = q_heads / kv_heads;
  let scale = spec.scale.unwrap_or(1.0 / (head as f32).sqrt()).sqrt();
  let bias = bias(spec, mask, [batch, q_heads, q_len, total], past, nonpad)?;
  let mut y = Array4::<f32>::zeros((batch, q_heads, q_len, v_head));
  let mut qk_out = Array4::<f32>::zeros((batch, q_heads, q_len, total));
  for b in 0..batch {
    for h in 0..q_heads {
      let kv = h / group;
      let qs = q.slice(s![b, h, .., ..]).mapv(|x| x * scale);
      let ks = k.slice(s![b, kv, .., ..]).mapv(|x| x * scale);
      let mut scores: Array2<f32> = qs.dot(&ks.t());
      if spec.softcap > 0.0 {
        scores.mapv_inplace(|x| spec.softcap * (x / spec.softcap).tanh());
      }
      let row_bias = bias.slice(s![b, h, .., ..]);
      let capped = scores.clone();
      scores += &row_bias;
      if spec.qk_matmul_output_mode == 2 {
        qk_out.slice_mut(s![b, h, .., ..]).assign(&scores);
      } else if spec.qk_matmul_output_mode != 3 {
        qk_out.slice_mut(s![b, h, .., ..]).assign(&capped);
      }
      for (mut row, bias_row) in scores.rows_mut().into_iter().zip(row_bias.rows()) {
        softmax_guarded(
          row.as_slice_mut().context("contiguous scores")?,
          bias_row.iter().all(|b| *b == f32::NEG_INFINITY),
        );
      }
      if spec.qk_matmul_output_mode == 3 {
        qk_out.slice_mut(s![b, h, .., ..]).assign(&scores);
      }
      y.slice_mut(s![b, h, .., ..]).assign(&scores.dot(&v.slice(s![b, kv, .., ..])));
    }
  }
  Ok((y, qk_out))
}

/// Softmax of one row in place; a row whose bias masks every key (or whose scores are all −∞)
/// becomes zeros.
fn softmax_guarded(row: &mut [f32], fully_masked: bool) {
  let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
  if fully_masked || max == f32::NEG_INFINITY {
    row.fill(0.0);
    return;
  }
  let mut sum = 0.0;
  for x in row.iter_mut() {
    *x = (*x - max).exp();
    sum += *x;
  }
  row.iter_mut().for_each(|x| *x /= sum);
}

/// The additive bias over `[batch, q_heads, q_len, total]`: the mask (right-aligned broadcast),
/// the causal frontier and window (a query `i` sits at `i + offset`, the offset being the cache
/// length, or per batch `nonpad_kv_seqlen − q_len`), and the padding beyond `nonpad_kv_seqlen`.
fn bias(
  spec: &Spec,
  mask: Option<&ArrayD<f32>>,
  shape: [usize; 4],
  past: usize,
  nonpad: Option<&[i64]>,
) -> TractResult<Array4<f32>> {
  let q_len = shape[2];
  let mut bias = Array4::<f32>::zeros(shape);
  if let Some(mask) = mask {
    let mask = mask
      .broadcast(shape.to_vec())
      .with_context(|| format!("attn_mask {:?} does not broadcast to {shape:?}", mask.shape()))?;
    bias += &mask;
  }
  let offset = |b: usize| -> i64 {
    match nonpad {
      Some(lengths) if past == 0 => lengths[b] - q_len as i64,
      _ => past as i64,
    }
  };
  let windowed = spec.left_window >= 0 || spec.right_window >= 0;
  for ((b, _, i, j), value) in bias.indexed_iter_mut() {
    let position = i as i64 + offset(b);
    let diff = position - j as i64;
    let outside_causal = spec.is_causal && diff < 0;
    let outside_window = windowed
      && ((spec.left_window >= 0 && diff > spec.left_window)
        || (spec.right_window >= 0 && -diff > spec.right_window));
    let padding = nonpad.is_some_and(|lengths| j as i64 >= lengths[b]);
    if outside_causal || outside_window || padding {
      *value = f32::NEG_INFINITY;
    }
  }
  Ok(bias)
}
