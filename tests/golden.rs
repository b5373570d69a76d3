//! Golden files: the whole text of reports and listings, pinned.
//!
//! - every script in `tests/reports/` runs (`--virtual-time --seed 1`), and
//!   what it writes to stderr must be its `NAME.report` beside it;
//! - every script in `tests/disasm/` is listed by `weft disasm`, and the
//!   listing must be its `NAME.disasm`.
//!
//! After a change that alters them on purpose, `WEFT_BLESS=1 cargo test
//! --test golden` rewrites the files; review the diff before committing.
//! (Listings name global slots and function numbers, which move when a
//! builtin is added.)

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The `.weft` files of a folder of `tests/`, relative to the root.
fn scripts(folder: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(root().join("tests").join(folder))
        .expect("the folder exists")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "weft"))
        .map(|p| p.strip_prefix(root()).expect("under the root").to_path_buf())
        .collect();
    files.sort();
    files
}

/// Compares `actual` with the golden file, or rewrites it under
/// `WEFT_BLESS=1`; gives a description of the difference.
fn compare(golden: &Path, actual: &str) -> Option<String> {
    let path = root().join(golden);
    if std::env::var_os("WEFT_BLESS").is_some_and(|v| v == "1") {
        std::fs::write(&path, actual).expect("the golden file can be written");
        return None;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_default();
    if expected == actual {
        return None;
    }
    let first = expected.lines().zip(actual.lines()).position(|(a, b)| a != b);
    let line = first.unwrap_or_else(|| expected.lines().count().min(actual.lines().count()));
    Some(format!(
        "{} differs from line {}:\n--- expected\n{expected}\n--- actual\n{actual}\n(WEFT_BLESS=1 rewrites it)",
        golden.display(),
        line + 1
    ))
}

fn weft(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_weft")).current_dir(root()).args(args).output().expect("weft runs")
}

#[test]
fn reports_match_their_golden_files() {
    let files = scripts("reports");
    assert!(files.len() >= 5, "{files:?}");
    let mut differ = Vec::new();
    for file in &files {
        let out = weft(&["--virtual-time", "--seed", "1", file.to_str().expect("utf-8")]);
        let report = String::from_utf8_lossy(&out.stderr);
        differ.extend(compare(&file.with_extension("report"), &report));
    }
    assert!(differ.is_empty(), "{}", differ.join("\n\n"));
}

#[test]
fn listings_match_their_golden_files() {
    let files = scripts("disasm");
    assert!(files.len() >= 2, "{files:?}");
    let mut differ = Vec::new();
    for file in &files {
        let out = weft(&["disasm", file.to_str().expect("utf-8")]);
        assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
        let listing = String::from_utf8_lossy(&out.stdout);
        differ.extend(compare(&file.with_extension("disasm"), &listing));
    }
    assert!(differ.is_empty(), "{}", differ.join("\n\n"));
}
