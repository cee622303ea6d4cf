//! A real full disk: a small tmpfs mounted for one test, filled to its last byte and freed on
//! command. Mounting needs root (CI runs as root); elsewhere the tests that need it skip with a
//! message, unless `TRACING_ETL_REQUIRE_TMPFS=1` makes that a failure.

use std::fs::File;
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

/// A tmpfs mounted on a temporary directory, unmounted when dropped.
pub struct Tmpfs {
    dir: tempfile::TempDir,
    filler: PathBuf,
}

impl Tmpfs {
    /// Mounts a tmpfs of `size` (as `mount -o size=` takes it, e.g. `2m`); `None`, after saying
    /// why on stderr, when this process may not mount one.
    pub fn mount(size: &str) -> Option<Tmpfs> {
        let dir = tempfile::tempdir().expect("a directory to mount on");
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .output();
        let failure = match out {
            Ok(out) if out.status.success() => None,
            Ok(out) => Some(String::from_utf8_lossy(&out.stderr).trim().to_owned()),
            Err(e) => Some(e.to_string()),
        };
        if let Some(why) = failure {
            let message = format!("cannot mount a tmpfs (needs root): {why}");
            assert!(
                std::env::var("TRACING_ETL_REQUIRE_TMPFS").as_deref() != Ok("1"),
                "{message}"
            );
            eprintln!("SKIPPED: {message}");
            return None;
        }
        let filler = dir.path().join("filler");
        Some(Tmpfs { dir, filler })
    }

    /// The mount point.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Fills the file system to its last byte with a file of its own.
    pub fn fill(&self) {
        let mut file = File::create(&self.filler).expect("create the filler");
        for chunk in [64 * 1024, 4096, 1] {
            let bytes = vec![0u8; chunk];
            loop {
                match file.write(&bytes) {
                    Ok(0) => break,
                    Ok(_) => {}
                    Err(e)
                        if e.raw_os_error() == Some(28) || e.kind() == ErrorKind::StorageFull =>
                    {
                        break
                    }
                    Err(e) => panic!("fill the tmpfs: {e}"),
                }
            }
        }
        let probe = File::create(self.dir.path().join("probe")).and_then(|mut f| f.write_all(b"x"));
        assert!(probe.is_err(), "the tmpfs is full");
        let _ = std::fs::remove_file(self.dir.path().join("probe"));
    }

    /// Takes `bytes` of the file system with a file of its own.
    pub fn fill_with(&self, bytes: usize) {
        std::fs::write(&self.filler, vec![0u8; bytes]).expect("write the filler");
    }

    /// Frees what [`fill`](Self::fill) or [`fill_with`](Self::fill_with) took.
    pub fn free(&self) {
        std::fs::remove_file(&self.filler).expect("remove the filler");
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir.path()).status();
    }
}
