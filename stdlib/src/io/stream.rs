//! Streams: one implementation of `read`, `read_line`, `read_all`,
//! `write`, `close` and `for line in s` behind TCP connections, child
//! process pipes, files and stdin.
//!
//! Reading fills a buffer from the stream's end and takes from it what
//! the call asked for, so text split across chunks (a line, a UTF-8
//! character) is put together before it is handed out. An end that would
//! block makes the task wait: sockets and pipes on the reactor, files on
//! the blocking-work pool, stdin on a thread of its own. Bytes a worker
//! read land in the stream's shared buffer, not in the finished job, so
//! a reader cancelled mid-wait loses nothing: the next read finds them.
//! Writing returns only when the OS took every byte; a cancelled write
//! has delivered a prefix of its text and the rest is not sent.

use std::io::{ErrorKind, Read, Write};
use std::sync::{Arc, Mutex};
use weft_vm::{mio, Ctx, Direction, IoId, IoSource, NativeResult, Object, Pool, StrRef, Throw, Value, Vm};

/// Bytes asked of the OS in one read.
const CHUNK: usize = 64 * 1024;

/// Bytes asked of a socket or pipe in one read, as std's `BufReader`
/// does: the buffer is zeroed on every read, and clearing `CHUNK` for
/// every short line a line protocol reads was a sixth of an echo server's
/// time. Longer input takes more reads, each as cheap.
const SOCKET_READ: usize = 8 * 1024;

/// A stream: what it is, its end, and what was read but not taken.
pub struct Stream {
    what: String,
    end: End,
    input: Input,
    peer: Option<String>,
    /// Reading it needs the stdin capability.
    stdin: bool,
}

/// Where a stream's bytes come from or go to.
pub enum End {
    Socket(mio::net::TcpStream, IoSource),
    PipeIn(mio::unix::pipe::Receiver, IoSource),
    PipeOut(mio::unix::pipe::Sender, IoSource),
    /// A TLS connection over a socket (see `tls.rs`).
    Tls(Box<super::tls::TlsEnd>),
    /// A file or stdin: blocking reads and writes, done off the
    /// scheduler's thread on `pool` (the shared pool if `None`).
    Blocking(Arc<Shared>, Option<Pool>),
    /// Where `print` (`Output::Print`) or `eprint` writes: writes go through
    /// the same buffer, so they keep their order with the prints.
    Output(Output),
    Closed,
}

/// Which of the VM's outputs an `End::Output` writes to.
#[derive(Clone, Copy)]
pub enum Output {
    Print,
    Error,
}

/// A blocking end, shared with the worker that reads or writes it.
pub struct Shared {
    state: Mutex<SharedState>,
}

struct SharedState {
    file: Option<Box<dyn ReadWrite>>,
    /// Bytes a worker read that no call has taken yet.
    got: Vec<u8>,
    eof: bool,
    error: Option<String>,
}

/// What a blocking end is: a file, or stdin.
pub trait ReadWrite: Read + Write + Send {}
impl<T: Read + Write + Send> ReadWrite for T {}

impl Shared {
    pub fn new(file: Box<dyn ReadWrite>) -> Arc<Shared> {
        let state = SharedState { file: Some(file), got: Vec::new(), eof: false, error: None };
        Arc::new(Shared { state: Mutex::new(state) })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, SharedState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// One blocking read into the shared buffer (on a worker).
    fn fill(&self) {
        let mut state = self.lock();
        let Some(file) = state.file.as_mut() else { return };
        let mut chunk = vec![0; CHUNK];
        let got = loop {
            match file.read(&mut chunk) {
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                other => break other,
            }
        };
        match got {
            Ok(0) => state.eof = true,
            Ok(n) => state.got.extend_from_slice(&chunk[..n]),
            Err(e) => state.error = Some(super::os_reason(&e)),
        }
    }
}

/// What a read takes from the buffer.
#[derive(Clone, Copy)]
pub(crate) enum Want {
    Bytes(usize),
    Line,
    All,
    /// A `for` loop's next line: like `Line`, but a wait ends without
    /// taking anything (the loop asks again).
    Next,
}

impl Want {
    fn encode(self) -> [Value; 2] {
        let (code, n) = match self {
            Want::Bytes(n) => (0, n as i64),
            Want::Line => (1, 0),
            Want::All => (2, 0),
            Want::Next => (3, 0),
        };
        [Value::Int(code), Value::Int(n)]
    }

    fn decode(keep: &[Value]) -> Want {
        match (keep[1], keep[2]) {
            (Value::Int(0), Value::Int(n)) => Want::Bytes(n as usize),
            (Value::Int(2), _) => Want::All,
            (Value::Int(3), _) => Want::Next,
            _ => Want::Line,
        }
    }
}

/// What was taken: text, or the end of input.
enum Taken {
    Text(String),
    End,
}

#[derive(Default)]
struct Input {
    buf: Vec<u8>,
    pos: usize,
    /// Bytes of the stream before `buf[pos]`, for error offsets.
    offset: u64,
    eof: bool,
}

impl Input {
    fn available(&self) -> &[u8] {
        &self.buf[self.pos..]
    }

    /// Takes `n` bytes as text (the caller checked they are valid).
    fn consume(&mut self, n: usize, skip: usize) -> String {
        let text = String::from_utf8(self.buf[self.pos..self.pos + n].to_vec()).expect("checked UTF-8");
        self.pos += n + skip;
        self.offset += (n + skip) as u64;
        if self.pos == self.buf.len() {
            self.buf.clear();
            self.pos = 0;
        }
        text
    }

    fn invalid(&self, what: &str, at: usize) -> Throw {
        Throw::new("IOError", format!("invalid UTF-8 in {what} at byte {}", self.offset + at as u64))
    }

    /// What `want` takes now, or `None` if it needs more bytes.
    fn take(&mut self, want: Want, what: &str) -> Result<Option<Taken>, Throw> {
        let avail = self.available();
        match want {
            Want::Line | Want::Next => {
                let (len, skip) = match avail.iter().position(|&b| b == b'\n') {
                    Some(i) if i > 0 && avail[i - 1] == b'\r' => (i - 1, 2),
                    Some(i) => (i, 1),
                    None if self.eof && avail.is_empty() => return Ok(Some(Taken::End)),
                    None if self.eof => (avail.len(), 0),
                    None => return Ok(None),
                };
                if let Err(e) = std::str::from_utf8(&avail[..len]) {
                    return Err(self.invalid(what, e.valid_up_to()));
                }
                Ok(Some(Taken::Text(self.consume(len, skip))))
            }
            Want::All => {
                if !self.eof {
                    return Ok(None);
                }
                if let Err(e) = std::str::from_utf8(avail) {
                    return Err(self.invalid(what, e.valid_up_to()));
                }
                Ok(Some(Taken::Text(self.consume(avail.len(), 0))))
            }
            Want::Bytes(n) => {
                if avail.is_empty() {
                    return Ok(if self.eof { Some(Taken::Text(String::new())) } else { None });
                }
                let mut len = n.min(avail.len());
                match std::str::from_utf8(&avail[..len]) {
                    Ok(_) => {}
                    // A character cut at the end: complete it, or wait for it.
                    Err(e) if e.error_len().is_none() => {
                        let start = e.valid_up_to();
                        let need = utf8_width(avail[start]);
                        if start + need <= avail.len() {
                            len = start + need;
                            if let Err(e) = std::str::from_utf8(&avail[..len]) {
                                return Err(self.invalid(what, e.valid_up_to()));
                            }
                        } else if start > 0 {
                            len = start;
                        } else if self.eof {
                            return Err(self.invalid(what, start));
                        } else {
                            return Ok(None);
                        }
                    }
                    Err(e) => return Err(self.invalid(what, e.valid_up_to())),
                }
                Ok(Some(Taken::Text(self.consume(len, 0))))
            }
        }
    }
}

/// The length of the UTF-8 sequence a lead byte starts.
fn utf8_width(lead: u8) -> usize {
    match lead {
        0xF0..=0xF7 => 4,
        0xE0..=0xEF => 3,
        0xC0..=0xDF => 2,
        _ => 1,
    }
}

/// How a stream gets more bytes.
enum Fill {
    /// Some came (or the end did): take again.
    More,
    /// Wait on the reactor, then fill again.
    Wait(IoId, Direction),
    /// Run a blocking read on a worker, then fill again.
    Job(Arc<Shared>, Option<Pool>),
}

impl Object for Stream {
    fn describe(&self) -> String {
        let closed = if matches!(self.end, End::Closed) { " (closed)" } else { "" };
        format!("{}{closed}", self.what)
    }

    fn bytes(&self) -> usize {
        self.input.buf.capacity()
    }
}

impl Stream {
    pub fn new(what: String, end: End) -> Stream {
        Stream { what, end, input: Input::default(), peer: None, stdin: false }
    }

    /// The process's standard input.
    pub fn stdin(end: End) -> Stream {
        Stream { stdin: true, ..Stream::new("stdin".to_string(), end) }
    }

    pub fn with_peer(mut self, peer: String) -> Stream {
        self.peer = Some(peer);
        self
    }

    fn tls_error(&self, op: &str, reason: String) -> Throw {
        Throw::new("IOError", format!("cannot {op} {}: {reason}", self.what))
    }

    /// Bytes read but not taken yet, and whether the input has ended:
    /// for parsers of binary framing (HTTP) that take bytes themselves.
    pub(crate) fn buffered(&self) -> (&[u8], bool) {
        (self.input.available(), self.input.eof)
    }

    /// Takes `n` buffered bytes as they are.
    pub(crate) fn take_bytes(&mut self, n: usize) -> Vec<u8> {
        let n = n.min(self.input.available().len());
        let bytes = self.input.buf[self.input.pos..self.input.pos + n].to_vec();
        self.input.pos += n;
        self.input.offset += n as u64;
        if self.input.pos == self.input.buf.len() {
            self.input.buf.clear();
            self.input.pos = 0;
        }
        bytes
    }

    /// What the stream is, for messages.
    pub(crate) fn what(&self) -> &str {
        &self.what
    }

    /// Reads more into the buffer: `None` when bytes (or the end) came,
    /// or where to wait. Only for sockets, plain or TLS.
    pub(crate) fn fill_socket(&mut self) -> Result<Option<(IoId, Direction)>, Throw> {
        if !matches!(self.end, End::Socket(..) | End::Tls(_) | End::Closed) {
            return Err(Throw::new("IOError", format!("{} is not a network connection", self.what)));
        }
        match self.fill()? {
            Fill::Wait(id, direction) => Ok(Some((id, direction))),
            _ => Ok(None),
        }
    }

    /// Turns a plain socket into a TLS one running `conn`; the handshake
    /// runs on with the first reads and writes, or with [`handshake`].
    pub(crate) fn start_tls(&mut self, conn: rustls::Connection) -> Result<(), Throw> {
        match std::mem::replace(&mut self.end, End::Closed) {
            End::Socket(sock, io) => {
                self.end = End::Tls(Box::new(super::tls::TlsEnd::new(sock, io, conn)));
                Ok(())
            }
            other => {
                self.end = other;
                Err(Throw::new("IOError", format!("cannot start TLS on {}: not a plain socket", self.what)))
            }
        }
    }

    fn closed_error(&self, op: &str) -> Throw {
        Throw::new("IOError", format!("cannot {op} {}: the stream is closed", self.what))
    }

    fn fill(&mut self) -> Result<Fill, Throw> {
        let (got, id) = match &mut self.end {
            End::Socket(s, io) => (read_some(s, &mut self.input.buf), io.id()),
            End::Tls(tls) => {
                let id = tls.io.id();
                let mut chunk = [0u8; SOCKET_READ];
                match tls.read(&mut chunk) {
                    Ok(super::tls::Step::Done(0)) => self.input.eof = true,
                    Ok(super::tls::Step::Done(n)) => self.input.buf.extend_from_slice(&chunk[..n]),
                    Ok(super::tls::Step::Wait(direction)) => return Ok(Fill::Wait(id, direction)),
                    Err(e) => return Err(Throw::new("IOError", format!("cannot read {}: {e}", self.what))),
                }
                return Ok(Fill::More);
            }
            End::PipeIn(p, io) => (read_some(p, &mut self.input.buf), io.id()),
            End::PipeOut(..) | End::Output(_) => {
                return Err(Throw::new("IOError", format!("cannot read from {}: it is for writing", self.what)))
            }
            End::Blocking(shared, pool) => {
                let mut state = shared.lock();
                if !state.got.is_empty() {
                    self.input.buf.append(&mut state.got);
                    return Ok(Fill::More);
                }
                if let Some(e) = state.error.take() {
                    return Err(Throw::new("IOError", format!("cannot read {}: {e}", self.what)));
                }
                if state.eof {
                    self.input.eof = true;
                    return Ok(Fill::More);
                }
                return Ok(Fill::Job(shared.clone(), pool.clone()));
            }
            End::Closed => return Err(self.closed_error("read")),
        };
        match got {
            Ok(0) => self.input.eof = true,
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(Fill::Wait(id, Direction::Read)),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => {
                return Err(Throw::new("IOError", format!("cannot read {}: {}", self.what, super::os_reason(&e))))
            }
        }
        Ok(Fill::More)
    }
}

/// Runs a blocking end's `work` on its own pool, or on the shared one.
fn on_worker(
    cx: &mut Ctx,
    pool: Option<&Pool>,
    label: &str,
    keep: Vec<Value>,
    work: impl FnOnce() -> weft_vm::Finisher + Send + 'static,
) -> NativeResult {
    match pool {
        Some(pool) => cx.blocking_on(pool, label, keep, work),
        None => cx.blocking(label, keep, work),
    }
}

/// Reads what `want` asks from stream `s`, waiting as long as it must.
pub(crate) fn read(cx: &mut Ctx, s: Value, want: Want) -> NativeResult {
    loop {
        cx.checkpoint()?;
        let stream = cx.object_mut::<Stream>(0, s)?;
        if matches!(stream.end, End::Closed) {
            return Err(stream.closed_error("read").into());
        }
        if stream.stdin {
            cx.capabilities().check_stdin("reading stdin")?;
        }
        let stream = cx.object_mut::<Stream>(0, s)?;
        let what = stream.what.clone();
        if let Some(taken) = stream.input.take(want, &what)? {
            return Ok(match (taken, want) {
                (Taken::Text(t), _) => cx.string(&t),
                (Taken::End, _) => Value::Nil,
            });
        }
        let buffered = stream.input.buf.len();
        cx.check_room(buffered + CHUNK, "a stream's buffer")?;
        let [code, n] = want.encode();
        let keep = vec![s, code, n];
        match cx.object_mut::<Stream>(0, s)?.fill()? {
            Fill::More => continue,
            Fill::Wait(id, direction) => return cx.wait_io(id, direction, keep, read_again),
            Fill::Job(shared, pool) => {
                let label = format!("read on {what}");
                let work = move || -> weft_vm::Finisher {
                    shared.fill();
                    Box::new(|cx, keep| read_again(cx, Value::Nil, keep))
                };
                return on_worker(cx, pool.as_ref(), &label, keep, work);
            }
        }
    }
}

#[allow(clippy::ptr_arg)] // the shape of `Then`
fn read_again(cx: &mut Ctx, _: Value, keep: &mut Vec<Value>) -> NativeResult {
    match Want::decode(keep) {
        // The loop asks again itself.
        Want::Next => Ok(Value::Bool(true)),
        want => read(cx, keep[0], want),
    }
}

/// Writes `text` from byte `from` on, waiting while the OS takes it.
fn write(cx: &mut Ctx, s: Value, text: Value, from: usize) -> NativeResult {
    let Some(r) = StrRef::of(text) else { return Err(cx.wrong_type(1, "a string", text).into()) };
    let mut from = from;
    loop {
        cx.checkpoint()?;
        let len = cx.str(r).len();
        if from >= len {
            // TLS may still hold records the socket would not take.
            let stream = cx.object_mut::<Stream>(0, s)?;
            if let End::Tls(tls) = &mut stream.end {
                if tls.pending() {
                    let id = tls.io.id();
                    if let super::tls::Step::Wait(d) = tls.write(&[]).map_err(|e| stream.tls_error("write to", e))? {
                        let keep = vec![s, text, Value::Int(from as i64)];
                        return cx.wait_io(id, d, keep, write_again);
                    }
                    continue;
                }
            }
            return Ok(Value::Nil);
        }
        let end = len.min(from + CHUNK);
        let chunk = cx.str(r).as_bytes()[from..end].to_vec();
        let stream = cx.object_mut::<Stream>(0, s)?;
        let (wrote, id) = match &mut stream.end {
            End::Socket(sock, io) => (sock.write(&chunk), io.id()),
            End::PipeOut(p, io) => (p.write(&chunk), io.id()),
            End::Tls(tls) => {
                let id = tls.io.id();
                match tls.write(&chunk) {
                    Ok(super::tls::Step::Done(n)) => {
                        from += n;
                        continue;
                    }
                    Ok(super::tls::Step::Wait(d)) => {
                        let keep = vec![s, text, Value::Int(from as i64)];
                        return cx.wait_io(id, d, keep, write_again);
                    }
                    Err(e) => return Err(stream.tls_error("write to", e).into()),
                }
            }
            End::PipeIn(..) => {
                return Err(Throw::new("IOError", format!("cannot write to {}: it is for reading", stream.what)).into())
            }
            End::Blocking(shared, pool) => {
                let (shared, pool, what) = (shared.clone(), pool.clone(), stream.what.clone());
                let rest = cx.str(r).as_bytes()[from..].to_vec();
                let label = format!("write on {what}");
                let work = move || -> weft_vm::Finisher {
                    let done = match shared.lock().file.as_mut() {
                        Some(f) => f.write_all(&rest).and_then(|_| f.flush()),
                        None => Ok(()),
                    };
                    Box::new(move |_, _| match done {
                        Ok(()) => Ok(Value::Nil),
                        Err(e) => {
                            Err(Throw::new("IOError", format!("cannot write {what}: {}", super::os_reason(&e))).into())
                        }
                    })
                };
                return on_worker(cx, pool.as_ref(), &label, vec![s, text], work);
            }
            End::Output(output) => {
                let output = *output;
                let rest = cx.str(r).as_bytes()[from..].to_vec();
                let written = match output {
                    Output::Print => cx.write_output(&rest),
                    Output::Error => cx.write_error_output(&rest),
                };
                return match written {
                    Ok(()) => Ok(Value::Nil),
                    // The reader went away: end quietly, as `print` does.
                    Err(e) if e.kind() == ErrorKind::BrokenPipe => Err(weft_vm::Control::Exit(128 + 13)),
                    Err(e) => {
                        Err(Throw::new("IOError", format!("cannot write to {}: {e}", stream_name(output))).into())
                    }
                };
            }
            End::Closed => return Err(stream.closed_error("write to").into()),
        };
        match wrote {
            Ok(n) => from += n,
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                let keep = vec![s, text, Value::Int(from as i64)];
                return cx.wait_io(id, Direction::Write, keep, write_again);
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => {
                let what = &cx.object::<Stream>(0, s)?.what;
                return Err(Throw::new("IOError", format!("cannot write to {what}: {}", super::os_reason(&e))).into());
            }
        }
    }
}

#[allow(clippy::ptr_arg)] // the shape of `Then`
fn write_again(cx: &mut Ctx, _: Value, keep: &mut Vec<Value>) -> NativeResult {
    let Value::Int(from) = keep[2] else { return Err(Throw::internal("write: lost its place").into()) };
    write(cx, keep[0], keep[1], from as usize)
}

pub fn install(vm: &mut Vm) {
    vm.register_class::<Stream>("stream");
    vm.register_class_method::<Stream, _>("read", |cx: &mut Ctx, s: Value, n: i64| {
        if n < 1 {
            return Err(Throw::value_error(format!("read: asked for {n} bytes; ask for at least 1")).into());
        }
        read(cx, s, Want::Bytes(n as usize))
    });
    vm.register_class_method::<Stream, _>("read_line", |cx: &mut Ctx, s: Value| read(cx, s, Want::Line));
    vm.register_class_method::<Stream, _>("read_all", |cx: &mut Ctx, s: Value| read(cx, s, Want::All));
    vm.register_class_method::<Stream, _>("write", |cx: &mut Ctx, s: Value, text: Value| write(cx, s, text, 0));
    vm.register_class_method::<Stream, _>("close", |cx: &mut Ctx, s: Value| -> Result<(), Throw> {
        // Dropping the end closes the descriptor and frees its place in
        // the reactor, which wakes a task still waiting on it. Closing
        // `stdout` flushes it and stops its writes; `print` goes on.
        let stream = cx.object_mut::<Stream>(0, s)?;
        if let End::Tls(tls) = &mut stream.end {
            tls.close();
        }
        let flush = matches!(stream.end, End::Output(_));
        stream.end = End::Closed;
        if flush {
            let _ = cx.flush_output();
        }
        Ok(())
    });
    vm.register_class_method::<Stream, _>("peer", |cx: &mut Ctx, s: Value| -> Result<Option<String>, Throw> {
        Ok(cx.object::<Stream>(0, s)?.peer.clone())
    });
    vm.register_class_method::<Stream, _>(weft_vm::ITER_METHOD, |cx: &mut Ctx, s: Value| read(cx, s, Want::Next));
}

fn stream_name(output: Output) -> &'static str {
    match output {
        Output::Print => "stdout",
        Output::Error => "stderr",
    }
}

/// `stdout` and `stderr`: streams that write where `print` and `eprint` do.
pub(crate) fn install_outputs(vm: &mut Vm) {
    for output in [Output::Print, Output::Error] {
        let name = stream_name(output);
        let Ok(stream) = vm.new_object(Stream::new(name.to_string(), End::Output(output))) else { return };
        let _ = vm.register_value(name, stream);
    }
}

/// Whether the connecting socket in stream `s` has connected: `None` if
/// it has, the place to wait on if not yet, an error if it failed.
pub(crate) fn connect_outcome(cx: &mut Ctx, s: Value) -> Result<Option<IoId>, Throw> {
    let stream = cx.object_mut::<Stream>(0, s)?;
    let End::Socket(sock, io) = &stream.end else { return Err(stream.closed_error("connect")) };
    let failed = |e: std::io::Error, what: &str| {
        let target = what.strip_prefix("connection to ").unwrap_or(what);
        Throw::new("IOError", format!("cannot connect to {target}: {}", super::os_reason(&e)))
    };
    if let Ok(Some(e)) | Err(e) = sock.take_error() {
        return Err(failed(e, &stream.what));
    }
    match sock.peer_addr() {
        Ok(_) => Ok(None),
        Err(e) if e.kind() == ErrorKind::NotConnected => Ok(Some(io.id())),
        Err(e) => Err(failed(e, &stream.what)),
    }
}

/// Runs the TLS handshake of stream `s` to its end, waiting as it must;
/// returns `s`. A certificate the peer does not trust, or one this end
/// does not, is an `IOError` that says so.
pub(crate) fn handshake(cx: &mut Ctx, s: Value) -> NativeResult {
    cx.checkpoint()?;
    let stream = cx.object_mut::<Stream>(0, s)?;
    let End::Tls(tls) = &mut stream.end else { return Err(stream.closed_error("run TLS on").into()) };
    let id = tls.io.id();
    match tls.handshake() {
        Ok(super::tls::Step::Done(())) => Ok(s),
        Ok(super::tls::Step::Wait(d)) => cx.wait_io(id, d, vec![s], |cx, _, keep| handshake(cx, keep[0])),
        Err(e) => {
            let target = stream.what.strip_prefix("connection to ").unwrap_or(&stream.what).to_string();
            stream.end = End::Closed;
            Err(Throw::new("IOError", format!("TLS handshake with {target} failed: {e}")).into())
        }
    }
}

/// One read from a non-blocking socket or pipe, appended to `buf`, through
/// a small buffer on the stack. The byte count, 0 at end of input.
fn read_some(source: &mut impl Read, buf: &mut Vec<u8>) -> std::io::Result<usize> {
    let mut chunk = [0u8; SOCKET_READ];
    let n = source.read(&mut chunk)?;
    buf.extend_from_slice(&chunk[..n]);
    Ok(n)
}
