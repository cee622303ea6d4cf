//! The guides: how to instrument a job, what is recorded, and what the crate promises.
//!
//! Each module below holds nothing but one guide. They are the Markdown files of the
//! repository's `docs/` folder, rendered here as they are on GitHub, and their Rust examples are
//! doctests.
//!
//! - [`conventions`]: the `etl.*` span fields, how runs are inherited, futures that may be
//!   dropped, odd shapes, field values, filters.
//! - [`failures`]: what fails an entity, the root cause, cancelled entities, the error fields,
//!   panics.
//! - [`guarantees`]: the writer and its settings, back-pressure, store outages, spill files,
//!   durability, crashes and abandoned runs, and what is promised.
//! - [`stores`]: SQLite, JSON Lines, PostgreSQL, every record field, schema versions.
//! - [`opentelemetry`]: what is exported, OTLP and its variables, `tracing-opentelemetry`, the
//!   collector, Jaeger and Tempo.
//! - [`cli`]: the `tracing-etl` command-line tool.
//! - [`web`]: `tracing-etl serve`, the web pages and JSON API.
//! - [`lineage`]: OpenLineage run events (feature `openlineage`), their transports, Marquez.

// The guides link to each other as the files they are on GitHub (`failures.md#error-fields`),
// with reference-style links whose definitions close each file. Rustdoc is given its own
// definitions of the same labels first, and the first definition of a label is the one
// Markdown uses: here the links are intra-doc links to the guide modules.
macro_rules! guide_links {
    () => {
        "[cli.md]: crate::guide::cli\n\
         [cli.md#replay]: crate::guide::cli#replay\n\
         [cli.md#trace-links]: crate::guide::cli#trace-links\n\
         [conventions.md]: crate::guide::conventions\n\
         [conventions.md#field-values]: crate::guide::conventions#field-values\n\
         [conventions.md#futures-that-may-be-dropped]: crate::guide::conventions#futures-that-may-be-dropped\n\
         [conventions.md#the-fields]: crate::guide::conventions#the-fields\n\
         [conventions.md#rows-and-datasets]: crate::guide::conventions#rows-and-datasets\n\
         [failures.md]: crate::guide::failures\n\
         [failures.md#cancelled-entities]: crate::guide::failures#cancelled-entities\n\
         [failures.md#error-fields]: crate::guide::failures#error-fields\n\
         [guarantees.md#crashes-and-abandoned-runs]: crate::guide::guarantees#crashes-and-abandoned-runs\n\
         [guarantees.md#durability]: crate::guide::guarantees#durability\n\
         [guarantees.md#spill-files]: crate::guide::guarantees#spill-files\n\
         [guarantees.md#store-outages]: crate::guide::guarantees#store-outages\n\
         [lineage.md]: crate::guide::lineage\n\
         [opentelemetry.md]: crate::guide::opentelemetry\n\
         [opentelemetry.md#what-is-exported]: crate::guide::opentelemetry#what-is-exported\n\
         [stores.md#delta-lake]: crate::guide::stores#delta-lake\n\
         [stores.md#postgresql]: crate::guide::stores#postgresql\n\
         [stores.md#records]: crate::guide::stores#records\n\
         [web.md]: crate::guide::web\n\
         [stores.md#a-store-that-is-down-when-the-job-starts]: \
         crate::guide::stores#a-store-that-is-down-when-the-job-starts\n"
    };
}

#[doc = guide_links!()]
#[doc = include_str!("../docs/conventions.md")]
pub mod conventions {}

#[doc = guide_links!()]
#[doc = include_str!("../docs/failures.md")]
pub mod failures {}

#[doc = guide_links!()]
#[doc = include_str!("../docs/guarantees.md")]
pub mod guarantees {}

#[doc = guide_links!()]
#[doc = include_str!("../docs/stores.md")]
pub mod stores {}

#[doc = guide_links!()]
#[doc = include_str!("../docs/opentelemetry.md")]
pub mod opentelemetry {}

#[doc = guide_links!()]
#[doc = include_str!("../docs/cli.md")]
pub mod cli {}

#[doc = guide_links!()]
#[doc = include_str!("../docs/web.md")]
pub mod web {}

#[doc = guide_links!()]
#[doc = include_str!("../docs/lineage.md")]
pub mod lineage {}

/// The README's examples, compiled (and run, unless marked `no_run`) as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

#[cfg(test)]
mod tests {
    /// Every link from one guide to another is given a rustdoc definition above: a missing one
    /// would leave rustdoc a link to a `.md` file that does not exist on docs.rs.
    #[test]
    fn every_link_between_guides_has_a_rustdoc_definition() {
        let guides = [
            ("conventions.md", include_str!("../docs/conventions.md")),
            ("failures.md", include_str!("../docs/failures.md")),
            ("guarantees.md", include_str!("../docs/guarantees.md")),
            ("stores.md", include_str!("../docs/stores.md")),
            ("opentelemetry.md", include_str!("../docs/opentelemetry.md")),
            ("cli.md", include_str!("../docs/cli.md")),
            ("web.md", include_str!("../docs/web.md")),
            ("lineage.md", include_str!("../docs/lineage.md")),
        ];
        let rustdoc: Vec<&str> = guide_links!().lines().collect();
        for (name, text) in guides {
            for line in text.lines() {
                let Some((label, target)) = line
                    .strip_prefix('[')
                    .and_then(|rest| rest.split_once("]: "))
                else {
                    continue;
                };
                if !target.contains(".md") {
                    continue;
                }
                assert_eq!(
                    label, target,
                    "{name}: label the link `{target}` by its target"
                );
                let (file, fragment) = target.split_once('#').unwrap_or((target, ""));
                let module = file.strip_suffix(".md").expect("a guide's file name");
                let mut expected = format!("[{target}]: crate::guide::{module}");
                if !fragment.is_empty() {
                    expected.push('#');
                    expected.push_str(fragment);
                }
                assert!(
                    rustdoc.contains(&expected.as_str()),
                    "{name}: `{expected}` is missing from guide_links!()"
                );
                let (_, linked) = guides
                    .iter()
                    .find(|(other, _)| *other == file)
                    .unwrap_or_else(|| panic!("{name}: no guide {file}"));
                if !fragment.is_empty() {
                    assert!(
                        linked
                            .lines()
                            .filter_map(|l| l.strip_prefix("## "))
                            .any(|heading| anchor(heading) == fragment),
                        "{name}: {file} has no heading for #{fragment}"
                    );
                }
            }
        }
    }

    /// The anchor GitHub and rustdoc both give a heading of plain words.
    fn anchor(heading: &str) -> String {
        heading
            .chars()
            .filter_map(|c| match c {
                ' ' => Some('-'),
                c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c.to_ascii_lowercase()),
                _ => None,
            })
            .collect()
    }
}
