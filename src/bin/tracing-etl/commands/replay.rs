//! `tracing-etl replay PATH`: writes the records of a spill history into the store.
//!
//! A writer whose store is still failing when the program stops leaves the records the store
//! never took in its spill history (the JSON Lines directory `spill-<recorder_id>`; earlier
//! releases wrote one file, `spill-<recorder_id>.jsonl`, which replays too) and prints its path.
//! Once the store is back, this command copies them into it, in order; replaying the same
//! history twice changes nothing more (stores keep one row per entity, or fold duplicates when
//! read).

use crate::args::ReplayArgs;
use crate::error::CliError;
use crate::output::Ui;
use crate::store::Store;

pub(crate) fn run(store: &mut dyn Store, args: &ReplayArgs, ui: &mut Ui) -> Result<u8, CliError> {
    let replay = tracing_etl::writer::replay_spill_report(&args.file, store)?;
    for warning in &replay.warnings {
        ui.note(format_args!("tracing-etl: warning: {warning}"));
    }
    let written = replay.records;
    if args.remove {
        tracing_etl::writer::remove_spill(&args.file).map_err(|e| {
            CliError::new(format!(
                "{written} records replayed, but {} could not be removed: {e}",
                args.file.display()
            ))
        })?;
    }
    if ui.json {
        ui.print_json(&serde_json::json!({
            "file": args.file.display().to_string(),
            "records": written,
            "removed": args.remove,
        }));
    } else {
        ui.line(format!(
            "replayed {written} records from {}{}",
            args.file.display(),
            if args.remove { " (file removed)" } else { "" }
        ));
    }
    Ok(0)
}
