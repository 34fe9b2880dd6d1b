//! Field definitions: what `new Schema({ name: { type: 'string', maxLength: 200 } })` declares.

use regex::Regex;
use serde_json::{Map, Value};

use super::value::Clean;
use crate::error::{Result, TractNodeError};

/// The type of a field and its type-specific constraints.
#[derive(Debug, Clone)]
pub enum Kind {
  String { min_length: Option<usize>, max_length: Option<usize>, pattern: Option<Regex> },
  Int { min: Option<f64>, max: Option<f64> },
  Float { min: Option<f64>, max: Option<f64> },
  Bool,
  Date,
  DateTime,
}

impl Kind {
  /// The type name used in definitions.
  pub fn name(&self) -> &'static str {
    match self {
      Kind::String { .. } => "string",
      Kind::Int { .. } => "int",
      Kind::Float { .. } => "float",
      Kind::Bool => "bool",
      Kind::Date => "date",
      Kind::DateTime => "datetime",
    }
  }
}

/// One declared field.
#[derive(Debug, Clone)]
pub struct Field {
  /// Key in the record.
  pub name: String,
  /// Type and constraints.
  pub kind: Kind,
  /// Whether `null` is a valid value.
  pub nullable: bool,
  /// Whether a record must have the key (false when a default is given).
  pub required: bool,
  /// Value taken when the key is missing (never when it is `null`).
  pub default: Option<Clean>,
  /// Converts strings (and numbers for string fields) the way Django forms do.
  pub coerce: bool,
  /// The only values allowed, if given.
  pub choices: Option<Vec<Clean>>,
}

const KEYS: [&str; 13] = [
  "type",
  "nullable",
  "default",
  "required",
  "coerce",
  "choices",
  "maxLength",
  "minLength",
  "pattern",
  "min",
  "max",
  "description",
  "label",
];

impl Field {
  /// Reads a field definition; `coerce_by_default` is the schema-wide `coerce` option.
  pub fn from_definition(name: &str, definition: &Value, coerce_by_default: bool) -> Result<Field> {
    let error = |reason: String| TractNodeError::Schema { field: name.to_string(), reason };
    let object = definition
      .as_object()
      .ok_or_else(|| error("expected an object such as { type: 'string' }".into()))?;
    if let Some(key) = object.keys().find(|k| !KEYS.contains(&k.as_str())) {
      return Err(error(format!("unknown option '{key}' (known: {})", KEYS.join(", "))));
    }
    let type_name = object.get("type").and_then(Value::as_str).unwrap_or("");
    let kind = match type_name {
      "string" => Kind::String {
        min_length: count(object, "minLength").map_err(error)?,
        max_length: count(object, "maxLength").map_err(error)?,
        pattern: match object.get("pattern") {
          None | Some(Value::Null) => None,
          Some(Value::String(p)) => {
            Some(Regex::new(p).map_err(|e| error(format!("pattern: {e}")))?)
          }
          Some(_) => return Err(error("pattern: expected a regular expression string".into())),
        },
      },
      "int" => Kind::Int {
        min: number(object, "min").map_err(error)?,
        max: number(object, "max").map_err(error)?,
      },
      "float" => Kind::Float {
        min: number(object, "min").map_err(error)?,
        max: number(object, "max").map_err(error)?,
      },
      "bool" => Kind::Bool,
      "date" => Kind::Date,
      "datetime" => Kind::DateTime,
      other => {
        return Err(error(format!(
          "type: expected 'string', 'int', 'float', 'bool', 'date' or 'datetime', got '{other}'"
        )))
      }
    };
    let inapplicable = match &kind {
      Kind::String { .. } => &["min", "max"][..],
      Kind::Int { .. } | Kind::Float { .. } => &["maxLength", "minLength", "pattern"][..],
      _ => &["min", "max", "maxLength", "minLength", "pattern"][..],
    };
    if let Some(key) = inapplicable.iter().find(|k| object.contains_key(**k)) {
      return Err(error(format!("'{key}' does not apply to a {type_name} field")));
    }
    let flag = |key: &str, default: bool| match object.get(key) {
      None | Some(Value::Null) => Ok(default),
      Some(Value::Bool(b)) => Ok(*b),
      Some(_) => Err(error(format!("{key}: expected true or false"))),
    };
    let nullable = flag("nullable", false)?;
    let coerce = flag("coerce", coerce_by_default)?;
    let mut field = Field {
      name: name.to_string(),
      kind,
      nullable,
      required: true,
      default: None,
      coerce,
      choices: None,
    };
    // Choices and the default must themselves be valid values of the field.
    if let Some(choices) = object.get("choices") {
      let list = choices
        .as_array()
        .filter(|l| !l.is_empty())
        .ok_or_else(|| error("choices: expected a non-empty array".into()))?;
      let cleaned = list
        .iter()
        .map(|c| {
          super::clean::clean(&field, Some(c.clone().into()))
            .map_err(|issue| error(format!("choices: {}", issue.message)))
        })
        .collect::<Result<Vec<_>>>()?;
      field.choices = Some(cleaned);
    }
    if let Some(default) = object.get("default") {
      let cleaned = super::clean::clean(&field, Some(default.clone().into()))
        .map_err(|issue| error(format!("default: {}", issue.message)))?;
      field.default = Some(cleaned);
    }
    field.required = flag("required", field.default.is_none())?;
    if let Kind::String { min_length: Some(min), max_length: Some(max), .. } = field.kind {
      if min > max {
        return Err(error(format!("minLength ({min}) is larger than maxLength ({max})")));
      }
    }
    Ok(field)
  }
}

fn number(object: &Map<String, Value>, key: &str) -> std::result::Result<Option<f64>, String> {
  match object.get(key) {
    None | Some(Value::Null) => Ok(None),
    Some(v) => v
      .as_f64()
      .filter(|f| f.is_finite())
      .map(Some)
      .ok_or_else(|| format!("{key}: expected a finite number")),
  }
}

fn count(object: &Map<String, Value>, key: &str) -> std::result::Result<Option<usize>, String> {
  match object.get(key) {
    None | Some(Value::Null) => Ok(None),
    Some(v) => v
      .as_u64()
      .map(|n| Some(n as usize))
      .ok_or_else(|| format!("{key}: expected a non-negative integer")),
  }
}
