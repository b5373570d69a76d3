//! Capabilities: what a script may touch outside the VM. One structure
//! per runtime, set by the CLI's `--sandbox` and `--allow` flags or by an
//! embedding host, and checked by each builtin before it acts; a builtin
//! used without its capability raises `PermissionDenied` naming the
//! capability and the flag that grants it.

use crate::Throw;
use std::path::{Component, Path, PathBuf};

/// One capability that may be granted whole or only for some targets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Grant<T> {
    /// Not granted.
    Off,
    /// Granted for every target.
    All,
    /// Only these targets (folders for `fs`, `host:port` for `net`).
    Only(Vec<T>),
}

impl<T> Grant<T> {
    fn add(&mut self, target: Option<T>) {
        match (target, &mut *self) {
            (None, _) => *self = Grant::All,
            (Some(_), Grant::All) => {}
            (Some(t), Grant::Only(list)) => list.push(t),
            (Some(t), Grant::Off) => *self = Grant::Only(vec![t]),
        }
    }
}

/// See the module documentation. The default allows everything.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Capabilities {
    /// Files and folders: `--allow fs` or `--allow fs=PATH`.
    pub fs: Grant<PathBuf>,
    /// TCP, listening and connecting: `--allow net` or `--allow net=HOST:PORT`.
    pub net: Grant<(String, u16)>,
    /// Starting programs: `--allow process`.
    pub process: bool,
    /// Reading the environment: `--allow env`.
    pub env: bool,
    /// Reading standard input: `--allow stdin`.
    pub stdin: bool,
}

impl Default for Capabilities {
    fn default() -> Self {
        Capabilities::all()
    }
}

impl Capabilities {
    /// Everything allowed: a script run without `--sandbox`.
    pub fn all() -> Capabilities {
        Capabilities { fs: Grant::All, net: Grant::All, process: true, env: true, stdin: true }
    }

    /// Nothing allowed: `--sandbox`.
    pub fn none() -> Capabilities {
        Capabilities { fs: Grant::Off, net: Grant::Off, process: false, env: false, stdin: false }
    }

    /// Grants one capability as the CLI writes it: `fs`, `fs=PATH`, `net`,
    /// `net=HOST:PORT`, `process`, `env`, `stdin`. A folder is resolved
    /// now (symlinks followed), so it must exist.
    pub fn allow(&mut self, spec: &str) -> Result<(), String> {
        let (name, target) = match spec.split_once('=') {
            Some((name, target)) => (name, Some(target)),
            None => (spec, None),
        };
        match (name, target) {
            ("fs", None) => self.fs.add(None),
            ("fs", Some(path)) => {
                let resolved = std::fs::canonicalize(path).map_err(|e| format!("--allow fs={path}: {e}"))?;
                self.fs.add(Some(resolved));
            }
            ("net", None) => self.net.add(None),
            ("net", Some(addr)) => {
                let parsed = addr.rsplit_once(':').and_then(|(h, p)| Some((h.to_string(), p.parse::<u16>().ok()?)));
                let Some(target) = parsed else {
                    return Err(format!("--allow net={addr}: expected HOST:PORT, such as 127.0.0.1:8080"));
                };
                self.net.add(Some(target));
            }
            ("process", None) => self.process = true,
            ("env", None) => self.env = true,
            ("stdin", None) => self.stdin = true,
            _ => {
                return Err(format!(
                    "unknown capability '{spec}': expected fs, fs=PATH, net, net=HOST:PORT, process, env or stdin"
                ))
            }
        }
        Ok(())
    }

    /// Whether `who` may use `path` (to read or to write).
    pub fn check_fs(&self, who: &str, path: &Path) -> Result<(), Throw> {
        match &self.fs {
            Grant::All => Ok(()),
            Grant::Off => Err(denied(who, "fs", "--allow fs")),
            Grant::Only(folders) => {
                let resolved = resolve(path);
                if folders.iter().any(|f| resolved.starts_with(f)) {
                    return Ok(());
                }
                let shown = folders.iter().map(|f| f.display().to_string()).collect::<Vec<_>>().join(", ");
                Err(Throw::new(
                    "PermissionDenied",
                    format!(
                        "{who}: {:?} is outside the folders allowed ({shown}); --allow fs=PATH grants more",
                        path.display().to_string()
                    ),
                ))
            }
        }
    }

    /// Whether `who` may listen on or connect to `host:port`.
    pub fn check_net(&self, who: &str, host: &str, port: u16) -> Result<(), Throw> {
        match &self.net {
            Grant::All => Ok(()),
            Grant::Off => Err(denied(who, "net", "--allow net")),
            Grant::Only(targets) if targets.iter().any(|(h, p)| h == host && *p == port) => Ok(()),
            Grant::Only(_) => Err(Throw::new(
                "PermissionDenied",
                format!("{who}: {host}:{port} is not allowed; --allow net={host}:{port} grants it"),
            )),
        }
    }

    /// `PermissionDenied` for `who` unless starting processes is allowed.
    pub fn check_process(&self, who: &str) -> Result<(), Throw> {
        self.process.then_some(()).ok_or_else(|| denied(who, "process", "--allow process"))
    }

    /// `PermissionDenied` for `who` unless reading the environment is allowed.
    pub fn check_env(&self, who: &str) -> Result<(), Throw> {
        self.env.then_some(()).ok_or_else(|| denied(who, "env", "--allow env"))
    }

    /// `PermissionDenied` for `who` unless reading stdin is allowed.
    pub fn check_stdin(&self, who: &str) -> Result<(), Throw> {
        self.stdin.then_some(()).ok_or_else(|| denied(who, "stdin", "--allow stdin"))
    }
}

fn denied(who: &str, capability: &str, flag: &str) -> Throw {
    Throw::new(
        "PermissionDenied",
        format!("{who} needs the {capability} capability, which is off (grant it with {flag})"),
    )
}

/// `path` made absolute with symlinks followed and `..` removed, as far
/// as it exists; the rest (a file about to be made) is appended as
/// written, less `.` and `..`.
fn resolve(path: &Path) -> PathBuf {
    let absolute = match path.is_absolute() {
        true => path.to_path_buf(),
        false => std::env::current_dir().unwrap_or_default().join(path),
    };
    let mut lexical = PathBuf::new();
    for part in absolute.components() {
        match part {
            Component::ParentDir => {
                lexical.pop();
            }
            Component::CurDir => {}
            other => lexical.push(other),
        }
    }
    // The longest prefix that exists, resolved; then the rest.
    let mut rest = Vec::new();
    let mut base = lexical.as_path();
    loop {
        if let Ok(real) = std::fs::canonicalize(base) {
            let mut out = real;
            out.extend(rest.iter().rev());
            return out;
        }
        match (base.parent(), base.file_name()) {
            (Some(parent), Some(name)) => {
                rest.push(name.to_os_string());
                base = parent;
            }
            _ => return lexical,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_folder_grant_covers_what_lies_below_it_only() {
        let dir = std::env::temp_dir().join(format!("weft-caps-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("inside")).unwrap();
        let mut caps = Capabilities::none();
        caps.allow(&format!("fs={}", dir.join("inside").display())).unwrap();
        assert!(caps.check_fs("read_file", &dir.join("inside/new.txt")).is_ok());
        assert!(caps.check_fs("read_file", &dir.join("inside/../inside/a")).is_ok());
        assert!(caps.check_fs("read_file", &dir.join("inside/../other.txt")).is_err());
        assert!(caps.check_fs("read_file", Path::new("/etc/passwd")).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn net_grants_name_one_address() {
        let mut caps = Capabilities::none();
        assert!(caps.check_net("net.connect", "127.0.0.1", 80).is_err());
        caps.allow("net=127.0.0.1:8080").unwrap();
        assert!(caps.check_net("net.connect", "127.0.0.1", 8080).is_ok());
        assert!(caps.check_net("net.connect", "127.0.0.1", 8081).is_err());
        caps.allow("net").unwrap();
        assert!(caps.check_net("net.connect", "example.org", 1).is_ok());
        assert!(caps.allow("network").is_err());
        assert!(caps.allow("net=nohost").is_err());
    }
}
