//! Property test: the command-line tool reading a corrupt SQLite run history — a real one with
//! random bytes flipped, or cut short — answers (exit status 0, or 1 for `failures` that finds
//! some) or fails with one line on stderr and status 2. Never a panic, a crash signal or a hang.
//!
//! Each case runs the real binary: 32 cases by default (`PROPTEST_CASES` / 8).

use crate::cli_support;

use std::sync::OnceLock;
use std::time::Duration;

use cli_support::{cli, nightly, record_stuck, weekly, History};
use proptest::prelude::*;
use proptest::sample::Index;

/// The bytes of a real run history: successful, failed and abandoned runs.
fn pristine() -> &'static [u8] {
    static BYTES: OnceLock<Vec<u8>> = OnceLock::new();
    BYTES.get_or_init(|| {
        let history = History::new();
        history.record(|| {
            nightly("n-1", 1, false).unwrap();
            let _ = nightly("n-2", 1, true);
            let _ = nightly("n-2", 2, true);
            weekly("w-1");
        });
        record_stuck(&history, "stuck-1");
        let wal = history.path.with_extension("db-wal");
        assert!(
            !wal.exists(),
            "every writer closed: the WAL is checkpointed"
        );
        std::fs::read(&history.path).unwrap()
    })
}

#[derive(Debug, Clone)]
struct Damage {
    /// Byte positions and the bits flipped there.
    flips: Vec<(Index, u8)>,
    /// Where the file is cut, if it is.
    cut: Option<Index>,
    command: usize,
}

const COMMANDS: [&[&str]; 6] = [
    &["runs"],
    &["runs", "--json"],
    &["show", "latest"],
    &["show", "n-2", "--json"],
    &["failures"],
    &["running", "--json"],
];

fn damage() -> impl Strategy<Value = Damage> {
    (
        prop::collection::vec((any::<Index>(), 1u8..=255), 1..24),
        prop::option::weighted(0.25, any::<Index>()),
        0..COMMANDS.len(),
    )
        .prop_map(|(flips, cut, command)| Damage {
            flips,
            cut,
            command,
        })
}

fn check(damage: &Damage) {
    let mut bytes = pristine().to_vec();
    for (at, bits) in &damage.flips {
        let i = at.index(bytes.len());
        bytes[i] ^= bits;
    }
    if let Some(cut) = &damage.cut {
        bytes.truncate(cut.index(bytes.len()));
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("runs.db");
    std::fs::write(&path, &bytes).unwrap();

    let args = COMMANDS[damage.command];
    let out = cli(&path)
        .args(args)
        .timeout(Duration::from_secs(30))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let code = out
        .status
        .code()
        .unwrap_or_else(|| panic!("{args:?}: killed by a signal or timed out: {stderr}"));
    assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    let allowed: &[i32] = if args[0] == "failures" {
        &[0, 1, 2]
    } else {
        &[0, 2]
    };
    assert!(allowed.contains(&code), "{args:?}: status {code}: {stderr}");
    if code == 2 {
        assert_eq!(stderr.lines().count(), 1, "{args:?}: one line: {stderr}");
        assert!(stderr.starts_with("tracing-etl: "), "{stderr}");
    }
}

fn cases() -> ProptestConfig {
    let cases: u32 = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(256);
    ProptestConfig::with_cases((cases / 8).max(1))
}

proptest! {
    #![proptest_config(cases())]

    #[test]
    fn a_corrupt_history_is_an_answer_or_a_one_line_error(damage in damage()) {
        check(&damage);
    }
}

/// The undamaged file reads fine with every command (the baseline of the property).
#[test]
fn the_pristine_history_reads_fine() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("runs.db");
    std::fs::write(&path, pristine()).unwrap();
    for args in COMMANDS {
        let expected = if args[0] == "failures" { 1 } else { 0 };
        cli(&path).args(args).assert().code(expected);
    }
}
