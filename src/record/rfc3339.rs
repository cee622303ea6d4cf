//! Timestamps written exactly as `chrono` writes them (RFC 3339, UTC as `Z`), without going
//! through `fmt`.

// What serves only the stores whose feature is off is unused in that build.
#![cfg_attr(
    not(all(feature = "sqlite", feature = "postgres", feature = "jsonl")),
    allow(dead_code)
)]

use chrono::{DateTime, Datelike, FixedOffset, NaiveDate, Timelike, Utc};
use serde::{Serialize, Serializer};

pub(crate) fn serialize<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    let mut buf = [0u8; 30];
    match format(t, Fraction::Auto, &mut buf) {
        Some(text) => s.serialize_str(text),
        None => t.serialize(s),
    }
}

/// `text` read as `chrono` reads a `DateTime<Utc>` from its serde format: the shape this
/// module writes (`YYYY-MM-DDTHH:MM:SS`, up to 9 fraction digits, `Z`) read digit by digit,
/// any other text (an offset, a leap second, more digits) through `chrono`.
pub(crate) fn parse(text: &str) -> Result<DateTime<Utc>, chrono::ParseError> {
    match canonical(text.as_bytes()) {
        Some(t) => Ok(t),
        None => text
            .parse::<DateTime<FixedOffset>>()
            .map(|t| t.with_timezone(&Utc)),
    }
}

/// `text` in the shape [`format`] writes, else `None`.
fn canonical(b: &[u8]) -> Option<DateTime<Utc>> {
    if b.len() < 20 || b.len() > 30 || b[b.len() - 1] != b'Z' {
        return None;
    }
    let number = |digits: &[u8]| {
        digits.iter().try_fold(0u32, |n, &d| {
            d.is_ascii_digit().then(|| n * 10 + u32::from(d - b'0'))
        })
    };
    let punctuated = [(4, b'-'), (7, b'-'), (10, b'T'), (13, b':'), (16, b':')];
    if punctuated.iter().any(|&(at, c)| b[at] != c) {
        return None;
    }
    let nano = match &b[19..b.len() - 1] {
        [] => 0,
        [b'.', digits @ ..] if (1..=9).contains(&digits.len()) => {
            number(digits)? * 10u32.pow(9 - digits.len() as u32)
        }
        _ => return None,
    };
    let (sec, min, hour) = (
        number(&b[17..19])?,
        number(&b[14..16])?,
        number(&b[11..13])?,
    );
    let date = NaiveDate::from_ymd_opt(
        i32::try_from(number(&b[0..4])?).ok()?,
        number(&b[5..7])?,
        number(&b[8..10])?,
    )?;
    // Second 60 (a leap second) is left to chrono.
    (sec < 60)
        .then(|| date.and_hms_nano_opt(hour, min, sec, nano))
        .flatten()
        .map(|t| t.and_utc())
}

/// [`parse`] as a serde `deserialize_with`.
pub(crate) fn deserialize<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<DateTime<Utc>, D::Error> {
    let text = <std::borrow::Cow<'de, str> as serde::Deserialize>::deserialize(d)?;
    parse(&text).map_err(serde::de::Error::custom)
}

/// How many fraction digits to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fraction {
    /// 0, 3, 6 or 9 digits, the fewest that keep the value: `chrono`'s serde format
    /// (`SecondsFormat::AutoSi`).
    Auto,
    /// Always 9 digits, so that text order is time order (`SecondsFormat::Nanos`).
    Nanos,
}

/// `t` as chrono writes it with `fraction` digits, or `None` for years it writes with a
/// sign (outside 0 to 9999).
pub(crate) fn format<'a>(
    t: &DateTime<Utc>,
    fraction: Fraction,
    buf: &'a mut [u8; 30],
) -> Option<&'a str> {
    // The accessors of `DateTime<Utc>` each add the (zero) offset again: read them from
    // the naive date and time once.
    let t = t.naive_utc();
    let year = t.year();
    if !(0..=9999).contains(&year) {
        return None;
    }
    let (mut sec, mut nano) = (t.second(), t.nanosecond());
    if nano >= 1_000_000_000 {
        // A leap second: chrono writes it as second 60.
        sec += 1;
        nano -= 1_000_000_000;
    }
    let two = |buf: &mut [u8], at: usize, v: u32| {
        buf[at] = b'0' + (v / 10 % 10) as u8;
        buf[at + 1] = b'0' + (v % 10) as u8;
    };
    let year = year as u32;
    two(buf, 0, year / 100);
    two(buf, 2, year % 100);
    buf[4] = b'-';
    two(buf, 5, t.month());
    buf[7] = b'-';
    two(buf, 8, t.day());
    buf[10] = b'T';
    two(buf, 11, t.hour());
    buf[13] = b':';
    two(buf, 14, t.minute());
    buf[16] = b':';
    two(buf, 17, sec);
    let mut len = 19;
    let (digits, mut frac) = if fraction == Fraction::Nanos {
        (9, nano)
    } else if nano == 0 {
        (0, 0)
    } else if nano % 1_000_000 == 0 {
        (3, nano / 1_000_000)
    } else if nano % 1_000 == 0 {
        (6, nano / 1_000)
    } else {
        (9, nano)
    };
    if digits > 0 {
        buf[len] = b'.';
        for i in (0..digits).rev() {
            buf[len + 1 + i] = b'0' + (frac % 10) as u8;
            frac /= 10;
        }
        len += 1 + digits;
    }
    buf[len] = b'Z';
    std::str::from_utf8(&buf[..=len]).ok()
}

/// Appends `t` to `out` as chrono writes it with `fraction` digits (through chrono itself for
/// the years it writes with a sign).
pub(crate) fn push(t: &DateTime<Utc>, fraction: Fraction, out: &mut String) {
    let mut buf = [0u8; 30];
    match format(t, fraction, &mut buf) {
        Some(text) => out.push_str(text),
        None => out.push_str(&t.to_rfc3339_opts(fraction.seconds_format(), true)),
    }
}

impl Fraction {
    /// The same digits in chrono's terms.
    pub(crate) const fn seconds_format(self) -> chrono::SecondsFormat {
        match self {
            Fraction::Auto => chrono::SecondsFormat::AutoSi,
            Fraction::Nanos => chrono::SecondsFormat::Nanos,
        }
    }
}
