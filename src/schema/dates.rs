//! Date and datetime parsing with Django's rules (`django.utils.dateparse`): `YYYY-M-D` dates and
//! ISO 8601 / RFC 3339 datetimes (`T` or space, optional seconds and fraction, `Z` or `±HH[:MM]`).
//! A well-formed but impossible value (`2023-02-30`) is told apart from a malformed one.

use std::sync::LazyLock;

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};
use regex::Regex;

/// Why a string is not a date.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DateError {
  /// Not in the expected format.
  Format,
  /// In the format, but no such day or time (`2023-02-30`, `2023-13-01`, `25:00`).
  Impossible,
}

/// The datetime pattern, for text that is not ASCII (`\d` and `\s` match Unicode digits and
/// spaces, as Python's `re` does); ASCII text, nearly all of it, is read by [`Scanner`] instead.
static DATETIME: LazyLock<Regex> = LazyLock::new(|| {
  Regex::new(
    r"^(\d{4})-(\d{1,2})-(\d{1,2})[T ](\d{1,2}):(\d{1,2})(?::(\d{1,2})(?:[.,](\d{1,9}))?)?\s*(Z|[+-]\d{2}(?::?\d{2})?)?$",
  )
  .unwrap()
});

/// Parses `YYYY-MM-DD` (one-digit month and day accepted, as Django does).
pub fn parse_date(text: &str) -> Result<NaiveDate, DateError> {
  // Django's `\d` also matches non-ASCII digits, which `int()` would read but chrono cannot: such
  // text is a format error here, as it was with a regex.
  let mut scan = Scanner(text.as_bytes());
  let (year, month, day) = scan.date().ok_or(DateError::Format)?;
  if !scan.0.is_empty() {
    return Err(DateError::Format);
  }
  NaiveDate::from_ymd_opt(year as i32, month, day).ok_or(DateError::Impossible)
}

/// The parts of a datetime as written.
struct Parts<'t> {
  date: (u32, u32, u32),
  time: (u32, u32, u32),
  fraction: &'t str,
  offset: Option<&'t str>,
}

/// Parses an ISO 8601 datetime into UTC; one without an offset is taken as UTC.
pub fn parse_datetime(text: &str) -> Result<DateTime<Utc>, DateError> {
  let parts =
    if text.is_ascii() { Scanner(text.as_bytes()).datetime() } else { regex_parts(text)? };
  let Parts { date: (year, month, day), time: (hour, minute, second), fraction, offset } =
    parts.ok_or(DateError::Format)?;
  let date = NaiveDate::from_ymd_opt(year as i32, month, day).ok_or(DateError::Impossible)?;
  let nanos = match fraction {
    "" => 0,
    digits => digits.parse::<u32>().unwrap_or(0) * 10u32.pow(9 - digits.len() as u32),
  };
  let time =
    NaiveTime::from_hms_nano_opt(hour, minute, second, nanos).ok_or(DateError::Impossible)?;
  let naive = NaiveDateTime::new(date, time);
  let offset_seconds = match offset {
    None | Some("Z") => 0,
    Some(offset) => {
      let sign = if offset.starts_with('-') { -1 } else { 1 };
      let digits: String = offset[1..].chars().filter(char::is_ascii_digit).collect();
      let hours: i32 = digits[..2].parse().map_err(|_| DateError::Format)?;
      let minutes: i32 =
        if digits.len() > 2 { digits[2..].parse().map_err(|_| DateError::Format)? } else { 0 };
      if hours > 23 || minutes > 59 {
        return Err(DateError::Impossible);
      }
      sign * (hours * 3600 + minutes * 60)
    }
  };
  let offset = FixedOffset::east_opt(offset_seconds).ok_or(DateError::Impossible)?;
  let local = offset.from_local_datetime(&naive).single().ok_or(DateError::Impossible)?;
  Ok(local.with_timezone(&Utc))
}

/// The parts of non-ASCII text by the pattern; digits that are not ASCII are a format error.
fn regex_parts(text: &str) -> Result<Option<Parts<'_>>, DateError> {
  let Some(caps) = DATETIME.captures(text) else { return Ok(None) };
  let n = |i: usize| {
    caps.get(i).map_or(Ok(0), |m| m.as_str().parse::<u32>().map_err(|_| DateError::Format))
  };
  let fraction = caps.get(7).map_or("", |m| m.as_str());
  if !fraction.is_ascii() {
    return Err(DateError::Format);
  }
  Ok(Some(Parts {
    date: (n(1)?, n(2)?, n(3)?),
    time: (n(4)?, n(5)?, n(6)?),
    fraction,
    offset: caps.get(8).map(|m| m.as_str()),
  }))
}

/// Whether an offset after its sign is `\d{2}(?::?\d{2})?`.
fn offset_digits(rest: &[u8]) -> bool {
  let two = |b: &[u8]| b.len() == 2 && b.iter().all(u8::is_ascii_digit);
  match rest {
    [h0, h1, b':', m0, m1] => two(&[*h0, *h1]) && two(&[*m0, *m1]),
    [h0, h1, m0, m1] => two(&[*h0, *h1]) && two(&[*m0, *m1]),
    hours => two(hours),
  }
}

/// Reads ASCII dates and datetimes front to back, as the pattern above matches them.
struct Scanner<'t>(&'t [u8]);

impl<'t> Scanner<'t> {
  /// A run of `min..=max` ASCII digits (and not one more) as a number.
  fn number(&mut self, min: usize, max: usize) -> Option<u32> {
    let run = self.0.iter().take(max + 1).take_while(|b| b.is_ascii_digit()).count();
    if run < min || run > max {
      return None;
    }
    let value = self.0[..run].iter().fold(0, |n, d| n * 10 + u32::from(d - b'0'));
    self.0 = &self.0[run..];
    Some(value)
  }

  /// Moves past `byte` if it comes next.
  fn eat(&mut self, byte: u8) -> bool {
    let next = self.0.first() == Some(&byte);
    if next {
      self.0 = &self.0[1..];
    }
    next
  }

  fn date(&mut self) -> Option<(u32, u32, u32)> {
    let year = self.number(4, 4)?;
    self.eat(b'-').then_some(())?;
    let month = self.number(1, 2)?;
    self.eat(b'-').then_some(())?;
    Some((year, month, self.number(1, 2)?))
  }

  fn datetime(mut self) -> Option<Parts<'t>> {
    let date = self.date()?;
    (self.eat(b'T') || self.eat(b' ')).then_some(())?;
    let hour = self.number(1, 2)?;
    self.eat(b':').then_some(())?;
    let minute = self.number(1, 2)?;
    let (mut second, mut fraction) = (0, "");
    if self.eat(b':') {
      second = self.number(1, 2)?;
      if self.eat(b'.') || self.eat(b',') {
        let digits = self.0.iter().take(10).take_while(|b| b.is_ascii_digit()).count();
        (1..=9).contains(&digits).then_some(())?;
        fraction = std::str::from_utf8(&self.0[..digits]).ok()?;
        self.0 = &self.0[digits..];
      }
    }
    while self
      .0
      .first()
      .is_some_and(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\x0b' | b'\x0c' | b'\r'))
    {
      self.0 = &self.0[1..];
    }
    let offset = match self.0 {
      [] => None,
      [b'Z'] => Some("Z"),
      [b'+' | b'-', rest @ ..] if offset_digits(rest) => Some(std::str::from_utf8(self.0).ok()?),
      _ => return None,
    };
    Some(Parts { date, time: (hour, minute, second), fraction, offset })
  }
}

/// A JS `Date` (milliseconds since the epoch) as a UTC datetime; `None` for an invalid Date.
pub fn from_epoch_millis(millis: f64) -> Option<DateTime<Utc>> {
  if !millis.is_finite() {
    return None;
  }
  DateTime::from_timestamp_millis(millis as i64)
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn dates_follow_django() {
    assert_eq!(parse_date("2023-02-28"), Ok(NaiveDate::from_ymd_opt(2023, 2, 28).unwrap()));
    assert_eq!(parse_date("2023-2-3"), Ok(NaiveDate::from_ymd_opt(2023, 2, 3).unwrap()));
    assert_eq!(parse_date("2024-02-29").map(|d| d.to_string()), Ok("2024-02-29".to_string()));
    assert_eq!(parse_date("2023-02-29"), Err(DateError::Impossible));
    assert_eq!(parse_date("2023-02-30"), Err(DateError::Impossible));
    assert_eq!(parse_date("2023-13-01"), Err(DateError::Impossible));
    assert_eq!(parse_date("2023-00-10"), Err(DateError::Impossible));
    for bad in
      ["", "2023/02/01", "02-01-2023", "2023-02-01T00:00", " 2023-02-01", "20230201", "2023-02-001"]
    {
      assert_eq!(parse_date(bad), Err(DateError::Format), "{bad:?}");
    }
  }

  #[test]
  fn datetimes_follow_rfc3339_and_normalise_to_utc() {
    let utc = |s: &str| parse_datetime(s).map(|d| d.to_rfc3339());
    assert_eq!(utc("2023-02-01T10:20:30Z"), Ok("2023-02-01T10:20:30+00:00".into()));
    assert_eq!(utc("2023-02-01 10:20"), Ok("2023-02-01T10:20:00+00:00".into()));
    assert_eq!(utc("2023-02-01T10:20:30.5+02:00"), Ok("2023-02-01T08:20:30.500+00:00".into()));
    assert_eq!(utc("2023-02-01T00:30:00-0130"), Ok("2023-02-01T02:00:00+00:00".into()));
    assert_eq!(utc("2023-02-30T10:00:00Z"), Err(DateError::Impossible));
    assert_eq!(utc("2023-02-01T25:00:00Z"), Err(DateError::Impossible));
    assert_eq!(utc("2023-02-01"), Err(DateError::Format));
    assert_eq!(utc("yesterday"), Err(DateError::Format));
  }

  /// ASCII text is read by hand: it must read exactly as the pattern reads it.
  #[test]
  fn the_scanner_reads_as_the_pattern_does() {
    let texts = [
      "2023-02-01T10:20:30Z",
      "2023-2-1 1:2",
      "2023-02-01T10:20:30.123456789+01:30",
      "2023-02-01 10:20:30,5 -0130",
      "2023-02-01T10:20:30.1234567890Z",
      "2023-02-01T10:20:30  +01",
      "2023-02-01T10:20:30+013",
      "2023-02-01T10:20:30+01:",
      "2023-02-01T10:20:30+0130x",
      "2023-02-01T10:20:",
      "2023-02-01T10",
      "2023-02-01X10:20",
      "202-02-01T10:20",
      "2023-002-01T10:20",
      "2023-02-01T100:20",
      "2023-02-01T10:20:30.Z",
      "2023-02-01T10:20Z",
      "2023-02-01T10:20:30\tZ",
      "2023-02-01T10:20:30 z",
      "2023-02-01T24:00",
      "2023-02-31T10:20",
      "2023-02-01T10:20:60",
    ];
    for text in texts {
      let by_hand =
        Scanner(text.as_bytes()).datetime().map(|p| (p.date, p.time, p.fraction, p.offset));
      let by_pattern = regex_parts(text).unwrap().map(|p| (p.date, p.time, p.fraction, p.offset));
      assert_eq!(by_hand, by_pattern, "{text:?}");
    }
    assert_eq!(utc_of("2023-02-01T10:20:30\u{a0}Z"), Ok("2023-02-01T10:20:30+00:00".into()));
    assert_eq!(parse_date("٢٠٢٣-٠٢-٠١"), Err(DateError::Format));
  }

  fn utc_of(text: &str) -> Result<String, DateError> {
    parse_datetime(text).map(|d| d.to_rfc3339())
  }

  #[test]
  fn js_dates_convert() {
    assert_eq!(from_epoch_millis(0.0).unwrap().to_rfc3339(), "1970-01-01T00:00:00+00:00");
    assert_eq!(from_epoch_millis(f64::NAN), None);
  }
}
