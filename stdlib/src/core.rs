//! Core builtins: printing, conversion, type inspection, errors, the
//! script's environment, random numbers.

use std::num::IntErrorKind;
use weft_vm::{fmt, Control, Ctx, NativeResult, StrRef, Throw, Value, Vm};

pub fn install(vm: &mut Vm) {
    vm.register("print", |cx: &mut Ctx, args: &[Value]| print_to(cx, args, Stream::Out));
    vm.register("eprint", |cx: &mut Ctx, args: &[Value]| print_to(cx, args, Stream::Err));
    vm.register("str", str);
    vm.register("int", int);
    vm.register("float", float);
    vm.register("type", |cx: &mut Ctx, v: Value| cx.type_name(v).to_string());
    // `len` of a list or a map runs in the loop (see `Builtin::Len`).
    vm.register_builtin(weft_lang::bytecode::Builtin::Len, len);
    vm.register("assert", assert);
    vm.register("error", error);
    vm.register("args", |cx: &mut Ctx| cx.script_args().to_vec());
    vm.register("env", env);
    vm.register("exit", exit);
    vm.register("random", random);
    vm.register("random_int", random_int);
}

enum Stream {
    Out,
    Err,
}

/// `print(...)` and `eprint(...)`: the arguments' `str` forms, separated
/// by spaces, and a newline, to stdout or stderr.
fn print_to(cx: &mut Ctx, args: &[Value], stream: Stream) -> NativeResult {
    let mut line = String::new();
    for (i, v) in args.iter().enumerate() {
        if i > 0 {
            line.push(' ');
        }
        match *v {
            Value::Str(r) => line.push_str(cx.heap().str(r)),
            v => line.push_str(&cx.display(v)?),
        }
    }
    line.push('\n');
    let written = match stream {
        Stream::Out => cx.write_output(line.as_bytes()),
        Stream::Err => cx.write_error_output(line.as_bytes()),
    };
    written.map_err(|e| match e.kind() {
        // The reader went away (`weft script.weft | head -1`): end quietly
        // with the status a shell reports for SIGPIPE.
        std::io::ErrorKind::BrokenPipe => Control::Exit(128 + 13),
        _ => Throw::new("IOError", format!("{}: {e}", cx.name())).into(),
    })?;
    Ok(Value::Nil)
}

fn str(cx: &mut Ctx, v: Value) -> Result<Value, Throw> {
    Ok(match v {
        Value::Str(_) => v,
        Value::Int(i) => {
            // Digits on the stack: `str(i)` in a loop allocates nothing
            // but the string itself, and checks no UTF-8.
            cx.string(itoa::Buffer::new().format(i))
        }
        v => {
            let s = cx.display(v)?;
            cx.string(&s)
        }
    })
}

/// `int(x)`: floats truncate toward zero, strings parse as decimal.
fn int(cx: &mut Ctx, v: Value) -> Result<Value, Throw> {
    match v {
        Value::Int(_) => Ok(v),
        Value::Bool(b) => Ok(Value::Int(b as i64)),
        Value::Float(x) => float_to_int("int", x.trunc()),
        Value::Str(r) => match cx.heap().str(r).trim().parse::<i64>() {
            Ok(n) => Ok(Value::Int(n)),
            Err(e) => {
                let shown = cx.repr_short(v);
                match e.kind() {
                    IntErrorKind::PosOverflow | IntErrorKind::NegOverflow => {
                        Err(Throw::new("Overflow", format!("int: {shown} does not fit in 64 bits")))
                    }
                    _ => Err(Throw::value_error(format!("int: {shown} is not an integer"))),
                }
            }
        },
        v => Err(Throw::type_error(format!("int: cannot convert {} to int", v.type_name()))),
    }
}

/// Converts an integral float to an int, or fails: `Overflow` when out of
/// range, `ValueError` for nan.
pub fn float_to_int(name: &str, x: f64) -> Result<Value, Throw> {
    if x.is_nan() {
        return Err(Throw::value_error(format!("{name}: cannot convert nan to int")));
    }
    match weft_vm::ops::float_int(x) {
        Some(i) => Ok(Value::Int(i)),
        None => Err(Throw::new("Overflow", format!("{name}: {} does not fit in an int", fmt::float_repr(x)))),
    }
}

fn float(cx: &mut Ctx, v: Value) -> Result<Value, Throw> {
    match v {
        Value::Float(_) => Ok(v),
        Value::Int(n) => Ok(Value::Float(n as f64)),
        // Rust's float syntax, as Python's without underscores: "2.5",
        // "-1e9", "inf", "nan".
        Value::Str(r) => match cx.heap().str(r).trim().parse::<f64>() {
            Ok(x) => Ok(Value::Float(x)),
            _ => Err(Throw::value_error(format!("float: {} is not a number", cx.repr_short(v)))),
        },
        v => Err(Throw::type_error(format!("float: cannot convert {} to float", v.type_name()))),
    }
}

fn len(cx: &mut Ctx, v: Value) -> Result<i64, Throw> {
    let heap = cx.heap();
    let n = match v {
        Value::Str(r) => heap.str_obj(r).chars(),
        Value::List(r) => heap.list(r).len(),
        Value::Map(r) => heap.map(r).len(),
        Value::Range(r) => {
            let (start, end, inclusive) = heap.range(r);
            let len = weft_vm::ops::range_len(start, end, inclusive);
            return i64::try_from(len).map_err(|_| {
                Throw::new("Overflow", format!("len: the range has {len} items, more than an int holds"))
            });
        }
        v => return Err(Throw::type_error(format!("len: {} has no length", v.type_name()))),
    };
    Ok(n as i64)
}

fn assert(cx: &mut Ctx, ok: Value, message: Option<Value>) -> Result<(), Throw> {
    if ok.truthy() {
        return Ok(());
    }
    let message = match message {
        None => "assertion failed".to_string(),
        Some(Value::Str(r)) => cx.heap().str(r).to_string(),
        Some(v) => cx.display(v)?,
    };
    Err(Throw::new("AssertionError", message))
}

/// `error(kind, message)`, or `error(message)` with kind `"Error"`.
fn error(cx: &mut Ctx, first: Value, second: Option<Value>) -> Result<Value, Throw> {
    let (kind, message) = match second {
        None => (Some(cx.intern("Error")), first),
        Some(message) => (StrRef::of(first), message),
    };
    let Some(kind) = kind else {
        return Err(Throw::type_error(format!("error: the kind must be a string, not {}", first.type_name())));
    };
    let message = match message {
        Value::Str(_) => message,
        v => {
            let text = cx.display(v)?;
            cx.string(&text)
        }
    };
    Ok(cx.new_error(kind, message))
}

/// `env(name)`: the environment variable's value, or nil when unset.
fn env(cx: &mut Ctx, name: String) -> Result<Option<String>, Throw> {
    cx.capabilities().check_env("env")?;
    if name.is_empty() || name.contains(['=', '\0']) {
        return Err(Throw::value_error(format!("env: {name:?} is not a variable name")));
    }
    Ok(std::env::var_os(&name).map(|value| value.to_string_lossy().into_owned()))
}

fn exit(code: Option<i64>) -> Result<(), Control> {
    let code = code.unwrap_or(0);
    // A process status is one byte: 256 would read as 0, a success.
    if !(0..=255).contains(&code) {
        return Err(Throw::value_error(format!("exit: status {code} is out of range 0 to 255")).into());
    }
    Err(Control::Exit(code as i32))
}

/// `random()`: a float in [0, 1), from the runtime's generator
/// (splitmix64): fast, and reproducible under `--seed`.
fn random(cx: &mut Ctx) -> f64 {
    (cx.random_u64() >> 11) as f64 / (1u64 << 53) as f64
}

/// `random_int(a, b)`: an int in [a, b], both ends included.
fn random_int(cx: &mut Ctx, lo: i64, hi: i64) -> Result<i64, Throw> {
    if lo > hi {
        return Err(Throw::value_error(format!("random_int: empty range {lo}..={hi}")));
    }
    let span = (hi as i128 - lo as i128 + 1) as u128;
    // Rejecting the top sliver of 2^64 that the span does not divide keeps
    // every outcome equally likely.
    let limit = (1u128 << 64) - (1u128 << 64) % span;
    loop {
        let r = cx.random_u64() as u128;
        if r < limit {
            return Ok((lo as i128 + (r % span) as i128) as i64);
        }
    }
}
