//! A file on its way into the store: zstd-compressed, then age-encrypted to the environment's
//! recipients when it has any, and hashed in the same pass (the hash is of the stored bytes,
//! so `verify` can check a file without opening it), then synced. Opening reverses it: an age
//! file (told by its header) is decrypted with the configured identities, then decompressed.

use crate::BackupError;
use sha2::{Digest, Sha256};
use std::fmt;
use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Read, Write};
use std::path::Path;

/// The first bytes of every age file (its version line).
const AGE_HEADER: &[u8] = b"age-encryption.org/";

/// A file as sealed: its stored size and hash, and the size it had before.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedFile {
    pub raw_bytes: u64,
    pub bytes: u64,
    pub sha256: String,
}

/// How files are sealed: zstd at `level`, then age to `recipients` when there are any.
#[derive(Clone)]
pub struct Sealer {
    pub level: i32,
    recipients: Vec<age::x25519::Recipient>,
}

impl Sealer {
    /// zstd only.
    pub fn plain(level: i32) -> Self {
        Sealer {
            level,
            recipients: Vec::new(),
        }
    }

    pub fn new(level: i32, recipients: Vec<age::x25519::Recipient>) -> Self {
        Sealer { level, recipients }
    }

    /// The number of recipients when files are encrypted (the catalog's `encrypted_for`).
    pub fn encrypted_for(&self) -> Option<usize> {
        (!self.recipients.is_empty()).then_some(self.recipients.len())
    }
}

impl fmt::Debug for Sealer {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.debug_struct("Sealer")
            .field("level", &self.level)
            .field("recipients", &self.recipients.len())
            .finish()
    }
}

/// The age identities sealed files are opened with (none: only unencrypted files open).
pub struct Opener {
    identities: Vec<Box<dyn age::Identity + Send + Sync>>,
}

impl Opener {
    pub fn new(identities: Vec<Box<dyn age::Identity + Send + Sync>>) -> Self {
        Opener { identities }
    }

    /// Opens unencrypted files only.
    pub fn plain() -> Self {
        Opener::new(Vec::new())
    }
}

impl fmt::Debug for Opener {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        // Never the keys: how many there are is all a reader needs.
        f.debug_struct("Opener")
            .field("identities", &self.identities.len())
            .finish()
    }
}

/// Writes `source` sealed by `sealer` to `dest`, synced, and returns its hash.
pub fn seal_file(source: &Path, dest: &Path, sealer: &Sealer) -> Result<SealedFile, BackupError> {
    let what = || format!("compressing {} into {}", source.display(), dest.display());
    let input = File::open(source).map_err(|e| BackupError::io(what(), e))?;
    let output = File::create(dest).map_err(|e| BackupError::io(what(), e))?;
    let mut hashing = HashingWriter::new(BufWriter::new(output));
    let mut reader = CountingReader::new(BufReader::new(input));
    if sealer.recipients.is_empty() {
        compress(&mut reader, &mut hashing, sealer.level)
            .map_err(|e| BackupError::io(what(), e))?;
    } else {
        let encryptor = age::Encryptor::with_recipients(
            sealer.recipients.iter().map(|r| r as &dyn age::Recipient),
        )
        .map_err(|e| BackupError::Encrypt(e.to_string()))?;
        let mut encrypting = encryptor
            .wrap_output(&mut hashing)
            .map_err(|e| BackupError::io(what(), e))?;
        compress(&mut reader, &mut encrypting, sealer.level)
            .map_err(|e| BackupError::io(what(), e))?;
        encrypting
            .finish()
            .map_err(|e| BackupError::io(what(), e))?;
    }
    let (writer, bytes, sha256) = hashing.finish();
    let file = writer
        .into_inner()
        .map_err(|e| BackupError::io(what(), e.into_error()))?;
    file.sync_all().map_err(|e| BackupError::io(what(), e))?;
    Ok(SealedFile {
        raw_bytes: reader.count,
        bytes,
        sha256,
    })
}

fn compress(reader: &mut impl Read, writer: &mut impl Write, level: i32) -> io::Result<()> {
    let mut encoder = zstd::stream::Encoder::new(writer, level)?;
    io::copy(reader, &mut encoder)?;
    encoder.finish()?;
    Ok(())
}

/// Writes the original of the sealed `source` to `dest`.
pub fn open_file(source: &Path, dest: &Path, opener: &Opener) -> Result<u64, BackupError> {
    let what = || format!("decompressing {} into {}", source.display(), dest.display());
    let input = File::open(source).map_err(|e| BackupError::io(what(), e))?;
    open_reader(BufReader::new(input), source, dest, opener)
}

/// A stored file checked and opened in one pass: its original written to `dest`, and the
/// size and SHA-256 of the stored bytes read. A file whose bytes do not open (damaged) is
/// still hashed to its end, so the caller can name it by its hash; the opening's error is
/// then `Err` of the inner result.
pub fn open_file_checked(
    source: &Path,
    dest: &Path,
    opener: &Opener,
) -> Result<(u64, String, Result<u64, BackupError>), BackupError> {
    let what = || format!("reading {}", source.display());
    let input = File::open(source).map_err(|e| BackupError::io(what(), e))?;
    let mut hashing = HashingReader {
        inner: input,
        hasher: Sha256::new(),
        count: 0,
    };
    let opened = open_reader(BufReader::new(&mut hashing), source, dest, opener);
    // What the opening left unread (a frame's end, or all after a damaged block) is hashed too.
    io::copy(&mut hashing, &mut io::sink()).map_err(|e| BackupError::io(what(), e))?;
    let digest = hashing.hasher.finalize();
    let hex = digest.iter().map(|b| format!("{b:02x}")).collect();
    Ok((hashing.count, hex, opened))
}

/// The original of the sealed bytes of `input` (read from `source`), written to `dest`: age
/// decrypted first when the bytes say they are encrypted, then zstd.
fn open_reader(
    mut input: impl BufRead,
    source: &Path,
    dest: &Path,
    opener: &Opener,
) -> Result<u64, BackupError> {
    let what = || format!("decompressing {} into {}", source.display(), dest.display());
    let encrypted = input
        .fill_buf()
        .map_err(|e| BackupError::io(what(), e))?
        .starts_with(AGE_HEADER);
    let mut output = BufWriter::new(File::create(dest).map_err(|e| BackupError::io(what(), e))?);
    let written = if encrypted {
        let file = source.display().to_string();
        if opener.identities.is_empty() {
            return Err(BackupError::Decrypt {
                file,
                why: "it is age-encrypted and no identity is configured\n  hint: set identity = { env = \"…\" } or identity_file = \"…\" in the environment's [backup.environments.E.encryption]".to_owned(),
            });
        }
        let decryptor = age::Decryptor::new_buffered(input).map_err(|e| decrypt_error(&file, e))?;
        let decrypting = decryptor
            .decrypt(
                opener
                    .identities
                    .iter()
                    .map(|i| i.as_ref() as &dyn age::Identity),
            )
            .map_err(|e| decrypt_error(&file, e))?;
        decompress(decrypting, &mut output).map_err(|e| BackupError::io(what(), e))?
    } else {
        decompress(input, &mut output).map_err(|e| BackupError::io(what(), e))?
    };
    output.flush().map_err(|e| BackupError::io(what(), e))?;
    Ok(written)
}

fn decompress(reader: impl Read, writer: &mut impl Write) -> io::Result<u64> {
    let mut decoder = zstd::stream::Decoder::new(reader)?;
    io::copy(&mut decoder, writer)
}

fn decrypt_error(file: &str, error: age::DecryptError) -> BackupError {
    let why = match error {
        age::DecryptError::NoMatchingKeys => "none of the configured age identities is one of its recipients\n  hint: use the identity whose public key was a recipient when the backup was made".to_owned(),
        other => format!("age cannot decrypt it: {other}"),
    };
    BackupError::Decrypt {
        file: file.to_owned(),
        why,
    }
}

struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
    count: u64,
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }
}

/// The SHA-256 (hex) of a stored file, for `verify`.
pub fn hash_file(path: &Path) -> Result<(u64, String), BackupError> {
    let what = || format!("reading {}", path.display());
    let mut file = File::open(path).map_err(|e| BackupError::io(what(), e))?;
    let mut hashing = HashingWriter::new(io::sink());
    io::copy(&mut file, &mut hashing).map_err(|e| BackupError::io(what(), e))?;
    let (_, bytes, sha256) = hashing.finish();
    Ok((bytes, sha256))
}

struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
    count: u64,
}

impl<W: Write> HashingWriter<W> {
    fn new(inner: W) -> Self {
        HashingWriter {
            inner,
            hasher: Sha256::new(),
            count: 0,
        }
    }

    fn finish(self) -> (W, u64, String) {
        let digest = self.hasher.finalize();
        let hex = digest.iter().map(|b| format!("{b:02x}")).collect();
        (self.inner, self.count, hex)
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

struct CountingReader<R> {
    inner: R,
    count: u64,
}

impl<R: Read> CountingReader<R> {
    fn new(inner: R) -> Self {
        CountingReader { inner, count: 0 }
    }
}

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_file_opens_to_its_original_and_its_hash_is_of_the_stored_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let original = dir.path().join("1234.dat");
        let text = "1\tsome row\n".repeat(10_000);
        std::fs::write(&original, &text).unwrap();
        let sealed_path = dir.path().join("1234.dat.zst");
        let sealed = seal_file(&original, &sealed_path, &Sealer::plain(3)).unwrap();
        assert_eq!(sealed.raw_bytes, text.len() as u64);
        assert!(sealed.bytes < sealed.raw_bytes / 10, "{sealed:?}");
        assert_eq!(
            hash_file(&sealed_path).unwrap(),
            (sealed.bytes, sealed.sha256.clone())
        );
        let back = dir.path().join("back.dat");
        let plain = Opener::plain();
        assert_eq!(
            open_file(&sealed_path, &back, &plain).unwrap(),
            text.len() as u64
        );
        assert_eq!(std::fs::read_to_string(&back).unwrap(), text);
        // Checked and opened in one pass: the same hash, the same original.
        let (bytes, sha256, opened) = open_file_checked(&sealed_path, &back, &plain).unwrap();
        assert_eq!((bytes, sha256), (sealed.bytes, sealed.sha256.clone()));
        assert_eq!(opened.unwrap(), text.len() as u64);
        assert_eq!(std::fs::read_to_string(&back).unwrap(), text);
        // A changed byte: the hash says so, whether or not it still decodes.
        let mut damaged = std::fs::read(&sealed_path).unwrap();
        let middle = damaged.len() / 2;
        damaged[middle] ^= 0x10;
        std::fs::write(&sealed_path, &damaged).unwrap();
        let (bytes, sha256, _) = open_file_checked(&sealed_path, &back, &plain).unwrap();
        assert_eq!(bytes, sealed.bytes);
        assert_ne!(sha256, sealed.sha256);
    }

    #[test]
    fn an_encrypted_file_opens_with_its_identity_only() {
        let dir = tempfile::tempdir().unwrap();
        let original = dir.path().join("1234.dat");
        let text = "2\tanother row\n".repeat(10_000);
        std::fs::write(&original, &text).unwrap();
        let identity = age::x25519::Identity::generate();
        let sealer = Sealer::new(3, vec![identity.to_public()]);
        let sealed_path = dir.path().join("1234.dat.zst");
        let sealed = seal_file(&original, &sealed_path, &sealer).unwrap();
        let stored = std::fs::read(&sealed_path).unwrap();
        assert!(stored.starts_with(AGE_HEADER));
        assert!(sealed.bytes < sealed.raw_bytes / 10, "{sealed:?}");
        assert_eq!(
            hash_file(&sealed_path).unwrap(),
            (sealed.bytes, sealed.sha256)
        );

        let back = dir.path().join("back.dat");
        let opener = Opener::new(vec![Box::new(identity)]);
        open_file(&sealed_path, &back, &opener).unwrap();
        assert_eq!(std::fs::read_to_string(&back).unwrap(), text);

        let err = open_file(&sealed_path, &back, &Opener::plain()).unwrap_err();
        assert!(
            err.to_string().contains("no identity is configured"),
            "{err}"
        );
        let other = Opener::new(vec![Box::new(age::x25519::Identity::generate())]);
        let err = open_file(&sealed_path, &back, &other)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("1234.dat.zst cannot be opened: none of the configured age identities is one of its recipients"),
            "{err}"
        );
    }
}
