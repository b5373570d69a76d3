//! The disassembler behind `weft disasm`: one line per instruction, with
//! constants and method names resolved and the source line it came from.

use crate::{fmt, Code, Heap};
use std::fmt::Write;
use weft_lang::bytecode::{Op, Operand};

/// Lists the functions `first..` of `code`.
pub fn disassemble(code: &Code, heap: &Heap, first: usize) -> String {
    let mut out = String::new();
    for (index, proto) in code.protos.iter().enumerate().skip(first) {
        let file = &code.files[proto.file as usize];
        let (line, _) = file.line_col(proto.span.start);
        let _ = writeln!(
            out,
            "fn #{index} {} (arity {}, {} registers, {}:{line})",
            proto.name, proto.arity, proto.regs, file.name
        );
        let mut last_line = 0;
        for (pc, op) in proto.code.iter().enumerate() {
            let (line, _) = file.line_col(proto.spans[pc].start);
            let line_text = if line != last_line { format!("{line:>4}") } else { "   |".to_string() };
            last_line = line;
            let mut text = op.name().to_string();
            let mut notes = Vec::new();
            for f in op.fields().into_iter().flatten() {
                match f.kind {
                    Operand::Flag => {
                        let _ = write!(text, " {}={}", f.name, f.value != 0);
                    }
                    _ => {
                        let _ = write!(text, " {}={}", f.name, f.value);
                    }
                }
                let at = f.value as usize;
                match f.kind {
                    Operand::Konst if matches!(op, Op::Const { .. }) => {
                        notes.push(fmt::repr(heap, code, proto.consts[at]));
                    }
                    Operand::Field => notes.push(format!(".{}", fmt::display(heap, code, proto.consts[at]))),
                    Operand::Symbol => notes.push(format!(".{}()", code.symbols.names[at])),
                    Operand::Jump => notes.push(format!("-> {:04}", pc as i64 + 1 + f.value)),
                    Operand::Proto => notes.push(format!("fn #{at} {}", code.protos[at].name)),
                    _ => {}
                }
            }
            if !notes.is_empty() {
                let _ = write!(text, "    ; {}", notes.join(" "));
            }
            let _ = writeln!(out, "{line_text} {pc:04}  {}", text.trim_end());
        }
        out.push('\n');
    }
    out
}
