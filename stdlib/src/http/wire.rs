//! HTTP/1.1 on the wire, without I/O: parsing request and response heads
//! (httparse), taking content-length and chunked bodies out of a buffer,
//! and writing heads. Each parser looks at the bytes a stream has
//! buffered and says "done, having used n bytes", "need more", or why
//! the bytes are bad; the natives in `mod.rs` fill the buffer and wait.

/// The most headers a head may carry; more is treated as too large.
pub(crate) const MAX_HEADERS: usize = 128;

/// A parsed head, owned (the buffer it came from is consumed after).
pub(crate) struct Head {
    /// The request's method and target, or the response's status.
    pub(crate) method: String,
    pub(crate) target: String,
    pub(crate) status: u16,
    /// 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub(crate) version: u8,
    /// Lower-case names; repeated headers joined with ", ".
    pub(crate) headers: Vec<(String, String)>,
    /// Bytes of the buffer the head used.
    pub(crate) used: usize,
}

/// Why bytes are not an acceptable head.
pub(crate) enum Bad {
    Malformed(String),
    TooLarge,
}

impl Head {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    /// Whether the connection stays open after this message.
    pub(crate) fn keep_alive(&self) -> bool {
        let connection = self.header("connection").unwrap_or("").to_ascii_lowercase();
        let says = |word: &str| connection.split(',').any(|t| t.trim() == word);
        match self.version {
            1 => !says("close"),
            _ => says("keep-alive"),
        }
    }

    /// How the body is framed: `Some(n)` bytes, `None` for chunked; an
    /// error for a length that is not one.
    pub(crate) fn body_length(&self) -> Result<Option<u64>, String> {
        if let Some(te) = self.header("transfer-encoding") {
            if te.to_ascii_lowercase().split(',').next_back().map(str::trim) == Some("chunked") {
                return Ok(None);
            }
            return Err(format!("unsupported transfer-encoding {te:?}"));
        }
        match self.header("content-length") {
            None => Ok(Some(0)),
            Some(text) => {
                // Repeated headers were joined: all must agree.
                let mut values = text.split(',').map(str::trim);
                let first = values.next().unwrap_or("");
                let n = first.parse::<u64>().map_err(|_| format!("bad content-length {text:?}"))?;
                if values.any(|v| v != first) {
                    return Err(format!("conflicting content-length {text:?}"));
                }
                Ok(Some(n))
            }
        }
    }
}

fn own_headers(parsed: &[httparse::Header]) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::with_capacity(parsed.len());
    for h in parsed {
        let name = h.name.to_ascii_lowercase();
        let value = String::from_utf8_lossy(h.value).trim().to_string();
        match out.iter_mut().find(|(n, _)| *n == name) {
            Some((_, v)) => {
                v.push_str(", ");
                v.push_str(&value);
            }
            None => out.push((name, value)),
        }
    }
    out
}

/// A request head at the start of `buf`: `Ok(None)` if incomplete.
pub(crate) fn parse_request(buf: &[u8], max: usize) -> Result<Option<Head>, Bad> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let parsed = req.parse(buf);
    let head = |used| Head {
        method: req.method.unwrap_or("").to_string(),
        target: req.path.unwrap_or("").to_string(),
        status: 0,
        version: req.version.unwrap_or(1),
        headers: own_headers(req.headers),
        used,
    };
    complete_head(parsed, buf.len(), max, head)
}

/// What httparse made of `len` buffered bytes, as a head of at most `max`
/// bytes: `Ok(None)` while it is incomplete.
fn complete_head(
    parsed: httparse::Result<usize>,
    len: usize,
    max: usize,
    head: impl FnOnce(usize) -> Head,
) -> Result<Option<Head>, Bad> {
    match parsed {
        Ok(httparse::Status::Complete(used)) if used <= max => Ok(Some(head(used))),
        Ok(httparse::Status::Complete(_)) => Err(Bad::TooLarge),
        Ok(httparse::Status::Partial) if len > max => Err(Bad::TooLarge),
        Ok(httparse::Status::Partial) => Ok(None),
        Err(httparse::Error::TooManyHeaders) => Err(Bad::TooLarge),
        Err(e) => Err(Bad::Malformed(e.to_string())),
    }
}

/// A response head at the start of `buf`: `Ok(None)` if incomplete.
pub(crate) fn parse_response(buf: &[u8], max: usize) -> Result<Option<Head>, Bad> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut resp = httparse::Response::new(&mut headers);
    let parsed = resp.parse(buf);
    let head = |used| Head {
        method: String::new(),
        target: String::new(),
        status: resp.code.unwrap_or(0),
        version: resp.version.unwrap_or(1),
        headers: own_headers(resp.headers),
        used,
    };
    complete_head(parsed, buf.len(), max, head)
}

/// A whole chunked body at the start of `buf`: the body and the bytes
/// used (trailers included), or `Ok(None)` if incomplete. A body over
/// `max` bytes is `TooLarge` as soon as that shows.
pub(crate) fn parse_chunked(buf: &[u8], max: u64) -> Result<Option<(Vec<u8>, usize)>, Bad> {
    let mut body = Vec::new();
    let mut at = 0;
    loop {
        let Some(line_end) = find_crlf(&buf[at..]) else {
            // A size line has no business being long.
            return if buf.len() - at > 1024 {
                Err(Bad::Malformed("chunk size line too long".into()))
            } else {
                Ok(None)
            };
        };
        let line = &buf[at..at + line_end];
        let size_text = line.split(|&b| b == b';').next().unwrap_or(b"");
        let size_text = std::str::from_utf8(size_text).unwrap_or("").trim();
        let size = u64::from_str_radix(size_text, 16)
            .map_err(|_| Bad::Malformed(format!("bad chunk size {:?}", String::from_utf8_lossy(line))))?;
        at += line_end + 2;
        if size == 0 {
            // Trailers, up to an empty line.
            loop {
                let Some(end) = find_crlf(&buf[at..]) else { return Ok(None) };
                at += end + 2;
                if end == 0 {
                    return Ok(Some((body, at)));
                }
            }
        }
        if body.len() as u64 + size > max {
            return Err(Bad::TooLarge);
        }
        let size = size as usize;
        if buf.len() < at + size + 2 {
            return Ok(None);
        }
        body.extend_from_slice(&buf[at..at + size]);
        if &buf[at + size..at + size + 2] != b"\r\n" {
            return Err(Bad::Malformed("a chunk does not end with CRLF".into()));
        }
        at += size + 2;
    }
}

fn find_crlf(buf: &[u8]) -> Option<usize> {
    buf.windows(2).position(|w| w == b"\r\n")
}

/// Whether `name` may be a header name (an RFC 9110 token).
pub(crate) fn is_token(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// Whether `value` may be a header value (no line breaks, no NUL).
pub(crate) fn is_field_value(value: &str) -> bool {
    !value.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0)
}

/// The reason phrase of the common status codes.
pub(crate) fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        101 => "Switching Protocols",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        206 => "Partial Content",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        409 => "Conflict",
        410 => "Gone",
        411 => "Length Required",
        413 => "Content Too Large",
        415 => "Unsupported Media Type",
        418 => "I'm a teapot",
        422 => "Unprocessable Content",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Status",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chunked_body_is_put_together_across_chunks_and_trailers() {
        let wire = b"4\r\nWiki\r\n5;ext=1\r\npedia\r\n0\r\nX-T: 1\r\n\r\nNEXT";
        let (body, used) = parse_chunked(wire, 100).ok().flatten().unwrap();
        assert_eq!(body, b"Wikipedia");
        assert_eq!(&wire[used..], b"NEXT");
        assert!(matches!(parse_chunked(&wire[..10], 100), Ok(None)));
        assert!(matches!(parse_chunked(wire, 5), Err(Bad::TooLarge)));
        assert!(matches!(parse_chunked(b"zz\r\n", 100), Err(Bad::Malformed(_))));
    }

    #[test]
    fn heads_are_parsed_with_lower_case_names_and_limits() {
        let head =
            parse_request(b"GET /a?b=1 HTTP/1.1\r\nHost: x\r\nX-A: 1\r\nx-a: 2\r\n\r\n", 1000).ok().flatten().unwrap();
        assert_eq!((head.method.as_str(), head.target.as_str()), ("GET", "/a?b=1"));
        assert_eq!(head.header("x-a"), Some("1, 2"));
        assert!(head.keep_alive());
        assert!(matches!(parse_request(b"GET / HTTP/1.1\r\nHost: x\r\n", 10), Err(Bad::TooLarge)));
        assert!(matches!(parse_request(b"GET / HTTP/1.1\r\nHost", 1000), Ok(None)));
        assert!(matches!(parse_request(b"BAD LINE\r\n\r\n", 1000), Err(Bad::Malformed(_))));
        let head = parse_response(b"HTTP/1.0 200 OK\r\nContent-Length: 3, 3\r\n\r\n", 1000).ok().flatten().unwrap();
        assert!(!head.keep_alive());
        assert!(matches!(head.body_length(), Ok(Some(3))));
    }
}
