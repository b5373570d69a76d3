//! Loading: parsing and compiling source (through `weft_lang`), checking
//! what the compiler made, and linking it into [`Code`]: constants become
//! values and method names global symbols. Also imports and `weft check`.

use super::FieldSite;
use crate::task::{self, Task};
use crate::{heap, Failure, FnProto, SourceFile, Throw, Value, Vm};
use std::path::Path;
use weft_lang::bytecode::{Const, Op, Unit};
use weft_lang::compile::{FileScope, Mode};

/// The most compile errors one report renders.
const MAX_REPORTED_ERRORS: usize = 100;

/// The largest source file or module that loads.
pub const MAX_SOURCE_BYTES: u64 = 64 << 20;

/// Reads a script or module: a regular file of at most
/// [`MAX_SOURCE_BYTES`], in UTF-8 (a leading byte-order mark is dropped). A device, a FIFO or a directory is
/// refused before anything is read, so `import "/dev/zero"` cannot hang.
/// The error says why, without the path.
pub fn read_source(path: &Path) -> Result<String, String> {
    let meta = std::fs::metadata(path).map_err(|e| e.to_string())?;
    if !meta.is_file() {
        return Err("not a regular file".to_string());
    }
    if meta.len() > MAX_SOURCE_BYTES {
        return Err(format!(
            "{} MiB, more than the {} MiB a source may have",
            meta.len() >> 20,
            MAX_SOURCE_BYTES >> 20
        ));
    }
    let mut bytes = std::fs::read(path).map_err(|e| e.to_string())?;
    // A UTF-8 byte-order mark, as some editors write, is not part of the text.
    if bytes.starts_with(b"\xef\xbb\xbf") {
        bytes.drain(..3);
    }
    String::from_utf8(bytes).map_err(|e| format!("not valid UTF-8 (byte {})", e.utf8_error().valid_up_to()))
}

/// A compiled unit whose functions passed
/// [`Proto::check`](weft_lang::bytecode::Proto::check): the only kind
/// `Vm::link` takes. Its field is private and nothing changes it once it
/// is made, so the checks hold for as long as it lives, in the prelude
/// cache too.
pub(crate) struct CheckedUnit(Unit);

impl CheckedUnit {
    /// The unit, to read.
    pub(crate) fn unit(&self) -> &Unit {
        &self.0
    }
}

/// The name reports give a module file, and the directory its own imports
/// are relative to.
fn module_name_and_dir(path: &str) -> (String, std::path::PathBuf) {
    let path = Path::new(path);
    let name =
        path.file_name().map_or_else(|| path.to_string_lossy().into_owned(), |n| n.to_string_lossy().into_owned());
    (name, path.parent().unwrap_or(Path::new(".")).to_path_buf())
}

impl Vm {
    /// Parses and compiles `text`, loading its functions. Returns the index
    /// of its top-level function.
    pub fn load(
        &mut self,
        name: &str,
        text: &str,
        dir: &Path,
        scope: &mut FileScope,
        mode: Mode,
    ) -> Result<u32, Failure> {
        let file = self.add_file(name, text);
        let unit = self.compile_source(name, text, dir, scope, mode)?;
        let unit = self.check_unit(name, text, unit)?;
        Ok(self.link(file, &unit))
    }

    /// Records a source file for reports; returns its index.
    pub(crate) fn add_file(&mut self, name: &str, text: &str) -> u32 {
        let file = self.code.files.len() as u32;
        self.code.files.push(SourceFile::new(name, text));
        file
    }

    /// Parses and compiles `text` in the VM's environment, which gains the
    /// file's global names; every error is rendered into one report.
    pub(crate) fn compile_source(
        &mut self,
        name: &str,
        text: &str,
        dir: &Path,
        scope: &mut FileScope,
        mode: Mode,
    ) -> Result<Unit, Failure> {
        let compiled = match weft_lang::parser::parse(text) {
            Ok(program) => weft_lang::compile::compile(&program, &mut self.env, scope, dir, mode),
            Err(broken) => {
                // Name errors in the statements that did parse are worth
                // reporting too.
                let mut errors = broken.errors;
                if let Err(more) = weft_lang::compile::compile(&broken.partial, &mut self.env, scope, dir, mode) {
                    errors.extend(more);
                }
                Err(errors)
            }
        };
        match compiled {
            Ok(unit) => Ok(unit),
            Err(mut diagnostics) => {
                // In source order: the compiler finishes inner functions first.
                diagnostics.sort_by_key(|d| d.span.start);
                // Rendering reads the source around each error: past the
                // first hundred, a count says the rest.
                let shown = diagnostics.iter().take(MAX_REPORTED_ERRORS);
                let mut report = shown.map(|d| d.render(name, text, self.color)).collect::<Vec<_>>().join("\n");
                if let Some(more) = diagnostics.len().checked_sub(MAX_REPORTED_ERRORS).filter(|&n| n > 0) {
                    report.push_str(&format!("\n... and {more} more errors\n"));
                }
                Err(Failure::Compile { diagnostics, report })
            }
        }
    }

    /// Checks the functions of `unit`, compiled from `text` (file `name`).
    /// The interpreter trusts these checks (it reads registers without
    /// bounds checks), so a compiler bug stops here, not in the loop.
    pub(crate) fn check_unit(&self, name: &str, text: &str, unit: Unit) -> Result<CheckedUnit, Failure> {
        match unit.protos.iter().find_map(|p| p.check().err()) {
            None => Ok(CheckedUnit(unit)),
            Some(problem) => {
                let diagnostic = weft_lang::diagnostic::Diagnostic::new(
                    format!("internal compiler error: {problem}"),
                    weft_lang::diagnostic::Span::default(),
                );
                let report = diagnostic.render(name, text, self.color);
                Err(Failure::Compile { diagnostics: vec![diagnostic], report })
            }
        }
    }

    /// Adds the functions of `unit`, compiled from file `file`, to the
    /// loaded code. Returns the index of its top-level function.
    pub(crate) fn link(&mut self, file: u32, unit: &CheckedUnit) -> u32 {
        let unit = &unit.0;
        let first = self.code.protos.len() as u32;
        for proto in &unit.protos {
            let consts: Box<[Value]> = proto
                .consts
                .iter()
                .map(|k| match k {
                    Const::Int(i) => Value::Int(*i),
                    Const::Float(x) => Value::Float(*x),
                    Const::Str(s) => Value::Str(self.rt.heap.intern(s)),
                })
                .collect();
            let symbols: Vec<u16> = proto.methods.iter().map(|m| self.code.symbols.id(m)).collect();
            let code: Vec<Op> = proto
                .code
                .iter()
                .map(|op| match *op {
                    Op::Closure { dst, proto } => Op::Closure { dst, proto: proto + first },
                    Op::CallMethod { base, argc, name } => Op::CallMethod { base, argc, name: symbols[name as usize] },
                    Op::CallPush { base, obj, arg, name } => {
                        Op::CallPush { base, obj, arg, name: symbols[name as usize] }
                    }
                    Op::CallRemove { base, obj, arg, name } => {
                        Op::CallRemove { base, obj, arg, name: symbols[name as usize] }
                    }
                    op => op,
                })
                .collect();
            self.code.protos.push(FnProto {
                name: proto.name.as_str().into(),
                arity: proto.arity,
                regs: proto.regs,
                leaf: super::leaf_of(proto.arity, &code),
                code,
                spans: proto.spans.as_slice().into(),
                fields: consts.iter().map(|&c| FieldSite::of(c)).collect(),
                consts,
                captures: proto.captures.as_slice().into(),
                file,
                span: proto.span,
            });
        }
        let slots = self.env.slots() as usize;
        if self.rt.globals.len() < slots {
            self.rt.globals.resize(slots, Value::Nil);
        }
        first + unit.main
    }

    /// Compiles a file without running it: `weft check`.
    pub fn compile_only(&mut self, name: &str, text: &str, dir: &Path) -> Result<(), Failure> {
        self.guarded(|vm| vm.check_all(name, text, dir))
    }

    fn check_all(&mut self, name: &str, text: &str, dir: &Path) -> Result<(), Failure> {
        self.load(name, text, dir, &mut FileScope::new(), Mode::Script)?;
        // Then every module it imports, and theirs: compiling one records
        // its own imports in the environment.
        let mut checked = std::collections::HashSet::new();
        loop {
            let pending: Vec<(String, u32)> = self
                .env
                .modules()
                .filter(|(path, _)| !checked.contains(*path))
                .map(|(path, slot)| (path.to_string(), slot))
                .collect();
            if pending.is_empty() {
                return Ok(());
            }
            for (path, slot) in pending {
                checked.insert(path.clone());
                // A module that cannot be read fails when it is imported.
                let Ok(text) = read_source(Path::new(&path)) else { continue };
                let (name, dir) = module_name_and_dir(&path);
                self.load(&name, &text, &dir, &mut FileScope::new(), Mode::Module { slot })?;
            }
        }
    }

    /// Compiles a file and lists its bytecode: `weft disasm`.
    pub fn disassemble(&mut self, name: &str, text: &str, dir: &Path) -> Result<String, Failure> {
        self.guarded(|vm| vm.listing(name, text, dir))
    }

    fn listing(&mut self, name: &str, text: &str, dir: &Path) -> Result<String, Failure> {
        let first = self.code.protos.len();
        self.load(name, text, dir, &mut FileScope::new(), Mode::Script)?;
        Ok(crate::disasm::disassemble(&self.code, &self.rt.heap, first))
    }

    /// Loads the module at `path` for the task's pending `import`.
    pub(crate) fn import(&mut self, task: &mut Task, path: Value, slot: u32, dst: usize) {
        let Value::Str(r) = path else { unreachable!("module paths are strings") };
        let path = self.rt.heap.str(r).to_string();
        // Circular only if the module's top level is still running in this
        // task: one whose first load threw may be imported again.
        let running = |&(s, main): &(u32, u32)| s == slot && task.frames.iter().any(|f| f.proto == main);
        if self.rt.loading.iter().any(running) {
            return self.throw(task, Throw::new("ImportError", format!("circular import of {path}")));
        }
        let text = match read_source(Path::new(&path)) {
            Ok(text) => text,
            Err(e) => return self.throw(task, Throw::new("ImportError", format!("cannot read module {path}: {e}"))),
        };
        let (display_name, dir) = module_name_and_dir(&path);
        let mut scope = FileScope::new();
        let main = match self.load(&display_name, &text, &dir, &mut scope, Mode::Module { slot }) {
            Ok(main) => main,
            Err(failure) => {
                // A compile error is one whichever file it is in: the run
                // stops with its report (exit status 2), as `weft check`
                // would have found it.
                self.failed_import = Some(failure);
                return;
            }
        };
        self.rt.loading.retain(|&(s, _)| s != slot);
        self.rt.loading.push((slot, main));
        let frame = task.frames.last().expect("importing frame");
        let top = frame.base as usize + self.code.protos[frame.proto as usize].regs as usize;
        let regs = self.code.protos[main as usize].regs as usize;
        if task.stack.len() < top + 1 + regs {
            task.stack.resize(top + 1 + regs + 64, Value::Nil);
        }
        let closure = self.rt.heap.new_closure(main, heap::Captures::None);
        task.stack[top] = Value::Func(closure);
        task.frames.push(task::Frame {
            proto: main,
            closure: Some(closure),
            pc: 0,
            base: top as u32 + 1,
            ret: dst as u32,
        });
    }
}
