//! HTTP through the `weft` binary against what lies outside it: Python's
//! `http.server` as a server to fetch from (skipped, with the reason
//! printed, where python3 is missing), and https served and fetched by
//! Weft with a throwaway CA made here.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("weft-http-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a scratch folder");
    dir
}

fn run_weft(dir: &Path, script: &str) -> Output {
    let path = dir.join("t.weft");
    std::fs::write(&path, script).expect("the script is written");
    Command::new(env!("CARGO_BIN_EXE_weft")).arg(&path).current_dir(dir).output().expect("weft runs")
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port")
}

/// Kills the child when the test ends, however it ends.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn the_client_fetches_from_python_http_server() {
    if Command::new("python3").arg("--version").output().is_err() {
        println!("skipped: python3 is not installed");
        return;
    }
    let dir = scratch("python");
    std::fs::create_dir_all(dir.join("site/sub")).unwrap();
    std::fs::write(dir.join("site/hello.txt"), "hello from python\n").unwrap();
    std::fs::write(dir.join("site/sub/index.html"), "<p>sub</p>\n").unwrap();
    let port = free_port();
    let _server = Child(
        Command::new("python3")
            .args(["-m", "http.server", &port.to_string(), "--bind", "127.0.0.1", "--directory"])
            .arg(dir.join("site"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 starts"),
    );
    let started = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(started.elapsed() < Duration::from_secs(20), "python's server never listened");
        std::thread::sleep(Duration::from_millis(50));
    }
    let script = format!(
        r#"
let base = "http://127.0.0.1:{port}"
let r = http.get(base + "/hello.txt")
print(r.status, r.headers["content-type"], r.body.trim())
r = http.get(base + "/sub")
print(r.status, r.body.trim())
r = http.get(base + "/missing?q=1")
print(r.status)
r = http.request("HEAD", base + "/hello.txt")
print(r.status, r.headers["content-length"], len(r.body))
"#
    );
    let out = run_weft(&dir, &script);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(stdout, "200 text/plain hello from python\n200 <p>sub</p>\n404\n200 18 0\n");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn https_is_served_and_fetched_with_a_private_ca_and_an_unknown_one_is_refused() {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
    let dir = scratch("tls");
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.distinguished_name.push(rcgen::DnType::CommonName, "weft test CA");
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let server_key = KeyPair::generate().unwrap();
    let server_params = CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()]).unwrap();
    let server_cert = server_params.signed_by(&server_key, &issuer).unwrap();
    std::fs::write(dir.join("ca.pem"), ca_cert.pem()).unwrap();
    std::fs::write(dir.join("cert.pem"), server_cert.pem()).unwrap();
    std::fs::write(dir.join("key.pem"), server_key.serialize_pem()).unwrap();

    let script = r#"
let s = http.server("127.0.0.1", 0, ["cert": "cert.pem", "key": "key.pem"])
let base = "https://127.0.0.1:" + str(s.port())
let peers = [:]
nursery as n {
    n.spawn(s.serve, fn(req) {
        peers[req.peer] = true
        return "secure " + req.path + " " + str(len(req.body))
    })
    let r = http.get(base + "/a", ["ca": "ca.pem"])
    print(r.status, r.body)
    # A body bigger than one TLS record, both ways.
    r = http.post(base + "/big", "x".repeat(200_000), ["ca": "ca.pem"])
    print(r.status, r.body)
    print(len(peers))
    try {
        http.get(base + "/b")
    } catch e {
        print(e.kind, e.message.contains("certificate"))
        print(e.message.replace(base, "BASE"))
    }
    try {
        http.get("http://127.0.0.1:" + str(s.port()) + "/plain")
    } catch e {
        print(e.kind)
    }
    print(http.get(base + "/after", ["ca": "ca.pem"]).body)
    s.close()
}
"#;
    let out = run_weft(&dir, script);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines[..5], ["200 secure /a 0", "200 secure /big 200000", "1", "IOError true", lines[4]]);
    assert!(lines[4].starts_with("http.get BASE/b: TLS handshake with 127.0.0.1:"), "{}", lines[4]);
    assert!(lines[4].contains("invalid peer certificate: UnknownIssuer"), "{}", lines[4]);
    assert_eq!(lines[5..], ["IOError", "secure /after 0"]);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_server_with_log_writes_a_line_per_request_and_reports_handler_errors() {
    let dir = scratch("log");
    let script = r#"
let s = http.server("127.0.0.1", 0, ["log": true])
nursery as n {
    n.spawn(s.serve, fn(req) {
        if req.path == "/bad" {
            return nil
        }
        return "hi"
    })
    let base = "http://127.0.0.1:" + str(s.port())
    print(http.get(base + "/a?x=1").status, http.get(base + "/bad").status)
    s.close()
}
"#;
    let out = run_weft(&dir, script);
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{stdout}{stderr}");
    assert_eq!(stdout, "200 500\n");
    assert!(stderr.contains("GET /a 200 2\n"), "{stderr}");
    assert!(
        stderr.contains(
            "the handler failed on GET /bad: TypeError: a handler must return a string, a map or a list, not nil"
        ),
        "{stderr}"
    );
    assert!(stderr.contains("GET /bad 500 "), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}
