//! The REPL: read an entry, run it in the VM's session, print its value,
//! and keep the tasks it spawned running between prompts.
//!
//! Two threads. The line editor (rustyline) blocks while it reads a
//! line, so it runs on a thread of its own (`editor`), which reads a line
//! when asked and sends it back. The VM stays on this thread and, while
//! the prompt waits, runs its background tasks with [`Vm::run_for`]; the
//! editor's [`HostWaker`] ends that wait the moment a line arrives, and
//! with no task left to run the loop simply waits for the line. What
//! tasks print while the prompt is shown goes above it (`output.rs`).
//! Everything here uses the VM's public API only, as an embedder would.
//!
//! Entries are named `<repl:N>` in reports. An entry that is not complete
//! yet (an open bracket, block or string, as the real parser decides)
//! continues on the next line under a `...` prompt.

mod helper;
mod output;

use crate::cli::{print_err, print_out};
use helper::{Names, ReplHelper};
use output::Bridge;
use rustyline::error::ReadlineError;
use rustyline::history::FileHistory;
use rustyline::{Config, Editor, ExternalPrinter};
use std::path::PathBuf;
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use weft_vm::{Failure, HostWaker, Value, Vm};

const PROMPT: &str = "weft> ";
const CONTINUE: &str = "  ... ";

/// The longest the loop runs the VM before it looks for a line again; a
/// line ends the wait at once, so this only bounds a missed wake.
const SLICE: Duration = Duration::from_secs(1);

const HELP: &str = "Type Weft code to run it; the value of an expression is printed.
Definitions stay for later entries; tasks spawned at the top level keep
running between prompts. Tab completes names, and members after '.'.
Ctrl-C abandons the line, or cancels the running entry; Ctrl-D quits.
Commands:
  :help        this text
  :tasks       every live task: its state, what it waits on, where
  :load FILE   run a file into the REPL
  :quit        leave (as Ctrl-D)";

/// What the loop asks of the editor thread.
enum Request {
    /// Read a line under this prompt.
    Read(&'static str),
    /// Add a whole entry to the history.
    Remember(String),
}

/// What the editor thread sends back.
enum Input {
    Line(String),
    /// Ctrl-C on the line being typed.
    Abandoned,
    /// Ctrl-D, or the terminal went away.
    End,
    /// A background task called `exit(status)` while the prompt waited.
    Exit(i32),
}

/// Runs the REPL on `vm` until Ctrl-D or `:quit`; returns the exit status.
pub fn run(mut vm: Vm) -> i32 {
    vm.set_background_spawns(true);
    // Ctrl-C while an entry runs (the editor is not reading, so the
    // terminal sends SIGINT): cancel the entry.
    let interrupt = vm.interrupt_handle();
    crate::cli::watch_signals(&mut vm, move || interrupt.interrupt());

    // The terminal as it was, to put back however the REPL ends.
    let terminal = rustix::termios::tcgetattr(std::io::stdin()).ok();
    let names = Arc::new(Mutex::new(Names::of(&vm)));
    let (requests, request_rx) = mpsc::channel();
    let (input_tx, inputs) = mpsc::channel();
    let (printer_tx, printer_rx) = mpsc::channel();
    let waker = vm.host_waker();
    let helper = ReplHelper { names: names.clone() };
    let editor = std::thread::Builder::new()
        .name("editor".into())
        .spawn(move || editor_thread(helper, request_rx, input_tx, printer_tx, waker));
    let Ok(editor) = editor else {
        print_err("error: cannot start the line editor\n");
        return 1;
    };
    // The editor thread sends its printer first (none if it has none).
    let printer = printer_rx.recv().ok().flatten();
    let bridge = Bridge::new(printer);
    vm.set_output(Box::new(bridge.writer(false)));
    vm.set_error_output(Box::new(bridge.writer(true)));

    let mut repl = Repl { vm, bridge, names, requests, inputs, entries: 0, reading: false };
    let status = repl.run();
    // Leaving: what still runs is cancelled, and its `finally` blocks run.
    repl.bridge.direct();
    let _ = repl.vm.cancel_background();
    repl.report_background();
    let _ = repl.vm.flush_output();
    // The editor may still be reading a line (a background task called
    // exit()): then it is left to end with the process.
    let reading = repl.reading;
    drop(repl.requests);
    if !reading {
        let _ = editor.join();
    }
    if let Some(terminal) = terminal {
        let _ = rustix::termios::tcsetattr(std::io::stdin(), rustix::termios::OptionalActions::Drain, &terminal);
    }
    status
}

struct Repl {
    vm: Vm,
    bridge: Bridge,
    names: Arc<Mutex<Names>>,
    requests: Sender<Request>,
    inputs: Receiver<Input>,
    /// Entries run so far, for their `<repl:N>` names.
    entries: usize,
    /// Whether the editor is reading a line.
    reading: bool,
}

impl Repl {
    /// The read-eval-print loop; returns the exit status.
    fn run(&mut self) -> i32 {
        loop {
            let mut entry = String::new();
            let text = loop {
                let prompt = if entry.is_empty() { PROMPT } else { CONTINUE };
                match self.read(prompt) {
                    Input::Line(line) => {
                        entry.push_str(&line);
                        if entry.trim().is_empty() {
                            break None;
                        }
                        if entry.trim_start().starts_with(':') || complete(&entry) {
                            break Some(std::mem::take(&mut entry));
                        }
                        entry.push('\n');
                    }
                    Input::Abandoned => break None,
                    Input::End => return 0,
                    Input::Exit(status) => return status,
                }
            };
            let Some(text) = text else { continue };
            let _ = self.requests.send(Request::Remember(text.clone()));
            if let Some(status) = self.entry(&text) {
                return status;
            }
        }
    }

    /// Shows `prompt` and runs background tasks until a line comes.
    fn read(&mut self, prompt: &'static str) -> Input {
        self.report_background();
        self.bridge.prompting();
        if self.requests.send(Request::Read(prompt)).is_err() {
            return Input::End;
        }
        self.reading = true;
        let input = loop {
            match self.inputs.try_recv() {
                Ok(input) => {
                    self.reading = false;
                    break input;
                }
                Err(mpsc::TryRecvError::Disconnected) => break Input::End,
                Err(mpsc::TryRecvError::Empty) => {}
            }
            match self.vm.run_for(SLICE) {
                // Tasks may still wake: look for the line and go on.
                Ok(true) => {}
                // Nothing can run until an entry says so: wait for it.
                Ok(false) => {
                    self.reading = false;
                    break self.inputs.recv().unwrap_or(Input::End);
                }
                Err(failure) => {
                    // exit() in a background task, or a bug of the VM:
                    // either ends the REPL.
                    self.bridge.direct();
                    break Input::Exit(crate::cli::report(&failure));
                }
            }
            self.report_background();
        };
        self.bridge.direct();
        input
    }

    /// Runs one entry or command; `Some(status)` when the REPL ends.
    fn entry(&mut self, text: &str) -> Option<i32> {
        let trimmed = text.trim();
        if let Some(command) = trimmed.strip_prefix(':') {
            return self.command(command);
        }
        self.entries += 1;
        let name = format!("<repl:{}>", self.entries);
        let result = self.vm.eval(&name, text);
        self.show(result)
    }

    /// Prints an entry's value or failure; `Some(status)` on `exit()`.
    fn show(&mut self, result: Result<Value, Failure>) -> Option<i32> {
        let _ = self.vm.flush_output();
        match result {
            Ok(Value::Nil) => {}
            Ok(value) => _ = print_out(&format!("{}\n", self.vm.repr(value))),
            Err(Failure::Exit(status)) => return Some(status),
            Err(Failure::Interrupted) => print_err("interrupted\n"),
            Err(failure) => {
                crate::cli::report(&failure);
            }
        }
        *self.names.lock().unwrap_or_else(|p| p.into_inner()) = Names::of(&self.vm);
        None
    }

    fn command(&mut self, command: &str) -> Option<i32> {
        let (name, argument) = command.split_once(char::is_whitespace).unwrap_or((command, ""));
        match (name, argument.trim()) {
            ("help" | "h", _) => _ = print_out(&format!("{HELP}\n")),
            ("quit" | "q", _) => return Some(0),
            ("tasks", _) => match self.vm.task_dump() {
                dump if dump.is_empty() => _ = print_out("no tasks\n"),
                dump => _ = print_out(&dump),
            },
            ("load", "") => print_err("error: :load needs a file\n"),
            ("load", file) => {
                let result = self.vm.run_file(file);
                return self.show(result);
            }
            _ => print_err(&format!("error: unknown command :{name} (:help lists them)\n")),
        }
        None
    }

    /// Reports the errors background tasks ended with.
    fn report_background(&mut self) {
        for error in self.vm.take_background_errors() {
            self.bridge.print_err(&error.report);
        }
    }
}

/// Whether `text` is a whole entry: the parser does not stop at its end
/// for want of more (an unclosed bracket, block or string). A syntax
/// error elsewhere makes it whole too, to be reported.
fn complete(text: &str) -> bool {
    let Err(broken) = weft_lang::parser::parse(text) else { return true };
    let end = text.trim_end().len();
    !broken.errors.iter().any(|e| {
        e.message.starts_with("unclosed ")
            || e.message == "unterminated string"
            || (e.message == "unexpected end of input" && e.span.start as usize >= end)
    })
}

/// The editor's thread: reads lines when asked, keeps the history.
fn editor_thread(
    helper: ReplHelper,
    requests: Receiver<Request>,
    inputs: Sender<Input>,
    printer: Sender<Option<Sender<String>>>,
    waker: HostWaker,
) {
    let config = Config::builder().auto_add_history(false).max_history_size(10_000).map(|b| b.build());
    let editor = match config {
        Ok(config) => Editor::<ReplHelper, FileHistory>::with_config(config),
        Err(e) => Err(e),
    };
    let mut editor = match editor {
        Ok(editor) => editor,
        Err(e) => {
            print_err(&format!("error: cannot start the line editor: {e}\n"));
            let _ = printer.send(None);
            let _ = inputs.send(Input::End);
            waker.wake();
            return;
        }
    };
    editor.set_helper(Some(helper));
    let history = history_file();
    if let Some(path) = &history {
        let _ = editor.load_history(path);
    }
    // The printer is driven from a thread of its own, so that the VM
    // never waits for the terminal.
    let lines = match editor.create_external_printer() {
        Ok(mut external) => {
            let (tx, rx) = mpsc::channel::<String>();
            let _ = std::thread::Builder::new().name("printer".into()).spawn(move || {
                for line in rx {
                    let _ = external.print(line);
                }
            });
            Some(tx)
        }
        Err(_) => None,
    };
    let _ = printer.send(lines);
    for request in requests {
        match request {
            Request::Remember(entry) => {
                let _ = editor.add_history_entry(entry.trim_end());
                if let Some(path) = &history {
                    // Appended at once, so a crash loses nothing.
                    let _ = editor.append_history(path);
                }
            }
            Request::Read(prompt) => {
                let input = match editor.readline(prompt) {
                    Ok(line) => Input::Line(line),
                    Err(ReadlineError::Interrupted) => Input::Abandoned,
                    Err(_) => Input::End,
                };
                let end = matches!(input, Input::End);
                let _ = inputs.send(input);
                waker.wake();
                if end {
                    break;
                }
            }
        }
    }
}

/// `$XDG_STATE_HOME/weft/history`, or `~/.weft_history`; its folder is
/// made if need be.
fn history_file() -> Option<PathBuf> {
    if let Some(state) = std::env::var_os("XDG_STATE_HOME").filter(|s| !s.is_empty()) {
        let dir = PathBuf::from(state).join("weft");
        if std::fs::create_dir_all(&dir).is_ok() {
            return Some(dir.join("history"));
        }
    }
    let home = std::env::var_os("HOME").filter(|h| !h.is_empty())?;
    Some(PathBuf::from(home).join(".weft_history"))
}
