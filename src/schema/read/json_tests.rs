//! Tests of the JSON reader: records into slots, elements, escapes, and scalars and malformed text
//! against serde_json.

use super::*;
use serde_json::Value;

fn schema() -> Schema {
  let entries = ["a", "b"].map(|n| (n.to_string(), serde_json::json!({ "type": "string" })));
  Schema::from_definition(&entries, Default::default()).unwrap()
}

/// The element read from `text` (whole), as the record's debug form or the error's message.
fn read(text: &str) -> Result<String, String> {
  let schema = schema();
  let mut record = RawRecord::new(&schema);
  let mut cursor = Cursor::new(text.as_bytes(), 0);
  let element = cursor.element(&schema, &mut record).and_then(|e| cursor.end().map(|_| e));
  match element {
    Ok(Element::Record) => Ok(format!("{:?} {:?}", record.values, record.unknown)),
    Ok(other) => Ok(other.to_string()),
    Err(e) => Err(e.describe(text.as_bytes())),
  }
}

#[test]
fn records_slot_their_keys_and_borrow_plain_strings() {
  let schema = schema();
  let text = br#"{"b": "x\ty", "z": [1, {"c": []}], "a": "plain", "a": -12.5e1}"#;
  let mut record = RawRecord::new(&schema);
  let element = Cursor::new(text, 0).element(&schema, &mut record).unwrap();
  assert_eq!(element, Element::Record);
  assert_eq!(
    record.values,
    [Some(RawValue::Number(-125.0)), Some(RawValue::String("x\ty".into()))]
  );
  assert_eq!(record.unknown, ["z"]);
  let mut record = RawRecord::new(&schema);
  Cursor::new(br#"{"a": "plain"}"#, 0).element(&schema, &mut record).unwrap();
  assert!(matches!(&record.values[0], Some(RawValue::String(Cow::Borrowed("plain")))));
}

#[test]
fn other_elements_say_what_they_are() {
  for (text, kind) in
    [("[1, [2]]", "an array"), ("\"s\"", "a string"), ("-0", "a number"), ("null", "null")]
  {
    assert_eq!(read(text), Ok(kind.to_string()));
  }
}

#[test]
fn escapes_decode_and_lone_surrogates_read_as_replacement_characters() {
  assert_eq!(
    read(r#"{"a": "\u00e9\ud83d\ude00\n\/\"", "b": "\ud800x\udc00"}"#),
    Ok(r#"[Some(String("é😀\n/\"")), Some(String("�x�"))] []"#.to_string())
  );
}

/// Numbers and strings read as serde_json reads them, over the edges of the grammar.
#[test]
fn scalars_agree_with_serde_json() {
  let numbers = [
    "0",
    "-0",
    "1",
    "-1",
    "12345678901234567890",
    "-9223372036854775808",
    "-9223372036854775809",
    "18446744073709551615",
    "18446744073709551616",
    "1.5",
    "1e3",
    "1E+3",
    "2.5e-3",
    "0.1",
    "123456789.123456789",
    "1e308",
    "4.9e-324",
    "1e-400",
  ];
  for text in numbers {
    let ours = Cursor::new(text.as_bytes(), 0).number().unwrap();
    let theirs: Value = serde_json::from_str(text).unwrap();
    assert_eq!(ours, theirs.as_f64().unwrap(), "{text}");
  }
  for bad in ["01", "-", "1.", "1.e3", "1e", "1e+", "-a", "1e400", "-1e400"] {
    let ours = Cursor::new(bad.as_bytes(), 0).number();
    assert!(ours.is_err() && serde_json::from_str::<Value>(bad).is_err(), "{bad}");
  }
  let strings =
    [r#""""#, r#""a\"b""#, r#""\\\/\b\f\n\r\t""#, r#""\u0041\u00FF\uFFFF""#, "\"ünïcödé ✓ 😀\""];
  for text in strings {
    let ours = Cursor::new(text.as_bytes(), 0).string().unwrap();
    assert_eq!(ours, serde_json::from_str::<String>(text).unwrap(), "{text}");
  }
}

#[test]
fn malformed_text_fails_where_serde_json_fails_with_its_words() {
  let cases = [
    "{\"a\" 1}",
    "{\"a\": 1 \"b\": 2}",
    "{\"a\": 1,}",
    "{1: 2}",
    "{\"a\": tru}",
    "{\"a\": nul",
    "{\"a\": nulx}",
    "{\"a\": [1 2]}",
    "{\"a\": [1,]}",
    "{\"a\": \"x\u{1}\"}",
    "{\"a\": \"\\x\"}",
    "{\"a\": \"\\u12G4\"}",
    "{\"a\":\n \"abc",
    "{\"a\": 1",
    "{\"a\": 1} x",
    "{\"a\": @}",
    "{\"a\": 01}",
    "{\"a\": 1.}",
    "{\"a\": 1e400}",
    "{\"a\": -}",
    "{\"a\": {\"b\": 1,}}",
    "",
  ];
  for text in cases {
    let theirs = serde_json::from_str::<Value>(text).unwrap_err().to_string();
    assert_eq!(read(text), Err(theirs), "{text:?}");
  }
  let bytes = b"{\"a\": \"\xff\"}";
  let mut record = RawRecord::new(&schema());
  let error = Cursor::new(bytes, 0).element(&schema(), &mut record).unwrap_err();
  let theirs = serde_json::from_slice::<Value>(bytes).unwrap_err().to_string();
  assert_eq!(error.describe(bytes), theirs);
}

#[test]
fn nesting_of_any_depth_is_checked_and_skipped_without_recursion() {
  let deep =
    format!("{{\"a\": {}1{}, \"b\": \"x\"}}", "[{\"k\": ".repeat(200_000), "}]".repeat(200_000));
  assert_eq!(read(&deep), Ok(r#"[Some(Other("an array")), Some(String("x"))] []"#.to_string()));
  for broken in [
    "{\"a\": [[1, {\"b\": 2,}]]}",
    "{\"a\": [[1, {\"b\" 2}]]}",
    "{\"a\": [[1, {2: 2}]]}",
    "{\"a\": [[1, 2,]]}",
    "{\"a\": [[1 2]]}",
    "{\"a\": [[1, {}]}",
    "{\"a\": [[1, [}",
    "{\"a\": [",
    "{\"a\": {",
    "{\"a\": [1,",
    "{\"a\": {\"b\"",
    "{\"a\": [{\"b\": 1} 2]",
  ] {
    let theirs = serde_json::from_str::<Value>(broken).unwrap_err().to_string();
    assert_eq!(read(broken), Err(theirs), "{broken}");
  }
  assert_eq!(
    read("{\"a\": [[], {}, [[]], {\"b\": {}}]}"),
    Ok(r#"[Some(Other("an array")), None] []"#.to_string())
  );
}
