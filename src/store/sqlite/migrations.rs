//! The schema, as an append-only list of migrations tracked by `PRAGMA user_version`.
//! Never edit a migration that has shipped: add one. `fixtures/schema-v*.db` holds a
//! database written by each earlier version, and a test opens every one of them.

/// Index `i` takes a database from version `i` to version `i + 1`.
pub const MIGRATIONS: &[&str] = &[
    // v1: accounts and their cookies, one row per cookie with every attribute.
    r#"
    CREATE TABLE accounts (
        id                   INTEGER PRIMARY KEY,
        unb                  TEXT NOT NULL UNIQUE,
        name                 TEXT NOT NULL UNIQUE,
        nickname             TEXT,
        created_at           INTEGER NOT NULL,
        updated_at           INTEGER NOT NULL,
        status               TEXT NOT NULL DEFAULT 'unknown'
                             CHECK (status IN ('ok', 'expired', 'risk', 'unknown')),
        last_checked         INTEGER,
        last_refreshed       INTEGER,
        consecutive_failures INTEGER NOT NULL DEFAULT 0,
        next_attempt_at      INTEGER,
        proxy                TEXT,
        user_agent           TEXT,
        lease_owner          TEXT,
        lease_until          INTEGER
    );
    CREATE TABLE cookies (
        account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
        name       TEXT NOT NULL,
        value      TEXT NOT NULL,
        domain     TEXT NOT NULL,
        host_only  INTEGER NOT NULL,
        path       TEXT NOT NULL,
        expires    INTEGER,
        secure     INTEGER NOT NULL,
        http_only  INTEGER NOT NULL,
        same_site  TEXT,
        PRIMARY KEY (account_id, domain, host_only, path, name)
    );
    "#,
    // v2: logins started with `add-account --no-wait`, finished later with `--resume`.
    // They hold a cookie jar, so they live in the same 0600 file as the accounts.
    r#"
    CREATE TABLE pending_logins (
        id           TEXT PRIMARY KEY,
        created_at   INTEGER NOT NULL,
        expires_at   INTEGER NOT NULL,
        name         TEXT,
        qr_t         TEXT NOT NULL,
        qr_ck        TEXT NOT NULL,
        qr_content   TEXT NOT NULL,
        form         TEXT NOT NULL,
        cookies      TEXT NOT NULL,
        user_agent   TEXT NOT NULL,
        proxy        TEXT,
        passport_url TEXT NOT NULL,
        h5api_url    TEXT NOT NULL,
        www_url      TEXT NOT NULL
    );
    "#,
    // v3: a revision counter bumped by every save, so a refresh that read an account
    // before a login or an import finished can tell and never overwrites the newer data;
    // and where a pending login's `--qr-png` goes (with its mode), so `--resume` rewrites
    // the same file with every replacement QR; and whether the service refused to turn long
    // login on, so refresh reports it once instead of asking again every run.
    r#"
    ALTER TABLE accounts ADD COLUMN revision INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE accounts ADD COLUMN long_login_refused INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE pending_logins ADD COLUMN qr_png TEXT;
    ALTER TABLE pending_logins ADD COLUMN qr_png_mode INTEGER;
    "#,
    // v4: encryption at rest. Each secret carries the id of the key that sealed it (NULL:
    // written in plain text before v4, sealed by the next command that writes with a key).
    // The long-login expiry moves out of its (now sealed) cookie into a readable column,
    // so `list`, `show` and `doctor` need no key.
    r#"
    ALTER TABLE cookies ADD COLUMN key_id TEXT;
    ALTER TABLE pending_logins ADD COLUMN key_id TEXT;
    ALTER TABLE accounts ADD COLUMN long_login_until INTEGER;
    CREATE INDEX cookies_key_id ON cookies (key_id);
    UPDATE accounts SET long_login_until = (
        SELECT CASE WHEN CAST(trim(c.value) AS INTEGER) > 100000000000
                    THEN CAST(trim(c.value) AS INTEGER) / 1000
                    ELSE CAST(trim(c.value) AS INTEGER) END
        FROM cookies c
        WHERE c.account_id = accounts.id AND c.name = 'havana_lgc_exp'
          AND trim(c.value) != '' AND trim(c.value) NOT GLOB '*[^0-9]*'
        ORDER BY c.rowid LIMIT 1);
    "#,
    // v5: the refresh runs under way, and which run last checked each account, so a run
    // that starts while others are under way leaves their accounts alone: one round of a
    // fleet renews each account once however far apart its hosts start.
    r#"
    ALTER TABLE accounts ADD COLUMN checked_by TEXT;
    CREATE TABLE refresh_runs (
        owner   TEXT PRIMARY KEY,
        started INTEGER NOT NULL,
        until   INTEGER NOT NULL
    );
    "#,
];

pub fn latest() -> i64 {
    MIGRATIONS.len() as i64
}
