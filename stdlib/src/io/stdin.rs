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

fn read_line_of(cx: &mut Ctx, stdin: &Handle) -> NativeResult {
    let s = cx.value(stdin)?;
    read(cx, s, Want::Line)
}

pub fn install(vm: &mut Vm) {
    let end = End::Blocking(Shared::new(Box::new(StdinEnd)), Some(Pool::new(1)));
    let stream = match vm.new_object(Stream::stdin(end)) {
        Ok(v) => v,
        Err(_) => return,
    };
    let _ = vm.register_value("stdin", stream);
    let Ok(for_input) = vm.root(stream) else { return };
    let Ok(for_read_line) = vm.root(stream) else { return };
    vm.register("input", move |cx: &mut Ctx, prompt: Option<String>| -> NativeResult {
        cx.capabilities().check_stdin("input")?;
        if let Some(prompt) = prompt {
            let written = cx.write_output(prompt.as_bytes()).and_then(|_| cx.flush_output());
            written.map_err(|e| Throw::new("IOError", format!("input: cannot write the prompt: {e}")))?;
        } else {
            let _ = cx.flush_output();
        }
        read_line_of(cx, &for_input)
    });
    vm.register("read_line", move |cx: &mut Ctx| -> NativeResult {
        cx.capabilities().check_stdin("read_line")?;
        let _ = cx.flush_output();
        read_line_of(cx, &for_read_line)
    });
}
