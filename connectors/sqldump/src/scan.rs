//! A byte scanner over a dump's text (UTF-8 by then): statements, quoted
//! names, literals. Every syntax character is ASCII, so bytes do; string
//! contents are collected as bytes and decoded once.

use std::io::BufRead;

/// Why the text cannot be read on.
#[derive(Debug)]
pub struct ScanError {
    pub line: u64,
    pub message: String,
}

/// One value of a VALUES tuple: its text, or NULL.
pub type Value = Option<String>;

/// What the next statement is, as far as the source cares.
pub enum Statement {
    /// `INSERT [INTO] name [(columns)] VALUES`: the tuples follow.
    Insert {
        table: Vec<String>,
        columns: Vec<String>,
    },
    /// `CREATE TABLE name (…)`: its column names.
    Create {
        table: Vec<String>,
        columns: Vec<String>,
    },
    /// Anything else, skipped.
    Other,
    End,
}

pub struct Scanner<R> {
    input: R,
    pub line: u64,
    /// Backslash escapes in strings (MySQL).
    pub backslashes: bool,
    /// A backtick-quoted name was seen (a MySQL dump).
    pub saw_backtick: bool,
    max_field: usize,
}

impl<R: BufRead> Scanner<R> {
    pub fn new(input: R, max_field: usize) -> Self {
        Self { input, line: 1, backslashes: false, saw_backtick: false, max_field }
    }

    fn error<T>(&self, message: impl Into<String>) -> Result<T, ScanError> {
        Err(ScanError { line: self.line, message: message.into() })
    }

    fn peek(&mut self) -> Result<Option<u8>, ScanError> {
        match self.input.fill_buf() {
            Ok(buf) => Ok(buf.first().copied()),
            Err(e) => self.error(format!("cannot read: {e}")),
        }
    }

    fn bump(&mut self) -> Result<Option<u8>, ScanError> {
        let b = self.peek()?;
        if let Some(b) = b {
            self.input.consume(1);
            if b == b'\n' {
                self.line += 1;
            }
        }
        Ok(b)
    }

    /// Skips whitespace and comments (`-- …`, `# …`, `/* … */`).
    fn skip_space(&mut self) -> Result<(), ScanError> {
        loop {
            match self.peek()? {
                Some(b) if b.is_ascii_whitespace() => {
                    self.bump()?;
                }
                Some(b'-') => {
                    let buf =
                        self.input.fill_buf().map_err(|e| ScanError { line: self.line, message: e.to_string() })?;
                    if buf.get(1) == Some(&b'-') {
                        self.skip_line()?;
                    } else {
                        return Ok(());
                    }
                }
                Some(b'#') => self.skip_line()?,
                Some(b'/') => {
                    let buf =
                        self.input.fill_buf().map_err(|e| ScanError { line: self.line, message: e.to_string() })?;
                    if buf.get(1) != Some(&b'*') {
                        return Ok(());
                    }
                    self.bump()?;
                    self.bump()?;
                    let mut last = 0u8;
                    loop {
                        match self.bump()? {
                            None => return self.error("a /* comment is not closed"),
                            Some(b'/') if last == b'*' => break,
                            Some(b) => last = b,
                        }
                    }
                }
                _ => return Ok(()),
            }
        }
    }

    fn skip_line(&mut self) -> Result<(), ScanError> {
        while let Some(b) = self.bump()? {
            if b == b'\n' {
                break;
            }
        }
        Ok(())
    }

    /// A bare word (letters, digits, `_`, `$`, `@`, `#`), uppercased.
    fn word(&mut self) -> Result<String, ScanError> {
        let mut out = String::new();
        while let Some(b) = self.peek()? {
            if b.is_ascii_alphanumeric() || matches!(b, b'_' | b'$' | b'@' | b'#') {
                out.push(b.to_ascii_uppercase() as char);
                self.bump()?;
            } else {
                break;
            }
        }
        Ok(out)
    }

    /// A name: `name`, `[name]`, `` `name` `` or `"name"`, as written.
    fn name_part(&mut self) -> Result<String, ScanError> {
        self.skip_space()?;
        let close = match self.peek()? {
            Some(b'[') => b']',
            Some(b'`') => {
                self.saw_backtick = true;
                b'`'
            }
            Some(b'"') => b'"',
            _ => {
                let mut out = Vec::new();
                while let Some(b) = self.peek()? {
                    if b.is_ascii_alphanumeric() || matches!(b, b'_' | b'$' | b'@' | b'#') || b >= 0x80 {
                        out.push(b);
                        self.bump()?;
                    } else {
                        break;
                    }
                }
                if out.is_empty() {
                    return self.error("expected a name");
                }
                return Ok(String::from_utf8_lossy(&out).into_owned());
            }
        };
        self.bump()?;
        let mut out = Vec::new();
        loop {
            match self.bump()? {
                None => return self.error("a quoted name is not closed"),
                Some(b) if b == close => {
                    // A doubled closing quote is part of the name.
                    if self.peek()? == Some(close) {
                        self.bump()?;
                        out.push(close);
                    } else {
                        break;
                    }
                }
                Some(b) => out.push(b),
            }
        }
        Ok(String::from_utf8_lossy(&out).into_owned())
    }

    /// `a.b.c`: the parts.
    fn qualified_name(&mut self) -> Result<Vec<String>, ScanError> {
        let mut parts = vec![self.name_part()?];
        loop {
            self.skip_space()?;
            if self.peek()? == Some(b'.') {
                self.bump()?;
                parts.push(self.name_part()?);
            } else {
                return Ok(parts);
            }
        }
    }

    /// `(a, b, c)`: the names.
    fn name_list(&mut self) -> Result<Vec<String>, ScanError> {
        self.expect(b'(')?;
        let mut out = Vec::new();
        loop {
            out.push(self.name_part()?);
            self.skip_space()?;
            match self.bump()? {
                Some(b',') => {}
                Some(b')') => return Ok(out),
                _ => return self.error("expected , or ) in a column list"),
            }
        }
    }

    fn expect(&mut self, want: u8) -> Result<(), ScanError> {
        self.skip_space()?;
        match self.bump()? {
            Some(b) if b == want => Ok(()),
            Some(b) => self.error(format!("expected {:?}, found {:?}", want as char, b as char)),
            None => self.error(format!("expected {:?}, the file ends", want as char)),
        }
    }

    /// The next statement's kind; INSERT and CREATE TABLE are read up to
    /// their data. Others are skipped to `;`, a `GO` line or a line that
    /// starts an INSERT.
    pub fn statement(&mut self) -> Result<Statement, ScanError> {
        self.skip_space()?;
        let Some(first) = self.peek()? else { return Ok(Statement::End) };
        if first == b';' {
            self.bump()?;
            return Ok(Statement::Other);
        }
        let word = self.word()?;
        match word.as_str() {
            "INSERT" | "REPLACE" => {
                self.skip_space()?;
                let mut next = self.peek_word()?;
                while matches!(next.as_str(), "INTO" | "IGNORE" | "LOW_PRIORITY" | "DELAYED" | "HIGH_PRIORITY") {
                    self.word()?;
                    self.skip_space()?;
                    next = self.peek_word()?;
                }
                let table = self.qualified_name()?;
                self.skip_space()?;
                let columns = if self.peek()? == Some(b'(') { self.name_list()? } else { Vec::new() };
                self.skip_space()?;
                let values = self.word()?;
                if values != "VALUES" && values != "VALUE" {
                    // INSERT … SELECT and the like carry no literal rows.
                    self.skip_statement()?;
                    return Ok(Statement::Other);
                }
                Ok(Statement::Insert { table, columns })
            }
            "CREATE" => {
                self.skip_space()?;
                if self.peek_word()? != "TABLE" {
                    self.skip_statement()?;
                    return Ok(Statement::Other);
                }
                self.word()?;
                self.skip_space()?;
                if self.peek_word()? == "IF" {
                    // IF NOT EXISTS
                    for _ in 0..3 {
                        self.word()?;
                        self.skip_space()?;
                    }
                }
                let table = self.qualified_name()?;
                let columns = self.create_columns()?;
                self.skip_statement()?;
                Ok(Statement::Create { table, columns })
            }
            "" => {
                // Not a word: skip the character and what follows.
                self.bump()?;
                self.skip_statement()?;
                Ok(Statement::Other)
            }
            _ => {
                self.skip_statement()?;
                Ok(Statement::Other)
            }
        }
    }

    fn peek_word(&mut self) -> Result<String, ScanError> {
        let buf = self.input.fill_buf().map_err(|e| ScanError { line: self.line, message: e.to_string() })?;
        Ok(buf
            .iter()
            .take_while(|b| b.is_ascii_alphanumeric() || **b == b'_')
            .map(|b| b.to_ascii_uppercase() as char)
            .collect())
    }

    /// The column names of `CREATE TABLE name (…)`: each element that
    /// starts with a name and is not a key or constraint.
    fn create_columns(&mut self) -> Result<Vec<String>, ScanError> {
        self.expect(b'(')?;
        let mut out = Vec::new();
        loop {
            self.skip_space()?;
            let keyword = self.peek_word()?;
            let is_constraint = matches!(
                keyword.as_str(),
                "PRIMARY" | "KEY" | "UNIQUE" | "INDEX" | "CONSTRAINT" | "FOREIGN" | "CHECK" | "FULLTEXT" | "SPATIAL"
            );
            if !is_constraint {
                out.push(self.name_part()?);
            }
            // To the element's end: a comma or the closing parenthesis at
            // depth 0, past strings.
            let mut depth = 0usize;
            loop {
                match self.peek()? {
                    None => return self.error("CREATE TABLE is not closed"),
                    Some(b'\'') => {
                        self.string(false)?;
                    }
                    Some(b'(') => {
                        depth += 1;
                        self.bump()?;
                    }
                    Some(b')') if depth == 0 => {
                        self.bump()?;
                        return Ok(out);
                    }
                    Some(b')') => {
                        depth -= 1;
                        self.bump()?;
                    }
                    Some(b',') if depth == 0 => {
                        self.bump()?;
                        break;
                    }
                    Some(_) => {
                        self.bump()?;
                    }
                }
            }
        }
    }

    /// To the statement's end: `;`, a line that is `GO`, or the start of a
    /// line that begins an INSERT (scripts without semicolons).
    pub fn skip_statement(&mut self) -> Result<(), ScanError> {
        let mut at_line_start = false;
        loop {
            if at_line_start {
                let word = self.peek_word()?;
                if word == "INSERT" {
                    return Ok(());
                }
                if word == "GO" {
                    self.skip_line()?;
                    return Ok(());
                }
            }
            match self.peek()? {
                None => return Ok(()),
                Some(b';') => {
                    self.bump()?;
                    return Ok(());
                }
                Some(b'\'') => {
                    self.string(false)?;
                    at_line_start = false;
                }
                Some(b'\n') => {
                    self.bump()?;
                    at_line_start = true;
                }
                Some(b' ' | b'\t' | b'\r') if at_line_start => {
                    self.bump()?;
                }
                Some(_) => {
                    self.bump()?;
                    at_line_start = false;
                }
            }
        }
    }

    /// A quoted string, the opening quote next. `''` is a quote; with
    /// backslashes, `\n`, `\t`, `\0`, `\\`, `\'` … too. Its bytes when
    /// `keep` (none past the field limit: the flag says it was longer).
    fn string(&mut self, keep: bool) -> Result<(Vec<u8>, bool), ScanError> {
        self.bump()?;
        let mut out = Vec::new();
        let mut too_long = false;
        loop {
            let Some(b) = self.bump()? else { return self.error("a string is not closed before the file ends") };
            let c = match b {
                b'\'' => {
                    if self.peek()? == Some(b'\'') {
                        self.bump()?;
                        b'\''
                    } else {
                        break;
                    }
                }
                b'\\' if self.backslashes => match self.bump()? {
                    Some(b'n') => b'\n',
                    Some(b't') => b'\t',
                    Some(b'r') => b'\r',
                    Some(b'0') => 0,
                    Some(b'b') => 8,
                    Some(b'Z') => 26,
                    Some(other) => other,
                    None => return self.error("a string is not closed before the file ends"),
                },
                other => other,
            };
            if keep && !too_long {
                if out.len() >= self.max_field {
                    too_long = true;
                    out.clear();
                } else {
                    out.push(c);
                }
            }
        }
        Ok((out, too_long))
    }

    /// The next tuple of an INSERT, `None` after its last. A value longer
    /// than the field limit makes the row `Err(message)` (rejected), the
    /// scan goes on.
    #[allow(clippy::type_complexity)]
    pub fn tuple(&mut self, first: bool) -> Result<Option<(u64, Result<Vec<Value>, String>)>, ScanError> {
        self.skip_space()?;
        if !first {
            match self.peek()? {
                Some(b',') => {
                    self.bump()?;
                    self.skip_space()?;
                }
                Some(b';') => {
                    self.bump()?;
                    return Ok(None);
                }
                _ => return Ok(None),
            }
        }
        let line = self.line;
        self.expect(b'(')?;
        let mut values = Vec::new();
        let mut problem = None;
        loop {
            self.skip_space()?;
            if self.peek()? == Some(b')') && values.is_empty() {
                self.bump()?;
                break;
            }
            let (value, too_long) = self.value()?;
            if too_long {
                problem =
                    Some(format!("value {} is longer than max_field_bytes = {}", values.len() + 1, self.max_field));
            }
            values.push(value);
            self.skip_space()?;
            match self.bump()? {
                Some(b',') => {}
                Some(b')') => break,
                Some(b) => return self.error(format!("expected , or ) between values, found {:?}", b as char)),
                None => return self.error("a VALUES tuple is not closed before the file ends"),
            }
        }
        Ok(Some((line, problem.map_or(Ok(values), Err))))
    }

    /// One literal: a string (`'…'`, `N'…'`, `_utf8mb4'…'`), a number, a
    /// hex literal (`0x…`, `X'…'`), NULL, DEFAULT, a word, or
    /// `CAST(literal AS type)`, which is its literal.
    fn value(&mut self) -> Result<(Value, bool), ScanError> {
        self.skip_space()?;
        match self.peek()? {
            Some(b'\'') => {
                let (bytes, long) = self.string(true)?;
                Ok((Some(String::from_utf8_lossy(&bytes).into_owned()), long))
            }
            Some(b'-' | b'+' | b'.' | b'0'..=b'9') => {
                let mut out = String::new();
                while let Some(b) = self.peek()? {
                    if b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'+') {
                        out.push(b as char);
                        self.bump()?;
                    } else {
                        break;
                    }
                }
                Ok((Some(out), false))
            }
            Some(b) if b.is_ascii_alphabetic() || b == b'_' => {
                let word = self.word()?;
                // A charset introducer may stand apart: `_binary 'raw'`.
                if word.starts_with('_') {
                    self.skip_space()?;
                }
                if self.peek()? == Some(b'\'') {
                    // N'…', _utf8mb4'…', X'…' (hex), B'…' (bits).
                    let (bytes, long) = self.string(true)?;
                    let text = String::from_utf8_lossy(&bytes).into_owned();
                    return Ok((
                        Some(match word.as_str() {
                            "X" => format!("0x{}", text.to_ascii_uppercase()),
                            "B" => format!("b{text}"),
                            _ => text,
                        }),
                        long,
                    ));
                }
                match word.as_str() {
                    "NULL" | "DEFAULT" => Ok((None, false)),
                    "CAST" => {
                        self.expect(b'(')?;
                        let inner = self.value()?;
                        self.skip_space()?;
                        if self.word()? != "AS" {
                            return self.error("expected AS in CAST(… AS type)");
                        }
                        let mut depth = 0usize;
                        loop {
                            match self.bump()? {
                                Some(b'(') => depth += 1,
                                Some(b')') if depth == 0 => break,
                                Some(b')') => depth -= 1,
                                Some(_) => {}
                                None => return self.error("CAST( is not closed"),
                            }
                        }
                        Ok(inner)
                    }
                    _ => Ok((Some(word), false)),
                }
            }
            Some(b) => self.error(format!("expected a value, found {:?}", b as char)),
            None => self.error("a VALUES tuple is not closed before the file ends"),
        }
    }
}
