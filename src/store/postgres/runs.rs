//! The refresh runs under way, in PostgreSQL: a row per run.

use super::Postgres;
use crate::store::backend::{R, Runs};

impl Runs for Postgres {
    fn begin_run(&self, owner: &str, until: i64, now: i64) -> R<Vec<String>> {
        self.tx(|| {
            self.execute("DELETE FROM refresh_runs WHERE until <= $1", &[&now])?;
            self.execute(
                "INSERT INTO refresh_runs (owner, started, until) VALUES ($1, $2, $3) \
                 ON CONFLICT (owner) DO UPDATE SET until = excluded.until",
                &[&owner, &now, &until],
            )?;
            Ok(self
                .query(
                    "SELECT owner FROM refresh_runs WHERE owner != $1",
                    &[&owner],
                )?
                .iter()
                .map(|r| r.get(0))
                .collect())
        })
    }

    fn extend_run(&self, owner: &str, until: i64) -> R<()> {
        self.execute(
            "UPDATE refresh_runs SET until = $2 WHERE owner = $1",
            &[&owner, &until],
        )?;
        Ok(())
    }

    fn end_run(&self, owner: &str) -> R<()> {
        self.execute("DELETE FROM refresh_runs WHERE owner = $1", &[&owner])?;
        Ok(())
    }
}
