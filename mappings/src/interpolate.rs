//! `${VAR}` in mapping strings: secrets and per-tenant values come from the
//! environment, never from the file. `$$` writes a literal `$`.

/// Replaces every `${NAME}`. On failure returns the byte range (within
/// `text`) of the offending reference and what is wrong with it.
pub fn interpolate(
    text: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<String, (std::ops::Range<usize>, String)> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    let mut offset = 0;
    while let Some(pos) = rest.find('$') {
        out.push_str(&rest[..pos]);
        let after = &rest[pos + 1..];
        if let Some(stripped) = after.strip_prefix('$') {
            out.push('$');
            offset += pos + 2;
            rest = stripped;
        } else if let Some(body) = after.strip_prefix('{') {
            let Some(end) = body.find('}') else {
                return Err((offset + pos..offset + text[offset..].len(), "unclosed `${`".to_string()));
            };
            let name = &body[..end];
            let span = offset + pos..offset + pos + end + 3;
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err((span, format!("`{name}` is not an environment variable name")));
            }
            match lookup(name) {
                Some(value) => out.push_str(&value),
                None => return Err((span, format!("environment variable {name} is not set"))),
            }
            offset += pos + end + 3;
            rest = &body[end + 1..];
        } else {
            out.push('$');
            offset += pos + 1;
            rest = after;
        }
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "ORG" => Some("0d3c".to_string()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    #[test]
    fn interpolation_cases() {
        let ok = [
            ("plain", "plain"),
            ("${ORG}", "0d3c"),
            ("a-${ORG}-b", "a-0d3c-b"),
            ("${ORG}${ORG}", "0d3c0d3c"),
            ("x${EMPTY}y", "xy"),
            ("$$HOME", "$HOME"),
            ("$row_hash", "$row_hash"),
            ("cost $5", "cost $5"),
        ];
        for (input, expected) in ok {
            assert_eq!(interpolate(input, &env).as_deref(), Ok(expected), "{input}");
        }
    }

    #[test]
    fn failures_point_at_the_reference() {
        let (span, msg) = interpolate("url=${MISSING}/x", &env).unwrap_err();
        assert_eq!(span, 4..14);
        assert_eq!(msg, "environment variable MISSING is not set");
        let (span, _) = interpolate("${ORG}${bad name}", &env).unwrap_err();
        assert_eq!(span, 6..17);
        assert!(interpolate("${ORG", &env).unwrap_err().1.contains("unclosed"));
    }
}
