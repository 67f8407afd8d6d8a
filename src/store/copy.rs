//! `copy`: every account, cookie and pending login of one store into another, SQLite or
//! PostgreSQL in either direction. Values are opened with this store's keys and sealed
//! again with the destination's. Nothing is written when the destination already holds
//! any of the accounts (unless replacing) or a name of another account's; accounts are
//! written a batch to a transaction (none is ever half-written), and the counts are read
//! back afterwards. A copy stopped part-way (a lost connection, a full disk) says how far
//! it got: the same copy with `--replace` finishes it.

use super::sealed::seal_cookies;
use super::{Store, StoreError};
use std::collections::{HashMap, HashSet};

/// Accounts written to the destination per transaction (and per round trip on
/// PostgreSQL): each account is still whole or absent, whatever stops the copy.
const COPY_BATCH: usize = 500;

/// What `copy` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Copied {
    pub accounts: usize,
    pub cookies: usize,
    pub pending: usize,
}

impl Store {
    pub fn copy_to(
        &self,
        dest: &Store,
        replace: bool,
        now: i64,
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<Copied, StoreError> {
        let accounts = self.all_brief()?;
        // Every conflict first, so a refusal writes nothing; the destination's accounts
        // read once, not two queries an account.
        let there = dest.db.identities()?;
        let unbs: HashSet<&str> = there.iter().map(|(unb, _)| unb.as_str()).collect();
        let owners: HashMap<&str, &str> = there
            .iter()
            .map(|(unb, name)| (name.as_str(), unb.as_str()))
            .collect();
        let mut clashes = Vec::new();
        for a in &accounts {
            if unbs.contains(a.unb.as_str()) && !replace {
                clashes.push(format!("{} ({})", a.name, a.unb));
                continue;
            }
            if let Some(owner) = owners.get(a.name.as_str())
                && *owner != a.unb
            {
                clashes.push(format!("{} (the name belongs to {owner} there)", a.name));
            }
        }
        let pending: Vec<_> = self
            .list_pending()?
            .into_iter()
            .filter(|p| p.expires_at > now)
            .collect();
        for p in &pending {
            if !replace && dest.db.pending_row(&p.id)?.is_some() {
                clashes.push(format!("pending login {}", p.id));
            }
        }
        if !clashes.is_empty() {
            return Err(StoreError::CopyConflict {
                dest: dest.location.to_string(),
                clashes,
                replace_helps: !replace,
            });
        }
        let keys = dest.sealing_keys()?;
        let mut copied = Copied {
            accounts: 0,
            cookies: 0,
            pending: 0,
        };
        // Counted in `copied` as each batch is committed, for the error that stops it.
        let written = (|| {
            for chunk in accounts.chunks(COPY_BATCH) {
                let mut batch = Vec::with_capacity(chunk.len());
                for a in chunk {
                    let cookies = self.cookies_of(a)?;
                    batch.push((a, seal_cookies(keys, &a.unb, &cookies)));
                }
                dest.db.insert_copies(&batch, replace)?;
                copied.accounts += batch.len();
                copied.cookies += batch.iter().map(|(_, rows)| rows.len()).sum::<usize>();
                progress(copied.accounts, accounts.len());
            }
            for p in &pending {
                dest.save_pending(&self.pending(&p.id, now)?)?;
                copied.pending += 1;
            }
            Ok::<_, StoreError>(())
        })();
        if let Err(e) = written {
            if copied.accounts == 0 && copied.pending == 0 {
                return Err(e);
            }
            let pending_done = match pending.len() {
                0 => String::new(),
                n => format!(" and {} of {n} pending logins", copied.pending),
            };
            return Err(e.part_way(format!(
                "copy to {} stopped after {} of {} accounts{pending_done}, each whole (the same copy with --replace finishes it)",
                dest.location,
                copied.accounts,
                accounts.len(),
            )));
        }
        // Read back: every account there, with as many cookies as here.
        let (here, there) = (self.db.cookie_counts()?, dest.db.cookie_counts()?);
        for a in &accounts {
            let expected = here.get(&a.unb).copied().unwrap_or(0);
            let found = there.get(&a.unb).copied();
            if found != Some(expected) {
                return Err(StoreError::CopyMismatch {
                    dest: dest.location.to_string(),
                    account: a.name.clone(),
                    expected,
                    found,
                });
            }
        }
        dest.db.after_bulk_load()?;
        Ok(copied)
    }
}
