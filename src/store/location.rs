//! Where a store lives, from `--db`/`QRLOGIN_DB`: a SQLite file (the default), or a
//! PostgreSQL database named by a libpq URL (`postgres://` or `postgresql://`), which many
//! hosts can share. A URL may hold a password: it is shown (`Display`, `Debug`) with the
//! password replaced, and only the connection code sees it whole.

use std::fmt;
use std::path::{Path, PathBuf};

#[derive(Clone, PartialEq, Eq)]
pub enum Location {
    Sqlite(PathBuf),
    Postgres(PgUrl),
}

/// A PostgreSQL URL, password included; never shown as it is.
#[derive(Clone, PartialEq, Eq)]
pub struct PgUrl(String);

impl PgUrl {
    /// The URL whole, for the connection only.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn redacted(&self) -> String {
        crate::redacted::redact_db_url(&self.0)
    }
}

impl Location {
    /// `--db` as given: a PostgreSQL URL by its scheme, anything else a SQLite path.
    pub fn parse(raw: &Path) -> Location {
        match raw.to_str() {
            Some(s) if is_postgres_url(s) => Location::Postgres(PgUrl(s.to_owned())),
            _ => Location::Sqlite(raw.to_owned()),
        }
    }

    /// The SQLite file, if this is one (doctor's file checks, demo's temporary store).
    pub fn sqlite_path(&self) -> Option<&Path> {
        match self {
            Location::Sqlite(p) => Some(p),
            Location::Postgres(_) => None,
        }
    }
}

fn is_postgres_url(s: &str) -> bool {
    let lower = s.get(..13).unwrap_or(s).to_ascii_lowercase();
    lower.starts_with("postgres://") || lower.starts_with("postgresql://")
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Sqlite(p) => write!(f, "{}", p.display()),
            Location::Postgres(url) => f.write_str(&url.redacted()),
        }
    }
}

impl fmt::Debug for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Location({self})")
    }
}

impl fmt::Debug for PgUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PgUrl({})", self.redacted())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_by_scheme_and_never_shown_with_a_password() {
        let pg = Location::parse(Path::new("postgresql://u:hunter2@db:5432/q"));
        assert!(matches!(pg, Location::Postgres(_)));
        assert_eq!(pg.to_string(), "postgresql://u:***@db:5432/q");
        assert!(!format!("{pg:?}").contains("hunter2"));
        assert!(matches!(
            Location::parse(Path::new("POSTGRES://db/q")),
            Location::Postgres(_)
        ));
        let file = Location::parse(Path::new("/data/postgres://x.db"));
        assert_eq!(file.sqlite_path(), Some(Path::new("/data/postgres://x.db")));
    }
}
