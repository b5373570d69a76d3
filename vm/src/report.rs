//! Reports of uncaught errors: the failing span underlined, the stack
//! trace, the spawn chain, a failed nursery's other errors.

use crate::trace::TraceEntry;
use crate::{conc, fmt, Task, Value, Vm};

/// An uncaught runtime error, ready to report.
#[derive(Clone, Debug)]
pub struct RuntimeError {
    /// The error's kind, as scripts see it in `e.kind`.
    pub kind: String,
    /// Its message, as `e.message`.
    pub message: String,
    /// `"fn at file:line:col"`, innermost first.
    pub trace: Vec<String>,
    /// Where the failing task was spawned, then its parent, and so on:
    /// `"file:line:col"` each, innermost first; empty for the main task.
    pub spawn_chain: Vec<String>,
    /// The full report: source excerpt with the failing span underlined, then
    /// the trace.
    pub report: String,
}

impl Vm {
    /// Builds the report of an uncaught error.
    pub fn runtime_error(&mut self, value: Value, task: &Task) -> RuntimeError {
        let (kind, message, trace) = match value {
            Value::Error(r) => {
                let e = self.rt.heap.error(r);
                let kind = fmt::display(&self.rt.heap, &self.code, e.kind);
                let message = fmt::display(&self.rt.heap, &self.code, e.message);
                (kind, message, e.trace.clone())
            }
            v => ("Error".to_string(), fmt::display(&self.rt.heap, &self.code, v), task.trace().to_vec()),
        };
        let (spawned_at, details, others) = match value {
            Value::Error(r) => {
                let e = self.rt.heap.error(r);
                (e.spawned_at.clone(), e.details.clone(), e.others.clone())
            }
            _ => (Vec::new(), None, Vec::new()),
        };
        let mut error = self.render_error(kind, message, &trace);
        for site in &spawned_at {
            let at = conc::location(&self.code, site);
            error.report.push_str(&format!("  in task spawned at {at}\n"));
            error.spawn_chain.push(at);
        }
        if let Some(details) = details {
            error.report.push_str(&details);
        }
        // A failed nursery's other failures (`e.others`), one line each.
        if !others.is_empty() {
            let (n, tasks) = (others.len(), if others.len() == 1 { "task" } else { "tasks" });
            error.report.push_str(&format!("{n} other {tasks} of the nursery failed too (e.others):\n"));
            for other in others {
                let text = fmt::display(&self.rt.heap, &self.code, other);
                let at = match other {
                    Value::Error(r) => self.rt.heap.error(r).trace.first().map(|t| self.code.trace_line(t)),
                    _ => None,
                };
                match at {
                    Some(at) => error.report.push_str(&format!("  {text}\n    {at}\n")),
                    None => error.report.push_str(&format!("  {text}\n")),
                }
            }
        }
        error
    }

    fn render_error(&self, kind: String, message: String, trace: &[TraceEntry]) -> RuntimeError {
        let lines: Vec<String> = trace.iter().map(|t| self.code.trace_line(t)).collect();
        let mut report = match trace.first().and_then(|t| self.code.files.get(t.file as usize).map(|f| (t, f))) {
            Some((t, file)) => weft_lang::diagnostic::Diagnostic::new(message.clone(), t.span)
                .with_label("raised here")
                .render_as(&kind, &file.name, &file.text, self.color),
            None => format!("error: {kind}: {message}\n"),
        };
        if !lines.is_empty() {
            report.push_str("stack trace (most recent call first):\n");
            report.push_str(&lines.iter().map(|l| format!("  {l}")).collect::<Vec<_>>().join("\n"));
            report.push('\n');
        }
        RuntimeError { kind, message, trace: lines, spawn_chain: Vec::new(), report }
    }
}

/// The failure of a run that has no source to point at: a host's bad
/// request, or a bug of the VM.
pub(crate) fn without_source(kind: crate::ErrorKind, message: String) -> crate::Failure {
    let report = format!("Error: {kind}: {message}\n");
    crate::Failure::Runtime(RuntimeError {
        kind: kind.name().to_string(),
        message,
        trace: Vec::new(),
        spawn_chain: Vec::new(),
        report,
    })
}
