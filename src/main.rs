//! The `weft` command: run a script, a snippet, check or disassemble a file.

#![forbid(unsafe_code)]

fn main() {
    // The last line of defence: no input should reach a panic, but if one
    // does, say so plainly instead of printing a Rust backtrace.
    std::panic::set_hook(Box::new(|info| {
        eprintln!("error: internal error: {info}");
        eprintln!("This is a bug in Weft, not in your script: please report it with the script that caused it.");
    }));
    // Compile-time recursion over deeply nested input is bounded, but give
    // it room: run on a thread with a generous stack.
    let child = std::thread::Builder::new().stack_size(256 << 20).spawn(weft::cli::main);
    let status = match child {
        Ok(handle) => handle.join().unwrap_or(70),
        Err(_) => weft::cli::main(),
    };
    std::process::exit(status);
}
