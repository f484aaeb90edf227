//! A file on its way into the store: zstd-compressed and hashed in one pass (the hash is of
//! the stored bytes, so `verify` can check a file without opening it), then synced.

use crate::BackupError;
use sha2::{Digest, Sha256};
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::Path;

/// A file as sealed: its stored size and hash, and the size it had before.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedFile {
    pub raw_bytes: u64,
    pub bytes: u64,
    pub sha256: String,
}

/// Writes `source` compressed at `level` to `dest`, synced, and returns its hash.
pub fn seal_file(source: &Path, dest: &Path, level: i32) -> Result<SealedFile, BackupError> {
    let what = || format!("compressing {} into {}", source.display(), dest.display());
    let input = File::open(source).map_err(|e| BackupError::io(what(), e))?;
    let output = File::create(dest).map_err(|e| BackupError::io(what(), e))?;
    let mut hashing = HashingWriter::new(BufWriter::new(output));
    let mut reader = CountingReader::new(BufReader::new(input));
    let mut encoder =
        zstd::stream::Encoder::new(&mut hashing, level).map_err(|e| BackupError::io(what(), e))?;
    io::copy(&mut reader, &mut encoder).map_err(|e| BackupError::io(what(), e))?;
    encoder.finish().map_err(|e| BackupError::io(what(), e))?;
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

/// Writes the original of the sealed `source` to `dest`.
pub fn open_file(source: &Path, dest: &Path) -> Result<u64, BackupError> {
    let what = || format!("decompressing {} into {}", source.display(), dest.display());
    let input = File::open(source).map_err(|e| BackupError::io(what(), e))?;
    let mut decoder = zstd::stream::Decoder::new(input).map_err(|e| BackupError::io(what(), e))?;
    let mut output = BufWriter::new(File::create(dest).map_err(|e| BackupError::io(what(), e))?);
    let written = io::copy(&mut decoder, &mut output).map_err(|e| BackupError::io(what(), e))?;
    output.flush().map_err(|e| BackupError::io(what(), e))?;
    Ok(written)
}

/// A stored file checked and opened in one pass: its original written to `dest`, and the
/// size and SHA-256 of the stored bytes read. A file whose bytes do not decompress (damaged)
/// is still hashed to its end, so the caller can name it by its hash; the decoding error is
/// then `Err` of the inner result.
pub fn open_file_checked(
    source: &Path,
    dest: &Path,
) -> Result<(u64, String, Result<u64, String>), BackupError> {
    let what = || format!("decompressing {} into {}", source.display(), dest.display());
    let input = File::open(source).map_err(|e| BackupError::io(what(), e))?;
    let mut hashing = HashingReader {
        inner: BufReader::new(input),
        hasher: Sha256::new(),
        count: 0,
    };
    let opened = (|| {
        let mut decoder = zstd::stream::Decoder::new(&mut hashing)?;
        let mut output = BufWriter::new(File::create(dest)?);
        let written = io::copy(&mut decoder, &mut output)?;
        output.flush()?;
        Ok::<_, io::Error>(written)
    })();
    // What the decoder left unread (a frame's end, or all after a damaged block) is hashed too.
    io::copy(&mut hashing, &mut io::sink()).map_err(|e| BackupError::io(what(), e))?;
    let digest = hashing.hasher.finalize();
    let hex = digest.iter().map(|b| format!("{b:02x}")).collect();
    Ok((hashing.count, hex, opened.map_err(|e| e.to_string())))
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
        let sealed = seal_file(&original, &sealed_path, 3).unwrap();
        assert_eq!(sealed.raw_bytes, text.len() as u64);
        assert!(sealed.bytes < sealed.raw_bytes / 10, "{sealed:?}");
        assert_eq!(
            hash_file(&sealed_path).unwrap(),
            (sealed.bytes, sealed.sha256.clone())
        );
        let back = dir.path().join("back.dat");
        assert_eq!(open_file(&sealed_path, &back).unwrap(), text.len() as u64);
        assert_eq!(std::fs::read_to_string(&back).unwrap(), text);
        // Checked and opened in one pass: the same hash, the same original.
        let (bytes, sha256, opened) = open_file_checked(&sealed_path, &back).unwrap();
        assert_eq!((bytes, sha256), (sealed.bytes, sealed.sha256.clone()));
        assert_eq!(opened.unwrap(), text.len() as u64);
        assert_eq!(std::fs::read_to_string(&back).unwrap(), text);
        // A changed byte: the hash says so, whether or not it still decodes.
        let mut damaged = std::fs::read(&sealed_path).unwrap();
        let middle = damaged.len() / 2;
        damaged[middle] ^= 0x10;
        std::fs::write(&sealed_path, &damaged).unwrap();
        let (bytes, sha256, _) = open_file_checked(&sealed_path, &back).unwrap();
        assert_eq!(bytes, sealed.bytes);
        assert_ne!(sha256, sealed.sha256);
    }
}
