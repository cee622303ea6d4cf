//! Heartbeats: one small JSON file per recorder under `_recorders/` in the root, replaced
//! (written aside, then renamed over) by each beat. A Delta commit per beat would be the
//! many-small-files pattern the tables avoid, and readers need only the latest beat.

use std::fs;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

use crate::error::StoreError;
use crate::record::RecorderHeartbeat;

/// The folder of the heartbeat files, in the root beside the tables (Delta readers look only
/// inside a table's folder, and names starting with `_` are skipped by Spark's file listing).
pub(super) const DIR: &str = "_recorders";

/// Longest file name stem that is the recorder id in hex; longer ids are cut and hashed.
const MAX_HEX: usize = 160;

/// The file of `recorder_id`: its bytes in hex (any text is a safe file name that way), cut and
/// followed by a hash of the whole id when long.
fn file_name(recorder_id: &str) -> String {
    let bytes = recorder_id.as_bytes();
    let mut name: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    if name.len() > MAX_HEX {
        name.truncate(MAX_HEX);
        // FNV-1a: stable across releases and platforms, unlike `std`'s hasher.
        let hash = bytes.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, &b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        });
        name.push_str(&format!("-{hash:016x}"));
    }
    name.push_str(".json");
    name
}

fn io_err(path: &Path, what: &str, source: io::Error) -> StoreError {
    StoreError::io(format!("delta store {}: {what}", path.display()), source)
}

/// Replaces the beat file of `heartbeat`'s recorder under `root`.
pub(super) fn write(root: &Path, heartbeat: &RecorderHeartbeat) -> Result<(), StoreError> {
    let dir = root.join(DIR);
    fs::create_dir_all(&dir).map_err(|e| io_err(&dir, "create directory", e))?;
    let path = dir.join(file_name(&heartbeat.recorder_id));
    let json = serde_json::to_vec(heartbeat).map_err(|source| StoreError::Json {
        context: format!("delta store {}: heartbeat", path.display()),
        source,
    })?;
    let aside = aside(&path);
    let written = fs::File::create(&aside).and_then(|mut file| file.write_all(&json));
    if let Err(e) = written.and_then(|()| fs::rename(&aside, &path)) {
        let _ = fs::remove_file(&aside);
        return Err(io_err(&path, "write heartbeat", e));
    }
    Ok(())
}

/// Where a beat is written before it is renamed over the file (one per process, so that two
/// writers of one recorder id never mix their bytes).
fn aside(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".{}.tmp", std::process::id()));
    path.with_file_name(name)
}

/// The latest beat of every recorder under `root`, oldest recorder first.
pub(super) fn read(root: &Path) -> Result<Vec<RecorderHeartbeat>, StoreError> {
    let dir = root.join(DIR);
    let entries = match fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_err(&dir, "list heartbeats", e)),
    };
    let mut beats = Vec::new();
    for entry in entries {
        let path = entry
            .map_err(|e| io_err(&dir, "list heartbeats", e))?
            .path();
        if path.extension().is_none_or(|ext| ext != "json") {
            continue;
        }
        let bytes = match fs::read(&path) {
            Ok(bytes) => bytes,
            // Replaced or removed since the listing.
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(io_err(&path, "read heartbeat", e)),
        };
        beats.push(parse(&bytes, || {
            format!("delta store {}: heartbeat", path.display())
        })?);
    }
    Ok(oldest_first(beats))
}

/// Replaces the beat object of `heartbeat`'s recorder under `_recorders/` of an object store
/// (a put replaces an object whole, so no reader sees half a beat).
#[cfg(feature = "delta-s3")]
pub(super) async fn write_object(
    store: &dyn deltalake::ObjectStore,
    root: &str,
    heartbeat: &RecorderHeartbeat,
) -> Result<(), StoreError> {
    let path = object_path(&file_name(&heartbeat.recorder_id));
    let json = serde_json::to_vec(heartbeat).map_err(|source| StoreError::Json {
        context: format!("delta store {root}: heartbeat"),
        source,
    })?;
    store
        .put(&path, json.into())
        .await
        .map_err(|e| object_err(root, &format!("write heartbeat {path}"), e))?;
    Ok(())
}

/// The latest beat of every recorder under `_recorders/` of an object store, oldest recorder
/// first.
#[cfg(feature = "delta-s3")]
pub(super) async fn read_objects(
    store: &dyn deltalake::ObjectStore,
    root: &str,
) -> Result<Vec<RecorderHeartbeat>, StoreError> {
    use deltalake::ObjectStoreError;

    let dir = deltalake::Path::from(DIR);
    let listed = store
        .list_with_delimiter(Some(&dir))
        .await
        .map_err(|e| object_err(root, "list heartbeats", e))?;
    let mut beats = Vec::new();
    for meta in listed.objects {
        if meta.location.extension() != Some("json") {
            continue;
        }
        let got = match store.get(&meta.location).await {
            Ok(got) => got.bytes().await,
            Err(e) => Err(e),
        };
        let bytes = match got {
            Ok(bytes) => bytes,
            // Removed since the listing.
            Err(ObjectStoreError::NotFound { .. }) => continue,
            Err(e) => {
                return Err(object_err(
                    root,
                    &format!("read heartbeat {}", meta.location),
                    e,
                ))
            }
        };
        beats.push(parse(&bytes, || {
            format!("delta store {root}: heartbeat {}", meta.location)
        })?);
    }
    Ok(oldest_first(beats))
}

/// The beat in the bytes of a beat file (or object); `context` says which in an error.
fn parse(bytes: &[u8], context: impl FnOnce() -> String) -> Result<RecorderHeartbeat, StoreError> {
    serde_json::from_slice(bytes).map_err(|source| StoreError::Json {
        context: context(),
        source,
    })
}

/// `beats` by the start of their recorder, then by recorder id.
fn oldest_first(mut beats: Vec<RecorderHeartbeat>) -> Vec<RecorderHeartbeat> {
    beats.sort_by(|a, b| (a.started_at, &a.recorder_id).cmp(&(b.started_at, &b.recorder_id)));
    beats
}

#[cfg(feature = "delta-s3")]
fn object_path(name: &str) -> deltalake::Path {
    deltalake::Path::from(DIR).child(name)
}

#[cfg(feature = "delta-s3")]
fn object_err(root: &str, what: &str, source: deltalake::ObjectStoreError) -> StoreError {
    StoreError::Delta {
        context: format!("delta store {root}: {what}"),
        source: Box::new(source),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_are_safe_distinct_and_bounded() {
        let long_a = "a".repeat(500);
        let long_b = format!("{}b", "a".repeat(499));
        let names: Vec<String> = ["w-1", "../../etc/passwd", "日本", "", &long_a, &long_b]
            .iter()
            .map(|id| file_name(id))
            .collect();
        for name in &names {
            assert!(name.len() <= MAX_HEX + 22, "{name}");
            assert!(
                name.trim_end_matches(".json")
                    .chars()
                    .all(|c| c.is_ascii_hexdigit() || c == '-'),
                "{name}"
            );
        }
        let mut unique = names.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), names.len(), "{names:?}");
        assert_eq!(file_name("w"), "77.json");
    }
}
