//! Schema tests: the shared validation matrix (`__test__/fixtures/validation_matrix.json`, expected
//! codes written from Django's rules) and Django's coercion and cleaning behaviour.

use serde_json::{json, Value};

use super::read::{Format, Source};
use super::value::{Clean, RawValue};
use super::*;

fn fixture(name: &str) -> Value {
  let path = format!("{}/__test__/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
  serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn entries(text: &str) -> Vec<(String, Value)> {
  serde_json::from_str::<Entries>(text).unwrap().0
}

fn schema(definition: Value, options: SchemaOptions) -> Result<Schema> {
  Schema::from_definition(&entries(&definition.to_string()), options)
}

/// A cleaned record as a JSON object (keys sorted), to compare with `json!` literals.
fn to_json(schema: &Schema, values: &[Clean]) -> serde_json::Map<String, Value> {
  schema
    .fields()
    .iter()
    .zip(values)
    .map(|(field, value)| (field.name.clone(), value.to_json()))
    .collect()
}

fn employee() -> Schema {
  let path = format!("{}/__test__/fixtures/employee_schema.json", env!("CARGO_MANIFEST_DIR"));
  Schema::from_definition(
    &entries(&std::fs::read_to_string(path).unwrap()),
    SchemaOptions::default(),
  )
  .unwrap()
}

fn record(schema: &Schema, value: Value) -> RawRecord<'static> {
  RawRecord::from_json(schema, value).unwrap()
}

#[test]
fn every_bad_record_of_the_matrix_fails_on_its_field_with_its_code() {
  let schema = employee();
  let matrix = fixture("validation_matrix.json");
  let base = matrix["base"].as_object().unwrap().clone();
  schema
    .clean(record(&schema, Value::Object(base.clone())), None)
    .expect("the base record is valid");
  let cases = matrix["cases"].as_array().unwrap();
  assert!(cases.len() >= 30);
  for case in cases {
    let mut bad = base.clone();
    for (key, value) in case["set"].as_object().into_iter().flatten() {
      let value = match case["huge"].as_u64() {
        Some(n) => json!("x".repeat(n as usize)),
        None => value.clone(),
      };
      bad.insert(key.clone(), value);
    }
    for key in case["unset"].as_array().into_iter().flatten() {
      bad.remove(key.as_str().unwrap());
    }
    let errors = schema
      .clean(record(&schema, Value::Object(bad)), None)
      .expect_err(case["why"].as_str().unwrap());
    let found: Vec<(&str, &str)> =
      errors.iter().map(|e| (e.path.as_str(), e.code.as_str())).collect();
    assert_eq!(
      found,
      [(case["path"].as_str().unwrap(), case["code"].as_str().unwrap())],
      "{}",
      case["why"]
    );
  }
}

#[test]
fn non_finite_numbers_are_invalid() {
  let schema = employee();
  let base = record(&schema, fixture("validation_matrix.json")["base"].clone());
  for value in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
    let mut bad = base.clone();
    bad.insert(&schema, "salary", RawValue::Number(value));
    let errors = schema.clean(bad, None).unwrap_err();
    assert_eq!((errors[0].path.as_str(), errors[0].code.as_str()), ("salary", "invalid"));
  }
}

#[test]
fn all_bad_fields_are_reported_not_just_the_first() {
  let errors = employee()
    .clean(record(&employee(), json!({ "name": "A", "age": 99, "extra": 1 })), None)
    .unwrap_err();
  let paths: Vec<&str> = errors.iter().map(|e| e.path.as_str()).collect();
  assert_eq!(paths, ["extra", "name", "address", "dateOfJoining", "department", "salary", "age"]);
}

#[test]
fn cleaning_fills_defaults_and_normalises_values() {
  let schema = employee();
  let cleaned = schema
    .clean(
      record(
        &schema,
        json!({ "name": "Ada", "address": null, "dateOfJoining": "2023-2-1", "department": "ops",
                      "salary": 10, "age": 18.0, "lastLogin": "2023-02-01T10:00:00+01:00" }),
      ),
      None,
    )
    .unwrap();
  assert_eq!(
    Value::Object(to_json(&schema, &cleaned)),
    json!({ "name": "Ada", "address": null, "dateOfJoining": "2023-02-01", "lastLogin": "2023-02-01T09:00:00.000Z",
            "department": "ops", "salary": 10.0, "age": 18, "active": true, "code": null })
  );
}

#[test]
fn coercion_follows_django_forms() {
  let definition = json!({
    "n": { "type": "int" }, "x": { "type": "float" }, "b": { "type": "bool" }, "s": { "type": "string" }
  });
  let schema = schema(definition, SchemaOptions { coerce: true, ..Default::default() }).unwrap();
  let clean = |value: Value| {
    schema.clean(record(&schema, value), None).map(|v| Value::Object(to_json(&schema, &v)))
  };
  assert_eq!(
    clean(json!({ "n": " 42 ", "x": "1e3", "b": "False", "s": 7 })).unwrap(),
    json!({ "n": 42, "x": 1000.0, "b": false, "s": "7" })
  );
  assert_eq!(
    clean(json!({ "n": "18.00", "x": " 2.5", "b": "0", "s": "  padded " })).unwrap()["s"],
    json!("padded")
  );
  assert_eq!(
    clean(json!({ "n": "1_000", "x": "1", "b": "yes", "s": true })).unwrap(),
    json!({ "n": 1000, "x": 1.0, "b": true, "s": "True" })
  );
  for bad in [json!({ "n": "36.5" }), json!({ "n": "forty" }), json!({ "n": "" })] {
    let mut full = json!({ "x": 1, "b": true, "s": "a" });
    full.as_object_mut().unwrap().extend(bad.as_object().unwrap().clone());
    assert_eq!(clean(full).unwrap_err()[0].code, "invalid");
  }
  assert_eq!(
    clean(json!({ "n": 1, "x": "nan", "b": true, "s": "a" })).unwrap_err()[0].code,
    "invalid"
  );
  assert_eq!(
    clean(json!({ "n": 1, "x": "inf", "b": true, "s": "a" })).unwrap_err()[0].code,
    "invalid"
  );
}

#[test]
fn unknown_keys_are_dropped_when_allowed() {
  let schema = schema(
    json!({ "a": { "type": "int" } }),
    SchemaOptions { allow_unknown: true, ..Default::default() },
  )
  .unwrap();
  let cleaned = schema.clean(record(&schema, json!({ "a": 1, "b": 2 })), None).unwrap();
  assert_eq!(Value::Object(to_json(&schema, &cleaned)), json!({ "a": 1 }));
}

#[test]
fn bad_definitions_name_the_field() {
  let cases = [
    (json!({ "age": { "type": "integer" } }), "age"),
    (json!({ "age": { "type": "int", "maxLength": 3 } }), "age"),
    (json!({ "name": { "type": "string", "maxlength": 3 } }), "name"),
    (json!({ "name": { "type": "string", "pattern": "(" } }), "name"),
    (json!({ "name": { "type": "string", "minLength": 5, "maxLength": 2 } }), "name"),
    (json!({ "dept": { "type": "string", "choices": ["a", 1] } }), "dept"),
    (json!({ "dept": { "type": "string", "choices": [] } }), "dept"),
    (json!({ "age": { "type": "int", "min": 18, "default": 3 } }), "age"),
    (json!({ "flag": { "type": "bool", "nullable": "yes" } }), "flag"),
    (json!({ "x": "float" }), "x"),
  ];
  for (definition, field) in cases {
    let err = schema(definition.clone(), SchemaOptions::default()).unwrap_err();
    assert_eq!(err.code().as_str(), "ERR_SCHEMA", "{definition}");
    assert!(err.to_string().starts_with(&format!("field '{field}'")), "{err}");
  }
  assert!(schema(json!({}), SchemaOptions::default()).is_err());
  let twice =
    vec![("a".to_string(), json!({ "type": "int" })), ("a".to_string(), json!({ "type": "int" }))];
  assert_eq!(
    Schema::from_definition(&twice, SchemaOptions::default()).unwrap_err().to_string(),
    "field 'a': declared twice"
  );
}

#[test]
fn many_records_keep_the_good_ones_and_index_the_bad_ones() {
  let schema = schema(json!({ "a": { "type": "int" } }), SchemaOptions::default()).unwrap();
  let input = b"{\"a\": 1}\n{\"a\": \"x\"}\nnot json\n[1]\n{\"a\": 4}\n";
  let report =
    schema.clean_records(Source::Bytes(input, Format::Json), 1, Report::default).unwrap();
  assert_eq!(report.valid.iter().map(|(i, _)| *i).collect::<Vec<_>>(), [0, 4]);
  let errors: Vec<(Option<u32>, &str, &str)> =
    report.errors.iter().map(|e| (e.index, e.path.as_str(), e.code.as_str())).collect();
  assert_eq!(
    errors,
    [(Some(1), "a", "invalid"), (Some(2), "", "invalid"), (Some(3), "", "invalid")]
  );
}

#[test]
fn csv_cells_clean_as_form_input_without_coerce() {
  let definition = json!({
    "age": { "type": "int" },
    "score": { "type": "float", "nullable": true },
    "member": { "type": "bool", "default": false },
    "name": { "type": "string", "maxLength": 4 },
  });
  let schema = schema(definition, SchemaOptions::default()).unwrap();
  let input = b"age,score,member,name\n 42 ,,false,Ann \n4.5,1e3,1,Bob\n";
  let report = schema.clean_records(Source::Bytes(input, Format::Csv), 1, Report::default).unwrap();
  assert_eq!(report.valid.len(), 1, "{:?}", report.errors);
  let (index, values) = &report.valid[0];
  assert_eq!(*index, 0);
  assert_eq!(
    Value::Object(to_json(&schema, values)),
    json!({ "age": 42, "score": null, "member": false, "name": "Ann" })
  );
  let errors: Vec<(Option<u32>, &str, &str)> =
    report.errors.iter().map(|e| (e.index, e.path.as_str(), e.code.as_str())).collect();
  assert_eq!(errors, [(Some(1), "age", "invalid")]);
}
