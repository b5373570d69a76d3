//! The `weft` command: run a script, a snippet, check or disassemble a file.

#![forbid(unsafe_code)]

fn main() {
    // Compile-time recursion over deeply nested input is bounded, but give
    // it room: run on a thread with a generous stack.
    let child = std::thread::Builder::new().stack_size(256 << 20).spawn(weft::cli::main);
    let status = match child {
        Ok(handle) => handle.join().unwrap_or(70),
        Err(_) => weft::cli::main(),
    };
    std::process::exit(status);
}
