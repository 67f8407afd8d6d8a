//! The refresh runs under way, in SQLite: one short write transaction each.

use super::Sqlite;
use crate::store::backend::{R, Runs};
use rusqlite::params;

impl Runs for Sqlite {
    fn begin_run(&self, owner: &str, until: i64, now: i64) -> R<Vec<String>> {
        self.write(|tx| {
            tx.prepare_cached("DELETE FROM refresh_runs WHERE until <= ?1")?
                .execute([now])?;
            tx.prepare_cached(
                "INSERT INTO refresh_runs (owner, started, until) VALUES (?1, ?2, ?3) \
                 ON CONFLICT (owner) DO UPDATE SET until = excluded.until",
            )?
            .execute(params![owner, now, until])?;
            let mut others =
                tx.prepare_cached("SELECT owner FROM refresh_runs WHERE owner != ?1")?;
            let rows = others.query_map([owner], |r| r.get(0))?;
            rows.collect()
        })
    }

    fn extend_run(&self, owner: &str, until: i64) -> R<()> {
        self.write(|tx| {
            tx.prepare_cached("UPDATE refresh_runs SET until = ?2 WHERE owner = ?1")?
                .execute(params![owner, until])?;
            Ok(())
        })
    }

    fn end_run(&self, owner: &str) -> R<()> {
        self.write(|tx| {
            tx.prepare_cached("DELETE FROM refresh_runs WHERE owner = ?1")?
                .execute([owner])?;
            Ok(())
        })
    }
}
