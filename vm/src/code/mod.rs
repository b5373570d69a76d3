//! Loaded code: functions with their constants made values, source files
//! for reports, the natives, method names and method tables. Read-only
//! while scripts run; loading (`load.rs`) is the only way to add to it.

pub mod disasm;
pub(crate) mod load;
pub(crate) mod prelude_cache;

use crate::native::NativeDef;
use crate::trace::TraceEntry;
use crate::value::Ref;
use crate::Value;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use weft_lang::bytecode::{Builtin, BuiltinMethod, Capture, Op, Reg};
use weft_lang::Span;

/// How a method of a built-in type is implemented.
#[derive(Clone, Copy)]
pub enum Method {
    /// A native taking the receiver as its first argument, by index into
    /// the natives.
    Native(u32),
    /// A script function (from the prelude) stored in this global slot.
    Script(u32),
}

/// Sets entry `id` of a method table, growing it as needed.
pub(crate) fn set_method_slot(table: &mut Vec<Option<Method>>, id: u16, method: Method) {
    let id = id as usize;
    if table.len() <= id {
        table.resize(id + 1, None);
    }
    table[id] = Some(method);
}

/// The types that have method tables.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TypeTag {
    /// Strings.
    String,
    /// Lists.
    List,
    /// Maps.
    Map,
    /// Ranges.
    Range,
    /// Error values.
    Error,
    /// Channels.
    Chan,
    /// Task handles.
    Task,
    /// Nursery handles.
    Nursery,
}

/// Method tables, indexed by method symbol.
#[derive(Default)]
pub struct Methods {
    pub(crate) string: Vec<Option<Method>>,
    pub(crate) list: Vec<Option<Method>>,
    pub(crate) map: Vec<Option<Method>>,
    pub(crate) range: Vec<Option<Method>>,
    pub(crate) error: Vec<Option<Method>>,
    pub(crate) chan: Vec<Option<Method>>,
    pub(crate) task: Vec<Option<Method>>,
    pub(crate) nursery: Vec<Option<Method>>,
    /// Empty: other types have no methods.
    pub(crate) other: Vec<Option<Method>>,
}

/// Method names, numbered once for the whole VM, so a method call is an
/// index into a table instead of a hash lookup.
#[derive(Default)]
pub struct Symbols {
    /// Each symbol's name, by id.
    pub(crate) names: Vec<String>,
    /// FxHash, as for global names: the names are the program's own, and
    /// every VM numbers the standard library's methods when it is made.
    ids: HashMap<String, u16, rustc_hash::FxBuildHasher>,
}

impl Symbols {
    /// The id of method name `name`, numbered if it is new.
    pub(crate) fn id(&mut self, name: &str) -> u16 {
        if let Some(&id) = self.ids.get(name) {
            return id;
        }
        let id = self.names.len() as u16;
        self.names.push(name.to_string());
        self.ids.insert(name.to_string(), id);
        id
    }
}

/// A loaded function: the compiler's output with its constants made values.
pub struct FnProto {
    /// Shared with every trace entry and spawn site that names it.
    pub(crate) name: std::sync::Arc<str>,
    /// Parameters.
    pub(crate) arity: u8,
    /// Registers a call needs: the frame's window.
    pub(crate) regs: u8,
    /// What a call may run in its caller's frame instead of entering the
    /// function (see [`leaf_of`]).
    pub(crate) leaf: Option<Leaf>,
    /// The instructions, checked against `regs` and their own length.
    pub(crate) code: Vec<Op>,
    /// One span per instruction, for reports. A box, not a vector: with
    /// `leaf`, the record stays 128 bytes.
    pub(crate) spans: Box<[Span]>,
    pub(crate) consts: Box<[Value]>,
    /// Each constant as a `GetField` or `SetField` of this function names
    /// it: one per constant, so an instruction's name operand indexes
    /// both.
    pub(crate) fields: Box<[FieldSite]>,
    /// Where each captured variable comes from, when a closure is made.
    pub(crate) captures: Box<[Capture]>,
    /// The source file, by index, and the definition's span.
    pub(crate) file: u32,
    pub(crate) span: Span,
}

// Calls index the loaded functions: a power of two keeps that a shift.
const _: () = assert!(std::mem::size_of::<FnProto>() == 128);
const _: () = assert!(std::mem::size_of::<Option<Leaf>>() == 8);

/// The index of the trampoline, the function whose frame stands for a
/// native waiting on a Weft function it called (see `Ctx::call`). Every
/// VM loads it first.
pub(crate) const TRAMPOLINE: u32 = 0;

/// A constant as a field instruction names it: the field's interned name,
/// ready to compare with a map's keys without reading the constant's tag,
/// and where the function last found it.
pub(crate) struct FieldSite {
    /// The constant's string; for a constant that is not a string (no
    /// field instruction names one: `Proto::check`), a ref of no object.
    name: Ref,
    /// Where a `GetField` or `SetField` of this function last found the
    /// name in a map, a position to try before hashing (see
    /// `Heap::field_at`). Atomic, as loaded code may be shared between
    /// threads; a hint that another thread changed is still only a hint,
    /// which the read checks.
    hint: AtomicU32,
}

impl FieldSite {
    /// The site of constant `value`.
    pub(crate) fn of(value: Value) -> FieldSite {
        let name = match value {
            Value::Str(name) => name,
            _ => Ref::NONE,
        };
        FieldSite { name, hint: AtomicU32::new(0) }
    }
}

impl FnProto {
    /// Constant `index`, the operand of a `Const` of this function, read
    /// without a bounds check: `Proto::check` verified the operand against
    /// the constants when the function was loaded, and they never change
    /// after (a boxed slice, made in `link`, private to the crate). The
    /// loop reads constants through the function, not a slice of its own,
    /// so a call and a return set one local fewer.
    #[inline(always)]
    pub(crate) fn constant(&self, index: u32) -> Value {
        debug_assert!((index as usize) < self.consts.len());
        // SAFETY: see above.
        unsafe { *self.consts.get_unchecked(index as usize) }
    }

    /// The field name of constant `name`, an operand of a `GetField` or
    /// `SetField` of this function, and where it was last found, read
    /// without a bounds check: `Proto::check` verified the operand against
    /// the constants when the function was loaded, and there is a site for
    /// every constant.
    #[inline(always)]
    pub(crate) fn field(&self, name: u16) -> (Ref, u32) {
        debug_assert!((name as usize) < self.fields.len());
        // SAFETY: see above; `fields` is as long as `consts` (made so in
        // `link`, private to the crate, never resized).
        let site = unsafe { self.fields.get_unchecked(name as usize) };
        (site.name, site.hint.load(Ordering::Relaxed))
    }

    /// Remembers where field name `name` (a constant's index) was found.
    pub(crate) fn remember_field(&self, name: u16, at: u32) {
        if let Some(site) = self.fields.get(name as usize) {
            site.hint.store(at, Ordering::Relaxed);
        }
    }

    /// The trampoline: one instruction, which resumes the native. Its two
    /// registers hold the called function's result and the function. It is
    /// made here, not compiled, so `Proto::check` never sees it; what the
    /// loop's unchecked reads need holds all the same: its one instruction
    /// names no register and is the last, and the slow path, where it always
    /// goes, pops the frame, or sets its pc back to its one instruction for
    /// the native's next call, before anything else runs.
    pub(crate) fn trampoline() -> FnProto {
        FnProto {
            name: "<native>".into(),
            arity: 0,
            regs: 2,
            leaf: None,
            code: vec![Op::ResumeNative],
            spans: Box::new([Span::default()]),
            consts: Box::new([]),
            fields: Box::new([]),
            captures: Box::new([]),
            file: u32::MAX,
            span: Span::default(),
        }
    }
}

/// A function a call may run in its caller's frame, on the arguments
/// where they lie, without a frame of its own (see [`leaf_of`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Leaf {
    /// One instruction on the parameters, its result returned
    /// (`fn(a, b) => a < b`, `fn(x) => x * 2`, `fn(p) => p.name`).
    One(Op),
    /// The same field of two parameters, compared with `<` (or `<=` when
    /// not `strict`) and returned: `fn(a, b) => a.key < b.key`, the
    /// comparator of a sort by a field. The comparison's left operand is
    /// parameter `left`'s field named by constant `name`, its right one
    /// parameter `right`'s. (Small enough to fit beside an instruction's
    /// tag: a leaf is 8 bytes, and a function's record stays 128.)
    Fields { strict: bool, left: Reg, right: Reg, name: u16 },
}

/// The leaf of a function whose whole body computes one value from its
/// parameters and returns it: one instruction on them, or two of their
/// fields compared. A call of it may run it on the arguments where they
/// lie, in the caller's frame, without a frame of its own. The caller runs
/// only the instructions' fast cases, which cannot fail, wait or allocate;
/// in any other case it calls the function as any other, so errors, traces
/// and effects are the call's. The operands are parameters: registers
/// below `arity`, which a call fills with the arguments.
pub(crate) fn leaf_of(arity: u8, code: &[Op]) -> Option<Leaf> {
    let param = |r: u8| r < arity;
    if let [Op::GetField { dst: x, obj: p, name: px }, Op::GetField { dst: y, obj: q, name: qy }, cmp, Op::Return { src }, ..] =
        *code
    {
        let (Op::Lt { dst, a, b } | Op::Le { dst, a, b }) = cmp else { return None };
        // The second read must not see the first one's result, and the
        // comparison must be of the two fields.
        if !(param(p) && param(q) && x != y && x != q && px == qy && dst == src) {
            return None;
        }
        let (left, right) = match (a, b) {
            _ if (a, b) == (x, y) => (p, q),
            _ if (a, b) == (y, x) => (q, p),
            _ => return None,
        };
        return Some(Leaf::Fields { strict: matches!(cmp, Op::Lt { .. }), left, right, name: px });
    }
    let [op, Op::Return { src }, ..] = *code else { return None };
    let fits = match op {
        Op::Lt { dst, a, b }
        | Op::Le { dst, a, b }
        | Op::Eq { dst, a, b }
        | Op::Ne { dst, a, b }
        | Op::Add { dst, a, b }
        | Op::Sub { dst, a, b }
        | Op::Mul { dst, a, b } => dst == src && param(a) && param(b),
        Op::AddI { dst, a, .. } | Op::MulI { dst, a, .. } => dst == src && param(a),
        Op::GetField { dst, obj, .. } => dst == src && param(obj),
        _ => false,
    };
    fits.then_some(Leaf::One(op))
}

/// A source file, kept for error reports.
pub struct SourceFile {
    /// The name reports give it.
    pub(crate) name: String,
    /// The source text.
    pub(crate) text: String,
    /// Where each line starts, found when a report first needs them: most
    /// files never have one.
    line_starts: std::sync::OnceLock<Vec<usize>>,
}

impl SourceFile {
    /// A file of this name and text.
    pub(crate) fn new(name: &str, text: &str) -> SourceFile {
        SourceFile { name: name.to_string(), text: text.to_string(), line_starts: std::sync::OnceLock::new() }
    }

    /// 1-based line and column (in characters) of a byte offset.
    pub fn line_col(&self, offset: u32) -> (usize, usize) {
        let offset = (offset as usize).min(self.text.len());
        let line_starts = self.line_starts.get_or_init(|| {
            let newlines = self.text.bytes().enumerate().filter(|&(_, b)| b == b'\n');
            std::iter::once(0).chain(newlines.map(|(i, _)| i + 1)).collect()
        });
        let line = line_starts.partition_point(|&s| s <= offset) - 1;
        let start = line_starts[line];
        let col = self.text.get(start..offset).map(|s| s.chars().count()).unwrap_or(0);
        (line + 1, col + 1)
    }
}

/// An instruction's place in the code: its function, and the pc after it
/// (a frame's saved pc while the instruction runs). Eight bytes, where its
/// [`TraceEntry`] (from [`Code::site_entry`]) is 32 with a counted
/// reference to the function's name: every task keeps the site of the
/// `spawn` that made it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Site {
    pub(crate) proto: u32,
    pub(crate) pc: u32,
}

/// Everything loaded and read-only while scripts run: functions, sources,
/// natives, method tables.
#[derive(Default)]
pub struct Code {
    /// Checked at load time (`Proto::check`) and never changed after: the
    /// interpreter's unchecked register and code reads rest on it.
    pub(crate) protos: Vec<FnProto>,
    /// The prelude's file, whose frames traces leave out.
    pub(crate) prelude_file: Option<u32>,
    /// Every file loaded, by index: traces and spans name them so.
    pub(crate) files: Vec<SourceFile>,
    pub(crate) natives: Vec<NativeDef>,
    /// Method names, numbered.
    pub(crate) symbols: Symbols,
    /// The built-in types' method tables.
    pub(crate) methods: Methods,
    /// Classes of host objects, by index.
    pub(crate) classes: Vec<crate::object::Class>,
    /// The natives that the builtins' own instructions stand for.
    pub(crate) builtins: BuiltinNatives,
}

/// For each [`Builtin`] and [`BuiltinMethod`], the index of the native its
/// instruction computes in the loop: the instruction takes its fast path
/// only while the global it names (the method table entry it looks up)
/// holds exactly this native. `u32::MAX` (no native) until the standard
/// library registers it with [`Vm::register_builtin`](crate::Vm::register_builtin)
/// ([`Vm::register_builtin_method`](crate::Vm::register_builtin_method)).
#[derive(Clone, Copy, Debug)]
pub(crate) struct BuiltinNatives {
    globals: [u32; Builtin::ALL.len()],
    methods: [u32; BuiltinMethod::ALL.len()],
}

impl Default for BuiltinNatives {
    fn default() -> Self {
        BuiltinNatives { globals: [u32::MAX; Builtin::ALL.len()], methods: [u32::MAX; BuiltinMethod::ALL.len()] }
    }
}

impl BuiltinNatives {
    /// The native behind `builtin`'s instruction.
    #[inline(always)]
    pub(crate) fn get(&self, builtin: Builtin) -> u32 {
        self.globals[builtin as usize]
    }

    pub(crate) fn set(&mut self, builtin: Builtin, native: u32) {
        self.globals[builtin as usize] = native;
    }

    /// The native behind `method`'s instruction.
    #[inline(always)]
    pub(crate) fn method(&self, method: BuiltinMethod) -> u32 {
        self.methods[method as usize]
    }

    pub(crate) fn set_method(&mut self, method: BuiltinMethod, native: u32) {
        self.methods[method as usize] = native;
    }
}

impl Code {
    /// The name `type(v)` returns: a host object's class, or the type.
    pub fn type_name(&self, heap: &crate::Heap, v: Value) -> &str {
        match v {
            Value::Object(r) => &self.classes[heap.object(r).class as usize].name,
            v => v.type_name(),
        }
    }

    /// The class of host objects of Rust type `T`, if registered.
    pub(crate) fn class_of<T: 'static>(&self) -> Option<u32> {
        let type_id = std::any::TypeId::of::<T>();
        self.classes.iter().position(|c| c.type_id == type_id).map(|i| i as u32)
    }

    /// The method tables of the built-in types, with the types' names.
    fn type_tables(&self) -> [(&str, &Vec<Option<Method>>); 8] {
        let m = &self.methods;
        [
            ("string", &m.string),
            ("list", &m.list),
            ("map", &m.map),
            ("range", &m.range),
            ("error", &m.error),
            ("chan", &m.chan),
            ("task", &m.task),
            ("nursery", &m.nursery),
        ]
    }

    /// What a trace calls native `n`: a method of a built-in type or of a
    /// class by its owner and name (`list.sort_by_key`), anything else by
    /// the name it was registered under. Looked up only when a trace is
    /// made.
    pub(crate) fn native_label(&self, n: u32) -> String {
        let Some(def) = self.natives.get(n as usize) else { return "<native>".to_string() };
        if def.method {
            let classes = self.classes.iter().map(|c| (&*c.name, &c.methods));
            let is_this = |slot: &Option<Method>| matches!(slot, Some(Method::Native(i)) if *i == n);
            for (owner, table) in self.type_tables().into_iter().chain(classes) {
                if table.iter().any(is_this) {
                    return format!("{owner}.{}", def.name);
                }
            }
        }
        def.name.to_string()
    }

    /// The prelude's functions that are methods of built-in types, each
    /// with what a trace calls it (`list.map`), given the globals that
    /// hold them.
    pub(crate) fn script_methods(&self, globals: &[Value]) -> Vec<(crate::Ref, String)> {
        let mut found = Vec::new();
        for (owner, table) in self.type_tables() {
            for (id, slot) in table.iter().enumerate() {
                let Some(Method::Script(global)) = slot else { continue };
                if let (Some(Value::Func(r)), Some(name)) = (globals.get(*global as usize), self.symbols.names.get(id))
                {
                    found.push((*r, format!("{owner}.{name}")));
                }
            }
        }
        found
    }

    /// The trace entry of the instruction at `site`.
    pub(crate) fn site_entry(&self, site: Site) -> Option<TraceEntry> {
        let p = self.protos.get(site.proto as usize)?;
        let span = *p.spans.get((site.pc as usize).saturating_sub(1))?;
        Some(TraceEntry { function: p.name.clone(), file: p.file, span })
    }

    /// `"name at file:line:col"` for a trace entry.
    pub fn trace_line(&self, t: &TraceEntry) -> String {
        match self.files.get(t.file as usize) {
            Some(f) => {
                let (line, col) = f.line_col(t.span.start);
                format!("{} at {}:{}:{}", t.function, f.name, line, col)
            }
            None => t.function.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_leaf_is_one_instruction_on_parameters_returned() {
        let lt = Op::Lt { dst: 2, a: 1, b: 0 };
        assert_eq!(leaf_of(2, &[lt, Op::Return { src: 2 }]), Some(Leaf::One(lt)));
        // What follows the return never runs.
        assert_eq!(leaf_of(2, &[lt, Op::Return { src: 2 }, Op::ReturnNil]), Some(Leaf::One(lt)));
        let field = Op::GetField { dst: 1, obj: 0, name: 0 };
        assert_eq!(leaf_of(1, &[field, Op::Return { src: 1 }]), Some(Leaf::One(field)));
        let twice = Op::MulI { dst: 1, a: 0, imm: 2 };
        assert_eq!(leaf_of(1, &[twice, Op::Return { src: 1 }]), Some(Leaf::One(twice)));
    }

    /// `fn(a, b) => a.key < b.key` as the compiler gives it, with the
    /// comparison `cmp` on the two fields read into 3 and 4.
    fn compare_fields(cmp: Op) -> [Op; 4] {
        [Op::GetField { dst: 3, obj: 0, name: 7 }, Op::GetField { dst: 4, obj: 1, name: 7 }, cmp, Op::Return { src: 2 }]
    }

    #[test]
    fn a_leaf_compares_two_parameters_fields() {
        let less = leaf_of(2, &compare_fields(Op::Lt { dst: 2, a: 3, b: 4 }));
        assert_eq!(less, Some(Leaf::Fields { strict: true, left: 0, right: 1, name: 7 }));
        // `a.key > b.key` is `b.key < a.key`.
        let greater = leaf_of(2, &compare_fields(Op::Lt { dst: 2, a: 4, b: 3 }));
        assert_eq!(greater, Some(Leaf::Fields { strict: true, left: 1, right: 0, name: 7 }));
        let at_most = leaf_of(2, &compare_fields(Op::Le { dst: 2, a: 3, b: 4 }));
        assert_eq!(at_most, Some(Leaf::Fields { strict: false, left: 0, right: 1, name: 7 }));
    }

    #[test]
    fn fields_compared_otherwise_are_called() {
        // Another comparison, a field compared with itself, a result not
        // returned, an object that is not a parameter, two names.
        assert_eq!(leaf_of(2, &compare_fields(Op::Eq { dst: 2, a: 3, b: 4 })), None);
        assert_eq!(leaf_of(2, &compare_fields(Op::Lt { dst: 2, a: 3, b: 3 })), None);
        assert_eq!(leaf_of(2, &compare_fields(Op::Lt { dst: 3, a: 3, b: 4 })), None);
        assert_eq!(leaf_of(1, &compare_fields(Op::Lt { dst: 2, a: 3, b: 4 })), None);
        let mut names = compare_fields(Op::Lt { dst: 2, a: 3, b: 4 });
        names[1] = Op::GetField { dst: 4, obj: 1, name: 8 };
        assert_eq!(leaf_of(2, &names), None);
        // The second read of the first one's result: `a.key.key`.
        let nested = [
            Op::GetField { dst: 1, obj: 0, name: 7 },
            Op::GetField { dst: 3, obj: 1, name: 7 },
            Op::Lt { dst: 2, a: 1, b: 3 },
            Op::Return { src: 2 },
        ];
        assert_eq!(leaf_of(2, &nested), None);
    }

    #[test]
    fn anything_else_is_called() {
        let lt = Op::Lt { dst: 2, a: 0, b: 1 };
        // An operand that is not a parameter, a result not returned, a
        // second instruction, an instruction that may wait or allocate.
        assert_eq!(leaf_of(1, &[lt, Op::Return { src: 2 }]), None);
        assert_eq!(leaf_of(2, &[lt, Op::Return { src: 0 }]), None);
        assert_eq!(leaf_of(2, &[lt, Op::Not { dst: 2, src: 2 }, Op::Return { src: 2 }]), None);
        assert_eq!(leaf_of(2, &[Op::NewList { dst: 2, start: 0, count: 2 }, Op::Return { src: 2 }]), None);
        assert_eq!(leaf_of(0, &[Op::ReturnNil]), None);
        assert_eq!(leaf_of(0, &[]), None);
    }
}
