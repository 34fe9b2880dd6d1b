//! `TextTokenizer`: a Hugging Face `tokenizer.json`, encoding texts (or text pairs) into the three
//! int64 matrices a transformer takes: token ids, attention mask and token type ids, padded to one
//! width.
//!
//! Truncation and padding are per call, as in transformers' fast tokenizers: the file's own
//! `truncation` and `padding` sections are ignored (its pad token is kept).

use std::sync::{Arc, Mutex};

use tokenizers::{EncodeInput, Encoding, Tokenizer, TruncationParams};

use crate::error::{Result, TractNodeError};

/// The longest sequence a call may ask for (BERT-family models take 512; long-context ones 8192).
pub const MAX_SEQUENCE: usize = 1 << 16;

/// Texts per call, and their total UTF-8 bytes: a stranger's request is bounded before any work.
pub const MAX_TEXTS: usize = 1 << 20;
pub const MAX_TEXT_BYTES: usize = 256 << 20;

/// Bytes of text read per token: with truncation, a text is cut at `max_length` times this before
/// tokenizing; without, a longer text is refused unread. A long document (or a hostile one: a
/// single 100 MB word can cost BPE quadratic time) then costs no more than the tokens it keeps.
/// No token of a real text spans that many bytes.
pub const BYTES_PER_TOKEN: usize = 256;

/// Tokenizers kept per truncation length (each is a clone of the file's, configured once).
const CONFIGURED_KEPT: usize = 8;

/// How texts become token ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EncodeOptions {
  /// The longest sequence, special tokens included.
  pub max_length: usize,
  /// Cut longer sequences at `max_length` (else refuse them with ERR_INPUT_SHAPE).
  pub truncation: bool,
  /// Pad every row to `max_length` rather than to the longest row.
  pub pad_to_max_length: bool,
  /// Add the model's special tokens (`[CLS]`, `[SEP]`, …).
  pub add_special_tokens: bool,
}

impl Default for EncodeOptions {
  fn default() -> Self {
    EncodeOptions {
      max_length: 512,
      truncation: true,
      pad_to_max_length: false,
      add_special_tokens: true,
    }
  }
}

/// Encoded texts, row-major `[rows, width]`, padded on the right.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Encoded {
  pub rows: usize,
  pub width: usize,
  pub ids: Vec<i64>,
  pub attention_mask: Vec<i64>,
  pub type_ids: Vec<i64>,
}

/// A loaded tokenizer; cheap to share (`Arc`) between jobs.
pub struct TextTokenizer {
  file: Tokenizer,
  pad_id: u32,
  /// The file's tokenizer configured per truncation length (`None`: no truncation).
  configured: Mutex<Vec<(Option<usize>, Arc<Tokenizer>)>>,
}

impl TextTokenizer {
  /// Reads a `tokenizer.json`; anything else is ERR_INVALID_MODEL.
  pub fn from_bytes(bytes: &[u8]) -> Result<TextTokenizer> {
    let invalid = |e: tokenizers::Error| TractNodeError::InvalidTokenizer { reason: e.to_string() };
    let mut file = crate::error::catch_panic(|| Tokenizer::from_bytes(bytes).map_err(invalid))?;
    let pad_id = file
      .get_padding()
      .map(|p| p.pad_id)
      .or_else(|| ["[PAD]", "<pad>", "<|padding|>"].iter().find_map(|t| file.token_to_id(t)))
      .unwrap_or(0);
    file.with_padding(None);
    file.with_truncation(None).map_err(invalid)?;
    Ok(TextTokenizer { file, pad_id, configured: Mutex::new(Vec::new()) })
  }

  /// Encodes `texts` (with their `pairs`, when given: one per text) into one padded batch.
  pub fn encode(
    &self,
    texts: &[String],
    pairs: Option<&[String]>,
    options: &EncodeOptions,
  ) -> Result<Encoded> {
    let encodings = self.tokenize(texts, pairs, options)?;
    Ok(self.pad(&encodings.iter().collect::<Vec<_>>(), options))
  }

  /// Each text's (or pair's) encoding, unpadded: refuses (ERR_INPUT_SHAPE) one over
  /// `options.max_length` tokens when truncation is off.
  pub fn tokenize(
    &self,
    texts: &[String],
    pairs: Option<&[String]>,
    options: &EncodeOptions,
  ) -> Result<Vec<Encoding>> {
    check_batch(texts, pairs)?;
    if options.max_length == 0 || options.max_length > MAX_SEQUENCE {
      return Err(TractNodeError::invalid_arg(
        "maxLength",
        format!("an integer in 1..={MAX_SEQUENCE}"),
      ));
    }
    let tokenizer = self.configured(options.truncation.then_some(options.max_length))?;
    texts
      .iter()
      .enumerate()
      .map(|(i, text)| {
        let too_long = |actual: String| TractNodeError::InputShape {
          name: format!("texts[{i}]"),
          expected: format!(
            "at most {} tokens (maxLength; or truncation: true)",
            options.max_length
          ),
          actual,
        };
        let bytes = text.len() + pairs.map_or(0, |p| p[i].len());
        if !options.truncation && bytes > options.max_length.saturating_mul(BYTES_PER_TOKEN) {
          return Err(too_long(format!("{bytes} bytes, refused unread")));
        }
        let input: EncodeInput<'_> = match pairs {
          Some(pairs) => (read(text, options), read(&pairs[i], options)).into(),
          None => read(text, options).into(),
        };
        let encoding = tokenizer.encode_fast(input, options.add_special_tokens).map_err(|e| {
          TractNodeError::invalid_arg(format!("texts[{i}]"), format!("could not be tokenized: {e}"))
        })?;
        if encoding.len() > options.max_length {
          return Err(too_long(format!("{} tokens", encoding.len())));
        }
        Ok(encoding)
      })
      .collect()
  }

  /// `encodings` as one batch, padded on the right to the longest (or to `options.max_length`).
  pub fn pad(&self, encodings: &[&Encoding], options: &EncodeOptions) -> Encoded {
    let longest = encodings.iter().map(|e| e.len()).max().unwrap_or(0);
    let width = if options.pad_to_max_length { options.max_length } else { longest };
    let mut encoded = Encoded {
      rows: encodings.len(),
      width,
      ids: Vec::with_capacity(encodings.len() * width),
      attention_mask: Vec::with_capacity(encodings.len() * width),
      type_ids: Vec::with_capacity(encodings.len() * width),
    };
    for encoding in encodings {
      let pad = width - encoding.len();
      let row = |values: &[u32], fill: u32, out: &mut Vec<i64>| {
        out.extend(values.iter().chain(std::iter::repeat_n(&fill, pad)).map(|&v| i64::from(v)));
      };
      row(encoding.get_ids(), self.pad_id, &mut encoded.ids);
      row(encoding.get_attention_mask(), 0, &mut encoded.attention_mask);
      row(encoding.get_type_ids(), 0, &mut encoded.type_ids);
    }
    encoded
  }

  /// The text of `ids`, without special tokens when `skip_special_tokens`.
  pub fn decode(&self, ids: &[u32], skip_special_tokens: bool) -> Result<String> {
    self
      .file
      .decode(ids, skip_special_tokens)
      .map_err(|e| TractNodeError::invalid_arg("ids", format!("could not be decoded: {e}")))
  }

  /// The size of the vocabulary, added tokens included.
  pub fn vocab_size(&self) -> usize {
    self.file.get_vocab_size(true)
  }

  /// The file's tokenizer, truncating at `max_length` (or not at all).
  fn configured(&self, max_length: Option<usize>) -> Result<Arc<Tokenizer>> {
    let mut configured = self.configured.lock().unwrap_or_else(|p| p.into_inner());
    if let Some((_, tokenizer)) = configured.iter().find(|(length, _)| *length == max_length) {
      return Ok(tokenizer.clone());
    }
    let mut tokenizer = self.file.clone();
    let truncation =
      max_length.map(|max_length| TruncationParams { max_length, ..TruncationParams::default() });
    tokenizer.with_truncation(truncation).map_err(|e| {
      TractNodeError::invalid_arg("maxLength", format!("{e} (too short for the special tokens?)"))
    })?;
    let tokenizer = Arc::new(tokenizer);
    if configured.len() == CONFIGURED_KEPT {
      configured.remove(0);
    }
    configured.push((max_length, tokenizer.clone()));
    Ok(tokenizer)
  }
}

/// What is tokenized of `text`: with truncation, at most `max_length` × [`BYTES_PER_TOKEN`] bytes
/// (cut on a character boundary).
fn read<'t>(text: &'t str, options: &EncodeOptions) -> &'t str {
  let bytes = options.max_length.saturating_mul(BYTES_PER_TOKEN);
  if !options.truncation || text.len() <= bytes {
    return text;
  }
  &text[..text.floor_char_boundary(bytes)]
}

/// Refuses batches over [`MAX_TEXTS`] texts or [`MAX_TEXT_BYTES`] bytes, and pairs that do not
/// match their texts one to one.
pub fn check_batch(texts: &[String], pairs: Option<&[String]>) -> Result<()> {
  if texts.len() > MAX_TEXTS {
    return Err(TractNodeError::invalid_arg(
      "texts",
      format!("at most {MAX_TEXTS} texts per call, got {}", texts.len()),
    ));
  }
  let bytes: usize = texts.iter().chain(pairs.unwrap_or_default()).map(String::len).sum();
  if bytes > MAX_TEXT_BYTES {
    return Err(TractNodeError::invalid_arg(
      "texts",
      format!("at most {} MiB of text per call, got {} bytes", MAX_TEXT_BYTES >> 20, bytes),
    ));
  }
  match pairs {
    Some(pairs) if pairs.len() != texts.len() => Err(TractNodeError::invalid_arg(
      "pairs",
      format!("one pair per text ({} texts), got {}", texts.len(), pairs.len()),
    )),
    _ => Ok(()),
  }
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn truncated_texts_are_read_up_to_a_character_boundary() {
    let options = EncodeOptions { max_length: 1, ..EncodeOptions::default() };
    let text = format!("{}é{}", "a".repeat(BYTES_PER_TOKEN - 1), "b".repeat(10));
    // 'é' is two bytes and straddles the cut: it is left out whole.
    assert_eq!(read(&text, &options), "a".repeat(BYTES_PER_TOKEN - 1));
    assert_eq!(read("short", &options), "short");
    let whole = EncodeOptions { truncation: false, ..options };
    assert_eq!(read(&text, &whole), text);
  }
}
