//! Secrets as container platforms mount them: wherever a setting or a
//! mapping's `${NAME}` reads the variable `NAME`, a file named by
//! `NAME_FILE` can hold the value instead (`DB_PASSWORD_FILE=/run/secrets/db`).

use std::path::Path;

/// `NAME` from `get` (the process environment, or a test's), or else the
/// contents of the file `NAME_FILE` names, without its trailing line
/// breaks. `Ok(None)` when neither is set. Setting both, or naming a file
/// that cannot be read as UTF-8 text, is an error that names the variable
/// and the file (never the contents).
pub fn env_or_file(name: &str, get: &dyn Fn(&str) -> Option<String>) -> Result<Option<String>, String> {
    let file_var = format!("{name}_FILE");
    let direct = get(name);
    let Some(path) = get(&file_var).filter(|p| !p.is_empty()) else {
        return Ok(direct);
    };
    if direct.is_some() {
        return Err(format!("{name} and {file_var} are both set: keep one"));
    }
    let text = std::fs::read(Path::new(&path)).map_err(|e| format!("{file_var}={path}: cannot read it: {e}"))?;
    let text = String::from_utf8(text).map_err(|_| format!("{file_var}={path}: the file is not UTF-8 text"))?;
    Ok(Some(text.trim_end_matches(['\n', '\r']).to_string()))
}

/// The process environment, with `NAME_FILE` read for `NAME`. Where a
/// lookup cannot report an error, `on_error` receives it and the name
/// reads as unset.
pub fn process_env_or_file(name: &str, on_error: &mut dyn FnMut(String)) -> Option<String> {
    match env_or_file(name, &|n| std::env::var(n).ok()) {
        Ok(v) => v,
        Err(e) => {
            on_error(e);
            None
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_variable_or_its_file() {
        let dir = tempfile::tempdir().unwrap();
        let secret = dir.path().join("pw");
        std::fs::write(&secret, "s3cr3t value\r\n\n").unwrap();
        let path = secret.display().to_string();
        let vars = |pairs: &'static [(&'static str, &'static str)], file: Option<String>| {
            move |n: &str| {
                if n == "PW_FILE" {
                    return file.clone();
                }
                pairs.iter().find(|(k, _)| *k == n).map(|(_, v)| v.to_string())
            }
        };
        assert_eq!(env_or_file("PW", &vars(&[("PW", "plain")], None)), Ok(Some("plain".to_string())));
        assert_eq!(env_or_file("PW", &vars(&[], Some(path.clone()))), Ok(Some("s3cr3t value".to_string())));
        assert_eq!(env_or_file("PW", &vars(&[], None)), Ok(None));
        // An empty PW_FILE is as if unset.
        assert_eq!(env_or_file("PW", &vars(&[("PW", "x")], Some(String::new()))), Ok(Some("x".to_string())));
        let e = env_or_file("PW", &vars(&[("PW", "plain")], Some(path.clone()))).unwrap_err();
        assert_eq!(e, "PW and PW_FILE are both set: keep one");
        let missing = dir.path().join("none").display().to_string();
        let e = env_or_file("PW", &vars(&[], Some(missing.clone()))).unwrap_err();
        assert!(e.starts_with(&format!("PW_FILE={missing}: cannot read it: ")), "{e}");
        std::fs::write(&secret, [0xff, 0xfe, b's']).unwrap();
        let e = env_or_file("PW", &vars(&[], Some(path.clone()))).unwrap_err();
        assert_eq!(e, format!("PW_FILE={path}: the file is not UTF-8 text"));
    }
}
