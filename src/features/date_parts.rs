//! Calendar parts of a date or datetime (UTC), as pandas' `.dt` accessors name them.

use chrono::{Datelike, NaiveDate, Timelike};
use serde::{Deserialize, Serialize};

use crate::schema::value::Clean;

/// One calendar part.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Part {
  Year,
  Month,
  Day,
  /// Monday = 0 … Sunday = 6 (pandas `dayofweek`, Python `weekday()`).
  DayOfWeek,
  /// 1 … 366.
  DayOfYear,
  /// 0 … 23; 0 for dates.
  Hour,
  /// Days since 1970-01-01, with the time of day as a fraction for datetimes.
  EpochDays,
}

impl Part {
  pub fn name(self) -> &'static str {
    match self {
      Part::Year => "year",
      Part::Month => "month",
      Part::Day => "day",
      Part::DayOfWeek => "dayOfWeek",
      Part::DayOfYear => "dayOfYear",
      Part::Hour => "hour",
      Part::EpochDays => "epochDays",
    }
  }
}

/// The requested parts, one feature each; NaN for null.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DateParts {
  pub parts: Vec<Part>,
}

impl DateParts {
  pub fn encode(&self, value: &Clean, out: &mut [f32]) {
    let (date, seconds) = match value {
      Clean::Date(d) => (*d, 0),
      Clean::DateTime(dt) => (dt.date_naive(), dt.time().num_seconds_from_midnight()),
      _ => {
        out.fill(f32::NAN);
        return;
      }
    };
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).expect("valid date");
    for (part, slot) in self.parts.iter().zip(out) {
      *slot = match part {
        Part::Year => date.year() as f32,
        Part::Month => date.month() as f32,
        Part::Day => date.day() as f32,
        Part::DayOfWeek => date.weekday().num_days_from_monday() as f32,
        Part::DayOfYear => date.ordinal() as f32,
        Part::Hour => (seconds / 3600) as f32,
        Part::EpochDays => ((date - epoch).num_days() as f64 + seconds as f64 / 86_400.0) as f32,
      };
    }
  }
}

#[cfg(test)]
mod tests {
  use super::*;
  use crate::schema::dates::parse_datetime;

  #[test]
  fn parts_of_a_datetime() {
    let parts = DateParts {
      parts: vec![
        Part::Year,
        Part::Month,
        Part::Day,
        Part::DayOfWeek,
        Part::DayOfYear,
        Part::Hour,
        Part::EpochDays,
      ],
    };
    let mut out = [0f32; 7];
    parts.encode(&Clean::DateTime(parse_datetime("2024-03-01T18:00:00Z").unwrap()), &mut out);
    // 2024-03-01 was a Friday, day 61 of a leap year, 19783 days after the epoch.
    assert_eq!(out, [2024.0, 3.0, 1.0, 4.0, 61.0, 18.0, 19783.75]);
    parts.encode(&Clean::Null, &mut out);
    assert!(out.iter().all(|v| v.is_nan()));
  }
}
