//! TLS as one more kind of stream end: a rustls connection (client or
//! server) over a nonblocking TCP socket on the reactor. rustls is a
//! state machine without I/O of its own, so this file moves its records
//! to and from the socket and says which way to wait when the socket
//! would block; the stream layer above parks the task exactly as it does
//! for a plain socket. Configurations (system roots, an extra CA, a
//! server's certificate) are built here too. No thread, no runtime.

use pki_types::pem::PemObject;
use pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use std::io::{ErrorKind, Read, Write};
use std::sync::{Arc, OnceLock};
use weft_vm::{mio, Direction, IoSource, Object, Throw};

/// A TLS connection over a socket registered with the reactor.
pub struct TlsEnd {
    pub(crate) sock: mio::net::TcpStream,
    pub(crate) io: IoSource,
    conn: rustls::Connection,
}

/// What a step of TLS did: made progress, or must wait on the socket.
pub(crate) enum Step<T> {
    Done(T),
    Wait(Direction),
}

impl TlsEnd {
    pub(crate) fn new(sock: mio::net::TcpStream, io: IoSource, conn: rustls::Connection) -> TlsEnd {
        TlsEnd { sock, io, conn }
    }

    /// Sends the records rustls has queued; `Wait` if the socket is full.
    fn flush(&mut self) -> Result<Step<()>, String> {
        while self.conn.wants_write() {
            match self.conn.write_tls(&mut self.sock) {
                Ok(_) => {}
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(Step::Wait(Direction::Write)),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(super::os_reason(&e)),
            }
        }
        Ok(Step::Done(()))
    }

    /// Reads records from the socket and processes them: `Done(false)` at
    /// the end of the socket's input.
    fn receive(&mut self) -> Result<Step<bool>, String> {
        match self.conn.read_tls(&mut self.sock) {
            Ok(0) => Ok(Step::Done(false)),
            Ok(_) => match self.conn.process_new_packets() {
                Ok(_) => Ok(Step::Done(true)),
                Err(e) => {
                    // Tell the peer why (an alert) before giving up.
                    let _ = self.flush();
                    Err(format!("TLS error: {e}"))
                }
            },
            Err(e) if e.kind() == ErrorKind::WouldBlock => Ok(Step::Wait(Direction::Read)),
            Err(e) if e.kind() == ErrorKind::Interrupted => Ok(Step::Done(true)),
            Err(e) => Err(super::os_reason(&e)),
        }
    }

    /// Runs the handshake on: `Done` once it is over.
    pub(crate) fn handshake(&mut self) -> Result<Step<()>, String> {
        loop {
            if let Step::Wait(d) = self.flush()? {
                return Ok(Step::Wait(d));
            }
            if !self.conn.is_handshaking() {
                return Ok(Step::Done(()));
            }
            match self.receive()? {
                Step::Wait(d) => return Ok(Step::Wait(d)),
                Step::Done(false) => return Err("the peer closed the connection during the TLS handshake".into()),
                Step::Done(true) => {}
            }
        }
    }

    /// Plain text into `buf`: `Done(0)` at the end of input.
    pub(crate) fn read(&mut self, buf: &mut [u8]) -> Result<Step<usize>, String> {
        loop {
            if let Step::Wait(d) = self.flush()? {
                return Ok(Step::Wait(d));
            }
            match self.conn.reader().read(buf) {
                Ok(n) => return Ok(Step::Done(n)),
                // The peer closed the socket without a close_notify: for
                // HTTP the framing says whether anything is missing.
                Err(e) if e.kind() == ErrorKind::UnexpectedEof => return Ok(Step::Done(0)),
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(e) => return Err(e.to_string()),
            }
            match self.receive()? {
                Step::Wait(d) => return Ok(Step::Wait(d)),
                Step::Done(false) => return Ok(Step::Done(0)),
                Step::Done(true) => {}
            }
        }
    }

    /// Hands `data` to TLS and sends it: `Done(n)` once `n` bytes of it
    /// have reached the OS.
    pub(crate) fn write(&mut self, data: &[u8]) -> Result<Step<usize>, String> {
        // What an earlier call queued goes first.
        if let Step::Wait(d) = self.flush()? {
            return Ok(Step::Wait(d));
        }
        let n = self.conn.writer().write(data).map_err(|e| e.to_string())?;
        // Records that do not fit the socket now are sent by the next
        // call, before it takes more; the last call waits for them.
        self.flush()?;
        Ok(Step::Done(n))
    }

    /// Whether records are still queued for the socket.
    pub(crate) fn pending(&self) -> bool {
        self.conn.wants_write()
    }

    /// Sends close_notify if the socket takes it now.
    pub(crate) fn close(&mut self) {
        self.conn.send_close_notify();
        let _ = self.flush();
    }
}

/// ring's primitives: aws-lc-rs, rustls's default, needs cmake and a
/// long C build; the key exchanges ring lacks (post-quantum hybrids) are
/// not what a scripting language's HTTP client stands or falls by.
#[allow(deprecated)]
fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The system's root certificates, loaded once.
fn system_roots() -> &'static Arc<rustls::RootCertStore> {
    static ROOTS: OnceLock<Arc<rustls::RootCertStore>> = OnceLock::new();
    ROOTS.get_or_init(|| {
        let mut roots = rustls::RootCertStore::empty();
        // Unreadable certificates are skipped: the rest still verify.
        let found = rustls_native_certs::load_native_certs();
        roots.add_parsable_certificates(found.certs);
        Arc::new(roots)
    })
}

/// The certificates in PEM file `path`.
fn certificates(who: &str, path: &str) -> Result<Vec<CertificateDer<'static>>, Throw> {
    let fail = |e: pki_types::pem::Error| {
        Throw::new("IOError", format!("{who}: cannot read certificates from {path:?}: {}", pem_reason(e)))
    };
    let certs = CertificateDer::pem_file_iter(path).map_err(fail)?.collect::<Result<Vec<_>, _>>().map_err(fail)?;
    if certs.is_empty() {
        return Err(Throw::new(
            "IOError",
            format!("{who}: cannot read certificates from {path:?}: no certificate in it"),
        ));
    }
    Ok(certs)
}

/// Why a PEM file could not be read, without Rust's decorations.
fn pem_reason(e: pki_types::pem::Error) -> String {
    match e {
        pki_types::pem::Error::Io(e) => super::os_reason(&e),
        pki_types::pem::Error::NoItemsFound => "nothing in PEM form in it".to_string(),
        other => other.to_string(),
    }
}

/// A client configuration trusting the system roots, and `ca` if given.
pub(crate) fn client_config(who: &str, ca: Option<&str>) -> Result<Arc<rustls::ClientConfig>, Throw> {
    static DEFAULT: OnceLock<Arc<rustls::ClientConfig>> = OnceLock::new();
    let build = |roots: rustls::RootCertStore| -> Result<Arc<rustls::ClientConfig>, Throw> {
        let mut config = rustls::ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| Throw::new("IOError", format!("{who}: TLS: {e}")))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    };
    match ca {
        None => {
            if let Some(config) = DEFAULT.get() {
                return Ok(config.clone());
            }
            let config = build((**system_roots()).clone())?;
            Ok(DEFAULT.get_or_init(|| config).clone())
        }
        Some(path) => {
            let mut roots = (**system_roots()).clone();
            for cert in certificates(who, path)? {
                roots
                    .add(cert)
                    .map_err(|e| Throw::new("IOError", format!("{who}: cannot trust the CA in {path:?}: {e}")))?;
            }
            build(roots)
        }
    }
}

/// A client connection to `host` (checked against its certificate).
pub(crate) fn client(who: &str, config: Arc<rustls::ClientConfig>, host: &str) -> Result<rustls::Connection, Throw> {
    let name = ServerName::try_from(host.to_string())
        .map_err(|e| Throw::value_error(format!("{who}: {host:?} is not a name TLS can check: {e}")))?;
    let conn =
        rustls::ClientConnection::new(config, name).map_err(|e| Throw::new("IOError", format!("{who}: TLS: {e}")))?;
    Ok(rustls::Connection::Client(conn))
}

/// A server's TLS configuration, from its certificate chain and key.
pub struct ServerTls(pub(crate) Arc<rustls::ServerConfig>);

impl Object for ServerTls {}

impl ServerTls {
    /// Loads PEM files `cert` (the chain, leaf first) and `key`.
    pub(crate) fn load(who: &str, cert: &str, key: &str) -> Result<ServerTls, Throw> {
        let chain = certificates(who, cert)?;
        let key = PrivateKeyDer::from_pem_file(key).map_err(|e| {
            Throw::new("IOError", format!("{who}: cannot read a private key from {key:?}: {}", pem_reason(e)))
        })?;
        let mut config = rustls::ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| Throw::new("IOError", format!("{who}: TLS: {e}")))?
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .map_err(|e| {
                Throw::new("IOError", format!("{who}: the certificate and key do not make a TLS server: {e}"))
            })?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(ServerTls(Arc::new(config)))
    }

    /// A server connection for one accepted socket.
    pub(crate) fn accept(&self) -> Result<rustls::Connection, Throw> {
        let conn =
            rustls::ServerConnection::new(self.0.clone()).map_err(|e| Throw::new("IOError", format!("TLS: {e}")))?;
        Ok(rustls::Connection::Server(conn))
    }
}
