//! Running one test of this binary alone in a child process, for what is process-wide: a global
//! subscriber, a warning printed once per process on stderr.
//!
//! The parent test calls [`run`] with the child test's path; the child test starts with
//! `if !child::is_child(NAME) { return; }`, so that in the ordinary run it does nothing.

use std::process::{Command, Output};

/// Names the test a child process is to run.
const CHILD_ENV: &str = "TRACING_ETL_TEST_CHILD";

/// Whether this process is the child started to run `test`.
pub fn is_child(test: &str) -> bool {
    std::env::var(CHILD_ENV).as_deref() == Ok(test)
}

/// What a child process wrote.
#[derive(Debug)]
pub struct ChildOutput {
    pub stdout: String,
    pub stderr: String,
}

/// Runs the test `test` (its path in this binary, e.g. `global_filter::child`) alone in a new
/// process of this test binary, with `RUST_LOG` removed and `envs` set, and checks that it ran
/// and passed.
pub fn run(test: &str, envs: &[(&str, &str)]) -> ChildOutput {
    let exe = std::env::current_exe().expect("the test binary's path");
    let mut command = Command::new(exe);
    command
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, test)
        .env_remove("RUST_LOG")
        .env_remove("RUST_BACKTRACE");
    for (name, value) in envs {
        command.env(name, value);
    }
    let Output {
        status,
        stdout,
        stderr,
    } = command.output().expect("run the child test");
    let output = ChildOutput {
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    };
    assert!(status.success(), "child test {test} failed: {output:#?}");
    assert!(
        output.stdout.contains("1 passed"),
        "child test {test} did not run: {output:#?}"
    );
    output
}
