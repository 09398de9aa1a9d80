//! Database errors sorted into kinds, and the one place that decides what
//! each kind means for a row or a run.

use migrate_engine::{RejectReason, SinkError};

#[derive(Debug, thiserror::Error)]
pub enum PgError {
    #[error("database configuration: {0}")]
    Config(String),
    /// The publish would break a limit the mapping set: nothing published.
    #[error("{0}")]
    Refused(String),
    #[error("cannot connect to {target}: {message}")]
    Connect { target: String, message: String },
    #[error("{context}: {}", describe(.source))]
    Query {
        context: String,
        #[source]
        source: sqlx::Error,
    },
    #[error(
        "migration {version} ({name}) was applied with checksum {applied} but the file now has {current}; migrations are append-only: add a new one"
    )]
    ChangedMigration { version: i32, name: String, applied: String, current: String },
    #[error("the database has migration {version} applied, which this build does not know; upgrade migrate")]
    UnknownMigration { version: i32 },
}

pub(crate) trait Context<T> {
    fn context(self, context: impl Into<String>) -> Result<T, PgError>;
}

impl<T> Context<T> for Result<T, sqlx::Error> {
    fn context(self, context: impl Into<String>) -> Result<T, PgError> {
        self.map_err(|source| PgError::Query { context: context.into(), source })
    }
}

impl From<PgError> for SinkError {
    fn from(e: PgError) -> Self {
        match e {
            PgError::Query { context, source } => SinkError::Database { context, message: describe(&source) },
            PgError::Refused(message) => SinkError::Database { context: "publishing".to_string(), message },
            other => SinkError::Database { context: "postgres".to_string(), message: other.to_string() },
        }
    }
}

/// A database error with PostgreSQL's detail, for people. A connection
/// the server dropped (a restart, a crash, a terminated session) says so
/// rather than showing the socket's last words.
pub fn describe(e: &sqlx::Error) -> String {
    const LOST: &str = "lost the connection to PostgreSQL";
    match e.as_database_error().and_then(|d| d.try_downcast_ref::<sqlx::postgres::PgDatabaseError>()) {
        // Class 57P: the server is shutting down or crashed.
        Some(pg) if pg.code().starts_with("57P") => format!("{LOST}: {}", pg.message()),
        Some(pg) => match pg.detail() {
            Some(detail) => format!("{} ({detail})", pg.message()),
            None => pg.message().to_string(),
        },
        None => match e {
            sqlx::Error::Io(io) => {
                format!("{LOST}: the server closed it (restarted, crashed, or ended the session): {io}")
            }
            _ => e.to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dropped_connection_is_named_as_such() {
        let eof = sqlx::Error::Io(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "got 0 bytes at EOF"));
        let text = describe(&eof);
        assert!(text.starts_with("lost the connection to PostgreSQL: the server closed it"), "{text}");
        assert!(text.ends_with("got 0 bytes at EOF"), "{text}");
        assert_eq!(describe(&sqlx::Error::RowNotFound), sqlx::Error::RowNotFound.to_string());
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DbErrorKind {
    /// Class 22: the value does not parse as the column's type, or is out
    /// of range. The row is at fault.
    Data,
    NotNull,
    Check,
    Unique,
    ForeignKey,
    /// Anything else (connection, permissions, a bug): the run is at fault.
    Other,
}

pub fn classify(e: &sqlx::Error) -> DbErrorKind {
    let Some(code) = e.as_database_error().and_then(|d| d.code()) else {
        return DbErrorKind::Other;
    };
    match code.as_ref() {
        "23502" => DbErrorKind::NotNull,
        "23514" => DbErrorKind::Check,
        "23505" => DbErrorKind::Unique,
        "23503" => DbErrorKind::ForeignKey,
        c if c.starts_with("22") => DbErrorKind::Data,
        _ => DbErrorKind::Other,
    }
}

/// The error policy: which database errors reject the row at fault (found by
/// bisecting the batch) and which abort the run. `None` aborts.
pub(crate) fn reject_reason(kind: DbErrorKind) -> Option<RejectReason> {
    match kind {
        DbErrorKind::Data => Some(RejectReason::InvalidType),
        DbErrorKind::NotNull => Some(RejectReason::NotNull),
        DbErrorKind::Check | DbErrorKind::Unique | DbErrorKind::ForeignKey => Some(RejectReason::ConstraintViolation),
        DbErrorKind::Other => None,
    }
}

/// The column a COPY error names, from the error's column field or its
/// context line (`COPY t, line 3, column created_at: "31/02/2020"`).
pub(crate) fn error_column(e: &sqlx::Error) -> Option<String> {
    let pg = e.as_database_error()?.try_downcast_ref::<sqlx::postgres::PgDatabaseError>()?;
    if let Some(c) = pg.column() {
        return Some(c.to_string());
    }
    let context = pg.r#where()?;
    let after = context.split(", column ").nth(1)?;
    Some(after.split(':').next()?.trim().to_string())
}

/// The line of COPY input an error names (`COPY t, line 3, column x: …`),
/// 1-based within that COPY.
pub(crate) fn error_line(e: &sqlx::Error) -> Option<usize> {
    let pg = e.as_database_error()?.try_downcast_ref::<sqlx::postgres::PgDatabaseError>()?;
    let after = pg.r#where()?.split(", line ").nth(1)?;
    let digits: String = after.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}
