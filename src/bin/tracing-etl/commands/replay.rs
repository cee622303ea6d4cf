//! `tracing-etl replay FILE`: writes the records of a spill file into the store.
//!
//! A writer whose store is still failing when the program stops leaves the records the store
//! never took in its spill file (`spill-<recorder_id>.jsonl`) and prints its path. Once the store
//! is back, this command writes them, in order; replaying the same file twice changes nothing
//! more (stores keep one row per entity, or fold duplicates when read).

use crate::args::ReplayArgs;
use crate::error::CliError;
use crate::output::Ui;
use crate::store::Store;

pub(crate) fn run(store: &mut dyn Store, args: &ReplayArgs, ui: &mut Ui) -> Result<u8, CliError> {
    let written = tracing_etl::writer::replay_spill(&args.file, store)?;
    if args.remove {
        std::fs::remove_file(&args.file).map_err(|e| {
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
