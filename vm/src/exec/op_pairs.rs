//! Counting executed instruction pairs, in builds with the `op-pairs`
//! feature only: the interpreter loop notes each instruction it fetches,
//! and [`write`] appends the counts of every pair (the instruction before,
//! the instruction after) to the file `WEFT_OP_PAIRS` names. The counts
//! say which pairs are common enough for a superinstruction to pay; see
//! docs/performance.md for the table and the command that makes it.

use std::io::Write;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use weft_lang::bytecode::{Op, OpKind};

/// More kinds than the table has, so that any kind indexes the matrix.
const KINDS: usize = 128;

static COUNTS: [AtomicU64; KINDS * KINDS] = [const { AtomicU64::new(0) }; KINDS * KINDS];
static PREVIOUS: AtomicUsize = AtomicUsize::new(KINDS - 1);

/// Notes that `op` runs next, after the instruction noted last.
#[inline(always)]
pub(crate) fn note(op: Op) {
    let kind = op.kind() as usize;
    let prev = PREVIOUS.swap(kind, Ordering::Relaxed);
    COUNTS[prev * KINDS + kind].fetch_add(1, Ordering::Relaxed);
}

/// Appends one line per pair seen, `count<TAB>before<TAB>after`, to the
/// file named by `WEFT_OP_PAIRS`, if it is set. The first instruction of
/// the run, which follows nothing, is left out.
pub fn write() -> std::io::Result<()> {
    let Some(path) = std::env::var_os("WEFT_OP_PAIRS") else { return Ok(()) };
    assert!(OpKind::ALL.len() < KINDS, "the pair matrix is too small for the instruction set");
    let mut out = String::new();
    for (a, before) in OpKind::ALL.iter().enumerate() {
        for (b, after) in OpKind::ALL.iter().enumerate() {
            let n = COUNTS[a * KINDS + b].load(Ordering::Relaxed);
            if n > 0 {
                out.push_str(&format!("{n}\t{}\t{}\n", before.name(), after.name()));
            }
        }
    }
    std::fs::OpenOptions::new().create(true).append(true).open(path)?.write_all(out.as_bytes())
}
