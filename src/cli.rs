//! The command-line interface: `weft FILE`, `weft -` (the script on
//! stdin), `weft -e CODE`, `weft check FILE`, `weft disasm FILE`, and
//! `weft` alone: the REPL on a terminal, else the script on stdin. Exit
//! statuses: 0 ok, 1 uncaught runtime error, 2 usage or compile error, 130
//! interrupted. A SIGQUIT (Ctrl-\\) while a script runs prints a task dump
//! on stderr and the script goes on.

use std::io::{IsTerminal, Read, Write};
use std::path::Path;
use weft_vm::{Capabilities, Failure, Vm};

const USAGE: &str = "usage:
  weft [OPTIONS] FILE [ARGS...]     run a script
  weft [OPTIONS] - [ARGS...]        run the script read from stdin
  weft [OPTIONS] -e CODE [ARGS...]  run a snippet
  weft [OPTIONS]                    the REPL (if stdin is a terminal; else run stdin)
  weft check FILE                   compile only; report every error (no options)
  weft disasm FILE                  print the bytecode (no options)
  weft --version                    print the version
  weft --help                       print this help

options:
  --seed N          fix the scheduler's and select's random choices
  --virtual-time    run on a virtual clock that jumps to the next timer
  --max-heap MIB    raise OutOfMemory past this heap size (default: half the memory)
  --sandbox         switch off every capability: files, network, processes, environment, stdin
  --allow CAP       switch one back on (repeatable; implies --sandbox): fs, fs=PATH, net,
                    net=HOST:PORT, process, env, stdin
  -h, --help        print this help
  -V, --version     print the version";

/// Scheduler, heap and capability settings from the command line.
#[derive(Clone, Default)]
pub(crate) struct Options {
    seed: Option<u64>,
    virtual_time: bool,
    max_heap_mib: Option<usize>,
    /// `None` without `--sandbox` or `--allow`: everything allowed.
    caps: Option<Capabilities>,
}

/// The exit status of a bug of Weft rather than of the script (BSD's
/// `EX_SOFTWARE`).
const INTERNAL_ERROR: i32 = 70;

/// Runs `body` (the command line's [`main`]) and gives its exit status:
/// the process's last line of defence. A panic that escapes the VM's own
/// guard ends the run with an internal error's message and status 70, not
/// a Rust backtrace.
pub fn guarded(body: impl FnOnce() -> i32 + std::panic::UnwindSafe) -> i32 {
    guard(body, &mut std::io::stderr())
}

/// [`guarded`], reporting to `err`.
fn guard(body: impl FnOnce() -> i32 + std::panic::UnwindSafe, err: &mut dyn Write) -> i32 {
    std::panic::catch_unwind(body).unwrap_or_else(|_| {
        // Not `eprintln!`, which would panic in turn on a closed stderr.
        let _ = writeln!(err, "error: {}", weft_vm::internal_message("the command line stopped"));
        INTERNAL_ERROR
    })
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
        None if std::io::stdin().is_terminal() => crate::repl::run(configured_vm(&[], &options)),
        None => run_stdin(&[], options),
        Some("-") => run_stdin(&args[1..], options),
        Some("-h") | Some("--help") => print_out(&format!("{USAGE}\n")),
        Some("-V") | Some("--version") => print_out(&format!("weft {}\n", env!("CARGO_PKG_VERSION"))),
        Some("-e") => match args.get(1) {
            Some(code) => run_source("<snippet>", code, Path::new("."), &args[2..], options),
            None => usage_error("-e needs the code to run"),
        },
        Some(command @ ("check" | "disasm")) => {
            // Options only matter when a script runs: refused rather than
            // ignored, wherever they are written.
            let flag = args[1..].iter().map(String::as_str).find(|a| a.starts_with('-') && a.len() > 1);
            if let Some(flag) = flag.or_else(|| given_options(&options)) {
                return usage_error(&format!("{command} compiles only: it takes no option such as {flag}"));
            }
            match &args[1..] {
                [file] if command == "check" => check(file),
                [file] => disasm(file),
                [] => usage_error(&format!("{command} needs a file")),
                [_, extra, ..] => usage_error(&format!("{command} takes one file, but {extra:?} follows it")),
            }
        }
        Some(flag) if flag.starts_with('-') => usage_error(&format!("unknown option {flag}")),
        Some(file) => match read(file) {
            Ok(text) => run_source(file, &text, dir_of(file), &args[1..], options),
            Err(status) => status,
        },
    }
}

/// Runs the script read from stdin (which the script then finds at its
/// end: it was read whole).
fn run_stdin(script_args: &[String], options: Options) -> i32 {
    let mut text = String::new();
    if let Err(why) = std::io::stdin().read_to_string(&mut text) {
        print_err(&format!("error: cannot read the script from stdin: {why}\n"));
        return 2;
    }
    run_source("<stdin>", &text, Path::new("."), script_args, options)
}

/// The first option given, if any, for a command that takes none.
fn given_options(options: &Options) -> Option<&'static str> {
    let names = ["--seed", "--virtual-time", "--max-heap", "--sandbox or --allow"];
    let given = [options.seed.is_some(), options.virtual_time, options.max_heap_mib.is_some(), options.caps.is_some()];
    given.iter().position(|&g| g).map(|i| names[i])
}

fn usage_error(message: &str) -> i32 {
    print_err(&format!("error: {message}\n\n{USAGE}\n"));
    2
}

fn read(file: &str) -> Result<String, i32> {
    weft_vm::read_source(Path::new(file)).map_err(|why| {
        print_err(&format!("error: cannot read {file}: {why}\n"));
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
    std::io::stderr().is_terminal()
}

/// A VM with the standard library, set up as the options say.
fn configured_vm(script_args: &[String], options: &Options) -> Vm {
    let mut vm = new_vm(script_args);
    vm.configure_scheduler(options.seed, options.virtual_time);
    if let Some(caps) = &options.caps {
        vm.set_capabilities(caps.clone());
    }
    if let Some(mib) = options.max_heap_mib {
        vm.set_heap_limit(mib.saturating_mul(1 << 20));
    }
    vm
}

/// Watches for the signals a running VM answers, on one thread: at each
/// SIGQUIT the VM writes a task dump on stderr at its next scheduling
/// round; at each SIGINT (Ctrl-C) `on_interrupt` runs.
pub(crate) fn watch_signals(vm: &mut Vm, mut on_interrupt: impl FnMut() + Send + 'static) {
    use signal_hook::consts::{SIGINT, SIGQUIT};
    let waker = vm.host_waker();
    let Ok(mut signals) = signal_hook::iterator::Signals::new([SIGQUIT, SIGINT]) else { return };
    let _ = std::thread::Builder::new().name("signals".into()).spawn(move || {
        for signal in signals.forever() {
            match signal {
                SIGQUIT => waker.request_task_dump(),
                _ => on_interrupt(),
            }
        }
    });
}

fn run_source(name: &str, text: &str, dir: &Path, script_args: &[String], options: Options) -> i32 {
    let mut vm = configured_vm(script_args, &options);
    // The first Ctrl-C cancels the main task, so `finally` blocks run; a
    // second one ends the process at once.
    let interrupt = vm.interrupt_handle();
    let mut pressed = false;
    watch_signals(&mut vm, move || {
        if std::mem::replace(&mut pressed, true) {
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
            status = cannot_write(&e);
        }
    }
    // The process ends next: freeing the heap object by object would only
    // delay the exit.
    std::mem::forget(vm);
    status
}

/// Writes the command line's own output (the usage, the version, a
/// listing) to stdout, and gives the exit status: 0; 141 if the reader
/// went away, as a script's `print` ends then; 1 if it could not be
/// written. Unlike `print!`, which panics on a closed pipe.
pub(crate) fn print_out(text: &str) -> i32 {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => 0,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => 128 + 13,
        Err(e) => cannot_write(&e),
    }
}

/// Reports output that could not be written (a full disk): a failure, not
/// a silent loss. Gives the exit status.
fn cannot_write(e: &std::io::Error) -> i32 {
    print_err(&format!("error: cannot write the output: {e}\n"));
    1
}

/// Writes a message or report to stderr. One that cannot be written is
/// lost, but the exit status still says what it said; `eprint!` would
/// panic, and a closed stderr (`weft x.weft 2>&1 | head -1`) would turn a
/// script's error into an internal one.
pub(crate) fn print_err(text: &str) {
    let _ = std::io::stderr().lock().write_all(text.as_bytes());
}

/// Prints a failure and returns its exit status.
pub(crate) fn report(failure: &Failure) -> i32 {
    let _ = std::io::stdout().flush();
    match failure {
        Failure::Compile { report, .. } => {
            print_err(report);
            2
        }
        Failure::Runtime(e) => {
            print_err(&e.report);
            // A bug of the VM, not of the script: the status of a panic.
            if e.kind == "Internal" {
                INTERNAL_ERROR
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
        Ok(listing) => print_out(&listing),
        Err(failure) => report(&failure),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_that_escapes_the_vm_ends_the_command_with_status_70() {
        let mut err = Vec::new();
        assert_eq!(guard(|| 3, &mut err), 3, "a status goes through as it is");
        assert!(err.is_empty());
        assert_eq!(guard(|| panic!("a bug outside the VM"), &mut err), INTERNAL_ERROR);
        assert_eq!(INTERNAL_ERROR, 70);
        let err = String::from_utf8(err).unwrap();
        assert!(err.starts_with("error: the command line stopped (a bug in Weft"), "{err}");
    }
}
