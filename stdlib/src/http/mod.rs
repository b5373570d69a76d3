//! The `http` module (SPEC section 7): HTTP/1.1 client and server on the
//! reactor, https through rustls.
//!
//! The flow (connections, keep-alive, the idle-connection pool, redirects,
//! retries, one task per request in the server's nursery) is Weft code in
//! `http.weft`, loaded with the prelude, so that every wait is an ordinary
//! checkpoint and timeouts, cancellation and shutdown come from nurseries
//! and cancel scopes. The protocol pieces are the natives here, in the
//! internal module `http_wire`: URLs, reading heads and bodies out of a
//! connection's buffer (parking on the reactor while it fills), writing
//! heads, starting TLS. Nothing here keeps a connection or a task.

mod wire;

use crate::io::stream::{self, Stream};
use crate::io::tls::{self, ServerTls};
use std::sync::{Arc, OnceLock};
use weft_vm::heap::MapTable;
use weft_vm::Handle;
use weft_vm::{Ctx, IntoNative, Key, MapRef, NativeResult, Object, Throw, Value, Vm};
use wire::{Bad, Head};

/// The longest response head a client reads.
const MAX_RESPONSE_HEAD: usize = 256 * 1024;

/// `kind` codes of a read, kept in a continuation's values.
const READ_RESPONSE: i64 = 0;
const READ_REQUEST: i64 = 1;
const READ_BODY: i64 = 2;

/// A body framed by the end of the connection (a response with neither
/// length nor chunks).
const UNTIL_EOF: i64 = -2;
/// A chunked body.
const CHUNKED: i64 = -1;

fn map_of(cx: &mut Ctx, entries: Vec<(&str, Value)>) -> Value {
    let mut table = MapTable::default();
    for (k, v) in entries {
        table.insert(Key::from(cx.intern(k)), v);
    }
    cx.new_map(table)
}

fn headers_value(cx: &mut Ctx, headers: &[(String, String)]) -> Value {
    let mut table = MapTable::default();
    for (k, v) in headers {
        let v = cx.string(v);
        table.insert(Key::from(cx.intern(k)), v);
    }
    cx.new_map(table)
}

/// The string entries of a headers map, checked.
fn header_pairs(cx: &Ctx, who: &str, headers: Option<MapRef>) -> Result<Vec<(String, String)>, Throw> {
    let Some(headers) = headers else { return Ok(Vec::new()) };
    let mut out = Vec::new();
    for (k, v) in cx.map(headers).iter() {
        let name = match k.value() {
            Value::Str(r) => cx.heap().str(r).to_string(),
            other => {
                return Err(Throw::type_error(format!("{who}: header name {} is not a string", cx.repr_short(other))))
            }
        };
        let value = cx.display(*v)?;
        if !wire::is_token(&name) {
            return Err(Throw::value_error(format!("{who}: {name:?} is not a valid header name")));
        }
        if !wire::is_field_value(&value) {
            return Err(Throw::value_error(format!("{who}: the value of header {name:?} holds a line break")));
        }
        out.push((name, value));
    }
    Ok(out)
}

/// `http_wire.url(who, text)`: a URL's parts, checked against the net
/// capability: `scheme host port key target host_header url`.
fn parse_url(cx: &mut Ctx, who: String, text: String) -> NativeResult {
    let bad = |why: &str| Throw::value_error(format!("{who}: {text:?} is not an http or https URL: {why}"));
    let url = url::Url::parse(&text).map_err(|e| bad(&e.to_string()))?;
    let tls = match url.scheme() {
        "http" => false,
        "https" => true,
        other => return Err(bad(&format!("the scheme is {other:?}")).into()),
    };
    let host = match url.host() {
        Some(url::Host::Domain(d)) => d.to_string(),
        Some(url::Host::Ipv4(ip)) => ip.to_string(),
        Some(url::Host::Ipv6(ip)) => ip.to_string(),
        None => return Err(bad("it has no host").into()),
    };
    let port = url.port_or_known_default().unwrap_or(if tls { 443 } else { 80 });
    cx.capabilities().check_net(&who, &host, port)?;
    let mut target = url.path().to_string();
    if let Some(q) = url.query() {
        target.push('?');
        target.push_str(q);
    }
    let shown_host = url.host_str().unwrap_or("").to_string();
    let host_header = match url.port() {
        Some(p) => format!("{shown_host}:{p}"),
        None => shown_host,
    };
    let key = format!("{}://{host_header}", url.scheme());
    let entries = vec![
        ("tls", Value::Bool(tls)),
        ("host", cx.string(&host)),
        ("port", Value::Int(port as i64)),
        ("key", cx.string(&key)),
        ("target", cx.string(&target)),
        ("host_header", cx.string(&host_header)),
        ("url", cx.string(url.as_str())),
    ];
    Ok(map_of(cx, entries))
}

/// `http_wire.join(base, location)`: where a redirect points.
fn join_url(base: String, location: String) -> Result<String, Throw> {
    let base = url::Url::parse(&base).map_err(|e| Throw::value_error(format!("bad URL {base:?}: {e}")))?;
    let joined = base
        .join(&location)
        .map_err(|e| Throw::new("IOError", format!("{base}: a redirect to {location:?}, which is not a URL: {e}")))?;
    Ok(joined.to_string())
}

/// The string at `key` in map `m`.
fn string_entry(cx: &Ctx, m: MapRef, key: &str) -> String {
    cx.map(m)
        .iter()
        .find(|(k, _)| matches!(k.value(), Value::Str(r) if cx.heap().str(r) == key))
        .and_then(|(_, v)| match *v {
            Value::Str(r) => Some(cx.heap().str(r).to_string()),
            _ => None,
        })
        .unwrap_or_default()
}

/// `http_wire.request(who, method, url_parts, headers, body)`: a
/// request's bytes.
fn format_request(
    cx: &mut Ctx,
    who: String,
    method: String,
    parts: MapRef,
    headers: Option<MapRef>,
    body: Option<String>,
) -> Result<String, Throw> {
    let target = string_entry(cx, parts, "target");
    let host = string_entry(cx, parts, "host_header");
    if !wire::is_token(&method) {
        return Err(Throw::value_error(format!("{who}: {method:?} is not an HTTP method")));
    }
    let headers = header_pairs(cx, &who, headers)?;
    let has = |name: &str| headers.iter().any(|(n, _)| n.eq_ignore_ascii_case(name));
    let mut out = format!("{method} {target} HTTP/1.1\r\n");
    if !has("host") {
        out.push_str(&format!("host: {host}\r\n"));
    }
    if !has("user-agent") {
        out.push_str(concat!("user-agent: weft/", env!("CARGO_PKG_VERSION"), "\r\n"));
    }
    for (name, value) in &headers {
        if name.eq_ignore_ascii_case("content-length") || name.eq_ignore_ascii_case("transfer-encoding") {
            continue;
        }
        out.push_str(&format!("{name}: {value}\r\n"));
    }
    let sends_body = body.is_some() || matches!(method.as_str(), "POST" | "PUT" | "PATCH");
    let body = body.unwrap_or_default();
    if sends_body {
        out.push_str(&format!("content-length: {}\r\n", body.len()));
    }
    out.push_str("\r\n");
    out.push_str(&body);
    Ok(out)
}

/// `http_wire.response(status, headers, body, keep, head_only)`: a
/// response's bytes.
fn format_response(
    cx: &mut Ctx,
    status: i64,
    headers: Option<MapRef>,
    body: String,
    keep: bool,
    head_only: bool,
) -> Result<String, Throw> {
    let who = "http server";
    if !(100..=999).contains(&status) {
        return Err(Throw::value_error(format!("{who}: status {status} is not an HTTP status (100 to 999)")));
    }
    let headers = header_pairs(cx, who, headers)?;
    let mut out = format!("HTTP/1.1 {status} {}\r\n", wire::reason(status as u16));
    for (name, value) in &headers {
        if ["content-length", "transfer-encoding", "connection"].iter().any(|n| name.eq_ignore_ascii_case(n)) {
            continue;
        }
        out.push_str(&format!("{name}: {value}\r\n"));
    }
    // 1xx, 204 and 304 responses carry no body, nor its length.
    let bodiless = status < 200 || status == 204 || status == 304;
    if !bodiless {
        out.push_str(&format!("content-length: {}\r\n", body.len()));
    }
    if !keep {
        out.push_str("connection: close\r\n");
    }
    out.push_str("\r\n");
    if !head_only && !bodiless {
        out.push_str(&body);
    }
    Ok(out)
}

/// Reads what `keep[1]` says from connection `keep[0]`, filling its
/// buffer and parking on the reactor until there is enough.
fn drive(cx: &mut Ctx, keep: Vec<Value>) -> NativeResult {
    loop {
        cx.checkpoint()?;
        if let Some(done) = step(cx, &keep)? {
            return Ok(done);
        }
        let stream = cx.object_mut::<Stream>(0, keep[0])?;
        let buffered = stream.buffered().0.len();
        cx.check_room(buffered + 64 * 1024, "an HTTP message")?;
        let stream = cx.object_mut::<Stream>(0, keep[0])?;
        if let Some((id, direction)) = stream.fill_socket()? {
            return cx.wait_io(id, direction, keep, |cx, _, keep| drive(cx, std::mem::take(keep)));
        }
    }
}

fn int(v: Value) -> i64 {
    match v {
        Value::Int(i) => i,
        _ => 0,
    }
}

/// One look at the buffer: the result if it is there.
fn step(cx: &mut Ctx, keep: &[Value]) -> Result<Option<Value>, Throw> {
    let conn = keep[0];
    match int(keep[1]) {
        READ_REQUEST => request_step(cx, conn, int(keep[2]) as usize),
        READ_RESPONSE => response_step(cx, conn, keep[2], matches!(keep[3], Value::Bool(true))),
        _ => body_step(cx, conn, int(keep[2]), int(keep[3])),
    }
}

fn request_step(cx: &mut Ctx, conn: Value, max: usize) -> Result<Option<Value>, Throw> {
    let stream = cx.object_mut::<Stream>(0, conn)?;
    let (buf, eof) = stream.buffered();
    // Blank lines before a request are allowed (RFC 9112, 2.2).
    let blank = buf.iter().take_while(|&&b| b == b'\r' || b == b'\n').count();
    if blank > 0 {
        stream.take_bytes(blank);
    }
    let (buf, eof) = (stream.buffered().0, eof);
    let head = match wire::parse_request(buf, max) {
        Ok(Some(head)) => head,
        Ok(None) if eof && buf.is_empty() => return Ok(Some(Value::Nil)),
        Ok(None) if eof => return Ok(Some(Value::Int(400))),
        Ok(None) => return Ok(None),
        Err(Bad::TooLarge) => return Ok(Some(Value::Int(431))),
        Err(Bad::Malformed(_)) => return Ok(Some(Value::Int(400))),
    };
    stream.take_bytes(head.used);
    let length = match head.body_length() {
        Ok(Some(n)) => n.min(i64::MAX as u64) as i64,
        Ok(None) => CHUNKED,
        Err(_) => return Ok(Some(Value::Int(400))),
    };
    let (path, query) = match head.target.split_once('?') {
        Some((p, q)) => (p, q),
        None => (head.target.as_str(), ""),
    };
    let path = percent_encoding::percent_decode_str(path).decode_utf8_lossy().into_owned();
    let mut query_map = MapTable::default();
    for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
        let v = cx.string(&v);
        query_map.insert(Key::from(cx.intern(&k)), v);
    }
    let entries = vec![
        ("method", cx.string(&head.method)),
        ("path", cx.string(&path)),
        ("query", cx.new_map(query_map)),
        ("headers", headers_value(cx, &head.headers)),
        ("length", Value::Int(length)),
        ("keep", Value::Bool(head.keep_alive())),
    ];
    Ok(Some(map_of(cx, entries)))
}

fn response_step(cx: &mut Ctx, conn: Value, method: Value, reused: bool) -> Result<Option<Value>, Throw> {
    let stream = cx.object_mut::<Stream>(0, conn)?;
    loop {
        let (buf, eof) = stream.buffered();
        let what = stream.what().strip_prefix("connection to ").unwrap_or(stream.what()).to_string();
        let head: Head = match wire::parse_response(buf, MAX_RESPONSE_HEAD) {
            Ok(Some(head)) => head,
            // A pooled connection the server had closed: the caller may
            // try again on a new one.
            Ok(None) if eof && buf.is_empty() && reused => return Ok(Some(Value::Nil)),
            Ok(None) if eof && buf.is_empty() => {
                return Err(Throw::new("IOError", format!("{what} closed the connection before responding")))
            }
            Ok(None) if eof => {
                return Err(Throw::new("IOError", format!("{what} closed the connection in the middle of the head")))
            }
            Ok(None) => return Ok(None),
            Err(Bad::TooLarge) => {
                return Err(Throw::new(
                    "IOError",
                    format!("{what} sent a response head over {MAX_RESPONSE_HEAD} bytes"),
                ))
            }
            Err(Bad::Malformed(why)) => {
                return Err(Throw::new("IOError", format!("{what} sent a malformed response: {why}")))
            }
        };
        stream.take_bytes(head.used);
        // Interim responses (100 Continue) come before the real one.
        if (100..200).contains(&head.status) && head.status != 101 {
            continue;
        }
        let head_request = matches!(method, Value::Str(r) if cx.heap().str(r) == "HEAD");
        let (length, keep) = if head_request || head.status == 204 || head.status == 304 {
            (0, head.keep_alive())
        } else {
            match head.body_length() {
                Ok(Some(n)) if head.header("content-length").is_some() => {
                    (n.min(i64::MAX as u64) as i64, head.keep_alive())
                }
                Ok(Some(_)) => (UNTIL_EOF, false),
                Ok(None) => (CHUNKED, head.keep_alive()),
                Err(why) => return Err(Throw::new("IOError", format!("{what} sent a malformed response: {why}"))),
            }
        };
        let entries = vec![
            ("status", Value::Int(head.status as i64)),
            ("headers", headers_value(cx, &head.headers)),
            ("length", Value::Int(length)),
            ("keep", Value::Bool(keep)),
        ];
        return Ok(Some(map_of(cx, entries)));
    }
}

/// A body: `length` bytes, chunked, or up to the end. `max < 0` reads for
/// a client (no limit but the heap's; bad framing is an `IOError`); a
/// server's limit and bad framing give the status to answer instead.
fn body_step(cx: &mut Ctx, conn: Value, length: i64, max: i64) -> Result<Option<Value>, Throw> {
    let server = max >= 0;
    let limit = if server { max as u64 } else { u64::MAX };
    let stream = cx.object_mut::<Stream>(0, conn)?;
    let what = stream.what().to_string();
    let (buf, eof) = stream.buffered();
    let cut = |got: usize| {
        let detail = match length {
            CHUNKED => "a chunked body".to_string(),
            n => format!("the body ({got} of {n} bytes)"),
        };
        Throw::new("IOError", format!("{what} was closed in the middle of {detail}"))
    };
    let body = match length {
        CHUNKED => match wire::parse_chunked(buf, limit) {
            Ok(Some((body, used))) => {
                stream.take_bytes(used);
                body
            }
            Ok(None) if eof => return Err(cut(0)),
            Ok(None) => return Ok(None),
            Err(Bad::TooLarge) => return Ok(Some(Value::Int(413))),
            Err(Bad::Malformed(_)) if server => return Ok(Some(Value::Int(400))),
            Err(Bad::Malformed(why)) => return Err(Throw::new("IOError", format!("{what}: bad chunked body: {why}"))),
        },
        UNTIL_EOF if eof => {
            let n = buf.len();
            stream.take_bytes(n)
        }
        UNTIL_EOF => return Ok(None),
        n if n as u64 > limit => return Ok(Some(Value::Int(413))),
        n => {
            let n = n as usize;
            if buf.len() >= n {
                stream.take_bytes(n)
            } else if eof {
                return Err(cut(buf.len()));
            } else {
                return Ok(None);
            }
        }
    };
    Ok(Some(cx.string(&String::from_utf8_lossy(&body))))
}

fn tls_client(cx: &mut Ctx, conn: Value, who: String, host: String, ca: Option<String>) -> NativeResult {
    let config = tls::client_config(&who, ca.as_deref())?;
    let session = tls::client(&who, config, &host)?;
    cx.object_mut::<Stream>(0, conn)?.start_tls(session)?;
    stream::handshake(cx, conn)
}

fn tls_accept(cx: &mut Ctx, conn: Value, config: Value) -> NativeResult {
    let session = cx.object::<ServerTls>(1, config)?.accept()?;
    cx.object_mut::<Stream>(0, conn)?.start_tls(session)?;
    stream::handshake(cx, conn)
}

/// The flow, in Weft: loaded with the prelude.
pub const PRELUDE: &str = include_str!("http.weft");

/// The prelude's entry points (`http_fetch`, `http_server_new`), set once
/// the prelude is loaded: the `http` module's natives call them.
#[derive(Clone, Default)]
pub struct Drivers(Arc<OnceLock<[Handle; 2]>>);

impl Drivers {
    /// Finds the entry points in the loaded prelude.
    pub fn attach(&self, vm: &mut Vm) {
        let mut found =
            ["http_fetch", "http_server_new"].map(|name| vm.prelude_value(name).and_then(|f| vm.root(f).ok()));
        if let [Some(fetch), Some(server)] = [found[0].take(), found[1].take()] {
            let _ = self.0.set([fetch, server]);
        }
    }

    /// Calls entry point `which` with `args`; its result is the native's.
    fn call(&self, cx: &mut Ctx, which: usize, args: &[Value]) -> NativeResult {
        let Some(drivers) = self.0.get() else {
            return Err(Throw::internal(format!("{}: the http prelude is not loaded", cx.name())).into());
        };
        let f = cx.value(&drivers[which])?;
        cx.call(f, args, vec![], |_, result, _| Ok(result))
    }
}

fn options(cx: &Ctx, opts: Option<Value>) -> Result<Value, Throw> {
    match opts {
        None | Some(Value::Nil) => Ok(Value::Nil),
        Some(m @ Value::Map(_)) => Ok(m),
        Some(other) => {
            Err(Throw::type_error(format!("{}: options must be a map, not {}", cx.name(), cx.type_name(other))))
        }
    }
}

/// The `http` module: a host object, not a map of natives as `net` is,
/// since a map's own methods (`get`) would hide `http.get`.
pub struct Module;

impl Object for Module {}

/// Registers the `http` module and the `http_wire` natives its flow calls;
/// `drivers` is attached once the prelude is loaded.
pub fn install(vm: &mut Vm, drivers: Drivers) {
    let (get, post, request, server) = (drivers.clone(), drivers.clone(), drivers.clone(), drivers);
    vm.register_class::<Module>("module");
    vm.register_class_method::<Module, _>("get", move |cx: &mut Ctx, _: Value, url: String, opts: Option<Value>| {
        let opts = options(cx, opts)?;
        let args = [cx.string("http.get"), cx.string("GET"), cx.string(&url), Value::Nil, opts];
        get.call(cx, 0, &args)
    });
    vm.register_class_method::<Module, _>(
        "post",
        move |cx: &mut Ctx, _: Value, url: String, body: Value, opts: Option<Value>| {
            let opts = options(cx, opts)?;
            let args = [cx.string("http.post"), cx.string("POST"), cx.string(&url), body, opts];
            post.call(cx, 0, &args)
        },
    );
    vm.register_class_method::<Module, _>(
        "request",
        move |cx: &mut Ctx, _: Value, method: String, url: String, opts: Option<Value>| {
            let opts = options(cx, opts)?;
            let method = method.to_ascii_uppercase();
            let args = [cx.string("http.request"), cx.string(&method), cx.string(&url), Value::Nil, opts];
            request.call(cx, 0, &args)
        },
    );
    vm.register_class_method::<Module, _>(
        "server",
        move |cx: &mut Ctx, _: Value, host: String, port: i64, opts: Option<Value>| {
            let opts = options(cx, opts)?;
            let args = [cx.string(&host), Value::Int(port), opts];
            server.call(cx, 1, &args)
        },
    );
    // A fresh VM always has room for one empty object.
    if let Ok(module) = vm.new_object(Module) {
        let _ = vm.register_value("http", module);
    }
    vm.register_class::<ServerTls>("tls config");
    let natives = vec![
        ("url", parse_url.into_native()),
        ("join", join_url.into_native()),
        (
            "check_net",
            (|cx: &mut Ctx, who: String, host: String, port: i64| -> Result<(), Throw> {
                let port = u16::try_from(port)
                    .map_err(|_| Throw::value_error(format!("{who}: port {port} is out of range 0 to 65535")))?;
                cx.capabilities().check_net(&who, &host, port)
            })
            .into_native(),
        ),
        ("request", format_request.into_native()),
        ("response", format_response.into_native()),
        (
            "read_request",
            (|cx: &mut Ctx, conn: Value, max: i64| drive(cx, vec![conn, Value::Int(READ_REQUEST), Value::Int(max)]))
                .into_native(),
        ),
        (
            "read_response",
            (|cx: &mut Ctx, conn: Value, method: Value, reused: bool| {
                drive(cx, vec![conn, Value::Int(READ_RESPONSE), method, Value::Bool(reused)])
            })
            .into_native(),
        ),
        (
            "read_body",
            (|cx: &mut Ctx, conn: Value, length: i64, max: i64| {
                drive(cx, vec![conn, Value::Int(READ_BODY), Value::Int(length), Value::Int(max)])
            })
            .into_native(),
        ),
        ("tls_client", tls_client.into_native()),
        (
            "tls_server",
            (|cx: &mut Ctx, who: String, cert: String, key: String| -> Result<Value, Throw> {
                let config = ServerTls::load(&who, &cert, &key)?;
                cx.new_object(config)
            })
            .into_native(),
        ),
        ("tls_accept", tls_accept.into_native()),
    ];
    vm.register_module("http_wire", natives);
}
