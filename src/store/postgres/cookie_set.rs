//! An account's cookies as one value: the row `cookie_sets` holds for each account.
//!
//! A refresh reads and writes an account's cookies whole, so on a server shared by a fleet
//! one row an account costs far less than one row a cookie: with a row a cookie, the
//! cookies were 7 of the 10 seconds of statement time of four hosts refreshing 100,000
//! accounts (16 rows read and 6 written an account). The value is JSON, an array a
//! cookie in the account's order: PostgreSQL can build it from rows (the migration does)
//! and never looks inside it otherwise. Each value in it is sealed as it was in its row;
//! the ids of the keys that sealed them are kept beside it (`keys`, `plain`) so that the
//! key commands find them without opening any set.

use crate::store::model::{CookieRow, last_of_each_key};

/// A cookie set as its row's columns.
pub(super) struct Encoded {
    pub json: String,
    /// How many cookies: what `copy` compares without opening the set.
    pub count: i32,
    /// The ids of the keys that sealed its values, distinct, in byte order, separated by
    /// spaces (a key id is hex); empty when none is sealed.
    pub keys: String,
    /// Whether a value is in plain text (written before encryption, copied from SQLite).
    pub plain: bool,
}

/// Of cookies with one key the last, as a write of rows one after another would keep.
pub(super) fn encode(rows: &[CookieRow]) -> Result<Encoded, serde_json::Error> {
    let kept = last_of_each_key(rows);
    // Each cookie an array of `CookieRow`'s fields in their order (what `decode` reads):
    // a third the size of an object with their names.
    let json = serde_json::to_string(
        &kept
            .iter()
            .map(|c| {
                (
                    &c.name,
                    &c.value,
                    &c.domain,
                    c.host_only,
                    &c.path,
                    c.expires,
                    c.secure,
                    c.http_only,
                    &c.same_site,
                    &c.key_id,
                )
            })
            .collect::<Vec<_>>(),
    )?;
    let mut keys: Vec<&str> = kept.iter().filter_map(|c| c.key_id.as_deref()).collect();
    keys.sort_unstable();
    keys.dedup();
    Ok(Encoded {
        json,
        count: i32::try_from(kept.len()).unwrap_or(i32::MAX),
        keys: keys.join(" "),
        plain: kept.iter().any(|c| c.key_id.is_none()),
    })
}

/// A set as `encode` writes it: each cookie an array of `CookieRow`'s fields in order.
pub(super) fn decode(json: &str) -> Result<Vec<CookieRow>, serde_json::Error> {
    serde_json::from_str(json)
}

/// The key ids of a `keys` column.
pub(super) fn key_ids(keys: &str) -> impl Iterator<Item = &str> {
    keys.split(' ').filter(|k| !k.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(name: &str, value: &str, key_id: Option<&str>) -> CookieRow {
        CookieRow {
            name: name.into(),
            value: value.into(),
            domain: "goofish.com".into(),
            host_only: false,
            path: "/".into(),
            expires: Some(1_900_000_000),
            secure: true,
            http_only: false,
            same_site: None,
            key_id: key_id.map(Into::into),
        }
    }

    #[test]
    fn a_set_comes_back_as_it_went_in_with_its_keys_beside_it() {
        let rows = vec![
            row("unb", "sealed-1", Some("bb")),
            row("t", "plain \"quoted\" ☃", None),
            row("cookie2", "sealed-2", Some("aa")),
            row("x", "sealed-3", Some("bb")),
        ];
        let e = encode(&rows).unwrap();
        assert_eq!((e.count, e.keys.as_str(), e.plain), (4, "aa bb", true));
        assert_eq!(decode(&e.json).unwrap(), rows);
        assert_eq!(key_ids(&e.keys).collect::<Vec<_>>(), ["aa", "bb"]);
        let none = encode(&[]).unwrap();
        assert_eq!((none.json.as_str(), none.keys.as_str()), ("[]", ""));
        assert_eq!(key_ids("").count(), 0);
    }

    #[test]
    fn of_cookies_with_one_key_the_last_is_kept_in_its_place() {
        let rows = vec![
            row("a", "1", Some("k")),
            row("b", "2", Some("k")),
            row("a", "3", Some("k")),
        ];
        let back = decode(&encode(&rows).unwrap().json).unwrap();
        let got: Vec<_> = back.iter().map(|r| (&*r.name, &*r.value)).collect();
        assert_eq!(got, [("b", "2"), ("a", "3")]);
    }

    #[test]
    fn what_the_migration_writes_is_read() {
        // json_agg(json_build_array(...))::text, as PostgreSQL 15 prints it.
        let json = r#"[["unb", "v", "goofish.com", false, "/", null, true, false, "Lax", "k1"], 
 ["t", "w", "www.goofish.com", true, "/a", 1900000000, false, true, null, null]]"#;
        let rows = decode(json).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].same_site.as_deref(), Some("Lax"));
        assert_eq!(
            (rows[1].expires, rows[1].key_id.as_deref()),
            (Some(1_900_000_000), None)
        );
        assert!(decode("[[\"unb\"]]").is_err());
        assert!(decode("not json").is_err());
    }
}
