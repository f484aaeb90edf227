//! Reading the files a user names (manifest, `.env`, `<VAR>_FILE` secrets): regular files of a
//! bounded size only, so `--manifest /dev/zero` cannot exhaust memory and a FIFO cannot hang
//! a command.

use std::io::Read as _;
use std::path::Path;

/// The largest manifest read (a fleet of hundreds of services is well under 1 MiB).
pub const MAX_MANIFEST_BYTES: u64 = 4 << 20;
/// The largest `.env` file read.
pub const MAX_DOTENV_BYTES: u64 = 1 << 20;
/// The largest secret file (`<VAR>_FILE`) read.
pub const MAX_SECRET_FILE_BYTES: u64 = 64 << 10;

/// The bytes of the regular file at `path` (symbolic links followed), at most `limit` of them.
/// Anything else (a device, a FIFO, a socket, a directory) or a larger file is an error whose
/// message says which; a missing file keeps [`std::io::ErrorKind::NotFound`].
pub fn read(path: &Path, limit: u64) -> std::io::Result<Vec<u8>> {
    // Checked before opening: opening a FIFO for reading blocks until a writer appears.
    not_regular(&std::fs::metadata(path)?)?;
    let file = std::fs::File::open(path)?;
    // And again on what was opened, in case the path changed in between.
    let metadata = file.metadata()?;
    not_regular(&metadata)?;
    let mut bytes = Vec::with_capacity(usize::try_from(metadata.len().min(limit)).unwrap_or(0));
    // A file that grows while read (or lies about its size) still stops at the limit.
    file.take(limit.saturating_add(1)).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(std::io::Error::other(format!(
            "is larger than {} KiB, more than such a file can sensibly be",
            limit >> 10
        )));
    }
    Ok(bytes)
}

fn not_regular(metadata: &std::fs::Metadata) -> std::io::Result<()> {
    use std::os::unix::fs::FileTypeExt as _;
    let kind = metadata.file_type();
    let what = if kind.is_file() {
        return Ok(());
    } else if kind.is_dir() {
        "a directory"
    } else if kind.is_fifo() {
        "a FIFO"
    } else if kind.is_char_device() {
        "a character device"
    } else if kind.is_block_device() {
        "a block device"
    } else if kind.is_socket() {
        "a socket"
    } else {
        "not a file"
    };
    Err(std::io::Error::other(format!(
        "is {what}, not a regular file"
    )))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn devices_fifos_directories_and_large_files_are_refused() {
        let err = read(Path::new("/dev/zero"), 1024).unwrap_err().to_string();
        assert_eq!(err, "is a character device, not a regular file");
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            read(dir.path(), 1024).unwrap_err().to_string(),
            "is a directory, not a regular file"
        );
        let fifo = dir.path().join("fifo");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success());
        assert_eq!(
            read(&fifo, 1024).unwrap_err().to_string(),
            "is a FIFO, not a regular file"
        );
        let big = dir.path().join("big");
        std::fs::write(&big, vec![b'x'; 2049]).unwrap();
        assert!(
            read(&big, 2048)
                .unwrap_err()
                .to_string()
                .contains("larger than 2 KiB")
        );
        assert_eq!(read(&big, 4096).unwrap().len(), 2049);
        let missing = read(&dir.path().join("none"), 10).unwrap_err();
        assert_eq!(missing.kind(), std::io::ErrorKind::NotFound);
    }
}
