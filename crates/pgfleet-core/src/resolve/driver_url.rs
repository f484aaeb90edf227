//! A connection's URL in the spelling of the driver a service connects with (the manifest's
//! `driver`), each checked against the real driver by `tests/it/drivers.rs`:
//!
//! - libpq, psycopg, go-pgx and asyncpg's own `connect(dsn)`: `postgresql://…?sslmode=…`,
//!   with `sslrootcert=` when a CA file is set (asyncpg's DSN parser reads both);
//! - SQLAlchemy: `postgresql+asyncpg://…?ssl=…` (SQLAlchemy hands every query option to
//!   `asyncpg.connect()` as a keyword, which has `ssl` but neither `sslmode` nor `sslrootcert`:
//!   the CA file reaches asyncpg as `PGSSLROOTCERT`), `postgresql+psycopg://…?sslmode=…`;
//! - pgjdbc: `jdbc:postgresql://host:port/db?user=…&password=…&sslmode=…&sslrootcert=…`
//!   (pgjdbc reads no user info before the host).

use super::Connection;
use crate::manifest::Driver;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

/// Characters escaped in URL user info, paths and query values (`+` too: pgjdbc decodes it
/// as a space).
const URL_PART: &AsciiSet = &NON_ALPHANUMERIC.remove(b'_').remove(b'-').remove(b'.');

/// A connection the driver's URL cannot carry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{service}: a {driver} URL cannot carry {what}")]
pub struct UnspellableUrl {
    pub service: String,
    pub driver: Driver,
    pub what: String,
}

fn encode(text: &str) -> String {
    utf8_percent_encode(text, URL_PART).to_string()
}

impl Connection {
    /// The URL in `driver`'s spelling, with the password when `with_password` (an explicit
    /// export) and `***` otherwise.
    pub fn driver_url(
        &self,
        driver: Driver,
        with_password: bool,
    ) -> Result<String, UnspellableUrl> {
        Ok(match driver {
            Driver::Libpq | Driver::Psycopg | Driver::GoPgx | Driver::Asyncpg => {
                self.uri("postgresql", "sslmode", true, with_password)
            }
            Driver::SqlalchemyPsycopg => {
                self.uri("postgresql+psycopg", "sslmode", true, with_password)
            }
            Driver::SqlalchemyAsyncpg => {
                self.uri("postgresql+asyncpg", "ssl", false, with_password)
            }
            Driver::Jdbc => self.jdbc_url(with_password)?,
        })
    }

    /// `scheme://user:password@host:port/database?TLS_KEY=mode…`: libpq's URI form, a unix
    /// socket directory as `host=` in the query.
    pub(super) fn uri(
        &self,
        scheme: &str,
        tls_key: &str,
        with_rootcert: bool,
        with_password: bool,
    ) -> String {
        let mut url = format!("{scheme}://{}", encode(&self.user));
        if let Some(password) = &self.password {
            url.push(':');
            url.push_str(&self.password_text(password, with_password));
        }
        url.push('@');
        if self.host.starts_with('/') {
            url.push_str(&format!(":{}", self.port));
        } else {
            url.push_str(&self.host_port());
        }
        url.push('/');
        url.push_str(&encode(&self.database));
        let mut query = vec![(tls_key, self.sslmode.as_str().to_owned())];
        if self.host.starts_with('/') {
            query.push(("host", self.host.clone()));
        }
        query.extend(self.query_params(with_rootcert));
        push_query(&mut url, &query);
        url
    }

    fn jdbc_url(&self, with_password: bool) -> Result<String, UnspellableUrl> {
        if self.host.starts_with('/') {
            return Err(UnspellableUrl {
                service: self.service.clone(),
                driver: Driver::Jdbc,
                what: "a unix socket (pgjdbc connects over TCP only)\n  hint: set the server's host to an address".to_owned(),
            });
        }
        let mut url = format!(
            "jdbc:postgresql://{}/{}",
            self.host_port(),
            encode(&self.database)
        );
        url.push_str(&format!("?user={}", encode(&self.user)));
        if let Some(password) = &self.password {
            // Already encoded (pgjdbc decodes it), or the redaction marker as it is.
            url.push_str("&password=");
            url.push_str(&self.password_text(password, with_password));
        }
        let mut query = vec![("sslmode", self.sslmode.as_str().to_owned())];
        query.extend(self.query_params(true));
        for (key, value) in query {
            url.push_str(&format!("&{}={}", encode(key), encode(&value)));
        }
        Ok(url)
    }

    fn host_port(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    fn password_text(&self, password: &crate::Secret, with_password: bool) -> String {
        if with_password {
            encode(password.expose())
        } else {
            crate::secret::REDACTED.to_owned()
        }
    }

    /// The URL options besides the TLS mode and host (today `sslrootcert`).
    fn query_params(&self, with_rootcert: bool) -> Vec<(&str, String)> {
        self.params
            .iter()
            .filter(|(k, _)| with_rootcert || k != "sslrootcert")
            .map(|(k, v)| (k.as_str(), v.clone()))
            .collect()
    }

    /// The CA file the connection verifies the server with, when one is set.
    pub fn sslrootcert(&self) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == "sslrootcert")
            .map(|(_, v)| v.as_str())
    }
}

fn push_query(url: &mut String, query: &[(&str, String)]) {
    let pairs: Vec<String> = query
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect();
    url.push('?');
    url.push_str(&pairs.join("&"));
}
