//! Standard input: the `stdin` stream, `input(prompt)` and `read_line()`.
//!
//! stdin is never switched to non-blocking mode: that flag belongs to the
//! open file description, which the terminal and the parent shell share.
//! Reads run instead on a worker of their own (a one-thread pool, so they
//! keep their order), and what a read brings lands in the stream's buffer:
//! a task cancelled while it waits for a line loses nothing, and the next
//! reader gets the line.

use super::stream::{read, End, Shared, Stream, Want};
use std::io::{Read, Write};
use std::sync::Arc;
use weft_vm::{Ctx, Handle, NativeResult, Pool, Throw, Vm};

/// The process's stdin as a blocking end: it reads, and refuses writes.
struct StdinEnd;

impl Read for StdinEnd {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        std::io::stdin().lock().read(buf)
    }
}

impl Write for StdinEnd {
    fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
        Err(std::io::Error::other("stdin is for reading"))
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A line of stdin for `who`, after writing `prompt` (and, before the
/// wait, everything printed so far).
fn line_from_stdin(cx: &mut Ctx, who: &str, prompt: Option<String>, stdin: &Handle) -> NativeResult {
    cx.capabilities().check_stdin(who)?;
    let written = match prompt {
        Some(prompt) => cx.write_output(prompt.as_bytes()),
        None => Ok(()),
    };
    let written = written.and_then(|_| cx.flush_output());
    written.map_err(|e| Throw::new("IOError", format!("{who}: cannot write to the output: {e}")))?;
    let s = cx.value(stdin)?;
    read(cx, s, Want::Line)
}

pub fn install(vm: &mut Vm) {
    let end = End::Blocking(Shared::new(Box::new(StdinEnd)), Some(Pool::new(1)));
    let Ok(stream) = vm.new_object(Stream::stdin(end)) else { return };
    let _ = vm.register_value("stdin", stream);
    let Ok(handle) = vm.root(stream) else { return };
    let for_input = Arc::new(handle);
    let for_read_line = for_input.clone();
    vm.register("input", move |cx: &mut Ctx, prompt: Option<String>| line_from_stdin(cx, "input", prompt, &for_input));
    vm.register("read_line", move |cx: &mut Ctx| line_from_stdin(cx, "read_line", None, &for_read_line));
}
