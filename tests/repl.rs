//! The REPL, driven through a real pseudo-terminal as a person would
//! drive it: entries and their values, multi-line entries, errors,
//! completion, history across restarts, Ctrl-C and Ctrl-D, background
//! tasks printing above the prompt, `:tasks`. Also the SIGQUIT task dump
//! of a running script. Time bounds are generous: these run beside other
//! builds.

use rexpect::reader::Options;
use rexpect::session::{spawn_with_options, PtySession};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// A fresh folder for HOME and XDG_STATE_HOME, so history stays apart.
fn state_dir(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("weft-repl-{}-{test}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn repl(state: &Path) -> PtySession {
    let mut command = Command::new(env!("CARGO_BIN_EXE_weft"));
    command
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("HOME", state)
        .env("XDG_STATE_HOME", state)
        .env("NO_COLOR", "1")
        .env("TERM", "xterm");
    let options = Options::new().timeout_ms(Some(30_000)).strip_ansi_escape_codes(true);
    let mut session = spawn_with_options(command, options).expect("the REPL starts");
    session.exp_string("weft> ").expect("the first prompt");
    session
}

/// Sends a line and waits for the next prompt; returns what came before it.
fn entry(session: &mut PtySession, line: &str) -> String {
    session.send_line(line).unwrap();
    session.exp_string("weft> ").unwrap_or_else(|e| panic!("no prompt after {line:?}: {e}"))
}

/// Sends an entry of several lines, each after the continuation prompt
/// (the editor drops what is typed ahead of its prompt).
fn send_lines(session: &mut PtySession, lines: &[&str]) {
    for (i, line) in lines.iter().enumerate() {
        session.send_line(line).unwrap();
        if i + 1 < lines.len() {
            session.exp_string("... ").unwrap_or_else(|e| panic!("no continuation after {line:?}: {e}"));
        }
    }
}

/// Types `text` without Enter.
fn type_text(session: &mut PtySession, text: &str) {
    session.send(text).unwrap();
    session.flush().unwrap();
}

/// What the terminal showed, as text: the session hands over each byte
/// as a char.
fn utf8(shown: &str) -> String {
    match shown.chars().map(|c| u8::try_from(c as u32)).collect::<Result<Vec<u8>, _>>() {
        Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(_) => shown.to_string(),
    }
}

/// Ctrl-D, and the REPL's exit status.
fn quit(mut session: PtySession) -> Option<i32> {
    session.send_control('d').unwrap();
    session.exp_eof().unwrap();
    match session.process().wait().unwrap() {
        nix::sys::wait::WaitStatus::Exited(_, status) => Some(status),
        _ => None,
    }
}

#[test]
fn an_expression_prints_its_value_and_strings_are_quoted() {
    let state = state_dir("values");
    let mut s = repl(&state);
    assert!(entry(&mut s, "1 + 2").contains("3"));
    assert!(entry(&mut s, "\"hi\" + \"!\"").contains("\"hi!\""));
    // nil is not printed; print writes its text plainly.
    let out = entry(&mut s, "print(\"plain\")");
    let shown: Vec<&str> = out.lines().skip(1).map(str::trim).filter(|l| !l.is_empty()).collect();
    assert_eq!(shown, ["plain"], "{out:?}");
    assert_eq!(quit(s), Some(0));
}

#[test]
fn a_multi_line_function_is_one_entry_and_stays_defined() {
    let state = state_dir("multiline");
    let mut s = repl(&state);
    s.send_line("fn square(x) {").unwrap();
    s.exp_string("... ").unwrap();
    s.send_line("  return x * x").unwrap();
    s.exp_string("... ").unwrap();
    entry(&mut s, "}");
    let out = entry(&mut s, "square(7)");
    assert!(out.contains("49"), "{out:?}");
    // An open string continues too.
    s.send_line("let t = \"a ${").unwrap();
    s.exp_string("... ").unwrap();
    entry(&mut s, "1 + 1}\"");
    assert!(entry(&mut s, "t").contains("\"a 2\""));
    assert_eq!(quit(s), Some(0));
}

#[test]
fn an_error_is_reported_and_the_next_line_works() {
    let state = state_dir("errors");
    let mut s = repl(&state);
    let out = entry(&mut s, "[1, 2][5]");
    assert!(out.contains("IndexError") && out.contains("<repl:1>:1:"), "{out:?}");
    let out = entry(&mut s, "let = 3");
    assert!(out.contains("<repl:2>:1:5") && out.contains("Error: unexpected '='"), "{out:?}");
    assert!(entry(&mut s, "40 + 2").contains("42"));
    assert_eq!(quit(s), Some(0));
}

#[test]
fn tab_completes_globals_and_methods_after_a_dot() {
    let state = state_dir("completion");
    let mut s = repl(&state);
    entry(&mut s, "let greeting_text = \"hello\"");
    type_text(&mut s, "greeting_t\t");
    s.exp_string("greeting_text").unwrap();
    type_text(&mut s, ".upp\t");
    s.exp_string("upper").unwrap();
    let out = entry(&mut s, "()");
    assert!(out.contains("\"HELLO\""), "{out:?}");
    assert_eq!(quit(s), Some(0));
}

#[test]
fn history_is_recalled_after_a_restart() {
    let state = state_dir("history");
    let mut s = repl(&state);
    entry(&mut s, "let remembered = 1234 + 1");
    assert_eq!(quit(s), Some(0));
    assert!(state.join("weft/history").exists());
    let mut s = repl(&state);
    // Up arrow, then Enter: the entry from the last session runs again.
    type_text(&mut s, "\x1b[A");
    s.exp_string("remembered = 1234 + 1").unwrap();
    s.send_line("").unwrap();
    s.exp_string("weft> ").unwrap();
    assert!(entry(&mut s, "remembered").contains("1235"));
    assert_eq!(quit(s), Some(0));
}

#[test]
fn ctrl_c_cancels_a_running_entry_and_its_finally_blocks_run() {
    let state = state_dir("ctrl-c");
    let mut s = repl(&state);
    let lines = ["{", "spawn { try { sleep(600) } finally { print(\"task cleaned up\") } }", "while true {}", "}"];
    send_lines(&mut s, &lines);
    std::thread::sleep(Duration::from_millis(500));
    s.send_control('c').unwrap();
    let out = s.exp_string("weft> ").unwrap();
    assert!(out.contains("task cleaned up") && out.contains("interrupted"), "{out:?}");
    assert!(entry(&mut s, "1 + 1").contains("2"));
    // Ctrl-C on a line being typed abandons it.
    type_text(&mut s, "this is not code");
    s.send_control('c').unwrap();
    s.exp_string("weft> ").unwrap();
    assert!(entry(&mut s, "3 * 3").contains("9"));
    assert_eq!(quit(s), Some(0));
}

#[test]
fn a_background_task_prints_above_the_prompt_and_the_typed_line_survives() {
    let state = state_dir("background");
    let mut s = repl(&state);
    send_lines(&mut s, &["spawn {", "sleep(1)", "print(\"tick from the task\") }"]);
    s.exp_string("weft> ").unwrap();
    // Type half a line while the task sleeps, then wait for its output.
    type_text(&mut s, "let typed = 4");
    s.exp_string("tick from the task").unwrap();
    // The prompt is drawn again with what was typed.
    s.exp_string("weft> let typed = 4").unwrap();
    s.send_line("0 + 2").unwrap();
    s.exp_string("weft> ").unwrap();
    assert!(entry(&mut s, "typed").contains("42"));
    // A failing background task reports, and the REPL goes on.
    let out = entry(&mut s, "spawn { throw error(\"Broken\", \"in the background\") }");
    let more = entry(&mut s, "5 + 5");
    let all = format!("{out}{more}");
    assert!(all.contains("Broken: in the background") && all.contains("10"), "{all:?}");
    assert_eq!(quit(s), Some(0));
}

#[test]
fn tasks_lists_a_sleeping_task() {
    let state = state_dir("tasks");
    let mut s = repl(&state);
    entry(&mut s, "fn nap() { sleep(600) }");
    entry(&mut s, "spawn nap()");
    let out = entry(&mut s, ":tasks");
    assert!(out.contains("task spawned at <repl:2>:1:1: waiting on sleep"), "{out:?}");
    assert!(out.contains("nap at <repl:1>:1:"), "{out:?}");
    assert!(entry(&mut s, ":help").contains(":load FILE"));
    entry(&mut s, "spawn { try { sleep(600) } finally { print(\"cleaned up on exit\") } }");
    // Ctrl-D exits with status 0 even with tasks still sleeping: they are
    // cancelled, and their finally blocks run first.
    s.send_control('d').unwrap();
    s.exp_string("cleaned up on exit").unwrap();
    s.exp_eof().unwrap();
    match s.process().wait().unwrap() {
        nix::sys::wait::WaitStatus::Exited(_, status) => assert_eq!(status, 0),
        other => panic!("{other:?}"),
    }
}

#[test]
fn load_runs_a_file_into_the_session() {
    let state = state_dir("load");
    let file = state.join("lib.weft");
    std::fs::write(&file, "fn triple(x) { return 3 * x }\n").unwrap();
    let mut s = repl(&state);
    entry(&mut s, &format!(":load {}", file.display()));
    assert!(entry(&mut s, "triple(5)").contains("15"));
    s.send_line(":quit").unwrap();
    s.exp_eof().unwrap();
}

#[test]
fn sigquit_dumps_the_tasks_of_a_running_script_which_goes_on() {
    // The script says when it is running, so the signal cannot come
    // before the handler is in place.
    let script = "let c = chan()\nspawn { sleep(2)\nc.send(\"done\") }\nprint(\"ready\")\nprint(c.recv())\n";
    let dir = state_dir("sigquit");
    let path = dir.join("quit.weft");
    std::fs::write(&path, script).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_weft"))
        .arg(&path)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    std::io::BufRead::read_line(&mut stdout, &mut first).unwrap();
    assert_eq!(first, "ready\n");
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGQUIT).expect("SIGQUIT is sent");
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stdout, &mut rest).unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_eq!(rest, "done\n");
    assert!(stderr.contains("tasks:\n"), "{stderr}");
    assert!(stderr.contains("main task: waiting on recv on channel made at"), "{stderr}");
    assert!(stderr.contains("quit.weft:2:1: waiting on sleep"), "{stderr}");
}

/// Typed at a terminal with its output piped (`weft | head -1`), the REPL
/// whose reader went away ends quietly with status 0, as when its
/// terminal closes: no panic, no hang, nothing on stderr.
#[test]
fn the_repl_ends_quietly_when_its_output_goes_away() {
    use std::io::{Read, Write};
    let state = state_dir("closed-output");
    let terminal = nix::pty::openpty(None, None).expect("a pseudo-terminal");
    let (mut reader, writer) = std::io::pipe().expect("a pipe");
    let mut child = Command::new(env!("CARGO_BIN_EXE_weft"))
        .env("HOME", &state)
        .env("XDG_STATE_HOME", &state)
        .env("NO_COLOR", "1")
        .env("TERM", "xterm")
        .stdin(std::process::Stdio::from(terminal.slave))
        .stdout(writer)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("the REPL starts");
    // The first prompt, then the reader goes away.
    let mut shown = Vec::new();
    let mut byte = [0u8; 1];
    while !String::from_utf8_lossy(&shown).contains("weft> ") {
        assert_eq!(reader.read(&mut byte).expect("reads"), 1, "the REPL ended before its prompt");
        shown.push(byte[0]);
    }
    drop(reader);
    let mut keys = std::fs::File::from(terminal.master);
    keys.write_all(b"for i in 0..3 { print(i) }\n1 + 2\n").expect("typed");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().expect("waits") {
            break status;
        }
        if std::time::Instant::now() > deadline {
            child.kill().ok();
            panic!("the REPL did not end after its output went away");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    child.stderr.take().expect("piped").read_to_string(&mut stderr).expect("reads stderr");
    assert_eq!(status.code(), Some(0), "stderr: {stderr}");
    assert_eq!(stderr, "");
}

/// The transcript at the top of docs/repl.md, typed line by line: each
/// line after a prompt is sent, and what comes back before the next
/// prompt must be the lines the guide shows.
#[test]
fn the_guide_transcript_is_true() {
    let guide = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/repl.md")).unwrap();
    let block = guide.split("```text\n").nth(1).and_then(|b| b.split("```").next()).expect("a transcript");
    // (typed line, lines shown after it)
    let mut steps: Vec<(String, Vec<String>)> = Vec::new();
    for line in block.lines() {
        match line.strip_prefix("weft> ").or_else(|| line.strip_prefix("  ... ")) {
            Some(typed) => steps.push((typed.to_string(), Vec::new())),
            None => steps.last_mut().expect("a prompt first").1.push(line.trim_end().to_string()),
        }
    }
    let state = state_dir("guide");
    let mut s = repl(&state);
    for (i, (typed, expected)) in steps.iter().enumerate() {
        s.send_line(typed).unwrap();
        let next = block.lines().filter(|l| l.starts_with("weft> ") || l.starts_with("  ... ")).nth(i + 1);
        let prompt = match next {
            Some(l) if l.starts_with("  ... ") => "  ... ",
            _ => "weft> ",
        };
        let shown = utf8(&s.exp_string(prompt).unwrap_or_else(|e| panic!("after {typed:?}: {e}")));
        // The first line is the typed line, echoed.
        let lines: Vec<String> = shown.replace('\r', "").lines().skip(1).map(|l| l.trim_end().to_string()).collect();
        let lines: Vec<&str> = lines.iter().map(String::as_str).filter(|l| !l.is_empty()).collect();
        let expected: Vec<&str> = expected.iter().map(String::as_str).filter(|l| !l.is_empty()).collect();
        assert_eq!(lines, expected, "after {typed:?}");
    }
    assert_eq!(quit(s), Some(0));
}

#[test]
fn exit_ends_the_repl_with_its_status_even_from_a_background_task() {
    let state = state_dir("exit");
    let mut s = repl(&state);
    send_lines(&mut s, &["spawn {", "sleep(0.3)", "exit(3) }"]);
    s.exp_eof().unwrap();
    match s.process().wait().unwrap() {
        nix::sys::wait::WaitStatus::Exited(_, status) => assert_eq!(status, 3),
        other => panic!("{other:?}"),
    }
    let mut s = repl(&state);
    s.send_line("exit(4)").unwrap();
    s.exp_eof().unwrap();
    match s.process().wait().unwrap() {
        nix::sys::wait::WaitStatus::Exited(_, status) => assert_eq!(status, 4),
        other => panic!("{other:?}"),
    }
}

/// Whether a process of that pid is running (and not a zombie).
fn running(pid: &str) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat.rsplit(')').next().unwrap_or("").trim_start().starts_with('Z'),
        Err(_) => false,
    }
}

#[test]
fn a_child_process_lives_across_entries_and_ends_with_the_repl() {
    let state = state_dir("children");
    let mut s = repl(&state);
    entry(&mut s, r#"let p = spawn_process("sleep", ["300"])"#);
    let own = utf8(&entry(&mut s, "p.pid()"));
    let own = own.lines().map(str::trim).find(|l| l.parse::<u32>().is_ok()).expect("a pid").to_string();
    // A child of a background task is owned by that task.
    entry(&mut s, "let pids = chan(1)");
    send_lines(&mut s, &["spawn {", r#"let q = spawn_process("sleep", ["300"])"#, "pids.send(q.pid())", "q.wait() }"]);
    s.exp_string("weft> ").unwrap();
    let shown = utf8(&entry(&mut s, "pids.recv()"));
    let background = shown.lines().map(str::trim).find(|l| l.parse::<u32>().is_ok()).expect("a pid").to_string();
    entry(&mut s, "1 + 1");
    assert!(running(&own), "the session's child ended between entries");
    assert!(running(&background), "the background task's child ended early");
    assert_eq!(quit(s), Some(0));
    // Ctrl-D cancels everything: both children are killed, not orphaned.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while (running(&own) || running(&background)) && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(!running(&own), "the session's child outlived the REPL");
    assert!(!running(&background), "the background task's child outlived the REPL");
}
