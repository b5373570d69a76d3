//! Argument checking shared by the natives: every helper names the
//! function and the argument, so errors read "split: argument 1 must be a
//! string, not int".

use weft_vm::{Ctx, Ref, Throw, Value};

/// Fails unless exactly `n` arguments were given.
pub fn arity(name: &str, args: &[Value], n: usize) -> Result<(), Throw> {
    if args.len() == n {
        Ok(())
    } else {
        Err(arity_error(name, &n.to_string(), args.len()))
    }
}

/// Fails unless between `min` and `max` arguments were given.
pub fn arity_between(name: &str, args: &[Value], min: usize, max: usize) -> Result<(), Throw> {
    if (min..=max).contains(&args.len()) {
        Ok(())
    } else {
        Err(arity_error(name, &format!("{min} to {max}"), args.len()))
    }
}

pub fn arity_error(name: &str, expected: &str, got: usize) -> Throw {
    Throw::arity(name, expected, got)
}

fn wrong_type(name: &str, i: usize, want: &str, got: Value) -> Throw {
    Throw::type_error(format!("{name}: argument {} must be {want}, not {}", i + 1, got.type_name()))
}

pub fn int_arg(name: &str, args: &[Value], i: usize) -> Result<i64, Throw> {
    match args[i] {
        Value::Int(n) => Ok(n),
        v => Err(wrong_type(name, i, "an int", v)),
    }
}

pub fn num_arg(name: &str, args: &[Value], i: usize) -> Result<f64, Throw> {
    match args[i] {
        Value::Int(n) => Ok(n as f64),
        Value::Float(x) => Ok(x),
        v => Err(wrong_type(name, i, "a number", v)),
    }
}

pub fn str_ref(name: &str, args: &[Value], i: usize) -> Result<Ref, Throw> {
    match args[i] {
        Value::Str(r) => Ok(r),
        v => Err(wrong_type(name, i, "a string", v)),
    }
}

/// A string argument's text, copied so the heap may be used afterwards.
pub fn str_arg(cx: &Ctx, name: &str, args: &[Value], i: usize) -> Result<String, Throw> {
    let r = str_ref(name, args, i)?;
    Ok(cx.rt.heap.str(r).to_string())
}

pub fn list_arg(name: &str, args: &[Value], i: usize) -> Result<Ref, Throw> {
    match args[i] {
        Value::List(r) => Ok(r),
        v => Err(wrong_type(name, i, "a list", v)),
    }
}

pub fn map_arg(name: &str, args: &[Value], i: usize) -> Result<Ref, Throw> {
    match args[i] {
        Value::Map(r) => Ok(r),
        v => Err(wrong_type(name, i, "a map", v)),
    }
}

/// Like [`arity`] for a method, whose `args` start with the receiver: `n`
/// counts the arguments the script passed.
pub fn method_arity(name: &str, args: &[Value], n: usize) -> Result<(), Throw> {
    arity(name, &args[1..], n)
}

/// Like [`arity_between`] for a method.
pub fn method_arity_between(name: &str, args: &[Value], min: usize, max: usize) -> Result<(), Throw> {
    arity_between(name, &args[1..], min, max)
}
