//! The `weft` command: run a script, a snippet, check or disassemble a file.

#![forbid(unsafe_code)]

fn main() {
    // The last line of defence: no input should reach a panic. If one does,
    // the hook says where, in place of a Rust backtrace; a panic inside
    // the VM is then reported as an `Internal` error by the VM itself, and
    // one outside it by the lines below.
    std::panic::set_hook(Box::new(|info| match info.location() {
        Some(at) => eprintln!("internal error at {at}"),
        None => eprintln!("internal error"),
    }));
    // Compile-time recursion over deeply nested input is bounded, but give
    // it room: run on a thread with a generous stack.
    let child = std::thread::Builder::new().stack_size(256 << 20).spawn(weft::cli::main);
    let status = match child {
        Ok(handle) => handle.join().unwrap_or_else(|_| {
            eprintln!("error: {}", weft_vm::internal_message("the command line stopped"));
            70
        }),
        Err(_) => weft::cli::main(),
    };
    #[cfg(feature = "op-pairs")]
    if let Err(e) = weft_vm::op_pairs::write() {
        eprintln!("error: writing the instruction pair counts: {e}");
    }
    std::process::exit(status);
}
