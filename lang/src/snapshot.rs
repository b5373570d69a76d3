//! Compiled code as bytes, to keep in a binary: a unit, with the
//! environment it was compiled in and what compiling it changed, so that a
//! VM whose environment is the same takes the code instead of parsing and
//! compiling the source again. The standard library keeps its prelude so
//! (`stdlib/src/prelude.snapshot`), which is most of a process's start-up
//! otherwise.
//!
//! Bytes that do not decode, that another instruction table wrote, or
//! that were compiled from another text or in another environment give
//! nothing, and the caller compiles. What decodes is still only bytecode:
//! the VM checks it as it checks anything the compiler makes.

use crate::bytecode::{Capture, Const, Field, Op, OpKind, Operand, Proto, Unit};
use crate::compile::{Env, EnvChanges, FileScope};
use crate::diagnostic::Span;

/// The first bytes of every snapshot, and the version of this format.
const MAGIC: &[u8] = b"weft-snapshot-1\n";

/// What a snapshot holds besides the matching checks.
pub struct Snapshot {
    /// What compiling the text changed in the environment.
    pub changes: EnvChanges,
    /// The text's top-level names.
    pub scope: FileScope,
    pub unit: Unit,
}

/// Encodes `unit`, compiled from `text` in environment `before`, which
/// compiling it changed by `changes`, declaring the names of `scope`.
pub fn encode(text: &str, before: &Env, changes: &EnvChanges, scope: &FileScope, unit: &Unit) -> Vec<u8> {
    let mut w = Writer(MAGIC.to_vec());
    w.uint(fingerprint(Op::TABLE.as_bytes()));
    w.uint(fingerprint(text.as_bytes()));
    w.uint(text.len() as u64);
    before.write(&mut w);
    changes.write(&mut w);
    scope.write(&mut w);
    w.uint(unit.main as u64);
    w.uint(unit.protos.len() as u64);
    for proto in &unit.protos {
        write_proto(&mut w, proto);
    }
    w.0
}

/// The snapshot in `bytes` if it was compiled from `text` in an
/// environment equal to `env`, by a build with this instruction table.
pub fn decode(bytes: &[u8], text: &str, env: &Env) -> Option<Snapshot> {
    let mut r = Reader { bytes: bytes.strip_prefix(MAGIC)? };
    if r.uint()? != fingerprint(Op::TABLE.as_bytes())
        || r.uint()? != fingerprint(text.as_bytes())
        || r.uint()? != text.len() as u64
    {
        return None;
    }
    if Env::read(&mut r)? != *env {
        return None;
    }
    let changes = EnvChanges::read(&mut r)?;
    let scope = FileScope::read(&mut r)?;
    let main = r.u32()?;
    let count = r.len()?;
    let protos = (0..count).map(|_| read_proto(&mut r)).collect::<Option<Vec<_>>>()?;
    let snapshot = Snapshot { changes, scope, unit: Unit { protos, main } };
    (r.bytes.is_empty() && snapshot.coherent(env)).then_some(snapshot)
}

impl Snapshot {
    /// Whether what the VM reads with checked indexes is in range, as the
    /// compiler would have made it (what it reads unchecked, `Proto::check`
    /// verifies): the top level and every closure's function exist, global
    /// slots are in use, and a closure's captured registers and variables
    /// are in the function that makes it. Decoded bytes that claim the
    /// right text and environment but are not such code give nothing,
    /// rather than a panic when they run.
    fn coherent(&self, env: &Env) -> bool {
        let protos = &self.unit.protos;
        let slots = self.changes.slots();
        let in_range = |field: Field| match field.kind {
            Operand::Proto => (field.value as u64) < protos.len() as u64,
            Operand::Global => (field.value as u64) < slots as u64,
            _ => true,
        };
        let captures_fit = |maker: &Proto, made: i64| {
            protos[made as usize].captures.iter().all(|c| match *c {
                Capture::Local(reg) => reg < maker.regs,
                Capture::Upval(i) => (i as usize) < maker.captures.len(),
            })
        };
        (self.unit.main as usize) < protos.len()
            && self.changes.slots_coherent(env, &self.scope)
            && protos.iter().all(|proto| {
                proto.code.iter().all(|op| {
                    op.fields().into_iter().flatten().all(in_range)
                        && match op {
                            Op::Closure { proto: made, .. } => captures_fit(proto, *made as i64),
                            _ => true,
                        }
                })
            })
    }
}

/// FNV-1a: enough to tell a changed text or table from the one a
/// snapshot was made from (the text's length is checked too).
fn fingerprint(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| (h ^ b as u64).wrapping_mul(0x0100_0000_01b3))
}

fn write_proto(w: &mut Writer, proto: &Proto) {
    w.str(&proto.name);
    w.uint(proto.arity as u64);
    w.uint(proto.regs as u64);
    w.uint(proto.code.len() as u64);
    for op in &proto.code {
        w.uint(op.kind() as u64);
        for field in op.fields().into_iter().flatten() {
            w.int(field.value);
        }
    }
    w.uint(proto.spans.len() as u64);
    for span in &proto.spans {
        w.span(*span);
    }
    w.uint(proto.consts.len() as u64);
    for k in &proto.consts {
        match k {
            Const::Int(i) => {
                w.uint(0);
                w.int(*i);
            }
            Const::Float(x) => {
                w.uint(1);
                w.uint(x.to_bits());
            }
            Const::Str(s) => {
                w.uint(2);
                w.str(s);
            }
        }
    }
    w.strs(&proto.methods);
    w.uint(proto.captures.len() as u64);
    for capture in &proto.captures {
        match capture {
            Capture::Local(reg) => w.uint(2 * *reg as u64),
            Capture::Upval(i) => w.uint(2 * *i as u64 + 1),
        }
    }
    w.span(proto.span);
}

fn read_proto(r: &mut Reader) -> Option<Proto> {
    let name = r.str()?;
    let arity = r.u8()?;
    let regs = r.u8()?;
    let count = r.len()?;
    let mut code = Vec::with_capacity(count);
    for _ in 0..count {
        let kind = *OpKind::ALL.get(usize::try_from(r.uint()?).ok()?)?;
        code.push(Op::from_fields(kind, || r.int())?);
    }
    let count = r.len()?;
    let spans = (0..count).map(|_| r.span()).collect::<Option<_>>()?;
    let count = r.len()?;
    let consts = (0..count)
        .map(|_| match r.uint()? {
            0 => Some(Const::Int(r.int()?)),
            1 => Some(Const::Float(f64::from_bits(r.uint()?))),
            2 => Some(Const::Str(r.str()?)),
            _ => None,
        })
        .collect::<Option<_>>()?;
    let methods = r.strs()?;
    let count = r.len()?;
    let captures = (0..count)
        .map(|_| {
            let word = r.uint()?;
            let index = u8::try_from(word / 2).ok()?;
            Some(if word % 2 == 0 { Capture::Local(index) } else { Capture::Upval(index) })
        })
        .collect::<Option<_>>()?;
    let span = r.span()?;
    Some(Proto { name, arity, regs, code, spans, consts, methods, captures, span })
}

/// Appends numbers (LEB128; signed ones zigzagged) and strings.
pub(crate) struct Writer(Vec<u8>);

impl Writer {
    pub(crate) fn uint(&mut self, mut n: u64) {
        while n >= 0x80 {
            self.0.push(n as u8 | 0x80);
            n >>= 7;
        }
        self.0.push(n as u8);
    }

    pub(crate) fn int(&mut self, i: i64) {
        self.uint(((i << 1) ^ (i >> 63)) as u64);
    }

    pub(crate) fn str(&mut self, s: &str) {
        self.uint(s.len() as u64);
        self.0.extend_from_slice(s.as_bytes());
    }

    pub(crate) fn strs(&mut self, strings: &[String]) {
        self.uint(strings.len() as u64);
        for s in strings {
            self.str(s);
        }
    }

    fn span(&mut self, span: Span) {
        self.uint(span.start as u64);
        self.uint(span.end as u64);
    }
}

/// Reads what a [`Writer`] wrote; `None` at the end or on a malformed
/// number or string.
pub(crate) struct Reader<'a> {
    bytes: &'a [u8],
}

impl Reader<'_> {
    pub(crate) fn uint(&mut self) -> Option<u64> {
        let mut n = 0u64;
        for shift in (0..64).step_by(7) {
            let (&byte, rest) = self.bytes.split_first()?;
            self.bytes = rest;
            n |= ((byte & 0x7f) as u64).checked_shl(shift)?;
            if byte < 0x80 {
                return Some(n);
            }
        }
        None
    }

    pub(crate) fn int(&mut self) -> Option<i64> {
        let n = self.uint()?;
        Some((n >> 1) as i64 ^ -((n & 1) as i64))
    }

    pub(crate) fn u32(&mut self) -> Option<u32> {
        u32::try_from(self.uint()?).ok()
    }

    fn u8(&mut self) -> Option<u8> {
        u8::try_from(self.uint()?).ok()
    }

    /// A count of items that follow, each at least one byte long: a count
    /// the rest of the bytes cannot hold is malformed (and allocates
    /// nothing).
    pub(crate) fn len(&mut self) -> Option<usize> {
        let n = usize::try_from(self.uint()?).ok()?;
        (n <= self.bytes.len()).then_some(n)
    }

    pub(crate) fn str(&mut self) -> Option<String> {
        let n = self.len()?;
        let (text, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        String::from_utf8(text.to_vec()).ok()
    }

    pub(crate) fn strs(&mut self) -> Option<Vec<String>> {
        let n = self.len()?;
        (0..n).map(|_| self.str()).collect()
    }

    fn span(&mut self) -> Option<Span> {
        Some(Span { start: self.u32()?, end: self.u32()? })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compile::{compile, Mode};

    fn compiled(text: &str, env: &mut Env) -> (Env, EnvChanges, FileScope, Unit) {
        let before = env.clone();
        let mut scope = FileScope::new();
        let Ok(program) = crate::parser::parse(text) else { panic!("the test's text parses") };
        let Ok(unit) = compile(&program, env, &mut scope, std::path::Path::new("."), Mode::Script) else {
            panic!("the test's text compiles")
        };
        (before.clone(), env.changes_since(&before), scope, unit)
    }

    const TEXT: &str =
        "fn twice(f, x) { return f(f(x)) }\nlet k = [1.5, \"s\", 7]\nfn add(n) { return fn(x) => x + n }";

    #[test]
    fn a_snapshot_gives_back_what_was_compiled() {
        let mut env = Env::new();
        env.add_builtin("print");
        let (before, changes, scope, unit) = compiled(TEXT, &mut env);
        let bytes = encode(TEXT, &before, &changes, &scope, &unit);
        let back = decode(&bytes, TEXT, &before).expect("decodes");
        assert_eq!(format!("{:?}", back.unit), format!("{unit:?}"));
        assert_eq!(back.scope.names().collect::<Vec<_>>(), scope.names().collect::<Vec<_>>());
        let mut replayed = before.clone();
        replayed.apply(&back.changes);
        assert_eq!(replayed, env, "the changes replay to the environment after");
        assert_eq!(encode(TEXT, &before, &back.changes, &back.scope, &back.unit), bytes, "encoding is stable");
    }

    #[test]
    fn another_text_environment_or_damaged_bytes_give_nothing() {
        let mut env = Env::new();
        let (before, changes, scope, unit) = compiled(TEXT, &mut env);
        let bytes = encode(TEXT, &before, &changes, &scope, &unit);
        assert!(decode(&bytes, &TEXT.replace("twice", "thrice"), &before).is_none(), "another text");
        let mut other = before.clone();
        other.add_builtin("len");
        assert!(decode(&bytes, TEXT, &other).is_none(), "another environment");
        for cut in 0..bytes.len() {
            assert!(decode(&bytes[..cut], TEXT, &before).is_none(), "cut at {cut}");
        }
        // Bytes another instruction table wrote.
        let mut other_table = Writer(MAGIC.to_vec());
        other_table.uint(fingerprint(Op::TABLE.as_bytes()) ^ 1);
        let mut rest = Reader { bytes: bytes.strip_prefix(MAGIC).expect("magic") };
        rest.uint().expect("the table's fingerprint");
        other_table.0.extend_from_slice(rest.bytes);
        assert!(decode(&other_table.0, TEXT, &before).is_none(), "another instruction table");
        // Code that claims the right text and environment but indexes
        // outside what it has.
        let mut broken = unit.clone();
        broken.main = 99;
        assert!(decode(&encode(TEXT, &before, &changes, &scope, &broken), TEXT, &before).is_none(), "no top level");
        for (kind, at) in [(Operand::Proto, "a function"), (Operand::Global, "a global")] {
            let mut broken = unit.clone();
            let op = broken
                .protos
                .iter_mut()
                .flat_map(|p| p.code.iter_mut())
                .find(|op| op.fields().into_iter().flatten().any(|f| f.kind == kind));
            let op = op.expect("the text has one");
            let fields: Vec<i64> =
                op.fields().into_iter().flatten().map(|f| if f.kind == kind { 1_000 } else { f.value }).collect();
            let mut values = fields.into_iter();
            *op = Op::from_fields(op.kind(), || values.next()).expect("fits");
            let bytes = encode(TEXT, &before, &changes, &scope, &broken);
            assert!(decode(&bytes, TEXT, &before).is_none(), "{at} out of range");
        }
        let mut flipped = bytes.clone();
        for at in (0..bytes.len()).step_by(7) {
            flipped[at] ^= 0x5a;
            // Whatever a flipped byte decodes to, it must not panic.
            let _ = decode(&flipped, TEXT, &before);
            flipped[at] ^= 0x5a;
        }
    }
}
