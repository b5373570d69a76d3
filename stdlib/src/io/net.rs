//! TCP: `net.listen(host, port)` and `net.connect(host, port)`, on the
//! reactor. A listener accepts connections; a connection is a stream with
//! `peer()`. Host names are resolved on the blocking-work pool.

use super::os_reason;
use super::stream::{End, Stream};
use std::net::{SocketAddr, ToSocketAddrs};
use weft_vm::{mio, Ctx, Direction, Finisher, IntoNative, IoSource, NativeResult, Object, Throw, Value, Vm};

/// A listening socket.
pub struct Listener {
    what: String,
    socket: Option<(mio::net::TcpListener, IoSource)>,
    port: u16,
}

impl Object for Listener {
    fn describe(&self) -> String {
        let closed = if self.socket.is_none() { " (closed)" } else { "" };
        format!("{}{closed}", self.what)
    }
}

/// Resolves `host:port` on the pool, then runs `then` with the addresses.
fn resolve(
    cx: &mut Ctx,
    host: String,
    port: i64,
    then: fn(&mut Ctx, Vec<SocketAddr>, String) -> NativeResult,
) -> NativeResult {
    let who = cx.name().to_string();
    let Ok(port) = u16::try_from(port) else {
        return Err(Throw::value_error(format!("{who}: port {port} is out of range 0 to 65535")).into());
    };
    cx.capabilities().check_net(&who, &host, port)?;
    let shown = format!("{host}:{port}");
    // An address needs no resolver.
    if let Ok(ip) = host.parse::<std::net::IpAddr>() {
        return then(cx, vec![SocketAddr::new(ip, port)], shown);
    }
    let label = format!("{who}: resolving {host}");
    cx.blocking(&label, vec![], move || -> Finisher {
        let found = (host.as_str(), port).to_socket_addrs().map(|a| a.collect::<Vec<_>>());
        Box::new(move |cx, _| match found {
            Ok(addrs) if !addrs.is_empty() => then(cx, addrs, shown),
            Ok(_) => Err(Throw::new("IOError", format!("cannot resolve {shown}: no address")).into()),
            Err(e) => Err(Throw::new("IOError", format!("cannot resolve {shown}: {}", os_reason(&e))).into()),
        })
    })
}

fn listen(cx: &mut Ctx, host: String, port: i64) -> NativeResult {
    resolve(cx, host, port, |cx, addrs, shown| {
        let mut last = None;
        for addr in addrs {
            match mio::net::TcpListener::bind(addr) {
                Ok(mut socket) => {
                    if let Err(e) = weft_vm::deepen_backlog(&socket) {
                        last = Some(e);
                        continue;
                    }
                    let port = socket.local_addr().map(|a| a.port()).unwrap_or(addr.port());
                    let what = format!("on {}:{port}", addr.ip());
                    let io = cx.register_io(&mut socket, mio::Interest::READABLE, &what)?;
                    return cx.new_object(Listener { what, socket: Some((socket, io)), port }).map_err(Into::into);
                }
                Err(e) => last = Some(e),
            }
        }
        let reason = last.map_or_else(|| "no address".to_string(), |e| os_reason(&e));
        Err(Throw::new("IOError", format!("cannot listen on {shown}: {reason}")).into())
    })
}

fn accept(cx: &mut Ctx, l: Value) -> NativeResult {
    cx.checkpoint()?;
    let listener = cx.object_mut::<Listener>(0, l)?;
    let Some((socket, io)) = &listener.socket else {
        return Err(Throw::new("IOError", format!("cannot accept {}: the listener is closed", listener.what)).into());
    };
    match socket.accept() {
        Ok((mut stream, peer)) => {
            let what = format!("connection from {peer}");
            let io = cx.register_io(&mut stream, mio::Interest::READABLE | mio::Interest::WRITABLE, &what)?;
            let _ = stream.set_nodelay(true);
            cx.new_object(Stream::new(what, End::Socket(stream, io)).with_peer(peer.to_string())).map_err(Into::into)
        }
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
            let id = io.id();
            cx.wait_io(id, Direction::Read, vec![l], |cx, _, keep| accept(cx, keep[0]))
        }
        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => accept(cx, l),
        Err(e) => {
            let what = &cx.object::<Listener>(0, l)?.what;
            Err(Throw::new("IOError", format!("cannot accept {what}: {}", os_reason(&e))).into())
        }
    }
}

fn connect(cx: &mut Ctx, host: String, port: i64) -> NativeResult {
    resolve(cx, host, port, |cx, addrs, shown| {
        // The first address; a refused one is an error naming it.
        let addr = addrs[0];
        let mut stream = mio::net::TcpStream::connect(addr)
            .map_err(|e| Throw::new("IOError", format!("cannot connect to {shown}: {}", os_reason(&e))))?;
        let what = format!("connection to {shown}");
        let io = cx.register_io(&mut stream, mio::Interest::READABLE | mio::Interest::WRITABLE, &what)?;
        let id = io.id();
        let stream = cx.new_object(Stream::new(what, End::Socket(stream, io)).with_peer(addr.to_string()))?;
        // Connecting finishes when the socket turns writable.
        cx.wait_io(id, Direction::Write, vec![stream], connected)
    })
}

/// The connection is writable: it is made, or it failed.
#[allow(clippy::ptr_arg)] // the shape of `Then`
fn connected(cx: &mut Ctx, _: Value, keep: &mut Vec<Value>) -> NativeResult {
    let s = keep[0];
    match super::stream::connect_outcome(cx, s)? {
        Some(id) => cx.wait_io(id, Direction::Write, vec![s], connected),
        None => Ok(s),
    }
}

pub fn install(vm: &mut Vm) {
    vm.register_class::<Listener>("listener");
    vm.register_module("net", vec![("listen", listen.into_native()), ("connect", connect.into_native())]);
    vm.register_class_method::<Listener, _>("accept", accept);
    vm.register_class_method::<Listener, _>("port", |cx: &mut Ctx, l: Value| -> Result<i64, Throw> {
        Ok(cx.object::<Listener>(0, l)?.port as i64)
    });
    vm.register_class_method::<Listener, _>("close", |cx: &mut Ctx, l: Value| -> Result<(), Throw> {
        cx.object_mut::<Listener>(0, l)?.socket = None;
        Ok(())
    });
}
