//! The PostgreSQL backend: one database that any number of qrlogin processes on any
//! number of hosts share.
//!
//! One connection per process, through tokio-postgres. The store's methods stay
//! synchronous, as on SQLite: each blocks on its queries, and the thread that waits drives
//! the connection meanwhile (`driver`). Every change to one account is one transaction;
//! leases are conditional updates that take row locks, never table locks, so hosts never
//! queue behind each other. The schema is versioned in `qrlogin_meta` and migrated under
//! an advisory lock (one process migrates, the others wait and find nothing to do). The
//! URL's password never leaves `connect`: every message shows the URL redacted.

mod accounts;
mod connect;
mod cookie_set;
mod driver;
mod keys;
mod leases;
mod migrations;
mod runs;

use super::StoreError;
use super::backend::{Backend, R};
use super::location::PgUrl;
use std::collections::HashMap;
use std::sync::Mutex;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, Row, Statement};

/// What `doctor` shows of a PostgreSQL store.
#[derive(Debug, Clone)]
pub struct Probe {
    pub server_version: String,
    pub tls: bool,
    pub user: String,
    pub database: String,
    /// Table rights a command needs that this user lacks ("cookie_sets: DELETE").
    pub missing_rights: Vec<String>,
}

pub(crate) struct Postgres {
    /// Declared before `driver`, so it is dropped first.
    client: Client,
    driver: driver::Driver,
    /// The URL with its password replaced, for messages.
    shown: String,
    tls: bool,
    /// Prepared statements by SQL: a refresh runs the same few for every account.
    statements: Mutex<HashMap<&'static str, Statement>>,
}

type Param<'a> = &'a (dyn ToSql + Sync);

impl Postgres {
    pub fn open(url: &PgUrl) -> Result<Postgres, StoreError> {
        let (client, tls, driver) = connect::connect(url)?;
        let db = Postgres {
            client,
            driver,
            shown: url.redacted(),
            tls,
            statements: Mutex::new(HashMap::new()),
        };
        db.migrate()?;
        Ok(db)
    }

    fn err(&self, e: tokio_postgres::Error) -> StoreError {
        StoreError::Postgres {
            url: self.shown.clone(),
            why: describe(&e),
            whole: session_failed(&e),
        }
    }

    /// Wait for requests to the server, driving the connection meanwhile.
    fn block<T>(
        &self,
        fut: impl std::future::Future<Output = Result<T, tokio_postgres::Error>>,
    ) -> R<T> {
        self.wait(fut)?.map_err(|e| self.err(e))
    }

    /// Wait for `fut` on this thread, which drives the connection meanwhile (`driver`).
    fn wait<T>(&self, fut: impl std::future::Future<Output = T>) -> R<T> {
        self.driver.block_on(fut).ok_or_else(|| StoreError::Postgres {
            url: self.shown.clone(),
            why: "a store call on the refresh's runtime thread, which cannot wait (a bug in qrlogin)"
                .into(),
            whole: true,
        })
    }

    fn statement(&self, sql: &'static str) -> R<Statement> {
        let cached = self
            .statements
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(sql)
            .cloned();
        if let Some(s) = cached {
            return Ok(s);
        }
        let s = self.block(self.client.prepare(sql))?;
        self.statements
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(sql, s.clone());
        Ok(s)
    }

    fn query(&self, sql: &'static str, params: &[Param<'_>]) -> R<Vec<Row>> {
        let s = self.statement(sql)?;
        self.block(self.client.query(&s, params))
    }

    fn query_opt(&self, sql: &'static str, params: &[Param<'_>]) -> R<Option<Row>> {
        let s = self.statement(sql)?;
        self.block(self.client.query_opt(&s, params))
    }

    fn query_one(&self, sql: &'static str, params: &[Param<'_>]) -> R<Row> {
        let s = self.statement(sql)?;
        self.block(self.client.query_one(&s, params))
    }

    fn execute(&self, sql: &'static str, params: &[Param<'_>]) -> R<u64> {
        let s = self.statement(sql)?;
        self.block(self.client.execute(&s, params))
    }

    /// Run `f` in one transaction: committed if it returns `Ok`, rolled back otherwise.
    fn tx<T>(&self, f: impl FnOnce() -> R<T>) -> R<T> {
        self.block(self.client.batch_execute("BEGIN"))?;
        match f() {
            Ok(out) => {
                self.block(self.client.batch_execute("COMMIT"))?;
                Ok(out)
            }
            Err(e) => {
                self.roll_back();
                Err(e)
            }
        }
    }

    /// End a transaction that failed, if the failure left it open. The error that counts
    /// is the one that failed it: a failed rollback ends the session anyway, and the
    /// server rolls back with it.
    fn roll_back(&self) {
        let _ = self.block(self.client.batch_execute("ROLLBACK"));
    }

    fn migrate(&self) -> R<()> {
        migrations::migrate(self)
    }
}

/// Whether `e` is the session's or the server's failure rather than one statement's: the
/// connection is gone, or the server says so of itself (SQLSTATE classes 08 connection,
/// 53 resources such as disk or memory, 57 operator intervention such as a shutdown, 58
/// system errors; 25006, a read-only standby, as after a failover). Anything that is not
/// the server's answer at all (a socket error, a broken message) counts too.
fn session_failed(e: &tokio_postgres::Error) -> bool {
    if e.is_closed() {
        return true;
    }
    match e.as_db_error() {
        Some(db) => {
            let code = db.code().code();
            ["08", "53", "57", "58"]
                .iter()
                .any(|class| code.starts_with(class))
                || code == "25006"
        }
        None => true,
    }
}

/// A server error as one line: its message and SQLSTATE; otherwise the client's own text
/// with its causes (a connection refused, a TLS failure).
pub(super) fn describe(e: &tokio_postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        return format!("{} (SQLSTATE {})", db.message(), db.code().code());
    }
    crate::store::error::with_causes(e)
}

impl Backend for Postgres {
    fn schema_version(&self) -> R<i64> {
        migrations::version(self)
    }

    fn integrity_check(&self) -> R<String> {
        // The server keeps its own pages consistent; what can be wrong is qrlogin's part,
        // checked as SQLite's integrity_check would: cookies that lost their account. A
        // set that is not qrlogin's JSON is reported when read, naming its account.
        let row = self.block(self.client.query_one(
            "SELECT count(*) FROM cookie_sets c WHERE NOT EXISTS \
             (SELECT 1 FROM accounts a WHERE a.id = c.account_id)",
            &[],
        ))?;
        Ok(match row.get::<_, i64>(0) {
            0 => "ok".into(),
            n => format!("the cookies of {n} accounts belong to no account"),
        })
    }

    fn probe(&self) -> R<Option<Probe>> {
        let row = self.block(self.client.query_one(
            "SELECT current_setting('server_version'), current_user::text, \
             current_database()::text",
            &[],
        ))?;
        // What every command needs on each table; DDL is needed only to migrate.
        let missing = self.block(self.client.query(
            "SELECT t || ': ' || p FROM unnest(ARRAY['accounts', 'cookie_sets', 'pending_logins', 'refresh_runs']) t, \
             unnest(ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE']) p \
             WHERE NOT has_table_privilege(current_user, t, p) ORDER BY 1",
            &[],
        ))?;
        Ok(Some(Probe {
            server_version: row.get(0),
            tls: self.tls,
            user: row.get(1),
            database: row.get(2),
            missing_rights: missing.iter().map(|r| r.get(0)).collect(),
        }))
    }

    fn checkpoint(&self) -> R<bool> {
        // No WAL file of qrlogin's to empty: the server's own WAL and backups are its
        // operator's, and a deleted row is gone for every client at commit.
        Ok(true)
    }

    fn after_bulk_load(&self) -> R<()> {
        // Until autovacuum's next analyze (a minute or more away), a freshly filled table
        // has no statistics, and reading a batch's cookies by account was planned as a
        // parallel scan of the whole table: four hosts refreshing 100,000 copied accounts
        // spent most of their time in it. A user who may not ANALYZE gets a server
        // warning, not an error.
        self.block(
            self.client
                .batch_execute("ANALYZE accounts, cookie_sets, pending_logins"),
        )
    }
}
