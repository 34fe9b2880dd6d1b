//! Cleaning one value against one field, with Django's rules and messages.
//!
//! Without `coerce`, values must already have their JSON type ('42' is not an int). With `coerce`,
//! strings convert the way Django forms convert them (`IntegerField`, `FloatField`, `BooleanField`,
//! `CharField`). Text (a CSV cell) always converts, as form input does.

use chrono::{DateTime, NaiveDate, Utc};

use super::dates::{from_epoch_millis, parse_date, parse_datetime, DateError};
use super::field::{Field, Kind};
use super::value::{Clean, RawValue};

/// Why a value is invalid: a Django error code and message.
#[derive(Debug, Clone, PartialEq)]
pub struct Issue {
  pub code: &'static str,
  pub message: String,
}

fn issue(code: &'static str, message: impl Into<String>) -> Issue {
  Issue { code, message: message.into() }
}

/// Cleans the value of `field` (`None` when the record lacks the key).
pub fn clean(field: &Field, raw: Option<RawValue<'_>>) -> Result<Clean, Issue> {
  let mut value = Clean::Null;
  clean_to_slot(field, raw, &mut value)?;
  Ok(value)
}

/// [`clean`] into `slot`, which holds the field's value of an earlier record: a string reuses the
/// buffer of a string `slot` held, so that cleaning row after row into the same slots allocates
/// nothing once the buffers have grown. On failure, `slot` holds no value worth reading.
pub fn clean_to_slot(
  field: &Field,
  raw: Option<RawValue<'_>>,
  slot: &mut Clean,
) -> Result<(), Issue> {
  let raw = match raw {
    None if field.default.is_some() => {
      slot.clone_from(field.default.as_ref().expect("checked"));
      return Ok(());
    }
    None if !field.required => {
      put(slot, Clean::Null);
      return Ok(());
    }
    None => return Err(issue("required", "This field is required.")),
    Some(raw) => raw,
  };
  if let RawValue::Null = raw {
    put(slot, Clean::Null);
    return if field.nullable { Ok(()) } else { Err(issue("null", "This field cannot be null.")) };
  }
  // Text (a CSV cell) converts as form input does. (The value is matched where it is: moving it
  // into a new (value, flag) pair made the compiler copy it byte by byte, and stall.)
  let coerce = field.coerce || matches!(raw, RawValue::Text(_));
  match &field.kind {
    Kind::String { .. } => string_to_slot(&raw, coerce, slot)?,
    // The converters return plain values, wrapped and `put` here (see `put`).
    Kind::Int { .. } => put(slot, Clean::Int(to_int(&raw, coerce)?)),
    Kind::Float { .. } => put(slot, Clean::Float(to_float(&raw, coerce)?)),
    Kind::Bool => put(slot, Clean::Bool(to_bool(&raw, coerce)?)),
    Kind::Date => put(slot, Clean::Date(to_date(&raw)?)),
    Kind::DateTime => put(slot, Clean::DateTime(to_datetime(&raw)?)),
  }
  check_constraints(field, slot)
}

/// Puts `value` in `slot`, then drops the value it held. (Assigning drops first: the new value,
/// kept across the call that frees the old one's string, went through the stack and came back in
/// one 16-byte read of two 8-byte writes, which stalls store forwarding.)
fn put(slot: &mut Clean, value: Clean) {
  drop(std::mem::replace(slot, value));
}

/// A string field's value into `slot`, in the buffer of the string it held if it held one.
fn string_to_slot(raw: &RawValue<'_>, coerce: bool, slot: &mut Clean) -> Result<(), Issue> {
  let text = match (raw, coerce) {
    (RawValue::String(s) | RawValue::Text(s), false) => s,
    (RawValue::String(s) | RawValue::Text(s), true) => s.trim(),
    (RawValue::Number(n), true) if n.is_finite() => &*format_number(*n),
    (RawValue::Bool(b), true) => {
      if *b {
        "True"
      } else {
        "False"
      }
    }
    (raw, _) => return Err(issue("invalid", format!("Not a valid string (got {}).", raw.kind()))),
  };
  match slot {
    Clean::String(buffer) => {
      buffer.clear();
      buffer.push_str(text);
    }
    other => *other = Clean::String(text.to_owned()),
  }
  Ok(())
}

/// Python's `str()` of a number that arrived as a JS number: integral values print without `.0`.
fn format_number(n: f64) -> String {
  if n.fract() == 0.0 && n.abs() < 1e15 {
    format!("{}", n as i64)
  } else {
    n.to_string()
  }
}

const WHOLE_NUMBER: &str = "Enter a whole number.";

fn to_int(raw: &RawValue<'_>, coerce: bool) -> Result<i64, Issue> {
  let invalid = || issue("invalid", WHOLE_NUMBER);
  let from_float = |n: f64| {
    // 18.0 is a whole number; 36.5, NaN and values beyond i64 are not.
    if n.is_finite() && n.fract() == 0.0 && n.abs() < 9.2e18 {
      Ok(n as i64)
    } else {
      Err(invalid())
    }
  };
  match raw {
    RawValue::Number(n) => from_float(*n),
    RawValue::String(s) | RawValue::Text(s) if coerce => {
      // IntegerField: strip, drop a trailing ".000", then int().
      let trimmed = s.trim();
      let body = match trimmed.find('.') {
        Some(dot) if trimmed[dot + 1..].chars().all(|c| c == '0') => &trimmed[..dot],
        _ => trimmed,
      };
      python_int(body).ok_or_else(invalid)
    }
    _ => Err(invalid()),
  }
}

/// Python's `int(str)`: optional sign, digits with single underscores between them.
fn python_int(text: &str) -> Option<i64> {
  let digits = text.strip_prefix('+').unwrap_or(text);
  let (negative, digits) = match digits.strip_prefix('-') {
    Some(rest) if !text.starts_with('+') => (true, rest),
    _ => (false, digits),
  };
  if digits.is_empty() || digits.starts_with('_') || digits.ends_with('_') || digits.contains("__")
  {
    return None;
  }
  let plain = without_underscores(digits);
  if !plain.chars().all(|c| c.is_ascii_digit()) {
    return None;
  }
  let value: i64 = plain.parse().ok()?;
  Some(if negative { -value } else { value })
}

/// `text` without its underscores (Python reads `1_000` as 1000), copied only if it has some.
fn without_underscores(text: &str) -> std::borrow::Cow<'_, str> {
  if text.contains('_') {
    text.replace('_', "").into()
  } else {
    text.into()
  }
}

fn to_float(raw: &RawValue<'_>, coerce: bool) -> Result<f64, Issue> {
  let invalid = || issue("invalid", "Enter a number.");
  let value = match raw {
    RawValue::Number(n) => *n,
    RawValue::String(s) | RawValue::Text(s) if coerce => {
      without_underscores(s.trim()).parse::<f64>().map_err(|_| invalid())?
    }
    _ => return Err(invalid()),
  };
  // NaN and ±Infinity are not numbers a form accepts.
  if value.is_finite() {
    Ok(value)
  } else {
    Err(invalid())
  }
}

fn to_bool(raw: &RawValue<'_>, coerce: bool) -> Result<bool, Issue> {
  match (raw, coerce) {
    (RawValue::Bool(b), _) => Ok(*b),
    // BooleanField.to_python: 'false' and '0' are False, any other non-empty string is True.
    (RawValue::String(s) | RawValue::Text(s), true) => {
      Ok(!(s.is_empty() || s.eq_ignore_ascii_case("false") || s == "0"))
    }
    (RawValue::Number(n), true) => Ok(*n != 0.0 && !n.is_nan()),
    _ => Err(issue("invalid", "Must be either true or false.")),
  }
}

fn to_date(raw: &RawValue<'_>) -> Result<NaiveDate, Issue> {
  match raw {
    RawValue::String(s) | RawValue::Text(s) => parse_date(s.trim()).map_err(|e| match e {
      DateError::Impossible => issue(
        "invalid_date",
        format!("“{s}” value has the correct format (YYYY-MM-DD) but it is an invalid date."),
      ),
      DateError::Format => issue(
        "invalid",
        format!("“{s}” value has an invalid date format. It must be in YYYY-MM-DD format."),
      ),
    }),
    RawValue::Date(millis) => from_epoch_millis(*millis)
      .map(|dt| dt.date_naive())
      .ok_or_else(|| issue("invalid", "Enter a valid date.")),
    _ => Err(issue("invalid", format!("Enter a valid date (got {}).", raw.kind()))),
  }
}

fn to_datetime(raw: &RawValue<'_>) -> Result<DateTime<Utc>, Issue> {
  match raw {
    RawValue::String(s) | RawValue::Text(s) => parse_datetime(s.trim()).map_err(|e| match e {
      DateError::Impossible => issue(
        "invalid_datetime",
        format!("“{s}” value has the correct format (YYYY-MM-DD HH:MM[:ss[.uuuuuu]][TZ]) but it is an invalid date/time."),
      ),
      DateError::Format => issue(
        "invalid",
        format!("“{s}” value has an invalid format. It must be in YYYY-MM-DD HH:MM[:ss[.uuuuuu]][TZ] format."),
      ),
    }),
    RawValue::Date(millis) => from_epoch_millis(*millis).ok_or_else(|| issue("invalid", "Enter a valid date/time.")),
    _ => Err(issue("invalid", format!("Enter a valid date/time (got {}).", raw.kind()))),
  }
}

fn check_constraints(field: &Field, value: &Clean) -> Result<(), Issue> {
  match (&field.kind, value) {
    (Kind::String { min_length, max_length, pattern }, Clean::String(s)) => {
      if s.is_empty() && field.required {
        return Err(issue("blank", "This field cannot be blank."));
      }
      // Characters, as Python counts them (Unicode scalar values), not bytes; counted only when
      // the byte length leaves it open (a character takes one to four bytes).
      let length = || s.chars().count();
      if let Some(max) = max_length.filter(|&max| s.len() > max && length() > max) {
        return Err(issue(
          "max_length",
          format!("Ensure this value has at most {max} characters (it has {}).", length()),
        ));
      }
      if let Some(min) = min_length.filter(|&min| s.len() < min.saturating_mul(4) && length() < min)
      {
        return Err(issue(
          "min_length",
          format!("Ensure this value has at least {min} characters (it has {}).", length()),
        ));
      }
      if pattern.as_ref().is_some_and(|p| !p.is_match(s)) {
        return Err(issue("invalid", "Enter a valid value."));
      }
    }
    (Kind::Int { min, max } | Kind::Float { min, max }, Clean::Int(_) | Clean::Float(_)) => {
      let n = match value {
        Clean::Int(i) => *i as f64,
        Clean::Float(f) => *f,
        _ => unreachable!("matched above"),
      };
      if let Some(max) = max.filter(|&max| n > max) {
        return Err(issue(
          "max_value",
          format!("Ensure this value is less than or equal to {}.", format_number(max)),
        ));
      }
      if let Some(min) = min.filter(|&min| n < min) {
        return Err(issue(
          "min_value",
          format!("Ensure this value is greater than or equal to {}.", format_number(min)),
        ));
      }
    }
    _ => {}
  }
  if let Some(choices) = &field.choices {
    if !choices.contains(value) {
      let shown = match value.to_json() {
        serde_json::Value::String(s) => s,
        other => other.to_string(),
      };
      return Err(issue(
        "invalid_choice",
        format!("Select a valid choice. {shown} is not one of the available choices."),
      ));
    }
  }
  Ok(())
}
