//! Fuzzing of the three parsers a stranger can reach: model bytes (`InferenceSession.create` on a
//! Buffer), KServe V2 JSON (`inferJson`) and records (JSON arrays, NDJSON and CSV into a Schema).
//! `npm run fuzz -- --minutes N` runs each target for N minutes:
//!
//!   cargo run --release --target x86_64-unknown-linux-gnu --no-default-features --features profile \
//!     --example fuzz -- <model|kserve|records> <seconds> <findings dir>
//!
//! Stable Rust has no coverage-guided fuzzer built in (cargo-fuzz needs nightly; AFL++ needs its own
//! compiler wrappers and runtime), so this is a mutation fuzzer guided by behaviour: it starts from
//! the test fixtures, mutates bytes (flips, interesting values, insertions, deletions, splices and
//! format tokens), and keeps as new seeds the inputs that end in an outcome not seen before (an
//! error message with its positions stripped, or success). Each input runs under `catch_unwind`; a
//! panic or a run over 10 s is a finding, written to the findings directory (the first input of each
//! kind). The records target is also differential: without `\u` escapes, a JSON array must be
//! accepted exactly when `serde_json` accepts it as values, with as many records (nesting past
//! `serde_json`'s recursion limit aside: tract-node skips nested values without recursing).

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use tract_node::schema::read::{Format, Source};
use tract_node::schema::{Report, Schema, SchemaOptions};
use tract_node::session::options::SessionConfig;
use tract_node::session::{ModelSource, Session};

const SLOW: Duration = Duration::from_secs(10);

fn main() {
  let args: Vec<String> = std::env::args().skip(1).collect();
  let (target, seconds, findings) = match args.as_slice() {
    // Replays one input: its outcome.
    [replay, target, file] if replay == "replay" => {
      let input = std::fs::read(file).expect("input");
      println!("{:?}", target_named(target).run(&input));
      return;
    }
    [target, seconds, findings] => (target, seconds, findings),
    _ => {
      eprintln!(
        "usage: fuzz <model|kserve|records> <seconds> <findings dir> | fuzz replay <target> <file>"
      );
      std::process::exit(2);
    }
  };
  let seconds: u64 = seconds.parse().expect("seconds");
  let findings = PathBuf::from(findings);
  std::fs::create_dir_all(&findings).expect("findings dir");
  let target = target_named(target);
  std::panic::set_hook(Box::new(|_| {})); // panics are findings, reported below
  let report = fuzz(target.as_ref(), Duration::from_secs(seconds), &findings);
  println!("{}", serde_json::to_string(&report).expect("report"));
}

fn target_named(name: &str) -> Box<dyn Target> {
  let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("__test__/fixtures");
  match name {
    "model" => Box::new(ModelTarget::new(&fixtures)),
    "kserve" => Box::new(KserveTarget::new(&fixtures)),
    "records" => Box::new(RecordsTarget::new(&fixtures)),
    other => panic!("unknown target {other}"),
  }
}

/// What one fuzzing run did.
#[derive(serde::Serialize)]
struct FuzzReport {
  target: &'static str,
  seconds: f64,
  executions: u64,
  corpus: usize,
  outcomes: usize,
  /// One per kind: the first input of each, and why.
  findings: Vec<String>,
  /// Inputs that failed, all kinds.
  failing_inputs: u64,
}

trait Target: Sync {
  fn name(&self) -> &'static str;
  fn seeds(&self) -> Vec<Vec<u8>>;
  /// Format tokens worth inserting.
  fn tokens(&self) -> &[&[u8]];
  /// Runs one input: its outcome (`Err` for a broken property, a finding).
  fn run(&self, input: &[u8]) -> Result<String, String>;
}

fn fuzz(target: &dyn Target, budget: Duration, findings: &Path) -> FuzzReport {
  let mut corpus = target.seeds();
  let mut seen: HashSet<String> = HashSet::new();
  let mut found = Vec::new();
  let mut kinds = std::collections::HashMap::new();
  let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
  let started = Instant::now();
  let mut executions = 0u64;
  while started.elapsed() < budget {
    let parent = corpus[rng.below(corpus.len())].clone();
    let other = &corpus[rng.below(corpus.len())];
    let input = mutate(&mut rng, parent, other, target.tokens());
    executions += 1;
    let outcome = run_guarded(target, &input);
    match outcome {
      Ok(outcome) => {
        if seen.insert(outcome) {
          corpus.push(input);
        }
      }
      // One file per kind of finding: the rest are counted.
      Err(why) => {
        *kinds.entry(outcome_of(&why)).or_insert_with(|| {
          let name = format!("{}-{:016x}.bin", target.name(), hash(&input));
          std::fs::write(findings.join(&name), &input).expect("write finding");
          eprintln!("finding {name}: {why}");
          found.push(format!("{name}: {why}"));
          0
        }) += 1;
      }
    }
  }
  FuzzReport {
    target: target.name(),
    seconds: started.elapsed().as_secs_f64(),
    executions,
    corpus: corpus.len(),
    outcomes: seen.len(),
    findings: found,
    failing_inputs: kinds.values().sum(),
  }
}

/// Runs `input`, catching panics and flagging runs over [`SLOW`].
fn run_guarded(target: &dyn Target, input: &[u8]) -> Result<String, String> {
  let (done, finished) = mpsc::channel::<()>();
  let started = Instant::now();
  let outcome = std::thread::scope(|scope| {
    scope.spawn(move || {
      if finished.recv_timeout(SLOW).is_err() {
        eprintln!("slow input ({} bytes) still running after {SLOW:?}", input.len());
      }
    });
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| target.run(input)));
    let _ = done.send(());
    outcome
  });
  if started.elapsed() > SLOW {
    return Err(format!("took {:?}", started.elapsed()));
  }
  match outcome {
    Ok(result) => result,
    Err(payload) => {
      let why = payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "a panic".into());
      Err(format!("panicked: {why}"))
    }
  }
}

fn mutate(rng: &mut Rng, mut input: Vec<u8>, other: &[u8], tokens: &[&[u8]]) -> Vec<u8> {
  for _ in 0..1 + rng.below(4) {
    let at = rng.below(input.len() + 1);
    match rng.below(7) {
      0 if !input.is_empty() => {
        let i = rng.below(input.len());
        input[i] ^= 1 << rng.below(8);
      }
      1 if !input.is_empty() => {
        let i = rng.below(input.len());
        input[i] = [0, 0xff, 0x7f, 0x80, b'0', b'-', b'"', b'\n'][rng.below(8)];
      }
      2 => {
        let token = tokens[rng.below(tokens.len())];
        input.splice(at..at, token.iter().copied());
      }
      3 if !input.is_empty() => {
        let end = (at + 1 + rng.below(16)).min(input.len());
        input.drain(at.min(end)..end);
      }
      4 if !input.is_empty() => {
        let start = rng.below(input.len());
        let end = (start + 1 + rng.below(64)).min(input.len());
        let copy = input[start..end].to_vec();
        input.splice(at..at, copy);
      }
      5 if !other.is_empty() => {
        let start = rng.below(other.len());
        let end = (start + 1 + rng.below(256)).min(other.len());
        input.truncate(at);
        input.extend_from_slice(&other[start..end]);
      }
      _ => {
        let digits = format!("{}", rng.next() as i64 >> rng.below(63));
        input.splice(at..at, digits.bytes());
      }
    }
  }
  input.truncate(1 << 20);
  input
}

/// An error message with its numbers (positions, sizes) stripped: one behaviour.
fn outcome_of(message: &str) -> String {
  message.chars().map(|c| if c.is_ascii_digit() { '#' } else { c }).collect()
}

fn hash(bytes: &[u8]) -> u64 {
  bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3))
}

/// xorshift64*.
struct Rng(u64);

impl Rng {
  fn next(&mut self) -> u64 {
    self.0 ^= self.0 >> 12;
    self.0 ^= self.0 << 25;
    self.0 ^= self.0 >> 27;
    self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
  }

  fn below(&mut self, n: usize) -> usize {
    if n == 0 {
      0
    } else {
      (self.next() % n as u64) as usize
    }
  }
}

/// Model bytes into a session: `InferenceSession.create(buffer)`.
struct ModelTarget {
  seeds: Vec<Vec<u8>>,
}

impl ModelTarget {
  fn new(fixtures: &Path) -> Self {
    let small = |path: &PathBuf| std::fs::metadata(path).is_ok_and(|m| m.len() < 64 << 10);
    let seeds = files(fixtures, "onnx")
      .into_iter()
      .filter(small)
      .map(|p| std::fs::read(p).expect("seed"))
      .collect();
    ModelTarget { seeds }
  }
}

impl Target for ModelTarget {
  fn name(&self) -> &'static str {
    "model"
  }

  fn seeds(&self) -> Vec<Vec<u8>> {
    self.seeds.clone()
  }

  fn tokens(&self) -> &[&[u8]] {
    &[
      b"\x08\x01",
      b"\x0a\x00",
      b"\x12\x00",
      b"\x1a\x00",
      b"\xff\xff\xff\xff\x0f",
      b"\x80\x80\x80\x80\x80\x80\x80\x80\x80\x01",
      b"Conv",
      b"MatMul",
      b"Reshape",
    ]
  }

  fn run(&self, input: &[u8]) -> Result<String, String> {
    let config = SessionConfig { max_tensor_bytes: 1 << 30, ..SessionConfig::default() };
    Ok(match Session::load(ModelSource::Bytes(input), &config) {
      Ok(_) => "loaded".into(),
      Err(e) => {
        outcome_of(&format!("{}: {e}", e.code().as_str()).chars().take(80).collect::<String>())
      }
    })
  }
}

/// KServe V2 JSON bodies against the MLP fixture: `session.inferJson(body)`.
struct KserveTarget {
  session: Session,
  seeds: Vec<Vec<u8>>,
}

impl KserveTarget {
  fn new(fixtures: &Path) -> Self {
    let session =
      Session::load(ModelSource::Path(&fixtures.join("mlp.onnx")), &SessionConfig::default())
        .expect("mlp");
    let data: Vec<String> = (0..16).map(|i| format!("{}.5", i % 3)).collect();
    let seeds = vec![
      format!(r#"{{"id":"a","inputs":[{{"name":"x","shape":[1,16],"datatype":"FP32","data":[{}]}}]}}"#, data.join(",")).into_bytes(),
      br#"{"inputs":[{"name":"x","shape":[2,16],"datatype":"FP32","data":[[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16],[0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0]]}],"outputs":[{"name":"y"}]}"#.to_vec(),
    ];
    KserveTarget { session, seeds }
  }
}

impl Target for KserveTarget {
  fn name(&self) -> &'static str {
    "kserve"
  }

  fn seeds(&self) -> Vec<Vec<u8>> {
    self.seeds.clone()
  }

  fn tokens(&self) -> &[&[u8]] {
    &JSON_TOKENS
  }

  fn run(&self, input: &[u8]) -> Result<String, String> {
    Ok(match tract_node::serving::kserve::parse(input, &self.session) {
      Ok(parsed) => match self.session.execute(parsed.run) {
        Ok(_) => "ran".into(),
        Err(e) => outcome_of(&format!("run {}", e.code().as_str())),
      },
      Err(e) => {
        outcome_of(&format!("{}: {e}", e.code().as_str()).chars().take(80).collect::<String>())
      }
    })
  }
}

const JSON_TOKENS: [&[u8]; 16] = [
  b"{",
  b"}",
  b"[",
  b"]",
  b"\"",
  b":",
  b",",
  b"\\u00e9",
  b"\\ud800",
  b"null",
  b"true",
  b"1e308",
  b"-0",
  b"[[[[[[[[",
  b"\"shape\":[",
  b"\"datatype\":\"INT64\"",
];

/// Records into the Employee schema, as a JSON array, NDJSON or CSV.
struct RecordsTarget {
  schema: Schema,
  seeds: Vec<Vec<u8>>,
}

impl RecordsTarget {
  fn new(fixtures: &Path) -> Self {
    let text = std::fs::read_to_string(fixtures.join("employee_schema.json")).expect("schema");
    let entries: tract_node::schema::Entries = serde_json::from_str(&text).expect("schema json");
    let schema = Schema::from_definition(&entries.0, SchemaOptions::default()).expect("schema");
    let matrix: serde_json::Value = serde_json::from_str(
      &std::fs::read_to_string(fixtures.join("validation_matrix.json")).expect("matrix"),
    )
    .expect("json");
    let base = matrix["base"].clone();
    let array = serde_json::to_vec(&vec![base.clone(), base.clone()]).expect("array");
    let ndjson = format!("{base}\n{base}\n").into_bytes();
    let names: Vec<String> = base.as_object().expect("base").keys().cloned().collect();
    let cells: Vec<String> =
      names.iter().map(|n| base[n].to_string().trim_matches('"').to_string()).collect();
    let csv = format!(
      "{}\n{}\n\"{}\",{}\n",
      names.join(","),
      cells.join(","),
      cells[0],
      cells[1..].join(",")
    )
    .into_bytes();
    RecordsTarget { schema, seeds: vec![array, ndjson, csv] }
  }
}

impl Target for RecordsTarget {
  fn name(&self) -> &'static str {
    "records"
  }

  fn seeds(&self) -> Vec<Vec<u8>> {
    self.seeds.clone()
  }

  fn tokens(&self) -> &[&[u8]] {
    &JSON_TOKENS
  }

  fn run(&self, input: &[u8]) -> Result<String, String> {
    let mut outcome = String::new();
    for format in [Format::Json, Format::Csv] {
      let read = self.schema.clean_records(Source::Bytes(input, format), 1, Report::default);
      outcome.push_str(&match &read {
        Ok(report) => {
          format!("{} valid {} errors|", report.valid.len().min(3), report.errors.len().min(3))
        }
        Err(e) => outcome_of(&e.to_string().chars().take(60).collect::<String>()),
      });
      let array = input.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[');
      if format == Format::Json && array && !input.windows(2).any(|w| w == b"\\u") {
        let theirs = serde_json::from_slice::<Vec<serde_json::Value>>(input);
        let ours = read.as_ref().map(|r| {
          r.valid.len() + r.errors.iter().filter_map(|e| e.index).collect::<HashSet<_>>().len()
        });
        match (ours, theirs) {
          (Ok(ours), Ok(theirs)) if ours == theirs.len() => {}
          (Err(_), Err(_)) => {}
          (_, Err(e)) if e.to_string().starts_with("recursion limit exceeded") => {}
          (ours, theirs) => {
            return Err(format!(
              "serde_json disagrees: ours {ours:?}, theirs {:?}",
              theirs.map(|t| t.len())
            ))
          }
        }
      }
    }
    Ok(outcome)
  }
}

fn files(dir: &Path, extension: &str) -> Vec<PathBuf> {
  let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
    .expect("fixtures")
    .filter_map(|e| e.ok().map(|e| e.path()))
    .filter(|p| p.extension().is_some_and(|e| e == extension))
    .collect();
  files.sort();
  files
}
