//! `copy`: every account, cookie and pending login of one store into another, SQLite or
//! PostgreSQL in either direction. Values are opened with this store's keys and sealed
//! again with the destination's. Nothing is written when the destination already holds
//! any of the accounts (unless replacing) or a name of another account's; each account is
//! one transaction, and the counts are read back afterwards.

use super::sealed::{open_cookies, seal_cookies};
use super::{Store, StoreError};

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
        // Every conflict first, so a refusal writes nothing.
        let mut clashes = Vec::new();
        for a in &accounts {
            let by_unb = dest.db.find_brief(&a.unb)?.filter(|d| d.unb == a.unb);
            if by_unb.is_some() && !replace {
                clashes.push(format!("{} ({})", a.name, a.unb));
                continue;
            }
            if let Some(owner) = dest.db.owner_of_name(&a.name)?
                && owner != a.unb
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
        for a in &accounts {
            let cookies = open_cookies(self.keys.get(), &a.unb, self.db.cookie_rows(a.id)?)
                .map_err(|(cookie, e)| self.open_error(a.id, cookie, e))?;
            let rows = seal_cookies(keys, &a.unb, &cookies);
            dest.db.insert_copy(a, &rows, replace)?;
            copied.accounts += 1;
            copied.cookies += rows.len();
            progress(copied.accounts, accounts.len());
        }
        for p in &pending {
            dest.save_pending(&self.pending(&p.id, now)?)?;
            copied.pending += 1;
        }
        // Read back: every account there, with as many cookies as here.
        for a in &accounts {
            let there = dest.db.find_brief(&a.unb)?.filter(|d| d.unb == a.unb);
            let here = self.db.cookie_rows(a.id)?.len();
            let n = match there {
                Some(d) => Some(dest.db.cookie_rows(d.id)?.len()),
                None => None,
            };
            if n != Some(here) {
                return Err(StoreError::CopyMismatch {
                    dest: dest.location.to_string(),
                    account: a.name.clone(),
                    expected: here,
                    found: n,
                });
            }
        }
        Ok(copied)
    }
}
