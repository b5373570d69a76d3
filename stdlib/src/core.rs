//! Core builtins: printing, conversion, type inspection, errors, the
//! script's environment, random numbers.

use crate::args::*;
use std::io::Write;
use std::num::IntErrorKind;
use weft_vm::{fmt, Ctx, NativeResult, Throw, Value, Vm};

pub fn install(vm: &mut Vm) {
    vm.register("print", print);
    vm.register("str", str);
    vm.register("int", int);
    vm.register("float", float);
    vm.register("type", type_of);
    vm.register("len", len);
    vm.register("assert", assert);
    vm.register("error", error);
    vm.register("args", script_args);
    vm.register("env", env);
    vm.register("exit", exit);
    vm.register("random", random);
    vm.register("random_int", random_int);
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
    cx.rt.out.write_all(line.as_bytes()).map_err(|e| match e.kind() {
        // The reader went away (`weft script.weft | head -1`): end quietly
        // with the status a shell reports for SIGPIPE.
        std::io::ErrorKind::BrokenPipe => Throw::Exit(128 + 13),
        _ => Throw::new("IOError", format!("print: {e}")),
    })?;
    Ok(Value::Nil)
}

fn str(cx: &mut Ctx, args: &[Value]) -> NativeResult {
    arity("str", args, 1)?;
    match args[0] {
        Value::Str(_) => Ok(args[0]),
        Value::Int(i) => {
            // Digits on the stack: `str(i)` in a loop allocates nothing
            // but the string itself.
            let mut buf = [0u8; 20];
            Ok(cx.string(int_text(i, &mut buf)))
        }
        v => {
            let s = cx.display(v);
            Ok(cx.string(&s))
        }
    }
}

/// `i` in decimal, written into the end of `buf`.
fn int_text(i: i64, buf: &mut [u8; 20]) -> &str {
    let mut n = i.unsigned_abs();
    let mut at = buf.len();
    loop {
        at -= 1;
        buf[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    if i < 0 {
        at -= 1;
        buf[at] = b'-';
    }
    std::str::from_utf8(&buf[at..]).expect("ASCII digits")
}

/// `int(x)`: floats truncate toward zero, strings parse as decimal.
fn int(cx: &mut Ctx, args: &[Value]) -> NativeResult {
    arity("int", args, 1)?;
    match args[0] {
        Value::Int(_) => Ok(args[0]),
        Value::Bool(b) => Ok(Value::Int(b as i64)),
        Value::Float(x) => float_to_int("int", x.trunc()),
        Value::Str(r) => {
            let text = cx.rt.heap.str(r).trim();
            match text.parse::<i64>() {
                Ok(n) => Ok(Value::Int(n)),
                Err(e) => {
                    let shown = cx.repr(args[0]);
                    match e.kind() {
                        IntErrorKind::PosOverflow | IntErrorKind::NegOverflow => {
                            Err(Throw::new("Overflow", format!("int: {shown} does not fit in 64 bits")))
                        }
                        _ => Err(Throw::value_error(format!("int: {shown} is not an integer"))),
                    }
                }
            }
        }
        v => Err(Throw::type_error(format!("int: cannot convert {} to int", v.type_name()))),
    }
}

/// Converts an integral float to an int, or fails: `Overflow` when out of
/// range, `ValueError` for nan.
pub fn float_to_int(name: &str, x: f64) -> NativeResult {
    if x.is_nan() {
        return Err(Throw::value_error(format!("{name}: cannot convert nan to int")));
    }
    if (-9.223372036854776e18..9.223372036854776e18).contains(&x) {
        Ok(Value::Int(x as i64))
    } else {
        Err(Throw::new("Overflow", format!("{name}: {} does not fit in an int", fmt::float_repr(x))))
    }
}

fn float(cx: &mut Ctx, args: &[Value]) -> NativeResult {
    arity("float", args, 1)?;
    match args[0] {
        Value::Float(_) => Ok(args[0]),
        Value::Int(n) => Ok(Value::Float(n as f64)),
        Value::Str(r) => {
            // Rust's float syntax, as Python's without underscores:
            // "2.5", "-1e9", "inf", "nan".
            let text = cx.rt.heap.str(r).trim();
            match text.parse::<f64>() {
                Ok(x) => Ok(Value::Float(x)),
                _ => {
                    let shown = cx.repr(args[0]);
                    Err(Throw::value_error(format!("float: {shown} is not a number")))
                }
            }
        }
        v => Err(Throw::type_error(format!("float: cannot convert {} to float", v.type_name()))),
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
        Value::Str(r) => heap.str_obj(r).chars(),
        Value::List(r) => heap.list(r).len(),
        Value::Map(r) => heap.map(r).len(),
        Value::Range(r) => {
            let (start, end, inclusive) = heap.range(r);
            let len = weft_vm::ops::range_len(start, end, inclusive);
            match i64::try_from(len) {
                Ok(len) => len as usize,
                Err(_) => {
                    return Err(Throw::new(
                        "Overflow",
                        format!("len: the range has {len} items, more than an int holds"),
                    ))
                }
            }
        }
        v => return Err(Throw::type_error(format!("len: {} has no length", v.type_name()))),
    };
    Ok(Value::Int(n as i64))
}

fn assert(cx: &mut Ctx, args: &[Value]) -> NativeResult {
    arity_between("assert", args, 1, 2)?;
    if args[0].truthy() {
        return Ok(Value::Nil);
    }
    let message = match args.get(1) {
        None => "assertion failed".to_string(),
        Some(Value::Str(r)) => cx.rt.heap.str(*r).to_string(),
        Some(v) => cx.display(*v),
    };
    Err(Throw::new("AssertionError", message))
}

/// `error(kind, message)`, or `error(message)` with kind `"Error"`.
fn error(cx: &mut Ctx, args: &[Value]) -> NativeResult {
    arity_between("error", args, 1, 2)?;
    let (kind, message) = match args {
        [message] => (cx.string("Error"), *message),
        _ => (args[0], args[1]),
    };
    let kind = match kind {
        Value::Str(_) => kind,
        v => return Err(Throw::type_error(format!("error: the kind must be a string, not {}", v.type_name()))),
    };
    let message = match message {
        Value::Str(_) => message,
        v => {
            let text = cx.display(v);
            cx.string(&text)
        }
    };
    Ok(Value::Error(cx.heap().new_error_value(kind, message)))
}

fn script_args(cx: &mut Ctx, args: &[Value]) -> NativeResult {
    arity("args", args, 0)?;
    let items = cx.rt.args.clone().iter().map(|a| cx.string(a)).collect();
    Ok(cx.list(items))
}

/// `env(name)`: the environment variable's value, or nil when unset.
fn env(cx: &mut Ctx, args: &[Value]) -> NativeResult {
    arity("env", args, 1)?;
    let name = str_arg(cx, "env", args, 0)?;
    if name.is_empty() || name.contains(['=', '\0']) {
        return Err(Throw::value_error(format!("env: {name:?} is not a variable name")));
    }
    match std::env::var_os(&name) {
        Some(value) => Ok(cx.string(&value.to_string_lossy())),
        None => Ok(Value::Nil),
    }
}

fn exit(_cx: &mut Ctx, args: &[Value]) -> NativeResult {
    arity_between("exit", args, 0, 1)?;
    let code = if args.is_empty() { 0 } else { int_arg("exit", args, 0)? };
    // A process status is one byte: 256 would read as 0, a success.
    if !(0..=255).contains(&code) {
        return Err(Throw::value_error(format!("exit: status {code} is out of range 0 to 255")));
    }
    Err(Throw::Exit(code as i32))
}

/// The next 64 random bits (splitmix64): fast, and reproducible under
/// `--seed`.
fn next_random(cx: &mut Ctx) -> u64 {
    cx.rt.rng.next_u64()
}

/// `random()`: a float in [0, 1).
fn random(cx: &mut Ctx, args: &[Value]) -> NativeResult {
    arity("random", args, 0)?;
    Ok(Value::Float((next_random(cx) >> 11) as f64 / (1u64 << 53) as f64))
}

/// `random_int(a, b)`: an int in [a, b], both ends included.
fn random_int(cx: &mut Ctx, args: &[Value]) -> NativeResult {
    arity("random_int", args, 2)?;
    let lo = int_arg("random_int", args, 0)?;
    let hi = int_arg("random_int", args, 1)?;
    if lo > hi {
        return Err(Throw::value_error(format!("random_int: empty range {lo}..={hi}")));
    }
    let span = (hi as i128 - lo as i128 + 1) as u128;
    // Rejecting the top sliver of 2^64 that the span does not divide keeps
    // every outcome equally likely.
    let limit = (1u128 << 64) - (1u128 << 64) % span;
    loop {
        let r = next_random(cx) as u128;
        if r < limit {
            return Ok(Value::Int((lo as i128 + (r % span) as i128) as i64));
        }
    }
}
