//! Dedupe decided while staging: each staged row's `dedupe.on` values are
//! folded here exactly as `migrate.fold` folds them, and the fold's 64-bit
//! hash is kept with the row's sequence number. At publish, the rows whose
//! hashes repeat give the pairs (dropped row, survivor), and PostgreSQL
//! checks each pair with `migrate.fold` itself before it is trusted: a
//! hash collision, or a fold this module got wrong, sends the entity back
//! to the window over every staged row (3.7-4.9 s a million rows on the
//! benchmark machine, against the pairs' 50,000 rows here).
//!
//! The fold is `lower(collapse(btrim(unaccent(v))))`. ASCII is folded here
//! after one probe of the database (every ASCII character between two
//! letters, so a locale whose `lower` differs is found); every other
//! character is asked of the database once a run, between two letters and
//! at an end, so `unaccent`'s rules and `lower` are the database's own.
//! That is exact when `unaccent` maps single characters (its rules file
//! does) and `lower` maps characters one by one (the libc provider; a
//! database on ICU, whose `lower` reads context, is left to the window).
//!
//! Taken only where the window's result is known to be the same: the
//! whole run staged by this process, `keep = "first"` or `"last"` without
//! `order_by` or `merge`, every `on` column a plain text column, and at
//! most [`StagedDedupe::LIMIT`] rows (16 bytes a row: 32 MiB, 48 MiB while
//! the list last grows). Anything else, or a probe that disagrees, leaves
//! dedupe to the window, so this costs time, never a row.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};

use migrate_engine::{Dedupe, Keep, MappedBatch};
use sqlx::PgConnection;

use crate::error::{Context, PgError};
use crate::publish::TargetColumn;

/// What one character becomes in the fold.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Folded {
    /// Text (possibly none: `unaccent` drops combining marks), lowercased.
    Text(String),
    /// An ASCII space: `btrim` removes it at either end.
    Blank,
    /// Other white space: collapsed, never trimmed.
    Space,
}

/// A character, and the database's fold of it between two letters,
/// before one and after one.
type CharFolds = (String, Option<String>, Option<String>, Option<String>);

#[derive(Debug)]
pub(crate) struct StagedDedupe {
    columns: Vec<String>,
    keep: Keep,
    /// (hash of the folded values, sequence number) of each staged row
    /// whose values are all present; `None` once the window must decide.
    rows: Option<Vec<(u64, u64)>>,
    /// Non-ASCII characters as the database folds them.
    chars: HashMap<char, Folded>,
    /// Whether ASCII was probed and folds here as it does there.
    probed: bool,
}

impl StagedDedupe {
    /// The rows an entity's folds are held for.
    pub(crate) const LIMIT: usize = 2 << 20;

    /// `whole`: this process stages every row of the run. `None` when the
    /// rule is one only the window decides.
    pub(crate) fn new(whole: bool, rule: Option<&Dedupe>, columns: &[TargetColumn]) -> Option<Self> {
        let rule = rule?;
        let plain = |name: &String| columns.iter().any(|c| &c.name == name && c.is_text && c.link.is_none());
        let decidable = whole
            && rule.order_by.is_none()
            && !rule.fill_missing
            && matches!(rule.keep, Keep::First | Keep::Last)
            && !rule.on.is_empty()
            && rule.on.iter().all(plain);
        decidable.then(|| Self {
            columns: rule.on.clone(),
            keep: rule.keep,
            rows: Some(Vec::new()),
            chars: HashMap::new(),
            probed: false,
        })
    }

    /// Folds the staged rows of `batch` (`staged`: row indexes, in order).
    pub(crate) async fn add(
        &mut self,
        conn: &mut PgConnection,
        batch: &MappedBatch,
        staged: &[usize],
    ) -> Result<(), PgError> {
        if self.rows.is_none() {
            return Ok(());
        }
        if !self.probed {
            self.probed = true;
            if !ascii_folds_here(conn).await? {
                tracing::info!("dedupe left to SQL: the database folds ASCII differently");
                self.rows = None;
                return Ok(());
            }
        }
        let values: Vec<Vec<Option<&str>>> = self
            .columns
            .iter()
            .map(|c| match batch.frame.column(c).ok().and_then(|c| c.str().ok()) {
                Some(s) => s.iter().collect(),
                None => Vec::new(),
            })
            .collect();
        let mut unknown: Vec<char> = values
            .iter()
            .flatten()
            .flatten()
            .filter(|v| !v.is_ascii())
            .flat_map(|v| v.chars())
            .filter(|c| !c.is_ascii() && !self.chars.contains_key(c))
            .collect();
        unknown.sort_unstable();
        unknown.dedup();
        if !unknown.is_empty() && !self.learn(conn, &unknown).await? {
            self.rows = None;
            return Ok(());
        }
        let Some(rows) = self.rows.as_mut() else { return Ok(()) };
        let mut buffer = String::new();
        for &row in staged {
            let (Some(seq), Some(hash)) = (batch.seqs.get(row), fold_row(&values, row, &self.chars, &mut buffer))
            else {
                continue;
            };
            if rows.len() == Self::LIMIT {
                tracing::info!("dedupe left to SQL: over {} rows", Self::LIMIT);
                self.rows = None;
                return Ok(());
            }
            rows.push((hash, *seq));
        }
        Ok(())
    }

    /// Asks the database how it folds `chars`; false when one of them is
    /// not a character this module can fold alone.
    async fn learn(&mut self, conn: &mut PgConnection, chars: &[char]) -> Result<bool, PgError> {
        if !lower_is_per_character(conn).await? {
            tracing::info!("dedupe left to SQL: the database's lower() reads context (ICU)");
            return Ok(false);
        }
        let texts: Vec<String> = chars.iter().map(char::to_string).collect();
        let rows: Vec<CharFolds> = sqlx::query_as(
            "SELECT c, migrate.fold('x' || c || 'x'), migrate.fold(c || 'x'), migrate.fold('x' || c)
               FROM unnest($1::text[]) c",
        )
        .bind(&texts)
        .fetch_all(&mut *conn)
        .await
        .context("asking how dedupe folds the staged characters")?;
        for (c, inner, leading, trailing) in rows {
            let Some(c) = c.chars().next() else { continue };
            match classify(inner.as_deref(), leading.as_deref(), trailing.as_deref()) {
                Some(folded) => self.chars.insert(c, folded),
                None => {
                    tracing::info!("dedupe left to SQL: {c:?} folds to {inner:?}, not one thing");
                    return Ok(false);
                }
            };
        }
        Ok(chars.iter().all(|c| self.chars.contains_key(c)))
    }

    /// The pairs (dropped row, survivor) by sequence number, ordered by
    /// the dropped row; `None` when the window must decide. Frees the rows.
    pub(crate) fn pairs(&mut self) -> Option<Vec<(u64, u64)>> {
        let mut rows = self.rows.take()?;
        rows.sort_unstable();
        let mut pairs = Vec::new();
        for group in rows.chunk_by(|a, b| a.0 == b.0).filter(|g| g.len() > 1) {
            let survivor = match self.keep {
                Keep::Last => group.last(),
                _ => group.first(),
            };
            let Some(&(_, survivor)) = survivor else { continue };
            pairs.extend(group.iter().filter(|(_, seq)| *seq != survivor).map(|(_, seq)| (*seq, survivor)));
        }
        pairs.sort_unstable();
        Some(pairs)
    }
}

/// One row's values folded and hashed; `None` when one is empty (such rows
/// are never duplicates). `buffer` is reused from row to row.
fn fold_row(
    values: &[Vec<Option<&str>>],
    row: usize,
    chars: &HashMap<char, Folded>,
    buffer: &mut String,
) -> Option<u64> {
    let mut hasher = DefaultHasher::new();
    for column in values {
        fold_into(column.get(row).copied().flatten()?, chars, buffer)?;
        buffer.as_str().hash(&mut hasher);
    }
    Some(hasher.finish())
}

/// `migrate.fold(value)`, given how the database folds the value's
/// non-ASCII characters: `None` for a value that folds to nothing (or a
/// character not learnt).
#[cfg(test)]
fn fold(value: &str, chars: &HashMap<char, Folded>) -> Option<String> {
    let mut out = String::new();
    fold_into(value, chars, &mut out)?;
    Some(out)
}

/// [`fold`] into `out`, one pass, allocating nothing per character: ends
/// are trimmed of blanks only (`btrim`), every run of white space inside
/// becomes one space, and a run at the end that holds other white space
/// than blanks stays as one space, as `btrim` left it.
fn fold_into(value: &str, chars: &HashMap<char, Folded>, out: &mut String) -> Option<()> {
    out.clear();
    // A run of white space not yet written: (seen, holds other than blanks).
    let mut run = (false, false);
    for c in value.chars() {
        let text = match c {
            ' ' => None,
            '\t' | '\n' | '\u{b}' | '\u{c}' | '\r' => {
                run = (true, true);
                continue;
            }
            c if c.is_ascii() => {
                if run.0 {
                    out.push(' ');
                    run = (false, false);
                }
                out.push(c.to_ascii_lowercase());
                continue;
            }
            c => match chars.get(&c)? {
                Folded::Text(text) if text.is_empty() => continue,
                Folded::Text(text) => Some(text.as_str()),
                Folded::Blank => None,
                Folded::Space => {
                    run = (true, true);
                    continue;
                }
            },
        };
        match text {
            // A blank before any text is trimmed.
            None => run.0 |= !out.is_empty() || run.1,
            Some(text) => {
                if run.0 {
                    out.push(' ');
                    run = (false, false);
                }
                out.push_str(text);
            }
        }
    }
    if run.1 {
        out.push(' ');
    }
    (!out.is_empty()).then_some(())
}

/// How a character folds, from the database's fold of it between two
/// letters, before one and after one; `None` when it is not one thing.
fn classify(inner: Option<&str>, leading: Option<&str>, trailing: Option<&str>) -> Option<Folded> {
    let piece = inner?.strip_prefix('x')?.strip_suffix('x')?;
    // The fold has turned whatever its `\s` matches into ' ': any other
    // character (a no-break space, for one) is text to it.
    if !piece.contains(' ') {
        return Some(Folded::Text(piece.to_string()));
    }
    match (piece, leading?, trailing?) {
        (" ", "x", "x") => Some(Folded::Blank),
        (" ", " x", "x ") => Some(Folded::Space),
        _ => None,
    }
}

/// Every ASCII character between two letters folds in the database as it
/// does here (a locale whose `lower` maps `I` elsewhere does not).
async fn ascii_folds_here(conn: &mut PgConnection) -> Result<bool, PgError> {
    let theirs: Vec<Option<String>> =
        sqlx::query_scalar("SELECT migrate.fold('x' || chr(i) || 'x') FROM generate_series(1, 127) i ORDER BY i")
            .fetch_all(&mut *conn)
            .await
            .context("probing how dedupe folds ASCII")?;
    let none = HashMap::new();
    let mut ours = String::new();
    Ok((1u8..=127).zip(&theirs).all(|(b, theirs)| {
        let folded = fold_into(&format!("x{}x", char::from(b)), &none, &mut ours).map(|()| ours.as_str());
        folded == theirs.as_deref()
    }))
}

/// True when the database's default collation lowercases one character at
/// a time (libc). PostgreSQL before 15 has no other provider.
async fn lower_is_per_character(conn: &mut PgConnection) -> Result<bool, PgError> {
    let provider: Result<Option<String>, _> =
        sqlx::query_scalar("SELECT datlocprovider::text FROM pg_database WHERE datname = current_database()")
            .fetch_optional(&mut *conn)
            .await;
    Ok(match provider {
        Ok(provider) => provider.as_deref() == Some("c"),
        Err(sqlx::Error::Database(_)) => true,
        Err(e) => return Err(e).context("reading the database's collation provider"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accents() -> HashMap<char, Folded> {
        HashMap::from([
            ('É', Folded::Text("e".into())),
            ('é', Folded::Text("e".into())),
            ('ß', Folded::Text("ss".into())),
            ('\u{301}', Folded::Text(String::new())),
            ('\u{a0}', Folded::Text("\u{a0}".into())),
            ('\u{2003}', Folded::Space),
            ('\u{2002}', Folded::Blank),
        ])
    }

    #[test]
    fn folds_as_migrate_fold_does() {
        let chars = accents();
        let cases: &[(&str, Option<&str>)] = &[
            ("José@Example.COM", Some("jose@example.com")),
            ("", None),
            ("   ", None),
            ("\t", Some(" ")),
            ("\ta  b\n\nc ", Some(" a b c")),
            ("  A\u{301} ", Some("a")),
            (" \u{301} ", None),
            ("Straße", Some("strasse")),
            ("\u{a0}x\u{a0}", Some("\u{a0}x\u{a0}")),
            ("\u{2002}x\u{2002}", Some("x")),
            ("\u{2003}x", Some(" x")),
            ("É \u{2003} é", Some("e e")),
            ("Müller", None), // 'ü' not learnt: never folded by guess
        ];
        for (input, expected) in cases {
            assert_eq!(fold(input, &chars).as_deref(), *expected, "fold({input:?})");
        }
    }

    /// `migrate.fold`'s definition, step by step: each character as the
    /// database maps it, `btrim`, runs of white space to one space, lower.
    fn by_definition(value: &str, chars: &HashMap<char, Folded>) -> Option<String> {
        let mut mapped = String::new();
        for c in value.chars() {
            match chars.get(&c) {
                Some(Folded::Text(text)) => mapped.push_str(text),
                Some(Folded::Blank) => mapped.push(' '),
                Some(Folded::Space) => mapped.push('\t'),
                None => mapped.push(c),
            }
        }
        let mut out = String::new();
        for (i, piece) in mapped.trim_matches(' ').split(['\t', '\n', '\u{b}', '\u{c}', '\r', ' ']).enumerate() {
            if i > 0 && !out.ends_with(' ') {
                out.push(' ');
            }
            out.push_str(&piece.to_ascii_lowercase());
        }
        (!out.is_empty()).then_some(out)
    }

    #[test]
    fn folds_every_short_string_as_the_definition_does() {
        let chars = accents();
        let alphabet = [' ', '\t', '\n', 'A', 'b', 'é', 'ß', '\u{301}', '\u{a0}', '\u{2002}', '\u{2003}'];
        let mut strings = vec![String::new()];
        for _ in 0..5 {
            let longer: Vec<String> =
                strings.iter().flat_map(|s| alphabet.iter().map(move |c| format!("{s}{c}"))).collect();
            for s in &longer {
                assert_eq!(fold(s, &chars), by_definition(s, &chars), "fold({s:?})");
            }
            strings = longer;
        }
    }

    #[test]
    fn classifies_what_the_database_answers() {
        assert_eq!(classify(Some("xex"), Some("ex"), Some("xe")), Some(Folded::Text("e".into())));
        assert_eq!(classify(Some("xx"), Some("x"), Some("x")), Some(Folded::Text(String::new())));
        assert_eq!(classify(Some("x x"), Some("x"), Some("x")), Some(Folded::Blank));
        assert_eq!(classify(Some("x x"), Some(" x"), Some("x ")), Some(Folded::Space));
        assert_eq!(classify(Some("xa bx"), Some("a bx"), Some("xa b")), None, "text with a space inside");
        assert_eq!(classify(Some("x\u{a0}x"), Some("\u{a0}x"), Some("x\u{a0}")), Some(Folded::Text("\u{a0}".into())));
        assert_eq!(classify(Some("x x"), Some(" x"), Some("x")), None, "trimmed at one end only");
        assert_eq!(classify(None, None, None), None);
    }

    fn run(keep: Keep, rows: &[(u64, u64)]) -> Option<Vec<(u64, u64)>> {
        let mut dedupe = StagedDedupe {
            columns: vec!["email".into()],
            keep,
            rows: Some(rows.to_vec()),
            chars: HashMap::new(),
            probed: true,
        };
        dedupe.pairs()
    }

    #[test]
    fn first_and_last_survive_as_the_window_chooses() {
        // (hash, seq): seqs 1, 4, 9 share a fold; 2 and 3 are alone.
        let rows = [(7, 1), (5, 2), (6, 3), (7, 4), (7, 9)];
        assert_eq!(run(Keep::First, &rows), Some(vec![(4, 1), (9, 1)]));
        assert_eq!(run(Keep::Last, &rows), Some(vec![(1, 9), (4, 9)]));
        assert_eq!(run(Keep::First, &[]), Some(vec![]));
    }

    #[test]
    fn the_pairs_are_taken_once() {
        let mut dedupe = StagedDedupe {
            columns: vec!["email".into()],
            keep: Keep::First,
            rows: Some(vec![(1, 1), (1, 2)]),
            chars: HashMap::new(),
            probed: true,
        };
        assert_eq!(dedupe.pairs(), Some(vec![(2, 1)]));
        assert_eq!(dedupe.pairs(), None, "a second call does not claim what it no longer knows");
    }
}
