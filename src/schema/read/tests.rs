//! Reading records: each format record by record, and big inputs read in chunks on several threads
//! giving what one thread gives, wherever a guessed chunk start falls.

use super::*;

fn schema() -> Schema {
  let entries = ["a", "b", "c", "d", "e"]
    .map(|n| (n.to_string(), serde_json::json!({ "type": "string", "nullable": true })));
  Schema::from_definition(&entries, Default::default()).unwrap()
}

/// Every element read from `source` on `threads` threads, as the record's debug form or why it is
/// not one. Checks that each chunk indexes its records from 0.
fn items(source: Source<'_>, threads: usize) -> Result<Vec<String>> {
  let chunks = read(
    source,
    &schema(),
    threads,
    |_| Vec::new(),
    |seen: &mut Vec<String>, index, item| {
      assert_eq!(index, seen.len());
      seen.push(match item {
        Item::Record(record) => format!("{:?} {:?}", record.values, record.unknown),
        Item::Invalid(why) => why,
      });
    },
  )?;
  for chunk in &chunks {
    assert_eq!(chunk.records, chunk.state.len());
  }
  Ok(chunks.into_iter().flat_map(|chunk| chunk.state).collect())
}

fn json(text: &str) -> Vec<String> {
  items(Source::Bytes(text.as_bytes(), Format::Json), 1).unwrap()
}

fn csv(text: &str) -> Vec<String> {
  items(Source::Bytes(text.as_bytes(), Format::Csv), 1).unwrap()
}

#[test]
fn json_arrays_and_ndjson_read_to_records() {
  let array =
    json(r#" [{"a": 1, "b": "x", "z": 0}, {"c": null, "d": [1], "e": {"f": 2}, "c": "last"}, 3] "#);
  assert_eq!(array[0], r#"[Some(Number(1.0)), Some(String("x")), None, None, None] ["z"]"#);
  assert_eq!(
    array[1],
    r#"[None, None, Some(String("last")), Some(Other("an array")), Some(Other("an object"))] []"#
  );
  assert_eq!(array[2], "Expected an object, got a number.");
  assert_eq!(json("[]"), Vec::<String>::new());
  let ndjson = json("{\"a\": true}\n\n{bad json}\n{\"a\": false} trailing\n{\"a\": false}");
  assert_eq!(ndjson.len(), 4);
  assert_eq!(ndjson[1], "Not valid JSON: key must be a string at line 1 column 2.");
  assert_eq!(ndjson[2], "Not valid JSON: trailing characters at line 1 column 14.");
  assert!(ndjson[3].starts_with("[Some(Bool(false))"));
}

#[test]
fn a_broken_json_array_fails_whole() {
  for text in ["[{\"a\": 1}, {", "[{\"a\": 1},]", "[{\"a\": 1}] x", "[{\"a\": 1} {}]"] {
    let err = items(Source::Bytes(text.as_bytes(), Format::Json), 1).unwrap_err();
    assert_eq!(err.code().as_str(), "ERR_INVALID_ARG", "{text}");
    assert!(err.to_string().contains("not a valid JSON array"), "{err}");
  }
}

#[test]
fn csv_cells_are_text_and_empty_cells_of_nullable_fields_are_null() {
  let rows = csv("\u{feff}a,b, c\r\n1,\"x, \"\"y\"\"\",\n\n,\"multi\nline\",3\n1,2\n");
  assert_eq!(rows[0], r#"[Some(Text("1")), Some(Text("x, \"y\"")), Some(Null), None, None] []"#);
  assert_eq!(rows[1], r#"[Some(Null), Some(Text("multi\nline")), Some(Text("3")), None, None] []"#);
  assert_eq!(rows[2], "Expected 3 columns (as in the header), got 2.");
  assert_eq!(rows.len(), 3);
}

#[test]
fn csv_rejects_bad_utf8_per_row_and_unknown_formats() {
  let rows = items(Source::Bytes(b"a,b\n\xff,1\n2,1\n", Format::Csv), 1).unwrap();
  assert_eq!(rows[0], "Column 'a' is not valid UTF-8.");
  assert!(rows[1].starts_with("[Some(Text(\"2\"))"));
  assert_eq!(Format::from_name("xml").unwrap_err().code().as_str(), "ERR_INVALID_ARG");
}

/// Records whose strings hold what a guessed chunk start looks for (`,{` and newlines), so that
/// some guesses fall inside strings and are read again.
fn tricky_records(n: usize) -> Vec<String> {
  (0..n)
    .map(|i| match i % 4 {
      0 => format!(r#"{{"a": "plain {i}", "b": null}}"#),
      1 => format!(r#"{{"a": "x,{{\"a\": 1}}, {{ {i}", "c": 1.5}}"#),
      2 => format!(r#"{{"b": "a\\\"b,{{\\\\", "d": [{{"a": 1}}, {{"b": {i}}}]}}"#),
      _ => format!(r#"{{"e": "{}", "z": true}}"#, "y".repeat(i % 300)),
    })
    .collect()
}

#[test]
fn big_json_arrays_read_in_chunks_as_on_one_thread() {
  let records = tricky_records(40_000);
  for separator in [",", ",\n  "] {
    let text = format!("[{}]", records.join(separator));
    assert!(text.len() > 2 * PARALLEL_BYTES);
    let source = Source::Bytes(text.as_bytes(), Format::Json);
    let one = items(source, 1).unwrap();
    assert_eq!(one.len(), records.len());
    assert_eq!(items(source, 3).unwrap(), one);
  }
  let broken = format!("[{},{{\"a\": }}]", records.join(","));
  let err = items(Source::Bytes(broken.as_bytes(), Format::Json), 3).unwrap_err();
  assert!(err.to_string().contains("expected value at line 1"), "{err}");
}

#[test]
fn big_ndjson_reads_in_chunks_as_on_one_thread() {
  let mut lines = tricky_records(40_000);
  lines[12_345] = "{not json".into();
  lines[23_456] = "".into();
  let text = lines.join("\n");
  let source = Source::Bytes(text.as_bytes(), Format::Json);
  let one = items(source, 1).unwrap();
  assert_eq!(one.len(), lines.len() - 1);
  assert!(one[12_345].starts_with("Not valid JSON"));
  assert_eq!(items(source, 3).unwrap(), one);
}

#[test]
fn big_csv_reads_in_chunks_as_on_one_thread() {
  let rows: Vec<String> = (0..150_000)
    .map(|i| match i % 3 {
      0 => format!("{i},plain,,x"),
      1 => format!("{i},\"multi\nline\n{i},with,commas\",1,2"),
      _ => format!("{i},\"quoted \"\"\n\"\",,\",short"),
    })
    .collect();
  for newline in ["\n", "\r\n"] {
    let text = format!("a,b,c,d{newline}{}{newline}", rows.join(newline));
    assert!(text.len() > 2 * PARALLEL_BYTES);
    let source = Source::Bytes(text.as_bytes(), Format::Csv);
    let one = items(source, 1).unwrap();
    assert_eq!(one.len(), rows.len());
    assert_eq!(one[2], "Expected 4 columns (as in the header), got 3.");
    assert_eq!(items(source, 3).unwrap(), one);
  }
}
