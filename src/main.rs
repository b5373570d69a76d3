//! The `weft` command: run a script, a snippet, check or disassemble a file.

#![forbid(unsafe_code)]

use std::io::Write;

fn main() {
    // The last line of defence: no input should reach a panic. If one does,
    // the hook says where, in place of a Rust backtrace; a panic inside
    // the VM is then reported as an `Internal` error by the VM itself, and
    // one outside it by the lines below.
    // Nothing here may panic in turn (as `eprintln!` does on a closed
    // stderr): a panic in the hook aborts the process.
    std::panic::set_hook(Box::new(|info| {
        let _ = match info.location() {
            Some(at) => writeln!(std::io::stderr(), "internal error at {at}"),
            None => writeln!(std::io::stderr(), "internal error"),
        };
    }));
    // The main thread is enough: the front end bounds its recursion over
    // nested input to fit a host thread's 2 MiB stack (tests/deep_input.rs),
    // and the interpreter does not recurse per call. A thread of its own
    // cost a millisecond of start-up (its stack, its own malloc arena).
    let status = weft::cli::guarded(weft::cli::main);
    #[cfg(feature = "op-pairs")]
    if let Err(e) = weft_vm::op_pairs::write() {
        eprintln!("error: writing the instruction pair counts: {e}");
    }
    std::process::exit(status);
}
