//! How values print, compare and test equal. `display` is what `print` and
//! `str` show; nested strings are quoted. Printing and equality walk nested
//! lists and maps without recursing past a fixed depth, and print a list or
//! map that contains itself as `[...]`.

use crate::heap::Heap;
use crate::value::{Key, Ref, Value};
use crate::Code;
use std::cmp::Ordering;
use std::fmt::Write;

/// How deep printing and equality follow nested containers.
const MAX_NESTING: usize = 200;

/// Formats a float as Python's `repr` does: the shortest text that reads
/// back as the same float, with a `.0` or an exponent so it reads as a float.
pub fn float_repr(x: f64) -> String {
    if x.is_nan() {
        return "nan".into();
    }
    if x.is_infinite() {
        return if x > 0.0 { "inf".into() } else { "-inf".into() };
    }
    if x == 0.0 {
        return if x.is_sign_negative() { "-0.0".into() } else { "0.0".into() };
    }
    // `{:e}` gives the shortest round-trip digits: "1.2345e-5".
    let sci = format!("{:e}", x);
    let (mantissa, exp) = sci.split_once('e').expect("exponent form");
    let exp: i32 = exp.parse().expect("exponent");
    let negative = mantissa.starts_with('-');
    let digits: String = mantissa.chars().filter(|c| c.is_ascii_digit()).collect();
    let mut out = String::new();
    if negative {
        out.push('-');
    }
    if (-4..16).contains(&exp) {
        if exp >= 0 {
            let point = exp as usize + 1;
            if digits.len() <= point {
                out.push_str(&digits);
                out.extend(std::iter::repeat_n('0', point - digits.len()));
                out.push_str(".0");
            } else {
                out.push_str(&digits[..point]);
                out.push('.');
                out.push_str(&digits[point..]);
            }
        } else {
            out.push_str("0.");
            out.extend(std::iter::repeat_n('0', (-exp - 1) as usize));
            out.push_str(&digits);
        }
    } else {
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        let sign = if exp < 0 { '-' } else { '+' };
        let _ = write!(out, "e{sign}{:02}", exp.abs());
    }
    out
}

/// What `print(v)` and `str(v)` show.
pub fn display(heap: &Heap, code: &Code, v: Value) -> String {
    if let Value::Str(r) = v {
        return heap.str(r).to_string();
    }
    let mut out = String::new();
    write_value(heap, code, v, &mut out, &mut Vec::new());
    out
}

/// The literal form of a value: strings quoted and escaped.
pub fn repr(heap: &Heap, code: &Code, v: Value) -> String {
    let mut out = String::new();
    write_value(heap, code, v, &mut out, &mut Vec::new());
    out
}

fn write_value(heap: &Heap, code: &Code, v: Value, out: &mut String, open: &mut Vec<Ref>) {
    match v {
        Value::Nil => out.push_str("nil"),
        Value::Bool(b) => out.push_str(if b { "true" } else { "false" }),
        Value::Int(i) => {
            let _ = write!(out, "{i}");
        }
        Value::Float(x) => out.push_str(&float_repr(x)),
        Value::Str(r) => quote(heap.str(r), out),
        Value::List(r) | Value::Map(r) if open.contains(&r) || open.len() >= MAX_NESTING => out.push_str("[...]"),
        Value::List(r) => {
            open.push(r);
            out.push('[');
            for (i, item) in heap.list(r).iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_value(heap, code, *item, out, open);
            }
            out.push(']');
            open.pop();
        }
        Value::Map(r) => {
            let map = heap.map(r);
            if map.is_empty() {
                out.push_str("[:]");
                return;
            }
            open.push(r);
            out.push('[');
            for (i, (k, item)) in map.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_value(heap, code, k.value(), out, open);
                out.push_str(": ");
                write_value(heap, code, *item, out, open);
            }
            out.push(']');
            open.pop();
        }
        Value::Range(r) => {
            let (start, end, inclusive) = heap.range(r);
            let _ = write!(out, "{start}{}{end}", if inclusive { "..=" } else { ".." });
        }
        Value::Func(r) => {
            let name = &code.protos[heap.closure(r).proto as usize].name;
            if name.starts_with('<') {
                out.push_str("<fn>");
            } else {
                let _ = write!(out, "<fn {name}>");
            }
        }
        Value::Native(n) => {
            let _ = write!(out, "<native fn {}>", code.natives[n as usize].name);
        }
        Value::Error(r) => {
            let e = heap.error(r);
            out.push_str(&display(heap, code, e.kind));
            out.push_str(": ");
            out.push_str(&display(heap, code, e.message));
        }
        Value::Task(r) => {
            let _ = write!(out, "<task {}>", heap.task(r).id);
        }
        Value::Chan(r) => {
            let c = heap.chan(r);
            let _ = write!(out, "<channel {}/{}{}>", c.buf.len(), c.cap, if c.closed { " closed" } else { "" });
        }
        Value::Nursery(_) => out.push_str("<nursery>"),
        Value::Cell(r) => write_value(heap, code, heap.cell(r), out, open),
    }
}

fn quote(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\0' => out.push_str("\\0"),
            '$' => out.push_str("\\$"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// `a == b`: numbers by value, strings, lists and maps by content, all else
/// by identity.
pub fn equal(heap: &Heap, a: Value, b: Value) -> bool {
    equal_at(heap, a, b, 0)
}

fn equal_at(heap: &Heap, a: Value, b: Value, depth: usize) -> bool {
    match (a, b) {
        (Value::Nil, Value::Nil) => true,
        (Value::Bool(x), Value::Bool(y)) => x == y,
        (Value::Int(x), Value::Int(y)) => x == y,
        (Value::Float(x), Value::Float(y)) => x == y,
        (Value::Int(x), Value::Float(y)) | (Value::Float(y), Value::Int(x)) => int_equals_float(x, y),
        (Value::Str(x), Value::Str(y)) => x == y,
        (Value::List(x), Value::List(y)) => {
            if x == y {
                return true;
            }
            if depth >= MAX_NESTING {
                return false;
            }
            let (xs, ys) = (heap.list(x), heap.list(y));
            xs.len() == ys.len() && xs.iter().zip(ys).all(|(p, q)| equal_at(heap, *p, *q, depth + 1))
        }
        (Value::Map(x), Value::Map(y)) => {
            if x == y {
                return true;
            }
            if depth >= MAX_NESTING {
                return false;
            }
            let (xs, ys) = (heap.map(x), heap.map(y));
            xs.len() == ys.len() && xs.iter().all(|(k, v)| ys.get(k).is_some_and(|w| equal_at(heap, *v, *w, depth + 1)))
        }
        (Value::Range(x), Value::Range(y)) => x == y || heap.range(x) == heap.range(y),
        (Value::Func(x), Value::Func(y)) | (Value::Error(x), Value::Error(y)) => x == y,
        (Value::Native(x), Value::Native(y)) => x == y,
        (Value::Task(x), Value::Task(y))
        | (Value::Chan(x), Value::Chan(y))
        | (Value::Nursery(x), Value::Nursery(y)) => x == y,
        _ => false,
    }
}

fn int_equals_float(i: i64, x: f64) -> bool {
    // Exact: 2**53 + 1 is not equal to the float 2**53.
    x.fract() == 0.0 && (-9.223372036854776e18..9.223372036854776e18).contains(&x) && x as i64 == i
}

/// Orders two values for `<` and `sort()`: numbers with numbers, strings
/// with strings. `None` means the pair is not comparable (or involves nan).
pub fn compare(heap: &Heap, a: Value, b: Value) -> Option<Ordering> {
    match (a, b) {
        (Value::Int(x), Value::Int(y)) => Some(x.cmp(&y)),
        (Value::Float(x), Value::Float(y)) => x.partial_cmp(&y),
        (Value::Int(x), Value::Float(y)) => compare_int_float(x, y),
        (Value::Float(x), Value::Int(y)) => compare_int_float(y, x).map(Ordering::reverse),
        (Value::Str(x), Value::Str(y)) => Some(heap.str(x).cmp(heap.str(y))),
        _ => None,
    }
}

fn compare_int_float(i: i64, x: f64) -> Option<Ordering> {
    if (i as f64) == x {
        // Rounding `i` may have met `x`: `x` is then integral and within
        // i64's reach (up to 2^63), so compare exactly in i128.
        return Some((i as i128).cmp(&(x as i128)));
    }
    (i as f64).partial_cmp(&x)
}

/// Whether two values are comparable with `<` (for error messages).
pub fn comparable(a: Value, b: Value) -> bool {
    matches!(
        (a, b),
        (Value::Int(_) | Value::Float(_), Value::Int(_) | Value::Float(_)) | (Value::Str(_), Value::Str(_))
    )
}

/// A value as a map key: nil, bools, ints, strings, and integral floats
/// (as the equal int, since `1 == 1.0`).
pub fn key(v: Value) -> Option<Key> {
    match v {
        Value::Nil => Some(Key::Nil),
        Value::Bool(b) => Some(Key::Bool(b)),
        Value::Int(i) => Some(Key::Int(i)),
        Value::Str(r) => Some(Key::Str(r)),
        Value::Float(x) if x.fract() == 0.0 && x.abs() < 9.2e18 => Some(Key::Int(x as i64)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::float_repr;

    #[test]
    fn floats_print_like_python() {
        let cases = [
            (1.0, "1.0"),
            (0.1, "0.1"),
            (2500.0, "2500.0"),
            (1e16, "1e+16"),
            (1e-5, "1e-05"),
            (1.5e-5, "1.5e-05"),
            (123456789012345678.0, "1.2345678901234568e+17"),
            (0.0001, "0.0001"),
            (-2.5, "-2.5"),
            (1e15, "1000000000000000.0"),
            (f64::INFINITY, "inf"),
            (-0.0, "-0.0"),
            (std::f64::consts::PI, "3.141592653589793"),
            (1e100, "1e+100"),
        ];
        for (x, want) in cases {
            assert_eq!(float_repr(x), want, "{x}");
        }
    }
}
