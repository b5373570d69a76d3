//! Core builtins: printing, conversion, type inspection, errors, the
//! script's environment.

use crate::args::*;
use std::io::Write;
use weft_vm::{Ctx, NativeResult, Throw, Value, Vm};

pub fn install(vm: &mut Vm) {
    vm.register("print", print);
    vm.register("str", str);
    vm.register("type", type_of);
    vm.register("len", len);
}

fn print(cx: &mut Ctx, args: &[Value]) -> NativeResult {
    let mut line = String::new();
    for (i, v) in args.iter().enumerate() {
        if i > 0 {
            line.push(' ');
        }
        match *v {
            Value::Str(r) => line.push_str(cx.rt.heap.str(r)),
            v => line.push_str(&cx.display(v)),
        }
    }
    line.push('\n');
    cx.rt.out.write_all(line.as_bytes()).map_err(|e| Throw::new("IOError", format!("print: {e}")))?;
    Ok(Value::Nil)
}

fn str(cx: &mut Ctx, args: &[Value]) -> NativeResult {
    arity("str", args, 1)?;
    match args[0] {
        Value::Str(_) => Ok(args[0]),
        v => {
            let s = cx.display(v);
            Ok(cx.string(&s))
        }
    }
}

fn type_of(cx: &mut Ctx, args: &[Value]) -> NativeResult {
    arity("type", args, 1)?;
    let name = args[0].type_name();
    Ok(cx.string(name))
}

fn len(cx: &mut Ctx, args: &[Value]) -> NativeResult {
    arity("len", args, 1)?;
    let heap = &cx.rt.heap;
    let n = match args[0] {
        Value::Str(r) => heap.str_obj(r).chars,
        Value::List(r) => heap.list(r).len(),
        Value::Map(r) => heap.map(r).len(),
        Value::Range(r) => {
            let (start, end, inclusive) = heap.range(r);
            let end = if inclusive { end.saturating_add(1) } else { end };
            end.saturating_sub(start).max(0) as usize
        }
        v => return Err(Throw::type_error(format!("len: {} has no length", v.type_name()))),
    };
    Ok(Value::Int(n as i64))
}
