//! Emission: registers, instructions, jumps and their patching, constants
//! and method names, and the limits on each.

use super::*;

impl<'a> Compiler<'_, 'a> {
    pub(super) fn func(&self) -> &Func<'a> {
        self.funcs.last().expect("compiling a function")
    }

    pub(super) fn func_mut(&mut self) -> &mut Func<'a> {
        self.funcs.last_mut().expect("compiling a function")
    }

    pub(super) fn error(&mut self, d: Diagnostic) {
        self.errors.push(d);
    }

    /// Reports that the function outgrew a limit, once per function.
    pub(super) fn too_large(&mut self, span: Span, what: String) {
        if std::mem::replace(&mut self.func_mut().too_large, true) {
            return;
        }
        self.error(
            Diagnostic::new("function too large", span)
                .with_label(what)
                .with_hint("split the function into smaller ones"),
        );
    }

    pub(super) fn alloc(&mut self, span: Span) -> Reg {
        let f = self.func_mut();
        let reg = f.next_reg;
        if reg >= MAX_REGS {
            self.too_large(span, format!("more than {MAX_REGS} locals and temporaries are live here"));
            return (MAX_REGS - 1) as Reg;
        }
        f.next_reg += 1;
        f.proto.regs = f.proto.regs.max(f.next_reg as u8);
        reg as Reg
    }

    pub(super) fn free_to(&mut self, mark: usize) {
        self.func_mut().next_reg = mark;
    }

    pub(super) fn emit(&mut self, op: Op, span: Span) {
        let f = self.func_mut();
        f.proto.code.push(op);
        f.proto.spans.push(span);
    }

    pub(super) fn code_len(&self) -> usize {
        self.func().proto.code.len()
    }

    pub(super) fn here(&self) -> usize {
        self.code_len()
    }

    pub(super) fn emit_jump(&mut self, span: Span) -> usize {
        let at = self.code_len();
        self.emit(Op::Jump { offset: 0 }, span);
        at
    }

    pub(super) fn emit_loop(&mut self, target: usize, span: Span) {
        let offset = target as i32 - (self.code_len() as i32 + 1);
        self.emit(Op::Loop { offset }, span);
    }

    /// Points the jump at `at` to the next instruction.
    pub(super) fn patch(&mut self, at: usize) {
        let target = self.code_len();
        self.patch_to(at, target);
    }

    pub(super) fn patch_all(&mut self, jumps: Vec<usize>) {
        for j in jumps {
            self.patch(j);
        }
    }

    pub(super) fn patch_all_to(&mut self, jumps: Vec<usize>, target: usize) {
        for j in jumps {
            self.patch_to(j, target);
        }
    }

    pub(super) fn patch_to(&mut self, at: usize, target: usize) {
        let delta = target as i32 - (at as i32 + 1);
        match self.func_mut().proto.code[at].offset_mut() {
            Some(offset) => *offset = delta,
            None => unreachable!("patching a non-jump"),
        }
    }

    pub(super) fn constant(&mut self, k: Const, span: Span) -> u32 {
        let func = self.func_mut();
        let key = ConstKey::of(&k);
        if let Some(&i) = func.const_slots.get(&key) {
            return i;
        }
        let n = func.proto.consts.len();
        func.proto.consts.push(k);
        func.const_slots.insert(key, n as u32);
        if n > u16::MAX as usize {
            self.too_large(span, format!("more than {} constants", u16::MAX as usize + 1));
        }
        n as u32
    }

    pub(super) fn name_constant(&mut self, name: &str, span: Span) -> u16 {
        self.constant(Const::Str(name.to_string()), span).min(u16::MAX as u32) as u16
    }

    pub(super) fn method_name(&mut self, name: &str, span: Span) -> u16 {
        let func = self.func_mut();
        if let Some(&i) = func.method_slots.get(name) {
            return i;
        }
        let n = func.proto.methods.len();
        func.proto.methods.push(name.to_string());
        func.method_slots.insert(name.to_string(), n.min(u16::MAX as usize) as u16);
        if n > u16::MAX as usize {
            self.too_large(span, format!("more than {} method names", u16::MAX as usize + 1));
        }
        n as u16
    }
}
