//! The disassembler behind `weft disasm`: one line per instruction, with
//! constants and method names resolved and the source line it came from.

use crate::{fmt, Code, Heap};
use std::fmt::Write;
use weft_lang::bytecode::Op;

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
            let mut text = format!("{op:?}").replace(['{', '}', ','], "").replace(": ", "=");
            match *op {
                Op::Const { index, .. } => {
                    let _ = write!(text, "    ; {}", fmt::repr(heap, code, proto.consts[index as usize]));
                }
                Op::GetField { name, .. } | Op::SetField { name, .. } => {
                    let _ = write!(text, "    ; .{}", fmt::display(heap, code, proto.consts[name as usize]));
                }
                Op::CallMethod { name, .. } => {
                    let _ = write!(text, "    ; .{}()", code.symbols.names[name as usize]);
                }
                op if op.jump_offset().is_some() => {
                    let offset = op.jump_offset().unwrap_or(0);
                    let _ = write!(text, "    ; -> {:04}", pc as i64 + 1 + offset as i64);
                }
                Op::Closure { proto, .. } => {
                    let _ = write!(text, "    ; fn #{proto} {}", code.protos[proto as usize].name);
                }
                _ => {}
            }
            let _ = writeln!(out, "{line_text} {pc:04}  {}", text.trim_end());
        }
        out.push('\n');
    }
    out
}
