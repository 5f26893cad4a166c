//! Checked values of a scenario file, refused while the file is read so that
//! the error carries the value's line and column: counts that cannot be
//! negative, fractions, names used in ids.

use serde::{Deserialize, Deserializer};

/// A count of at least 1.
pub fn at_least_one<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    let n = i64::deserialize(d)?;
    if n < 1 {
        return Err(serde::de::Error::custom(format!(
            "{n} is not allowed here: a count of at least 1"
        )));
    }
    Ok(n as u64)
}

/// A count of at least 0.
pub fn count<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    let n = i64::deserialize(d)?;
    if n < 0 {
        return Err(serde::de::Error::custom(format!(
            "{n} is not allowed here: a count of at least 0"
        )));
    }
    Ok(n as u64)
}

/// A share or a rate: from 0 to 1.
pub fn fraction<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    let x = f64::deserialize(d)?;
    if !(0.0..=1.0).contains(&x) {
        return Err(serde::de::Error::custom(format!(
            "{x} is not allowed here: a fraction from 0 to 1"
        )));
    }
    Ok(x)
}

/// A number of days, from 0 to 36,500.
pub fn days<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    let x = f64::deserialize(d)?;
    if !(0.0..=36_500.0).contains(&x) {
        return Err(serde::de::Error::custom(format!(
            "{x} is not allowed here: a number of days from 0 to 36500"
        )));
    }
    Ok(x)
}

/// A size in bytes, at least 1.
pub fn bytes<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    let n = i64::deserialize(d)?;
    if n < 1 {
        return Err(serde::de::Error::custom(format!(
            "{n} is not allowed here: a size in bytes of at least 1"
        )));
    }
    Ok(n)
}

/// A name that becomes part of ids (device types, site ids): lowercase
/// letters, digits and `-`, starting with a letter, at most 30 characters.
pub fn slug<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let s = String::deserialize(d)?;
    check_slug(&s).map_err(serde::de::Error::custom)?;
    Ok(s)
}

pub fn check_slug(s: &str) -> Result<(), String> {
    let ok = s.len() <= 30
        && s.starts_with(|c: char| c.is_ascii_lowercase())
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !s.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{s:?} is not allowed here: lowercase letters, digits and '-', starting with a letter, at most 30 characters"
        ))
    }
}

/// A semantic version (`1.4.0`), at most 50 characters (the column's width).
pub fn version<'de, D: Deserializer<'de>>(d: D) -> Result<semver::Version, D::Error> {
    let s = String::deserialize(d)?;
    match semver::Version::parse(&s) {
        Ok(v) if s.len() <= 50 => Ok(v),
        _ => Err(serde::de::Error::custom(format!(
            "{s:?} is not a version: write MAJOR.MINOR.PATCH, like \"1.4.0\""
        ))),
    }
}
