//! One module per subcommand. Each reads the store, prints through [`Ui`](crate::output::Ui)
//! and returns the exit status.

#[cfg(feature = "delta")]
pub(crate) mod compact;
pub(crate) mod failures;
pub(crate) mod reap;
#[cfg(feature = "openlineage")]
pub(crate) mod reap_lineage;
pub(crate) mod replay;
pub(crate) mod running;
pub(crate) mod runs;
pub(crate) mod show;
pub(crate) mod volume;

use serde_json::Value;

use crate::output::Ui;

/// A list's output before its table: under `--json` the list as JSON (made by `json`), else,
/// when the list is `empty`, the line `none`. Whether that was all there is to print.
pub(crate) fn json_or_none(
    ui: &mut Ui,
    empty: bool,
    none: &str,
    json: impl FnOnce(&Ui) -> Value,
) -> bool {
    if ui.json {
        let json = json(ui);
        ui.print_json(&json);
        return true;
    }
    if empty {
        ui.line(none);
        return true;
    }
    false
}

/// The note under a list of `what` that `--limit` may have cut: when `shown` reached `limit`.
pub(crate) fn limit_note(ui: &Ui, shown: usize, limit: u32, what: &str) {
    if shown == limit as usize {
        ui.note(format!(
            "showing the newest {limit} {what}; --limit N shows more"
        ));
    }
}
