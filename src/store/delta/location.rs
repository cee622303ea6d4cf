//! Where a store's tables live: a local directory, or (feature `delta-s3`) a prefix of an S3
//! bucket, with the storage options its object store is built from.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use deltalake::{DeltaTable, DeltaTableBuilder};
use url::Url;

use crate::error::StoreError;
use crate::record::EntityKind;

/// The root of the three tables.
pub(super) enum Root {
    /// A local directory (canonical).
    Dir(PathBuf),
    /// An object store prefix (`s3://bucket/prefix/`, always ending in `/`), the options given
    /// (deltalake adds the `AWS_*` environment to them), and the object store of the prefix for
    /// the heartbeat files.
    #[cfg(feature = "delta-s3")]
    Object {
        url: Url,
        options: HashMap<String, String>,
        store: deltalake::logstore::ObjectStoreRef,
    },
}

impl Root {
    /// The root as a URL: `file:///…/` or `s3://bucket/prefix/`.
    pub(super) fn url(&self) -> Result<Url, StoreError> {
        match self {
            // A canonical path is absolute, which is all a file URL needs.
            Root::Dir(dir) => Url::from_directory_path(dir).map_err(|()| {
                StoreError::invalid_data(
                    format!("delta store {}", dir.display()),
                    "the path cannot be written as a file URL",
                )
            }),
            #[cfg(feature = "delta-s3")]
            Root::Object { url, .. } => Ok(url.clone()),
        }
    }

    /// The table of `kind`: the folder of its name in the root.
    pub(super) fn table_url(&self, kind: EntityKind) -> Result<Url, StoreError> {
        let root = self.url()?;
        root.join(&format!("{}/", kind.table())).map_err(|e| {
            StoreError::invalid_data(format!("delta store {self}"), format!("table URL: {e}"))
        })
    }

    /// The storage options of the object store (none for a directory).
    pub(super) fn options(&self) -> HashMap<String, String> {
        match self {
            Root::Dir(_) => HashMap::new(),
            #[cfg(feature = "delta-s3")]
            Root::Object { options, .. } => options.clone(),
        }
    }

    /// The local directory, if the root is one.
    pub(super) fn dir(&self) -> Option<&Path> {
        match self {
            Root::Dir(dir) => Some(dir),
            #[cfg(feature = "delta-s3")]
            Root::Object { .. } => None,
        }
    }
}

impl std::fmt::Display for Root {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Root::Dir(dir) => write!(f, "{}", dir.display()),
            #[cfg(feature = "delta-s3")]
            Root::Object { url, .. } => write!(f, "{url}"),
        }
    }
}

/// What a loaded table keeps of its log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Load {
    /// The version, protocol and metadata, and the list of active files with their statistics:
    /// what reading and compaction need. Bringing it up to date replays every listed file.
    Files,
    /// The version, protocol and metadata only: what an append needs, at a cost that does not
    /// grow with the number of files in the table.
    LogOnly,
}

/// The table at `url`, not loaded yet, to be loaded as `load` says. Built outside the store's
/// runtime: deltalake's S3 support may resolve AWS credentials here, on a runtime of its own.
pub(super) fn unloaded_table(
    url: &Url,
    options: HashMap<String, String>,
    load: Load,
) -> Result<DeltaTable, deltalake::DeltaTableError> {
    let builder = DeltaTableBuilder::from_url(url.clone())?.with_storage_options(options);
    match load {
        Load::Files => builder,
        Load::LogOnly => builder.without_files(),
    }
    .build()
}

/// `text` as the root of an S3 store: an `s3://` or `s3a://` URL naming a bucket, with no
/// query or fragment; the prefix ends in `/`.
#[cfg(feature = "delta-s3")]
pub(super) fn s3_url(text: &str) -> Result<Url, StoreError> {
    let invalid = |reason: &str| StoreError::invalid_data(format!("delta store {text}"), reason);
    let mut url = Url::parse(text).map_err(|e| invalid(&format!("not a URL: {e}")))?;
    if !matches!(url.scheme(), "s3" | "s3a") {
        return Err(invalid("an S3 root starts with s3:// (or s3a://)"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(invalid("the bucket is missing: s3://BUCKET/PREFIX"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(invalid(
            "an S3 root has no ?query or #fragment: options come from the AWS_* environment",
        ));
    }
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    Ok(url)
}
