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

static DATE: LazyLock<Regex> =
  LazyLock::new(|| Regex::new(r"^(\d{4})-(\d{1,2})-(\d{1,2})$").unwrap());
static DATETIME: LazyLock<Regex> = LazyLock::new(|| {
  Regex::new(
    r"^(\d{4})-(\d{1,2})-(\d{1,2})[T ](\d{1,2}):(\d{1,2})(?::(\d{1,2})(?:[.,](\d{1,9}))?)?\s*(Z|[+-]\d{2}(?::?\d{2})?)?$",
  )
  .unwrap()
});

/// Parses `YYYY-MM-DD` (one-digit month and day accepted, as Django does).
pub fn parse_date(text: &str) -> Result<NaiveDate, DateError> {
  let caps = DATE.captures(text).ok_or(DateError::Format)?;
  let n = |i: usize| caps[i].parse::<u32>().map_err(|_| DateError::Format);
  NaiveDate::from_ymd_opt(n(1)? as i32, n(2)?, n(3)?).ok_or(DateError::Impossible)
}

/// Parses an ISO 8601 datetime into UTC; one without an offset is taken as UTC.
pub fn parse_datetime(text: &str) -> Result<DateTime<Utc>, DateError> {
  let caps = DATETIME.captures(text).ok_or(DateError::Format)?;
  let n = |i: usize| {
    caps.get(i).map_or(Ok(0), |m| m.as_str().parse::<u32>().map_err(|_| DateError::Format))
  };
  let date = NaiveDate::from_ymd_opt(n(1)? as i32, n(2)?, n(3)?).ok_or(DateError::Impossible)?;
  let nanos = caps.get(7).map_or(0, |m| {
    let digits = m.as_str();
    digits.parse::<u32>().unwrap_or(0) * 10u32.pow(9 - digits.len() as u32)
  });
  let time =
    NaiveTime::from_hms_nano_opt(n(4)?, n(5)?, n(6)?, nanos).ok_or(DateError::Impossible)?;
  let naive = NaiveDateTime::new(date, time);
  let offset_seconds = match caps.get(8).map(|m| m.as_str()) {
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

  #[test]
  fn js_dates_convert() {
    assert_eq!(from_epoch_millis(0.0).unwrap().to_rfc3339(), "1970-01-01T00:00:00+00:00");
    assert_eq!(from_epoch_millis(f64::NAN), None);
  }
}
