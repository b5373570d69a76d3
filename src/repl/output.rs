//! Where the REPL's VM writes: while an entry runs, straight to stdout
//! and stderr; while the prompt waits, each completed line goes to the
//! line editor's external printer, which prints it above the prompt and
//! redraws the line being typed. A thread of its own owns the printer, so
//! the VM never blocks on the terminal.

use std::io::Write;
use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex};

/// The state both writers (print, eprint) share.
#[derive(Default)]
struct Shared {
    /// Whether the prompt is shown (lines go to the printer).
    prompting: bool,
    /// A line not yet ended, per writer (0: stdout, 1: stderr).
    partial: [Vec<u8>; 2],
}

/// Switches the VM's output between the terminal and the printer.
#[derive(Clone)]
pub(super) struct Bridge {
    shared: Arc<Mutex<Shared>>,
    /// Lines for the printer thread; `None` without a printer (stdout is
    /// not a terminal), when output always goes straight out.
    printer: Option<Sender<String>>,
}

impl Bridge {
    /// A bridge sending lines shown above the prompt to `printer`.
    pub(super) fn new(printer: Option<Sender<String>>) -> Bridge {
        Bridge { shared: Arc::default(), printer }
    }

    /// The writer for `print` (`err == false`) or `eprint`.
    pub(super) fn writer(&self, err: bool) -> Writer {
        Writer { bridge: self.clone(), stream: usize::from(err) }
    }

    /// The prompt is about to be shown: lines go above it from now on.
    pub(super) fn prompting(&self) {
        self.lock().prompting = self.printer.is_some();
    }

    /// An entry runs: lines go straight to the terminal, starting with
    /// what was left unfinished.
    pub(super) fn direct(&self) {
        let mut shared = self.lock();
        shared.prompting = false;
        for stream in 0..2 {
            let partial = std::mem::take(&mut shared.partial[stream]);
            write_direct(stream, &partial);
        }
    }

    /// Prints `text` (whole lines) as the VM's output would go now.
    pub(super) fn print_err(&self, text: &str) {
        let _ = self.writer(true).write_all(text.as_bytes());
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Shared> {
        self.shared.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

fn write_direct(stream: usize, bytes: &[u8]) {
    if bytes.is_empty() {
        return;
    }
    let _ = match stream {
        0 => std::io::stdout().lock().write_all(bytes).and_then(|_| std::io::stdout().flush()),
        _ => std::io::stderr().lock().write_all(bytes),
    };
}

/// One of the VM's outputs, through the bridge.
pub(super) struct Writer {
    bridge: Bridge,
    stream: usize,
}

impl Write for Writer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let mut shared = self.bridge.lock();
        match (&self.bridge.printer, shared.prompting) {
            (Some(printer), true) => {
                let partial = &mut shared.partial[self.stream];
                partial.extend_from_slice(buf);
                if let Some(end) = partial.iter().rposition(|&b| b == b'\n') {
                    let lines: Vec<u8> = partial.drain(..=end).collect();
                    let _ = printer.send(String::from_utf8_lossy(&lines).into_owned());
                }
            }
            _ => {
                drop(shared);
                write_direct(self.stream, buf);
            }
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if self.stream == 0 && !self.bridge.lock().prompting {
            std::io::stdout().flush()?;
        }
        Ok(())
    }
}
