/// Quotes an identifier for PostgreSQL: always double-quoted, embedded
/// quotes doubled. The one way identifiers reach SQL text.
pub fn quote_ident(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 2);
    out.push('"');
    for c in name.chars() {
        if c == '"' {
            out.push('"');
        }
        if c != '\0' {
            out.push(c);
        }
    }
    out.push('"');
    out
}

/// Quotes a name from a mapping that SQL takes as text (a key inside a
/// JSONB column): single-quoted, embedded quotes doubled, NUL dropped
/// (backslashes are plain: standard_conforming_strings). Values are never
/// quoted: they are bound or COPYed.
pub fn quote_literal(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 2);
    out.push('\'');
    for c in name.chars() {
        if c == '\'' {
            out.push('\'');
        }
        if c != '\0' {
            out.push(c);
        }
    }
    out.push('\'');
    out
}

/// `schema.table`, both parts quoted.
pub fn quote_qualified(schema: &str, name: &str) -> String {
    format!("{}.{}", quote_ident(schema), quote_ident(name))
}

/// Marks SQL text built by this crate as audited: identifiers in it went
/// through `quote_ident`, values are bound or COPYed, never spliced.
pub(crate) fn audited(sql: String) -> sqlx::AssertSqlSafe<String> {
    sqlx::AssertSqlSafe(sql)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_cases() {
        let cases = [
            ("contacts", "\"contacts\""),
            ("Mixed Case", "\"Mixed Case\""),
            ("a\"b", "\"a\"\"b\""),
            ("x\"; DROP TABLE contacts; --", "\"x\"\"; DROP TABLE contacts; --\""),
            ("nul\0byte", "\"nulbyte\""),
            ("", "\"\""),
        ];
        for (input, expected) in cases {
            assert_eq!(quote_ident(input), expected);
        }
        assert_eq!(quote_qualified("migrate", "stage_1"), "\"migrate\".\"stage_1\"");
        assert_eq!(quote_literal("vat_id"), "'vat_id'");
        assert_eq!(quote_literal("o'brien'); DROP TABLE contacts; --"), "'o''brien''); DROP TABLE contacts; --'");
        assert_eq!(quote_literal("back\\slash\0"), "'back\\slash'");
    }
}
