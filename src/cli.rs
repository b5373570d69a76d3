//! The command-line interface: `weft FILE`, `weft -e CODE`, `weft check
//! FILE`, `weft disasm FILE`. Exit statuses: 0 ok, 1 uncaught runtime
//! error, 2 usage or compile error, 130 interrupted.

use std::io::Write;
use std::path::Path;
use weft_vm::{Capabilities, Failure, Vm};

const USAGE: &str = "usage:
  weft [OPTIONS] FILE [ARGS...]     run a script
  weft [OPTIONS] -e CODE [ARGS...]  run a snippet
  weft check FILE                   compile only; report every error
  weft disasm FILE                  print the bytecode

options:
  --seed N          fix the scheduler's and select's random choices
  --virtual-time    run on a virtual clock that jumps to the next timer
  --max-heap MIB    raise OutOfMemory past this heap size (default: half the memory)
  --sandbox         switch off every capability: files, network, processes,
                    environment, stdin
  --allow CAP       switch one back on (repeatable; implies --sandbox): fs,
                    fs=PATH, net, net=HOST:PORT, process, env, stdin";

/// Scheduler, heap and capability settings from the command line.
#[derive(Clone, Default)]
struct Options {
    seed: Option<u64>,
    virtual_time: bool,
    max_heap_mib: Option<usize>,
    /// `None` without `--sandbox` or `--allow`: everything allowed.
    caps: Option<Capabilities>,
}

/// Runs the CLI with the process's arguments; returns the exit status.
pub fn main() -> i32 {
    // Arguments that are not UTF-8 are refused by name rather than
    // panicking in `std::env::args`: scripts see arguments as strings.
    let mut args = Vec::new();
    for (i, arg) in std::env::args_os().skip(1).enumerate() {
        match arg.into_string() {
            Ok(arg) => args.push(arg),
            Err(raw) => {
                let shown = raw.to_string_lossy();
                return usage_error(&format!("argument {} ({shown:?}) is not valid UTF-8", i + 1));
            }
        }
    }
    // A server holds a descriptor per connection: allow as many as the
    // hard limit does, not the usual 1024. Failing to is no reason to stop.
    let _ = weft_vm::raise_fd_limit();
    run(&args)
}

fn run(mut args: &[String]) -> i32 {
    let mut options = Options::default();
    loop {
        match args.first().map(String::as_str) {
            Some("--virtual-time") => options.virtual_time = true,
            Some("--seed") => match args.get(1).and_then(|s| s.parse().ok()) {
                Some(seed) => {
                    options.seed = Some(seed);
                    args = &args[1..];
                }
                None => return usage_error("--seed needs a whole number"),
            },
            Some("--max-heap") => match args.get(1).and_then(|s| s.parse::<usize>().ok()).filter(|&n| n > 0) {
                Some(mib) => {
                    options.max_heap_mib = Some(mib);
                    args = &args[1..];
                }
                None => return usage_error("--max-heap needs a size in MiB"),
            },
            Some("--sandbox") => {
                options.caps.get_or_insert_with(Capabilities::none);
            }
            Some("--allow") => {
                let Some(spec) = args.get(1) else { return usage_error("--allow needs a capability, such as fs") };
                let caps = options.caps.get_or_insert_with(Capabilities::none);
                if let Err(why) = caps.allow(spec) {
                    return usage_error(&why);
                }
                args = &args[1..];
            }
            _ => break,
        }
        args = &args[1..];
    }
    match args.first().map(String::as_str) {
        None => {
            eprintln!("{USAGE}");
            2
        }
        Some("-h") | Some("--help") => {
            println!("{USAGE}");
            0
        }
        Some("-e") => match args.get(1) {
            Some(code) => run_source("<snippet>", code, Path::new("."), &args[2..], options),
            None => usage_error("-e needs the code to run"),
        },
        Some("check") => match args.get(1) {
            Some(file) => check(file),
            None => usage_error("check needs a file"),
        },
        Some("disasm") => match args.get(1) {
            Some(file) => disasm(file),
            None => usage_error("disasm needs a file"),
        },
        Some(flag) if flag.starts_with('-') => usage_error(&format!("unknown option {flag}")),
        Some(file) => match read(file) {
            Ok(text) => run_source(file, &text, dir_of(file), &args[1..], options),
            Err(status) => status,
        },
    }
}

fn usage_error(message: &str) -> i32 {
    eprintln!("error: {message}\n\n{USAGE}");
    2
}

fn read(file: &str) -> Result<String, i32> {
    weft_vm::read_source(Path::new(file)).map_err(|why| {
        eprintln!("error: cannot read {file}: {why}");
        2
    })
}

fn dir_of(file: &str) -> &Path {
    Path::new(file).parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."))
}

fn new_vm(script_args: &[String]) -> Vm {
    let mut vm = Vm::new();
    vm.color = std::env::var_os("NO_COLOR").is_none() && is_terminal_stderr();
    vm.set_args(script_args.to_vec());
    if let Err(failure) = weft_stdlib::install(&mut vm) {
        report(&failure);
        std::process::exit(70);
    }
    vm
}

fn is_terminal_stderr() -> bool {
    use std::io::IsTerminal;
    std::io::stderr().is_terminal()
}

fn run_source(name: &str, text: &str, dir: &Path, script_args: &[String], options: Options) -> i32 {
    let mut vm = new_vm(script_args);
    vm.configure_scheduler(options.seed, options.virtual_time);
    if let Some(caps) = options.caps {
        vm.set_capabilities(caps);
    }
    if let Some(mib) = options.max_heap_mib {
        vm.set_heap_limit(mib.saturating_mul(1 << 20));
    }
    // The first Ctrl-C cancels the main task, so `finally` blocks run; a
    // second one ends the process at once.
    let interrupt = vm.interrupt_handle();
    let presses = std::sync::atomic::AtomicUsize::new(0);
    let _ = ctrlc::set_handler(move || {
        if presses.fetch_add(1, std::sync::atomic::Ordering::SeqCst) > 0 {
            std::process::exit(130);
        }
        interrupt.interrupt();
    });
    let result = vm.run_script(name, text, dir);
    let flushed = vm.flush_output();
    let mut status = match result {
        Ok(_) => 0,
        Err(failure) => report(&failure),
    };
    // Output that could not be written is a failure, not a silent loss (a
    // full disk). A reader that closed the pipe early (`weft x | head`)
    // wanted no more, as for any Unix filter.
    if let (0, Err(e)) = (status, flushed) {
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            eprintln!("error: cannot write the output: {e}");
            status = 1;
        }
    }
    // The process ends next: freeing the heap object by object would only
    // delay the exit.
    std::mem::forget(vm);
    status
}

/// Prints a failure and returns its exit status.
fn report(failure: &Failure) -> i32 {
    let _ = std::io::stdout().flush();
    match failure {
        Failure::Compile { report, .. } => {
            eprint!("{report}");
            2
        }
        Failure::Runtime(e) => {
            eprint!("{}", e.report);
            // A bug of the VM, not of the script: the status of a panic.
            if e.kind == "Internal" {
                70
            } else {
                1
            }
        }
        Failure::Exit(status) => *status,
        Failure::Interrupted => 130,
    }
}

fn check(file: &str) -> i32 {
    let text = match read(file) {
        Ok(text) => text,
        Err(status) => return status,
    };
    let mut vm = new_vm(&[]);
    match vm.compile_only(file, &text, dir_of(file)) {
        Ok(()) => 0,
        Err(failure) => report(&failure),
    }
}

fn disasm(file: &str) -> i32 {
    let text = match read(file) {
        Ok(text) => text,
        Err(status) => return status,
    };
    let mut vm = new_vm(&[]);
    match vm.disassemble(file, &text, dir_of(file)) {
        Ok(listing) => {
            print!("{listing}");
            0
        }
        Err(failure) => report(&failure),
    }
}
