//! Who is assembling a staging folder: `.partial/<id>.pid` beside it holds the run's pid and
//! the pids of the tools it started, each with its start time (a pid alone may be reused). A
//! later run removes the folders of runs that are gone (killed before publishing) and stops
//! the tools they left running (a killed pgfleet's pg_dump would go on loading the server).

use crate::BackupError;
use std::fs::OpenOptions;
use std::io::Write as _;
use std::path::{Path, PathBuf};

/// The name of a run's probe folder, before its pid.
pub(crate) const PROBE: &str = ".probe-";

/// The owner file of a staging folder, for as long as this run assembles it.
#[derive(Debug, Clone)]
pub(crate) struct Owner {
    path: PathBuf,
}

impl Owner {
    /// Marks the staging folder of backup `id` in `partial` as this process's, before it is
    /// made (so no folder is ever without its owner).
    pub(crate) fn claim(partial: &Path, id: &str) -> Result<Owner, BackupError> {
        let path = partial.join(format!("{id}.pid"));
        let pid = std::process::id();
        let text = format!("{pid} {}\n", process_start(pid).unwrap_or(0));
        std::fs::write(&path, text)
            .map_err(|e| BackupError::io(format!("writing {}", path.display()), e))?;
        Ok(Owner { path })
    }

    /// Records a tool this run started (best effort: the folder is still removed without it).
    pub(crate) fn child(&self, pid: u32) {
        if let Ok(mut file) = OpenOptions::new().append(true).open(&self.path) {
            let _ = writeln!(file, "child {pid} {}", process_start(pid).unwrap_or(0));
        }
    }

    /// The folder is published (or gone): nothing to clean up after this run.
    pub(crate) fn release(&self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Removes the staging folders under `partial` whose run is gone, after stopping the tools it
/// left running. Best effort: what cannot be removed now is tried again by the next run.
pub(crate) fn remove_dead_runs(partial: &Path) {
    let Ok(entries) = std::fs::read_dir(partial) else {
        return;
    };
    for entry in entries.filter_map(Result::ok) {
        let path = entry.path();
        // An empty probe folder of a run that is gone (see `create::staging_root`).
        if let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.strip_prefix(PROBE))
            .and_then(|p| p.parse::<u32>().ok())
        {
            if process_start(pid).is_none() {
                let _ = std::fs::remove_dir(&path);
            }
            continue;
        }
        let (Some(id), Some("pid")) = (
            path.file_stem().and_then(|s| s.to_str()),
            path.extension().and_then(|s| s.to_str()),
        ) else {
            continue;
        };
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        let mut lines = text.lines();
        if lines.next().and_then(process).is_some_and(is_running) {
            continue;
        }
        // Only while the tool itself still runs is its group known to be its own.
        for child in lines
            .filter_map(|l| l.strip_prefix("child "))
            .filter_map(process)
        {
            if is_running(child) {
                tracing::info!(
                    pid = child.0,
                    "stopping a tool a killed backup left running"
                );
                stop_group(child.0);
                await_group(child.0);
            }
        }
        tracing::info!(folder = %partial.join(id).display(), "removing the staging folder of a run that is gone");
        let _ = std::fs::remove_dir_all(partial.join(id));
        let _ = std::fs::remove_file(&path);
    }
}

/// A tool started in its own process group (its workers in it too), stopped with all of them
/// when dropped before it `ended`.
#[derive(Debug)]
pub(crate) struct Group {
    pid: Option<u32>,
}

impl Group {
    pub(crate) fn new(pid: u32) -> Group {
        Group { pid: Some(pid) }
    }

    /// The tool exited by itself: nothing to stop.
    pub(crate) fn ended(&mut self) {
        self.pid = None;
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        if let Some(pid) = self.pid {
            stop_group(pid);
        }
    }
}

/// SIGKILL to the process group led by `pid`.
fn stop_group(pid: u32) {
    if let Ok(pid) = i32::try_from(pid) {
        let _ = nix::sys::signal::killpg(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
}

/// Waits (a little) until the group led by `pid` is gone, so none of it writes into a folder
/// being removed.
fn await_group(pid: u32) {
    let Ok(pid) = i32::try_from(pid) else {
        return;
    };
    let group = nix::unistd::Pid::from_raw(pid);
    let started = std::time::Instant::now();
    while nix::sys::signal::killpg(group, None).is_ok()
        && started.elapsed() < std::time::Duration::from_secs(2)
    {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

/// `<pid> <start>` as the owner file has it.
fn process(line: &str) -> Option<(u32, u64)> {
    let mut fields = line.split_whitespace();
    Some((fields.next()?.parse().ok()?, fields.next()?.parse().ok()?))
}

/// Whether the process that wrote `(pid, start)` still runs (start 0: not known, the pid
/// decides).
fn is_running((pid, start): (u32, u64)) -> bool {
    process_start(pid).is_some_and(|now| start == 0 || now == start)
}

/// When process `pid` started (clock ticks since boot, `/proc/<pid>/stat` field 22); `None`
/// when it is not running (or a zombie).
fn process_start(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The name may hold spaces and parentheses: fields are counted after its last `)`.
    let fields: Vec<&str> = stat[stat.rfind(')')? + 1..].split_whitespace().collect();
    if fields.first() == Some(&"Z") {
        return None;
    }
    // fields[0] is field 3 (state); starttime is field 22.
    fields.get(19)?.parse().ok()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::os::unix::process::CommandExt as _;

    #[test]
    fn staging_folders_of_dead_runs_go_with_their_tools_and_live_ones_stay() {
        let partial = tempfile::tempdir().unwrap();
        let folder = |id: &str| {
            let dir = partial.path().join(id);
            std::fs::create_dir_all(dir.join("svc")).unwrap();
            dir
        };
        let (live, dead, stranger) = (
            folder("a_20240101_000000"),
            folder("b_20240101_000000"),
            folder("c_20240101_000000"),
        );
        // A tool with a worker, in its own group as run_watched starts them.
        let mut tool = std::process::Command::new("sh")
            .args(["-c", "sleep 60 & wait"])
            .process_group(0)
            .spawn()
            .unwrap();
        let owner = Owner::claim(partial.path(), "a_20240101_000000").unwrap();
        owner.child(tool.id());
        let dead_owner = Owner::claim(partial.path(), "b_20240101_000000").unwrap();
        dead_owner.child(tool.id());
        // The dead run's pid is running, but it is not the process that wrote the file.
        let text = std::fs::read_to_string(&dead_owner.path).unwrap();
        let (_, children) = text.split_once('\n').unwrap();
        std::fs::write(
            &dead_owner.path,
            format!("{} 1\n{children}", std::process::id()),
        )
        .unwrap();

        let probe = partial.path().join(format!("{PROBE}{}", u32::MAX));
        std::fs::create_dir(&probe).unwrap();
        remove_dead_runs(partial.path());
        assert!(!probe.exists());
        assert!(live.is_dir() && owner.path.is_file());
        assert!(!dead.exists() && !dead_owner.path.exists());
        // No owner file: not known to be dead, left alone.
        assert!(stranger.is_dir());
        // The dead run's tool was stopped, its worker too.
        let status = tool.wait().unwrap();
        assert!(!status.success(), "{status:?}");
        let pgid = nix::unistd::Pid::from_raw(i32::try_from(tool.id()).unwrap());
        let started = std::time::Instant::now();
        while nix::sys::signal::killpg(pgid, None).is_ok() {
            assert!(
                started.elapsed().as_secs() < 5,
                "the worker outlived its tool"
            );
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        owner.release();
        assert!(!owner.path.exists());
    }
}
