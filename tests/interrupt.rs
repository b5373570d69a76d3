//! Ctrl-C, through a real SIGINT sent to a real `weft` process: the first
//! one cancels the main task (so `finally` blocks run everywhere) and the
//! process exits with status 130; a second one exits at once.

#![cfg(unix)]

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const SCRIPT: &str = r#"
spawn {
    try { sleep(3600) } finally { print("worker cleaned up") }
}
try {
    print("ready")
    sleep(3600)
} finally {
    print("main cleaned up")
}
"#;

/// Starts `weft -e CODE`, waits for its first line, then sends SIGINT
/// `signals` times; returns the exit status and everything printed.
fn interrupt(code: &str, signals: usize) -> (Option<i32>, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_weft"))
        .args(["-e", code])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("weft starts");
    let mut stdout = child.stdout.take().expect("piped");
    let mut seen = Vec::new();
    let mut byte = [0u8; 1];
    while !seen.ends_with(b"ready\n") {
        assert_eq!(stdout.read(&mut byte).expect("reads"), 1, "weft ended before it was ready");
        seen.push(byte[0]);
    }
    for _ in 0..signals {
        let sent = Command::new("kill").args(["-INT", &child.id().to_string()]).status().expect("kill runs");
        assert!(sent.success());
        std::thread::sleep(Duration::from_millis(50));
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().expect("waits") {
            break status;
        }
        if Instant::now() > deadline {
            child.kill().ok();
            panic!("weft did not exit after SIGINT");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    stdout.read_to_end(&mut seen).expect("reads the rest");
    (status.code(), String::from_utf8_lossy(&seen).into_owned())
}

#[test]
fn first_sigint_cancels_everything_and_runs_finally_blocks() {
    let (status, out) = interrupt(SCRIPT, 1);
    assert_eq!(status, Some(130), "output: {out}");
    assert!(out.contains("main cleaned up"), "output: {out}");
    assert!(out.contains("worker cleaned up"), "output: {out}");
}

#[test]
fn second_sigint_exits_at_once() {
    // The cleanup itself hangs (shielded from cancellation); the second
    // Ctrl-C must still end the process.
    let stuck = r#"
try {
    print("ready")
    sleep(3600)
} finally {
    shield { sleep(3600) }
}
"#;
    let (status, out) = interrupt(stuck, 2);
    assert_eq!(status, Some(130), "output: {out}");
}
