//! age keys from the manifest's `[backup.environments.E.encryption]`: recipients (public, literal
//! or from variables) to seal with, identities (secret: a variable, or a file of identities) to
//! open with. Secrets are read through the variables snapshot and never shown: Debug prints
//! counts, and errors name the variable or file, never a key.

use crate::BackupError;
use crate::pipeline::{Opener, Sealer};
use pgfleet_core::manifest::{BackupEncryption, Setting};
use pgfleet_core::secret::Secret;
use pgfleet_core::{Manifest, Vars};
use std::path::Path;
use std::str::FromStr;

/// The sealer of a backup: zstd at `level`, then age to the recipients of `encryption`.
pub fn sealer(
    level: i32,
    encryption: Option<&BackupEncryption>,
    vars: &Vars,
) -> Result<Sealer, BackupError> {
    let Some(encryption) = encryption else {
        return Ok(Sealer::plain(level));
    };
    if encryption.recipients.is_empty() {
        return Err(BackupError::Config(
            "backup encryption has no recipients\n  hint: add recipients = [\"age1…\"] (the public keys of `age-keygen`)".to_owned(),
        ));
    }
    let mut recipients = Vec::with_capacity(encryption.recipients.len());
    for setting in &encryption.recipients {
        let (key, origin) = match setting {
            Setting::Literal(key) => (key.clone(), "the manifest".to_owned()),
            Setting::FromEnv { var, default } => match vars.get(var).or(default.as_deref()) {
                Some(key) => (key.to_owned(), format!("variable {var}")),
                None => {
                    return Err(BackupError::Config(format!(
                        "the backup recipient variable {var} is not set\n  hint: set it to an age public key (age1…)"
                    )));
                }
            },
        };
        // A recipient is public: naming it in the error is safe and helps.
        let recipient = age::x25519::Recipient::from_str(key.trim()).map_err(|_| {
            BackupError::Config(format!(
                "the backup recipient `{}` from {origin} is not an age public key\n  hint: a recipient is the age1… line `age-keygen` prints; the secret key goes in `identity`",
                key.trim()
            ))
        })?;
        recipients.push(recipient);
    }
    Ok(Sealer::new(level, recipients))
}

/// The opener of a store's backups: the identities of `encryption` (none when it is unset or
/// names none; opening an encrypted file then fails saying so). `base` resolves a relative
/// `identity_file`.
pub fn opener(
    encryption: Option<&BackupEncryption>,
    vars: &Vars,
    base: &Path,
) -> Result<Opener, BackupError> {
    let mut identities = Vec::new();
    let Some(encryption) = encryption else {
        return Ok(Opener::new(identities));
    };
    if let Some(setting) = &encryption.identity {
        let var = setting.var().unwrap_or("identity");
        let text = match setting {
            // The manifest refuses a literal; kept readable for a manifest built in code.
            Setting::Literal(text) => Some(Secret::new(text.clone())),
            Setting::FromEnv { var, .. } => vars
                .secret(var)
                .map_err(|e| {
                    BackupError::Config(format!(
                        "{} names a file that cannot be read: {}",
                        e.var, e.message
                    ))
                })?
                .map(Secret::new),
        };
        let Some(text) = text else {
            return Err(BackupError::Config(format!(
                "the age identity variable {var} is not set\n  hint: set {var} (or {var}_FILE) to the AGE-SECRET-KEY-1… of a recipient"
            )));
        };
        identities.extend(parse_identities(text.expose(), &format!("variable {var}"))?);
    }
    if let Some(setting) = &encryption.identity_file {
        let path = match setting {
            Setting::Literal(path) => path.clone(),
            Setting::FromEnv { var, default } => match vars.get(var).or(default.as_deref()) {
                Some(path) => path.to_owned(),
                None => {
                    return Err(BackupError::Config(format!(
                        "the age identity file variable {var} is not set\n  hint: set it to the path of a file of AGE-SECRET-KEY-1… lines"
                    )));
                }
            },
        };
        let path = base.join(path);
        let text = pgfleet_core::text_file::read(&path, MAX_IDENTITY_FILE_BYTES)
            .map_err(|e| BackupError::io(format!("reading {}", path.display()), e))?;
        let text = Secret::new(String::from_utf8(text).map_err(|_| {
            BackupError::Config(format!(
                "the age identity file {} is not text",
                path.display()
            ))
        })?);
        identities.extend(parse_identities(
            text.expose(),
            &format!("file {}", path.display()),
        )?);
    }
    Ok(Opener::new(identities))
}

/// The opener of `environment`'s backups as the manifest sets them (for verify and restore):
/// its identities, a relative `identity_file` read from the manifest's folder.
pub fn environment_opener(
    manifest: &Manifest,
    environment: &str,
    vars: &Vars,
) -> Result<Opener, BackupError> {
    let target = manifest.backup_target(environment);
    opener(target.encryption.as_ref(), vars, &manifest.project_dir)
}

/// An identity file is small (one key a line); anything bigger is not one.
const MAX_IDENTITY_FILE_BYTES: u64 = 64 * 1024;

/// The identities in `text` (one or more `AGE-SECRET-KEY-1…` lines, `#` comments). age's own
/// errors give a line number, never the line.
fn parse_identities(
    text: &str,
    origin: &str,
) -> Result<Vec<Box<dyn age::Identity + Send + Sync>>, BackupError> {
    let bad = |why: String| {
        BackupError::Config(format!(
            "the age identity in {origin} cannot be read: {why}\n  hint: it holds AGE-SECRET-KEY-1… lines, as `age-keygen` writes them"
        ))
    };
    let file = age::IdentityFile::from_buffer(text.as_bytes()).map_err(|e| bad(e.to_string()))?;
    let identities = file.into_identities().map_err(|e| bad(e.to_string()))?;
    if identities.is_empty() {
        return Err(bad("it holds no identity".to_owned()));
    }
    Ok(identities)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use age::secrecy::ExposeSecret;

    fn encryption(recipients: Vec<Setting>) -> BackupEncryption {
        BackupEncryption {
            recipients,
            identity: Some(Setting::FromEnv {
                var: "BACKUP_AGE_KEY".into(),
                default: None,
            }),
            identity_file: None,
        }
    }

    #[test]
    fn keys_come_from_variables_and_no_error_or_debug_shows_a_secret() {
        let identity = age::x25519::Identity::generate();
        let secret = identity.to_string().expose_secret().to_owned();
        let public = identity.to_public().to_string();
        let config = encryption(vec![Setting::FromEnv {
            var: "BACKUP_AGE_RECIPIENT".into(),
            default: None,
        }]);
        let vars: Vars = [
            ("BACKUP_AGE_RECIPIENT", public.as_str()),
            ("BACKUP_AGE_KEY", secret.as_str()),
        ]
        .into_iter()
        .collect();
        let sealing = sealer(3, Some(&config), &vars).unwrap();
        assert_eq!(sealing.encrypted_for(), Some(1));
        let opener = opener(Some(&config), &vars, Path::new("/")).unwrap();
        assert_eq!(format!("{opener:?}"), "Opener { identities: 1 }");
        assert!(!format!("{sealing:?}").contains(&secret));

        // Unset variables are named; a bad identity's error shows neither the value nor a part.
        let err = opener_error(&config, &[("BACKUP_AGE_RECIPIENT", &public)]);
        assert!(err.contains("BACKUP_AGE_KEY is not set"), "{err}");
        let garbled = format!("{}x", &secret[..40]);
        let err = opener_error(&config, &[("BACKUP_AGE_KEY", &garbled)]);
        assert!(
            err.contains("variable BACKUP_AGE_KEY cannot be read"),
            "{err}"
        );
        assert!(!err.contains(&secret[..20]), "{err}");
        let err = sealer(3, Some(&config), &Vars::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("BACKUP_AGE_RECIPIENT is not set"), "{err}");
        let err = sealer(
            3,
            Some(&encryption(vec![Setting::Literal("age1nope".into())])),
            &vars,
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("`age1nope` from the manifest is not an age public key"),
            "{err}"
        );
    }

    fn opener_error(config: &BackupEncryption, vars: &[(&str, &str)]) -> String {
        let vars: Vars = vars.iter().copied().collect();
        opener(Some(config), &vars, Path::new("/"))
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn an_identity_file_is_read_relative_to_the_project() {
        let dir = tempfile::tempdir().unwrap();
        let identity = age::x25519::Identity::generate();
        std::fs::write(
            dir.path().join("backup.key"),
            format!(
                "# created: by a test\n{}\n",
                identity.to_string().expose_secret()
            ),
        )
        .unwrap();
        let config = BackupEncryption {
            recipients: vec![Setting::Literal(identity.to_public().to_string())],
            identity: None,
            identity_file: Some(Setting::Literal("backup.key".into())),
        };
        let opener = opener(Some(&config), &Vars::default(), dir.path()).unwrap();
        assert_eq!(format!("{opener:?}"), "Opener { identities: 1 }");
        std::fs::write(dir.path().join("backup.key"), "not a key\n").unwrap();
        let err = super::opener(Some(&config), &Vars::default(), dir.path())
            .unwrap_err()
            .to_string();
        assert!(err.contains("line 1"), "{err}");
        assert!(!err.contains("not a key"), "{err}");
    }
}
