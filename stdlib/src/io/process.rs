//! Child processes: `spawn_process` and `exec`, without a thread per
//! child. A child's exit is watched through its pidfd on the reactor, its
//! pipes are streams on the reactor, and waiting for it parks only the
//! task. Children are owned: a task cancelled while it waits in `p.wait()`
//! kills the child; a `spawn_process` child belongs to the innermost
//! nursery block around the call, else to the task that started it
//! (`Ctx::own`), and is killed when that ends; a process handle that is
//! collected or outlives the runtime kills it too. Every child is reaped
//! the moment it exits, by the reactor's watch on its pidfd, whether or
//! not a task waits for it; its status waits for `p.wait()`. Signals and
//! reaping go through the pidfd, never the pid, which the OS may give to
//! another process once the child is reaped.

use super::os_reason;
use super::stream::{End, Stream};
use mio::unix::pipe::Receiver;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use weft_vm::{mio, Callable, Ctx, Direction, Handle, IoSource, MapRef, NativeResult, Object, Throw, Value, Vm};

/// A child process and its three pipes (as streams, or nil).
pub struct Process {
    what: String,
    pid: u32,
    /// Kept for its pipes only: the child is signalled and reaped
    /// through its pidfd, never by pid.
    _child: Child,
    exit: Arc<ExitWatch>,
    /// The pidfd's place on the reactor, while the child may still exit.
    exit_io: Option<IoSource>,
    pipes: [Value; 3],
}

/// A child's pidfd and its exit status once reaped, shared with the
/// reactor's watch on the pidfd, which reaps the child the moment it
/// exits, whether or not a task waits for it (no zombie lingers).
struct ExitWatch {
    pidfd: OwnedFd,
    status: Mutex<Option<i64>>,
}

impl ExitWatch {
    /// The exit status, reaping the child if it has exited (or, with
    /// `block`, once it does). The lock makes one reaper of the watch and
    /// the process handle.
    fn reap(&self, block: bool) -> std::io::Result<Option<i64>> {
        let mut status = self.status.lock().unwrap_or_else(|e| e.into_inner());
        if status.is_none() {
            *status = weft_vm::pidfd_reap(self.pidfd.as_fd(), block)?;
        }
        Ok(*status)
    }

    /// SIGKILL and reap, unless it has exited.
    fn kill(&self) -> std::io::Result<Option<i64>> {
        if let Some(status) = self.reap(false)? {
            return Ok(Some(status));
        }
        weft_vm::pidfd_kill(self.pidfd.as_fd())?;
        self.reap(true)
    }
}

impl Object for Process {
    fn describe(&self) -> String {
        match self.exit.reap(false) {
            Ok(Some(status)) => format!("{} (exited {status})", self.what),
            _ => format!("{} (pid {})", self.what, self.pid),
        }
    }

    fn field(&self, name: &str) -> Option<Value> {
        match name {
            "stdin" => Some(self.pipes[0]),
            "stdout" => Some(self.pipes[1]),
            "stderr" => Some(self.pipes[2]),
            _ => None,
        }
    }

    fn trace(&self, out: &mut Vec<Value>) {
        out.extend_from_slice(&self.pipes);
    }

    /// The nursery block or task that started it ended.
    fn on_owner_end(&mut self) {
        self.kill();
    }

    /// Once reaped, its owner may let go of it.
    fn done_with_owner(&mut self) -> bool {
        matches!(self.poll_exit(), Ok(Some(_)))
    }
}

impl Process {
    /// The exit status if the child has exited (reaping it if the watch
    /// has not yet).
    fn poll_exit(&mut self) -> Result<Option<i64>, Throw> {
        self.exit
            .reap(false)
            .map_err(|e| Throw::new("IOError", format!("cannot wait for {}: {}", self.what, os_reason(&e))))
    }

    /// SIGKILL and reap: a no-op on a child that has exited, whose status
    /// stays what it exited with.
    fn kill(&mut self) {
        let _ = self.exit.kill();
        self.exit_io = None;
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The options `exec` and `spawn_process` take, checked.
struct Options {
    cwd: Option<String>,
    env: Vec<(String, String)>,
    has_stdin: bool,
}

fn options(cx: &Ctx, opts: Option<MapRef>) -> Result<Options, Throw> {
    let mut out = Options { cwd: None, env: Vec::new(), has_stdin: false };
    let Some(opts) = opts else { return Ok(out) };
    let who = cx.name().to_string();
    for (k, v) in cx.map(opts).iter() {
        let key = match k.value() {
            Value::Str(r) => cx.heap().str(r).to_string(),
            other => return Err(Throw::value_error(format!("{who}: option {} is not a string", cx.repr_short(other)))),
        };
        match (key.as_str(), *v) {
            ("cwd", Value::Str(r)) => out.cwd = Some(cx.heap().str(r).to_string()),
            ("stdin", Value::Str(_)) => out.has_stdin = true,
            ("env", env @ Value::Map(_)) => {
                let Some(env) = MapRef::of(env) else { continue };
                for (name, value) in cx.map(env).iter() {
                    match (name.value(), *value) {
                        (Value::Str(n), Value::Str(v)) => {
                            out.env.push((cx.heap().str(n).to_string(), cx.heap().str(v).to_string()))
                        }
                        _ => return Err(Throw::type_error(format!("{who}: option \"env\" maps strings to strings"))),
                    }
                }
            }
            ("cwd" | "stdin", other) => {
                return Err(Throw::type_error(format!(
                    "{who}: option \"{key}\" must be a string, not {}",
                    cx.type_name(other)
                )))
            }
            ("env", other) => {
                return Err(Throw::type_error(format!(
                    "{who}: option \"env\" must be a map, not {}",
                    cx.type_name(other)
                )))
            }
            _ => {
                return Err(Throw::value_error(format!(
                    "{who}: unknown option {key:?} (expected \"stdin\", \"cwd\" or \"env\")"
                )))
            }
        }
    }
    Ok(out)
}

/// Starts `cmd` with pipes for all three streams (stdin null if `stdin`
/// is false) and wraps it in a process object; `exec` words a wait for
/// it as `exec` runs it.
fn start(cx: &mut Ctx, cmd: String, args: Vec<String>, opts: &Options, stdin: bool, exec: bool) -> NativeResult {
    let who = cx.name().to_string();
    cx.capabilities().check_process(&who)?;
    let mut command = Command::new(&cmd);
    command.args(&args).stdout(Stdio::piped()).stderr(Stdio::piped());
    command.stdin(if stdin { Stdio::piped() } else { Stdio::null() });
    if let Some(dir) = &opts.cwd {
        command.current_dir(dir);
    }
    command.envs(opts.env.iter().map(|(k, v)| (k, v)));
    let what = format!("{cmd:?}");
    let mut child =
        command.spawn().map_err(|e| Throw::new("IOError", format!("cannot run {what}: {}", os_reason(&e))))?;
    let pid = child.id();
    let io_error = |e: std::io::Error| Throw::new("IOError", format!("cannot watch {what}: {}", os_reason(&e)));
    let pidfd = match weft_vm::pidfd_open(pid) {
        Ok(fd) => fd,
        Err(e) => {
            let _ = child.kill();
            let _ = child.wait();
            return Err(io_error(e).into());
        }
    };
    let exit = Arc::new(ExitWatch { pidfd, status: Mutex::new(None) });
    // Owned from here on: an error below drops it, which kills and reaps.
    let mut process =
        Process { what: what.clone(), pid, _child: child, exit: exit.clone(), exit_io: None, pipes: [Value::Nil; 3] };
    let wording = match exec {
        true => format!("exec of {what}"),
        false => format!("wait for process {what} (pid {pid})"),
    };
    let watch = exit.clone();
    let exit_io =
        cx.watch_io(&mut mio::unix::SourceFd(&exit.pidfd.as_raw_fd()), mio::Interest::READABLE, &wording, move || {
            // An error leaves the child to whoever reaps next.
            let _ = watch.reap(false);
        })?;
    process.exit_io = Some(exit_io);
    if let Some(pipe) = process._child.stdin.take() {
        let mut pipe = mio::unix::pipe::Sender::from(pipe);
        pipe.set_nonblocking(true).map_err(io_error)?;
        let label = format!("stdin of {what}");
        let io = cx.register_io(&mut pipe, mio::Interest::WRITABLE, &label)?;
        process.pipes[0] = cx.new_object(Stream::new(label, End::PipeOut(pipe, io)))?;
    }
    let outputs = [process._child.stdout.take().map(Receiver::from), process._child.stderr.take().map(Receiver::from)];
    for ((i, name), pipe) in [(1, "stdout"), (2, "stderr")].into_iter().zip(outputs) {
        if let Some(mut pipe) = pipe {
            pipe.set_nonblocking(true).map_err(io_error)?;
            let label = format!("{name} of {what}");
            let io = cx.register_io(&mut pipe, mio::Interest::READABLE, &label)?;
            process.pipes[i] = cx.new_object(Stream::new(label, End::PipeIn(pipe, io)))?;
        }
    }
    cx.new_object(process).map_err(Into::into)
}

fn spawn_process(cx: &mut Ctx, cmd: String, args: Option<Vec<String>>, opts: Option<MapRef>) -> NativeResult {
    let opts = options(cx, opts)?;
    let p = start(cx, cmd, args.unwrap_or_default(), &opts, true, false)?;
    cx.own(p)?;
    Ok(p)
}

/// `p.wait()`: the exit status, once the child has exited.
fn wait(cx: &mut Ctx, p: Value) -> NativeResult {
    cx.checkpoint()?;
    let process = cx.object_mut::<Process>(0, p)?;
    if let Some(status) = process.poll_exit()? {
        return Ok(Value::Int(status));
    }
    let Some(source) = &process.exit_io else {
        return Err(Throw::internal("wait: a running child has no exit watch").into());
    };
    let id = source.id();
    cx.wait_io_or_abort(id, Direction::Read, vec![p], |cx, _, keep| wait(cx, keep[0]), Some(kill_kept))
}

/// A task cancelled in `p.wait()` kills its child.
#[allow(clippy::ptr_arg)] // the shape of `Then`
fn kill_kept(cx: &mut Ctx, keep: &mut Vec<Value>) {
    if let Ok(process) = cx.object_mut::<Process>(0, keep[0]) {
        process.kill();
    }
}

pub fn install(vm: &mut Vm, exec_driver: Arc<OnceLock<Handle>>) {
    vm.register_class::<Process>("process");
    vm.register("spawn_process", spawn_process);
    vm.register_class_method::<Process, _>("wait", wait);
    vm.register_class_method::<Process, _>("pid", |cx: &mut Ctx, p: Value| -> Result<i64, Throw> {
        Ok(cx.object::<Process>(0, p)?.pid as i64)
    });
    vm.register_class_method::<Process, _>("kill", |cx: &mut Ctx, p: Value| -> Result<(), Throw> {
        cx.object_mut::<Process>(0, p)?.kill();
        Ok(())
    });
    // `exec` checks its arguments and starts the child here, then hands
    // over to the prelude's `process_exec`, which reads the pipes in tasks
    // of their own while it waits.
    vm.register(
        "exec",
        move |cx: &mut Ctx, cmd: String, args: Option<Vec<String>>, opts: Option<MapRef>| -> NativeResult {
            let checked = options(cx, opts)?;
            let p = start(cx, cmd, args.unwrap_or_default(), &checked, checked.has_stdin, true)?;
            let Some(driver) = exec_driver.get() else {
                return Err(Throw::internal("exec: the prelude is not loaded").into());
            };
            let f = cx.value(driver)?;
            let stdin = match opts {
                Some(m) => {
                    let key = weft_vm::Key::from(cx.intern("stdin"));
                    cx.map(m).get(&key).copied().unwrap_or(Value::Nil)
                }
                None => Value::Nil,
            };
            let f = Callable::of(f).ok_or_else(|| Throw::internal("exec: process_exec is not a function"))?;
            cx.call(f, &[p, stdin], vec![], |_, result, _| Ok(result))
        },
    );
}
