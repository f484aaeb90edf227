//! Login passwords as SCRAM-SHA-256 verifiers: computed here (the plain text never reaches the
//! server), checked against a stored verifier (with its salt and iterations), and set through a
//! bound parameter so that neither pg_stat_statements nor a statement log records the verifier.

use crate::error::PgError;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use pgfleet_core::Secret;
use sha2::{Digest, Sha256};
use tokio_postgres::Client;

/// A new verifier (random salt) for `password`.
pub fn verifier(password: &Secret) -> String {
    postgres_protocol::password::scram_sha_256(password.expose().as_bytes())
}

/// Whether `stored` (pg_authid's `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>`)
/// was made from `password`: the keys are recomputed with its salt and iterations.
pub fn verifies(stored: &str, password: &Secret) -> bool {
    let Some(stored) = StoredVerifier::parse(stored) else {
        return false;
    };
    let StoredVerifier {
        iterations,
        salt,
        stored_key,
        server_key,
    } = stored;
    if iterations == 0 {
        return false;
    }
    // As libpq and the server do: SASLprep when the password allows it, else its bytes.
    let plain = password.expose();
    let prepared = stringprep::saslprep(plain)
        .map(|p| p.into_owned())
        .unwrap_or_else(|_| plain.to_owned());
    let salted = pbkdf2_sha256(prepared.as_bytes(), &salt, iterations);
    let client_key = hmac_sha256(&salted, b"Client Key");
    Sha256::digest(client_key).as_slice() == stored_key.as_slice()
        && hmac_sha256(&salted, b"Server Key").as_slice() == server_key.as_slice()
}

/// The parts of a stored `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>`.
struct StoredVerifier {
    iterations: u32,
    salt: Vec<u8>,
    stored_key: Vec<u8>,
    server_key: Vec<u8>,
}

impl StoredVerifier {
    fn parse(stored: &str) -> Option<StoredVerifier> {
        let rest = stored.strip_prefix("SCRAM-SHA-256$")?;
        let (parameters, keys) = rest.split_once('$')?;
        let (iterations, salt) = parameters.split_once(':')?;
        let (stored_key, server_key) = keys.split_once(':')?;
        Some(StoredVerifier {
            iterations: iterations.parse().ok()?,
            salt: STANDARD.decode(salt).ok()?,
            stored_key: STANDARD.decode(stored_key).ok()?,
            server_key: STANDARD.decode(server_key).ok()?,
        })
    }
}

fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    const BLOCK: usize = 64;
    let mut block = [0u8; BLOCK];
    if key.len() > BLOCK {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let pad = |byte: u8| block.iter().map(|b| b ^ byte).collect::<Vec<u8>>();
    let inner = Sha256::new()
        .chain_update(pad(0x36))
        .chain_update(message)
        .finalize();
    Sha256::new()
        .chain_update(pad(0x5c))
        .chain_update(inner)
        .finalize()
        .into()
}

/// SCRAM's Hi(): PBKDF2 with HMAC-SHA-256, one block.
fn pbkdf2_sha256(password: &[u8], salt: &[u8], iterations: u32) -> [u8; 32] {
    let mut first = salt.to_vec();
    first.extend_from_slice(&1u32.to_be_bytes());
    let mut previous = hmac_sha256(password, &first);
    let mut result = previous;
    for _ in 1..iterations {
        previous = hmac_sha256(password, &previous);
        for (r, p) in result.iter_mut().zip(previous) {
            *r ^= p;
        }
    }
    result
}

/// Sets `role`'s password to `verifier`. ALTER ROLE takes no parameters, so its text would hold
/// the verifier, and pg_stat_statements records a utility statement's text (readable by
/// pg_monitor, which serve's login has). A function in pg_temp runs it instead, called with the
/// verifier as a bound parameter: pg_stat_statements records the call as `$2`, and the nested
/// ALTER ROLE is not tracked with its default `track = top` (with `track = all` it would be:
/// refused). The server logs bound parameters with `log_statement = all` or
/// `log_min_duration_statement = 0`: a superuser session turns that off for the call, any
/// other is refused. An error inside is raised again without the context line that would
/// quote the statement.
pub async fn set(client: &Client, role: &str, verifier: &str) -> Result<(), PgError> {
    let settings = client
        .query_one(
            "SELECT current_setting('pg_stat_statements.track', true),
                    (current_setting('log_statement') = 'all'
                     OR current_setting('log_min_duration_statement')::int = 0)
                    AND current_setting('log_parameter_max_length')::int <> 0,
                    (SELECT rolsuper FROM pg_roles WHERE rolname = current_user)",
            &[],
        )
        .await?;
    let refuse = |why: &'static str, hint: &'static str| {
        Err(PgError::PasswordRecorded {
            role: role.to_owned(),
            why,
            hint,
        })
    };
    if settings.get::<_, Option<String>>(0).as_deref() == Some("all") {
        return refuse(
            "pg_stat_statements.track = all",
            "set pg_stat_statements.track to top (the default)",
        );
    }
    let logs_parameters: bool = settings.get(1);
    let superuser: bool = settings.get(2);
    if logs_parameters && !superuser {
        return refuse(
            "the server's statement log (log_statement = all or log_min_duration_statement = 0)",
            "set log_parameter_max_length = 0, or turn statement logging down while passwords are set",
        );
    }
    client
        .batch_execute(
            "CREATE OR REPLACE FUNCTION pg_temp.pgfleet_set_password(role text, verifier text)
             RETURNS void LANGUAGE plpgsql AS $$
             BEGIN
               EXECUTE format('ALTER ROLE %I PASSWORD %L', role, verifier);
             EXCEPTION WHEN OTHERS THEN
               RAISE EXCEPTION USING ERRCODE = SQLSTATE, MESSAGE = SQLERRM;
             END$$",
        )
        .await?;
    if logs_parameters {
        client
            .batch_execute("SET log_parameter_max_length = 0")
            .await?;
    }
    let result = client
        .execute(
            "SELECT pg_temp.pgfleet_set_password($1, $2)",
            &[&role, &verifier],
        )
        .await
        .map(|_| ())
        .map_err(PgError::from);
    if logs_parameters && result.is_ok() {
        client
            .batch_execute("RESET log_parameter_max_length")
            .await?;
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_verifier_verifies_its_password_only() {
        let password = Secret::new("s3cret-ü");
        let stored = verifier(&password);
        assert!(verifies(&stored, &password));
        assert!(!verifies(&stored, &Secret::new("s3cret-u")));
        assert!(!verifies("md5abcdef", &password));
        assert!(!verifies("SCRAM-SHA-256$x", &password));
    }
}
