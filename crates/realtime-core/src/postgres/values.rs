//! Binary result values to JSON, by column type, as node-postgres presents them: numbers
//! for int2/int4/oid/float, strings for int8 and numeric (they do not fit a double), text,
//! parsed JSON for json/jsonb, ISO 8601 strings for dates and timestamps (the JavaScript
//! side turns timestamps into `Date`s), hex UUIDs, base64-free byte arrays for bytea, and
//! arrays of any of these. Any other type is an error that says to cast it to text.

use serde_json::{Number, Value};
use thiserror::Error;
use tokio_postgres::types::{FromSql, Kind, Type};

#[derive(Debug, Error)]
pub enum ValueError {
    #[error("column type {0} is not supported; cast it in SQL (e.g. `col::text`)")]
    Unsupported(String),
    #[error("malformed {0} value")]
    Malformed(&'static str),
}

/// A value's raw bytes, whatever its type.
pub struct Raw<'a>(pub &'a [u8]);

impl<'a> FromSql<'a> for Raw<'a> {
    fn from_sql(
        _ty: &Type,
        raw: &'a [u8],
    ) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(Raw(raw))
    }

    fn accepts(_ty: &Type) -> bool {
        true
    }
}

fn take<const N: usize>(raw: &[u8], what: &'static str) -> Result<[u8; N], ValueError> {
    raw.get(..N)
        .and_then(|b| b.try_into().ok())
        .ok_or(ValueError::Malformed(what))
}

fn text(raw: &[u8], what: &'static str) -> Result<String, ValueError> {
    String::from_utf8(raw.to_vec()).map_err(|_| ValueError::Malformed(what))
}

/// Days since 1970-01-01 → (year, month, day), proleptic Gregorian.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Days between 1970-01-01 and 2000-01-01, Postgres's epoch.
const PG_EPOCH_DAYS: i64 = 10_957;

fn date_string(days_since_2000: i64) -> String {
    let (y, m, d) = civil_from_days(days_since_2000 + PG_EPOCH_DAYS);
    format!("{y:04}-{m:02}-{d:02}")
}

fn timestamp_string(micros_since_2000: i64, zone: bool) -> String {
    if micros_since_2000 == i64::MAX {
        return "infinity".into();
    }
    if micros_since_2000 == i64::MIN {
        return "-infinity".into();
    }
    let days = micros_since_2000.div_euclid(86_400_000_000);
    let in_day = micros_since_2000.rem_euclid(86_400_000_000);
    let (h, rest) = (in_day / 3_600_000_000, in_day % 3_600_000_000);
    let (min, rest) = (rest / 60_000_000, rest % 60_000_000);
    let (s, micros) = (rest / 1_000_000, rest % 1_000_000);
    format!(
        "{}T{h:02}:{min:02}:{s:02}.{micros:06}{}",
        date_string(days),
        if zone { "Z" } else { "" }
    )
}

/// The binary numeric format: ndigits, weight, sign, dscale, then base-10000 digits.
fn numeric_string(raw: &[u8]) -> Result<String, ValueError> {
    let head: [u8; 8] = take(raw, "numeric")?;
    let ndigits = u16::from_be_bytes([head[0], head[1]]) as usize;
    let weight = i16::from_be_bytes([head[2], head[3]]) as i32;
    let sign = u16::from_be_bytes([head[4], head[5]]);
    let dscale = u16::from_be_bytes([head[6], head[7]]) as usize;
    match sign {
        0xC000 => return Ok("NaN".into()),
        0xD000 => return Ok("Infinity".into()),
        0xF000 => return Ok("-Infinity".into()),
        _ => {}
    }
    let digits: Vec<u16> = raw[8..]
        .chunks_exact(2)
        .take(ndigits)
        .map(|c| u16::from_be_bytes([c[0], c[1]]))
        .collect();
    if digits.len() != ndigits {
        return Err(ValueError::Malformed("numeric"));
    }
    let mut int_part = String::new();
    for i in 0..=weight.max(-1) {
        let d = digits.get(i as usize).copied().unwrap_or(0);
        if int_part.is_empty() {
            if d != 0 {
                int_part = d.to_string();
            }
        } else {
            int_part.push_str(&format!("{d:04}"));
        }
    }
    if int_part.is_empty() {
        int_part.push('0');
    }
    let mut frac = String::new();
    let mut i = weight + 1;
    while frac.len() < dscale {
        let d = if i < 0 {
            0
        } else {
            digits.get(i as usize).copied().unwrap_or(0)
        };
        frac.push_str(&format!("{d:04}"));
        i += 1;
    }
    frac.truncate(dscale);
    let sign = if sign == 0x4000 { "-" } else { "" };
    Ok(if frac.is_empty() {
        format!("{sign}{int_part}")
    } else {
        format!("{sign}{int_part}.{frac}")
    })
}

fn float(value: f64) -> Value {
    Number::from_f64(value).map_or_else(|| Value::String(value.to_string()), Value::Number)
}

/// Decodes one non-NULL value of type `ty`.
pub fn to_json(ty: &Type, raw: &[u8]) -> Result<Value, ValueError> {
    Ok(match *ty {
        Type::VOID => Value::Null,
        Type::BOOL => Value::Bool(take::<1>(raw, "bool")?[0] != 0),
        Type::INT2 => Value::from(i16::from_be_bytes(take(raw, "int2")?)),
        Type::INT4 => Value::from(i32::from_be_bytes(take(raw, "int4")?)),
        Type::OID => Value::from(u32::from_be_bytes(take(raw, "oid")?)),
        Type::INT8 => Value::String(i64::from_be_bytes(take(raw, "int8")?).to_string()),
        Type::FLOAT4 => float(f32::from_be_bytes(take(raw, "float4")?) as f64),
        Type::FLOAT8 => float(f64::from_be_bytes(take(raw, "float8")?)),
        Type::NUMERIC => Value::String(numeric_string(raw)?),
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN | Type::CHAR => {
            Value::String(text(raw, "text")?)
        }
        Type::JSON => serde_json::from_slice(raw).map_err(|_| ValueError::Malformed("json"))?,
        Type::JSONB => match raw.split_first() {
            Some((1, rest)) => {
                serde_json::from_slice(rest).map_err(|_| ValueError::Malformed("jsonb"))?
            }
            _ => return Err(ValueError::Malformed("jsonb")),
        },
        Type::UUID => {
            let b: [u8; 16] = take(raw, "uuid")?;
            let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
            Value::String(format!(
                "{}-{}-{}-{}-{}",
                &hex[0..8],
                &hex[8..12],
                &hex[12..16],
                &hex[16..20],
                &hex[20..]
            ))
        }
        Type::DATE => {
            let days = i32::from_be_bytes(take(raw, "date")?);
            Value::String(match days {
                i32::MAX => "infinity".into(),
                i32::MIN => "-infinity".into(),
                d => date_string(i64::from(d)),
            })
        }
        Type::TIMESTAMP => Value::String(timestamp_string(
            i64::from_be_bytes(take(raw, "timestamp")?),
            false,
        )),
        Type::TIMESTAMPTZ => Value::String(timestamp_string(
            i64::from_be_bytes(take(raw, "timestamptz")?),
            true,
        )),
        Type::BYTEA => Value::Array(raw.iter().map(|&b| Value::from(b)).collect()),
        _ => match ty.kind() {
            Kind::Array(element) => array(element, raw)?,
            Kind::Enum(_) | Kind::Domain(_) => Value::String(text(raw, "text")?),
            _ => return Err(ValueError::Unsupported(ty.name().to_string())),
        },
    })
}

/// A one-dimensional array (multi-dimensional ones flatten, as their elements come in order).
fn array(element: &Type, raw: &[u8]) -> Result<Value, ValueError> {
    let head: [u8; 12] = take(raw, "array")?;
    let dims = u32::from_be_bytes(head[0..4].try_into().expect("4")) as usize;
    let mut at = 12 + dims * 8;
    let mut out = Vec::new();
    if dims == 0 {
        return Ok(Value::Array(out));
    }
    while at < raw.len() {
        let len = i32::from_be_bytes(take(&raw[at..], "array")?);
        at += 4;
        if len < 0 {
            out.push(Value::Null);
            continue;
        }
        let end = at + len as usize;
        let item = raw.get(at..end).ok_or(ValueError::Malformed("array"))?;
        out.push(to_json(element, item)?);
        at = end;
    }
    Ok(Value::Array(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_timestamps() {
        assert_eq!(date_string(0), "2000-01-01");
        assert_eq!(date_string(-1), "1999-12-31");
        assert_eq!(date_string(9_556), "2026-03-01");
        assert_eq!(timestamp_string(0, true), "2000-01-01T00:00:00.000000Z");
        assert_eq!(
            timestamp_string(86_400_000_000 + 3_723_000_004, false),
            "2000-01-02T01:02:03.000004"
        );
        assert_eq!(timestamp_string(-1, true), "1999-12-31T23:59:59.999999Z");
    }

    fn numeric(ndigits: u16, weight: i16, sign: u16, dscale: u16, digits: &[u16]) -> Vec<u8> {
        let mut out = Vec::new();
        for v in [ndigits, weight as u16, sign, dscale] {
            out.extend_from_slice(&v.to_be_bytes());
        }
        for d in digits {
            out.extend_from_slice(&d.to_be_bytes());
        }
        out
    }

    #[test]
    fn numerics() {
        // 12345.678 = [1, 2345, 6780], weight 1, dscale 3
        let raw = numeric(3, 1, 0, 3, &[1, 2345, 6780]);
        assert_eq!(numeric_string(&raw).unwrap(), "12345.678");
        // -0.05 = [500], weight -1, dscale 2
        let raw = numeric(1, -1, 0x4000, 2, &[500]);
        assert_eq!(numeric_string(&raw).unwrap(), "-0.05");
        // 10000 = [1], weight 1, dscale 0
        assert_eq!(numeric_string(&numeric(1, 1, 0, 0, &[1])).unwrap(), "10000");
        assert_eq!(numeric_string(&numeric(0, 0, 0, 0, &[])).unwrap(), "0");
        assert_eq!(
            numeric_string(&numeric(0, 0, 0xC000, 0, &[])).unwrap(),
            "NaN"
        );
        assert!(numeric_string(&[0, 1]).is_err());
    }

    #[test]
    fn scalars() {
        assert_eq!(to_json(&Type::INT4, &7i32.to_be_bytes()).unwrap(), 7);
        assert_eq!(
            to_json(&Type::INT8, &(1i64 << 60).to_be_bytes()).unwrap(),
            "1152921504606846976"
        );
        assert_eq!(
            to_json(&Type::JSONB, b"\x01{\"a\":1}").unwrap(),
            serde_json::json!({"a": 1})
        );
        assert!(to_json(&Type::INT4, &[1]).is_err());
        assert!(matches!(
            to_json(&Type::POINT, &[0; 16]),
            Err(ValueError::Unsupported(_))
        ));
    }
}
