//! Math: `abs min max floor ceil round sqrt pow sin cos tan atan2 exp log`
//! and the constant `pi`. Ints stay ints where the answer is an int
//! (`abs`, `min`, `max`, `floor`, `ceil`, `round`, `pow` with a
//! non-negative int exponent); the rest work in floats.

use crate::core::float_to_int;
use std::cmp::Ordering;
use weft_lang::ast::BinOp;
use weft_lang::bytecode::Builtin;
use weft_vm::{fmt, Ctx, NativeResult, Throw, Value, Vm};

/// `abs min max floor ceil sqrt` have instructions of their own (see
/// [`Builtin`]), which compute what these natives do for ints and floats.
pub fn install(vm: &mut Vm) {
    vm.register_builtin(Builtin::Abs, abs);
    vm.register_builtin(Builtin::Min, |cx: &mut Ctx, args: &[Value]| extreme(cx, args, Ordering::Less));
    vm.register_builtin(Builtin::Max, |cx: &mut Ctx, args: &[Value]| extreme(cx, args, Ordering::Greater));
    vm.register_builtin(Builtin::Floor, |cx: &mut Ctx, x: Value| rounded(cx, x, f64::floor));
    vm.register_builtin(Builtin::Ceil, |cx: &mut Ctx, x: Value| rounded(cx, x, f64::ceil));
    // Half away from zero: `round(2.5)` is 3, `round(-2.5)` is -3.
    vm.register("round", |cx: &mut Ctx, x: Value| rounded(cx, x, f64::round));
    vm.register_builtin(Builtin::Sqrt, |x: f64| x.sqrt());
    vm.register("sin", |x: f64| x.sin());
    vm.register("cos", |x: f64| x.cos());
    vm.register("tan", |x: f64| x.tan());
    vm.register("exp", |x: f64| x.exp());
    vm.register("atan2", |y: f64, x: f64| y.atan2(x));
    // `pow(a, b)` is `a ** b`.
    vm.register("pow", |cx: &mut Ctx, a: Number, b: Number| cx.arith(BinOp::Pow, a.0, b.0));
    vm.register("log", log);
    vm.register_value("pi", Value::Float(std::f64::consts::PI)).expect("a float is a value");
}

/// An int or a float, kept as it is.
struct Number(Value);

impl weft_vm::FromValue for Number {
    const EXPECTED: &'static str = "a number";
    fn from_value(v: Value, _: &weft_vm::Heap) -> Option<Number> {
        matches!(v, Value::Int(_) | Value::Float(_)).then_some(Number(v))
    }
}

fn abs(n: Number) -> Result<Value, Throw> {
    match n.0 {
        Value::Int(n) => n
            .checked_abs()
            .map(Value::Int)
            .ok_or_else(|| Throw::new("Overflow", format!("abs: the absolute value of {n} does not fit in an int"))),
        Value::Float(x) => Ok(Value::Float(x.abs())),
        v => Ok(v),
    }
}

/// `min(a, b, ...)` or `min(list)`: the first item that no other beats.
fn extreme(cx: &mut Ctx, args: &[Value], wanted: Ordering) -> NativeResult {
    cx.arity(args, 1, usize::MAX)?;
    let items: Vec<Value> = match args {
        [Value::List(_)] => cx.list(cx.arg(args, 0)?).to_vec(),
        _ => args.to_vec(),
    };
    let name = cx.name();
    let Some((&first, rest)) = items.split_first() else {
        return Err(Throw::value_error(format!("{name}: the list is empty")).into());
    };
    let mut best = first;
    for &v in rest {
        match fmt::compare(cx.heap(), v, best) {
            Some(order) if order == wanted => best = v,
            Some(_) => {}
            None if fmt::comparable(v, best) => {} // nan: keep the first
            None => {
                let (v, best) = (v.type_name(), best.type_name());
                return Err(Throw::type_error(format!("{name}: cannot compare {v} with {best}")).into());
            }
        }
    }
    Ok(best)
}

/// Ints as they are; floats rounded by `f` to an int.
fn rounded(cx: &mut Ctx, x: Value, f: fn(f64) -> f64) -> NativeResult {
    match x {
        Value::Int(_) => Ok(x),
        Value::Float(x) => Ok(float_to_int(cx.name(), f(x))?),
        v => Err(cx.wrong_type(0, "a number", v).into()),
    }
}

/// `log(x)` is natural; `log(x, base)` takes any base.
fn log(x: f64, base: Option<f64>) -> f64 {
    match base {
        None => x.ln(),
        // Bases 2 and 10 use their exact routines: log(1000, 10) is 3.0.
        Some(2.0) => x.log2(),
        Some(10.0) => x.log10(),
        Some(base) => x.ln() / base.ln(),
    }
}
