//! The page of a run too big to draw whole (more steps than `show` draws as a tree): a summary
//! with a sampled timeline, on every store kind, served and as a report.

use std::time::Duration;

use tracing_etl::store::RunFilter;
use tracing_etl::{ExecutionRecord, RunStatus};

use crate::cli_support::{bare_cli, nightly};
use crate::histories::{kinds, History};
use crate::routes::reader;
use crate::server::Server;

/// Steps of the big run: more than the 1,000 a tree shows.
const STEPS: u64 = 5_000;
/// The sample keeps at most this many steps (`SAMPLED_STEPS`).
const SAMPLED: usize = 1_000;

#[tracing::instrument(skip_all, fields(etl.pipeline = "big", etl.run_id = "big-1"))]
fn big_pipeline() {
    load();
}

/// Every 1,000th step fails; step 2,500 is the slowest.
#[tracing::instrument(skip_all, fields(etl.process = "load"))]
fn load() {
    for i in 0..STEPS {
        let span = tracing::info_span!("chunk", etl.step = "chunk", rows = i);
        let _entered = span.enter();
        if i == 2_500 {
            std::thread::sleep(Duration::from_millis(200));
        }
        if i % 1_000 == 999 {
            tracing::error!(error.type = "BadChunk", "chunk {i}: checksum mismatch");
        }
    }
}

/// The timeline's SVG in `body`.
fn svg(body: &str) -> &str {
    let start = body.find("<svg class=\"timeline\"").expect(body);
    &body[start..start + body[start..].find("</svg>").unwrap()]
}

/// The ids of the rows of the table `id` in `body`.
fn table_ids<'a>(body: &'a str, id: &str) -> Vec<&'a str> {
    let start = body
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("no table {id}"));
    let table = &body[start..start + body[start..].find("</table>").unwrap()];
    table
        .split("<tr data-step-run-id=\"")
        .skip(1)
        .map(|rest| &rest[..rest.find('"').unwrap()])
        .collect()
}

fn assert_summary(body: &str, steps: &[ExecutionRecord], what: &str) {
    let failed: Vec<&ExecutionRecord> = steps
        .iter()
        .filter(|s| s.outcome.status == RunStatus::Failed)
        .collect();
    assert_eq!(failed.len(), 5, "{what}");
    // 5,000 steps: the stride doubled three times, to every 8th (625 steps).
    assert!(
        body.contains(&format!(
            "This run has {STEPS} steps: the timeline draws a sample of them — every 8th step \
             in start order (625 steps)"
        )),
        "{what}: {body}"
    );
    let svg = svg(body);
    let bars = svg.matches("<rect ").count();
    // The pipeline, the process, the sample, the failed and slowest steps, the root cause.
    assert!(
        (2 + 625..=2 + SAMPLED + 20 + 10 + 1).contains(&bars),
        "{what}: {bars} bars"
    );
    assert_eq!(svg.matches("data-process-run-id=").count(), 1, "{what}");
    for s in &failed {
        let id = s.step_run_id.as_deref().unwrap();
        assert!(
            svg.contains(&format!("data-step-run-id=\"{id}\" data-status=\"failed\"")),
            "{what}: failed step {id} has no bar"
        );
    }
    let failed_ids: Vec<&str> = failed
        .iter()
        .map(|s| s.step_run_id.as_deref().unwrap())
        .collect();
    assert_eq!(table_ids(body, "failed-steps"), failed_ids, "{what}");
    let slowest = steps
        .iter()
        .max_by_key(|s| s.outcome.duration_ms)
        .and_then(|s| s.step_run_id.as_deref())
        .unwrap();
    let listed = table_ids(body, "slowest-steps");
    assert_eq!(listed.len(), 10, "{what}");
    assert_eq!(listed[0], slowest, "{what}");
    assert!(
        body.contains(&format!(
            "<tr class=\"total\"><td><strong>all</strong></td><td class=\"num\">{STEPS}</td>"
        )),
        "{what}: {body}"
    );
    let counts = &body[body.find("<tr class=\"total\">").unwrap()..];
    let counts = &counts[..counts.find("</tr>").unwrap()];
    assert!(
        counts.contains("<td class=\"num\">4995</td>"),
        "{what}: {counts}"
    );
    assert!(
        counts.contains("<td class=\"num\">5</td>"),
        "{what}: {counts}"
    );
    assert!(body.contains("id=\"root-cause\""), "{what}");
    assert!(body.contains("chunk 999: checksum mismatch"), "{what}");
}

#[test]
fn the_page_of_a_big_run_is_a_summary_with_a_sampled_timeline() {
    for kind in kinds() {
        let history = History::new(kind);
        history.record(|| {
            big_pipeline();
            nightly("r-ok", 1, false).unwrap();
        });
        let mut store = reader(&history);
        let filter = RunFilter::default().run_id("big-1");
        let steps = store.read_steps(&filter).unwrap();
        assert_eq!(steps.len() as u64, STEPS);
        let what = format!("{kind:?}");

        let server = Server::start(&history.url(), &[]);
        let body = server.get("/runs/big-1").html(200);
        assert_summary(&body, &steps, &what);
        // A small run is still drawn whole, without a summary.
        let small = server.get("/runs/r-ok").html(200);
        assert!(!small.contains("id=\"step-summary\""), "{small}");
        assert!(!small.contains("draws a sample"), "{small}");

        let out = bare_cli()
            .args(["--store", &history.url(), "report", "big-1"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let report = String::from_utf8(out.stdout).unwrap();
        assert_summary(&report, &steps, &format!("{what} report"));
    }
}
