use crate::location::SourceLocation;

/// Why a row was rejected. The string codes are part of the report contract
/// (`_reason` in `rejects/ENTITY.csv`): add codes, never rename one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RejectReason {
    /// A column of the entity's source key is empty.
    MissingKey,
    /// The mapping marks the column `required` and the value is empty.
    RequiredMissing,
    /// The target column is NOT NULL and nothing fills it.
    NotNull,
    /// The value has more characters than the target column holds.
    TooLong,
    /// The value is not one the target column allows (an enumeration).
    InvalidValue,
    /// The source could not split the record into the header's columns.
    MalformedRow,
    /// Bytes that are not valid in the source's encoding.
    InvalidEncoding,
    /// A field longer than the source's `max_field_bytes`.
    FieldTooLarge,
    /// A transform could not convert the value.
    TransformFailed,
    /// A date matches none of the column's formats.
    InvalidDate,
    /// A date outside the column's window (or year 1–9999).
    DateOutOfRange,
    /// An amount that does not read exactly in the column's locale.
    InvalidAmount,
    /// An amount whose currency is unknown or ambiguous.
    UnknownCurrency,
    InvalidEmail,
    InvalidPhone,
    InvalidBoolean,
    /// A value the mapping's value map does not list (and no default).
    UnmappedValue,
    /// No exchange rate for the amount's currency on or before its date.
    NoRate,
    /// PostgreSQL refused the value's type (found by bisecting a batch).
    InvalidType,
    /// PostgreSQL refused the row for a constraint (found by bisecting a batch).
    ConstraintViolation,
    /// A link names a key that no run of this source system loaded.
    OrphanReference,
}

impl RejectReason {
    /// Every reason, in the order the README lists them.
    pub const ALL: [RejectReason; 21] = [
        RejectReason::MissingKey,
        RejectReason::RequiredMissing,
        RejectReason::NotNull,
        RejectReason::TooLong,
        RejectReason::InvalidValue,
        RejectReason::MalformedRow,
        RejectReason::InvalidEncoding,
        RejectReason::FieldTooLarge,
        RejectReason::TransformFailed,
        RejectReason::InvalidDate,
        RejectReason::DateOutOfRange,
        RejectReason::InvalidAmount,
        RejectReason::UnknownCurrency,
        RejectReason::InvalidEmail,
        RejectReason::InvalidPhone,
        RejectReason::InvalidBoolean,
        RejectReason::UnmappedValue,
        RejectReason::NoRate,
        RejectReason::InvalidType,
        RejectReason::ConstraintViolation,
        RejectReason::OrphanReference,
    ];

    /// A value that is present but wrong for its column (`on_invalid`
    /// applies), as opposed to one that is missing.
    pub fn is_invalid_value(self) -> bool {
        !matches!(
            self,
            RejectReason::MissingKey
                | RejectReason::RequiredMissing
                | RejectReason::NotNull
                | RejectReason::MalformedRow
                | RejectReason::InvalidEncoding
                | RejectReason::FieldTooLarge
                | RejectReason::InvalidType
                | RejectReason::ConstraintViolation
                | RejectReason::OrphanReference
        )
    }

    pub fn code(self) -> &'static str {
        match self {
            RejectReason::MissingKey => "missing_key",
            RejectReason::RequiredMissing => "required_missing",
            RejectReason::NotNull => "not_null",
            RejectReason::TooLong => "too_long",
            RejectReason::InvalidValue => "invalid_value",
            RejectReason::MalformedRow => "malformed_row",
            RejectReason::InvalidEncoding => "invalid_encoding",
            RejectReason::FieldTooLarge => "field_too_large",
            RejectReason::TransformFailed => "transform_failed",
            RejectReason::InvalidDate => "invalid_date",
            RejectReason::DateOutOfRange => "date_out_of_range",
            RejectReason::InvalidAmount => "invalid_amount",
            RejectReason::UnknownCurrency => "unknown_currency",
            RejectReason::InvalidEmail => "invalid_email",
            RejectReason::InvalidPhone => "invalid_phone",
            RejectReason::InvalidBoolean => "invalid_boolean",
            RejectReason::UnmappedValue => "unmapped_value",
            RejectReason::NoRate => "no_rate",
            RejectReason::InvalidType => "invalid_type",
            RejectReason::ConstraintViolation => "constraint_violation",
            RejectReason::OrphanReference => "orphan_reference",
        }
    }
}

/// One source row that will not be loaded, with enough context for the
/// customer to fix it and feed it back through the same mapping.
#[derive(Debug, Clone, PartialEq)]
pub struct RejectedRow {
    pub entity: String,
    pub location: SourceLocation,
    /// The source column at fault (or the target column when no source column
    /// is involved); `None` when the row as a whole is at fault.
    pub column: Option<String>,
    pub value: Option<String>,
    pub reason: RejectReason,
    pub message: String,
    /// Every field of the source row, in source column order.
    pub source_fields: Vec<Option<String>>,
}

#[cfg(test)]
mod tests {
    use super::RejectReason;

    #[test]
    fn every_reason_is_listed_once_with_its_own_code() {
        let mut codes: Vec<&str> = RejectReason::ALL.iter().map(|r| r.code()).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), RejectReason::ALL.len());
    }
}
