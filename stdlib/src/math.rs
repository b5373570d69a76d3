//! Math: `abs min max floor ceil round sqrt pow sin cos tan atan2 exp log`
//! and the constant `pi`. Ints stay ints where the answer is an int
//! (`abs`, `min`, `max`, `floor`, `ceil`, `round`, `pow` with a
//! non-negative int exponent); the rest work in floats.

use crate::args::*;
use crate::core::float_to_int;
use weft_lang::ast::BinOp;
use weft_vm::{fmt, ops, Ctx, NativeResult, Throw, Value, Vm};

pub fn install(vm: &mut Vm) {
    vm.register("abs", abs);
    vm.register("min", min);
    vm.register("max", max);
    vm.register("floor", floor);
    vm.register("ceil", ceil);
    vm.register("round", round);
    vm.register("sqrt", sqrt);
    vm.register("pow", pow);
    vm.register("sin", sin);
    vm.register("cos", cos);
    vm.register("tan", tan);
    vm.register("atan2", atan2);
    vm.register("exp", exp);
    vm.register("log", log);
    vm.register_value("pi", Value::Float(std::f64::consts::PI));
}

fn abs(_cx: &mut Ctx, args: &[Value]) -> NativeResult {
    arity("abs", args, 1)?;
    match args[0] {
        Value::Int(n) => n
            .checked_abs()
            .map(Value::Int)
            .ok_or_else(|| Throw::new("Overflow", format!("abs: the absolute value of {n} does not fit in an int"))),
        Value::Float(x) => Ok(Value::Float(x.abs())),
        v => Err(Throw::type_error(format!("abs: argument 1 must be a number, not {}", v.type_name()))),
    }
}

fn min(cx: &mut Ctx, args: &[Value]) -> NativeResult {
    extreme(cx, "min", args, std::cmp::Ordering::Less)
}

fn max(cx: &mut Ctx, args: &[Value]) -> NativeResult {
    extreme(cx, "max", args, std::cmp::Ordering::Greater)
}

/// `min(a, b, ...)` or `min(list)`: the first item that no other beats.
fn extreme(cx: &mut Ctx, name: &str, args: &[Value], wanted: std::cmp::Ordering) -> NativeResult {
    let items: Vec<Value> = match args {
        [] => return Err(arity_error(name, "at least 1", 0)),
        [Value::List(r)] => cx.rt.heap.list(*r).clone(),
        _ => args.to_vec(),
    };
    let Some((&first, rest)) = items.split_first() else {
        return Err(Throw::value_error(format!("{name}: the list is empty")));
    };
    let heap = &cx.rt.heap;
    let mut best = first;
    for &v in rest {
        match fmt::compare(heap, v, best) {
            Some(order) if order == wanted => best = v,
            Some(_) => {}
            None if fmt::comparable(v, best) => {} // nan: keep the first
            None => {
                return Err(Throw::type_error(format!(
                    "{name}: cannot compare {} with {}",
                    v.type_name(),
                    best.type_name()
                )))
            }
        }
    }
    Ok(best)
}

fn rounded(name: &str, args: &[Value], f: fn(f64) -> f64) -> NativeResult {
    arity(name, args, 1)?;
    match args[0] {
        Value::Int(_) => Ok(args[0]),
        _ => float_to_int(name, f(num_arg(name, args, 0)?)),
    }
}

fn floor(_cx: &mut Ctx, args: &[Value]) -> NativeResult {
    rounded("floor", args, f64::floor)
}

fn ceil(_cx: &mut Ctx, args: &[Value]) -> NativeResult {
    rounded("ceil", args, f64::ceil)
}

/// Rounds half away from zero: `round(2.5)` is 3, `round(-2.5)` is -3.
fn round(_cx: &mut Ctx, args: &[Value]) -> NativeResult {
    rounded("round", args, f64::round)
}

fn unary(name: &str, args: &[Value], f: fn(f64) -> f64) -> NativeResult {
    arity(name, args, 1)?;
    Ok(Value::Float(f(num_arg(name, args, 0)?)))
}

fn sqrt(_cx: &mut Ctx, args: &[Value]) -> NativeResult {
    unary("sqrt", args, f64::sqrt)
}

fn sin(_cx: &mut Ctx, args: &[Value]) -> NativeResult {
    unary("sin", args, f64::sin)
}

fn cos(_cx: &mut Ctx, args: &[Value]) -> NativeResult {
    unary("cos", args, f64::cos)
}

fn tan(_cx: &mut Ctx, args: &[Value]) -> NativeResult {
    unary("tan", args, f64::tan)
}

fn exp(_cx: &mut Ctx, args: &[Value]) -> NativeResult {
    unary("exp", args, f64::exp)
}

fn atan2(_cx: &mut Ctx, args: &[Value]) -> NativeResult {
    arity("atan2", args, 2)?;
    Ok(Value::Float(num_arg("atan2", args, 0)?.atan2(num_arg("atan2", args, 1)?)))
}

/// `pow(a, b)` is `a ** b`.
fn pow(cx: &mut Ctx, args: &[Value]) -> NativeResult {
    arity("pow", args, 2)?;
    num_arg("pow", args, 0)?;
    num_arg("pow", args, 1)?;
    ops::arith(cx.heap(), BinOp::Pow, args[0], args[1])
}

/// `log(x)` is natural; `log(x, base)` takes any base.
fn log(_cx: &mut Ctx, args: &[Value]) -> NativeResult {
    arity_between("log", args, 1, 2)?;
    let x = num_arg("log", args, 0)?;
    match args.len() {
        1 => Ok(Value::Float(x.ln())),
        _ => {
            // Bases 2 and 10 use their exact routines: log(1000, 10) is 3.0.
            let base = num_arg("log", args, 1)?;
            Ok(Value::Float(match base {
                2.0 => x.log2(),
                10.0 => x.log10(),
                _ => x.ln() / base.ln(),
            }))
        }
    }
}
