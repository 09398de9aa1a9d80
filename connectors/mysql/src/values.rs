//! Values as the server sends them in the text protocol, with the session's
//! `character_set_results` unset (each string column's bytes as stored),
//! turned into exact text: MySQL itself writes numbers, decimals and
//! temporal values, so nothing goes through a float or a clock here.

use encoding_rs::Encoding;
use mysql_async::Column;
use mysql_async::consts::{ColumnFlags, ColumnType};

/// How one result column's bytes become text.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Kind {
    /// Digits, signs, points, exponents: as sent (DECIMAL stays exact,
    /// BIGINT UNSIGNED never overflows, FLOAT is MySQL's own rendering).
    Number,
    /// `tinyint(1)`: `0`/`1` become `false`/`true`; other values stay numbers.
    Boolean,
    /// DATE, DATETIME, TIME (negative and above 24 h), YEAR: as sent,
    /// zero and partial dates included (`0000-00-00`, `2024-00-15`): the
    /// date transforms count and decide.
    Temporal,
    /// TIMESTAMP, read in a UTC session: written with its offset.
    Timestamp,
    /// BIT(n): the number it holds.
    Bit,
    /// SET: a JSON array of its members.
    Set(&'static Encoding),
    /// Text in the given encoding.
    Text(&'static Encoding),
    /// BINARY, VARBINARY, BLOB, GEOMETRY: PostgreSQL's bytea text (`\x…`).
    Binary,
}

/// The binary pseudo-charset: bytes, not text.
const BINARY: u16 = 63;

impl Kind {
    pub(crate) fn of(column: &Column, decode: Option<&'static Encoding>) -> Kind {
        let flags = column.flags();
        let charset = column.character_set();
        let text = || decode.unwrap_or_else(|| charset_encoding(charset));
        match column.column_type() {
            ColumnType::MYSQL_TYPE_TINY if column.column_length() == 1 => Kind::Boolean,
            ColumnType::MYSQL_TYPE_TINY
            | ColumnType::MYSQL_TYPE_SHORT
            | ColumnType::MYSQL_TYPE_LONG
            | ColumnType::MYSQL_TYPE_INT24
            | ColumnType::MYSQL_TYPE_LONGLONG
            | ColumnType::MYSQL_TYPE_DECIMAL
            | ColumnType::MYSQL_TYPE_NEWDECIMAL
            | ColumnType::MYSQL_TYPE_FLOAT
            | ColumnType::MYSQL_TYPE_DOUBLE => Kind::Number,
            ColumnType::MYSQL_TYPE_TIMESTAMP | ColumnType::MYSQL_TYPE_TIMESTAMP2 => Kind::Timestamp,
            ColumnType::MYSQL_TYPE_DATE
            | ColumnType::MYSQL_TYPE_NEWDATE
            | ColumnType::MYSQL_TYPE_DATETIME
            | ColumnType::MYSQL_TYPE_DATETIME2
            | ColumnType::MYSQL_TYPE_TIME
            | ColumnType::MYSQL_TYPE_TIME2
            | ColumnType::MYSQL_TYPE_YEAR => Kind::Temporal,
            ColumnType::MYSQL_TYPE_BIT => Kind::Bit,
            // MySQL's JSON type says "binary" but is always utf8mb4.
            ColumnType::MYSQL_TYPE_JSON => Kind::Text(encoding_rs::UTF_8),
            ColumnType::MYSQL_TYPE_GEOMETRY => Kind::Binary,
            _ if flags.contains(ColumnFlags::SET_FLAG) => Kind::Set(text()),
            _ if charset == BINARY && decode.is_none() && !flags.contains(ColumnFlags::ENUM_FLAG) => Kind::Binary,
            _ => Kind::Text(text()),
        }
    }

    /// The text of one value; `Err` with a note code when bytes did not
    /// decode (the text then has U+FFFD in their place).
    pub(crate) fn text(&self, bytes: &[u8]) -> (String, Option<&'static str>) {
        let ascii = || String::from_utf8_lossy(bytes).into_owned();
        match self {
            Kind::Number | Kind::Temporal => (ascii(), None),
            Kind::Boolean => match bytes {
                b"0" => ("false".into(), None),
                b"1" => ("true".into(), None),
                _ => (ascii(), None),
            },
            Kind::Timestamp => {
                let t = ascii();
                // A zero TIMESTAMP has no instant: left for the sentinels.
                if t.starts_with("0000-00-00") { (t, None) } else { (format!("{t}+00:00"), None) }
            }
            Kind::Bit => {
                let n = bytes.iter().fold(0u128, |n, b| (n << 8) | u128::from(*b));
                (n.to_string(), None)
            }
            Kind::Binary => (format!("\\x{}", hex::encode(bytes)), None),
            Kind::Text(encoding) => decode(encoding, bytes),
            Kind::Set(encoding) => {
                let (text, note) = decode(encoding, bytes);
                let members: Vec<&str> = if text.is_empty() { Vec::new() } else { text.split(',').collect() };
                (serde_json::Value::from(members).to_string(), note)
            }
        }
    }
}

fn decode(encoding: &'static Encoding, bytes: &[u8]) -> (String, Option<&'static str>) {
    let (text, had_errors) = encoding.decode_without_bom_handling(bytes);
    (text.into_owned(), had_errors.then_some("invalid_bytes_replaced"))
}

/// The encoding of a MySQL/MariaDB collation id. MySQL's `latin1` is
/// Windows-1252. Unknown ids (newer collations of utf8mb4) read as UTF-8.
pub(crate) fn charset_encoding(collation: u16) -> &'static Encoding {
    use encoding_rs::*;
    match collation {
        1 | 84 => BIG5,
        2 | 9 | 21 | 27 | 77 => ISO_8859_2,
        5 | 8 | 15 | 31 | 47 | 48 | 49 | 94 | 11 | 65 | 3 | 69 => WINDOWS_1252,
        7 | 74 => KOI8_R,
        12 | 91 | 97 | 98 => EUC_JP,
        13 | 88 | 95 | 96 => SHIFT_JIS,
        14 | 23 | 50 | 51 | 52 => WINDOWS_1251,
        16 | 71 => ISO_8859_8,
        18 | 89 => WINDOWS_874,
        19 | 85 => EUC_KR,
        20 | 41 | 42 | 79 => ISO_8859_13,
        22 | 75 => KOI8_U,
        24 | 86 | 28 | 87 => GBK,
        25 | 70 => ISO_8859_7,
        26 | 34 | 44 | 66 | 99 => WINDOWS_1250,
        29 | 58 | 59 => WINDOWS_1257,
        30 | 78 => WINDOWS_1254,
        36 | 68 => IBM866,
        39 | 53 => MACINTOSH,
        57 | 67 => WINDOWS_1256,
        35 | 90 | 128..=151 | 54 | 55 | 101..=124 => UTF_16BE,
        56 | 62 => UTF_16LE,
        248..=250 => GB18030,
        _ => UTF_8,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_become_exact_text() {
        assert_eq!(Kind::Number.text(b"18446744073709551615").0, "18446744073709551615");
        assert_eq!(Kind::Number.text(b"-12345678901234567890.123456789").0, "-12345678901234567890.123456789");
        assert_eq!(Kind::Boolean.text(b"1").0, "true");
        assert_eq!(Kind::Boolean.text(b"7").0, "7");
        assert_eq!(Kind::Temporal.text(b"-838:59:59").0, "-838:59:59");
        assert_eq!(Kind::Timestamp.text(b"2024-03-01 12:00:00.250000").0, "2024-03-01 12:00:00.250000+00:00");
        assert_eq!(Kind::Timestamp.text(b"0000-00-00 00:00:00").0, "0000-00-00 00:00:00");
        assert_eq!(Kind::Bit.text(&[0x01, 0x05]).0, "261");
        assert_eq!(Kind::Binary.text(&[0x00, 0xff]).0, "\\x00ff");
        assert_eq!(Kind::Set(encoding_rs::UTF_8).text(b"red,blue").0, r#"["red","blue"]"#);
        assert_eq!(Kind::Set(encoding_rs::UTF_8).text(b"").0, "[]");
    }

    #[test]
    fn text_is_decoded_by_its_column_charset() {
        let latin1 = Kind::Text(charset_encoding(8));
        assert_eq!(latin1.text(b"M\xfcller \x80").0, "Müller €", "MySQL latin1 is Windows-1252");
        let utf8 = Kind::Text(charset_encoding(45));
        assert_eq!(utf8.text("Müller".as_bytes()), ("Müller".to_string(), None));
        assert_eq!(utf8.text(b"M\xfcller"), ("M\u{fffd}ller".to_string(), Some("invalid_bytes_replaced")));
    }
}
