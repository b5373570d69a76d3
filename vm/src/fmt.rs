//! How values print, compare and test equal. `display` is what `print` and
//! `str` show; nested strings are quoted. Printing and equality walk nested
//! lists and maps with work lists of their own, never the Rust stack, so any
//! depth works; a list or map that contains itself prints as `[...]`, and
//! equality of cyclic structures terminates.

use crate::heap::Heap;
use crate::value::{Key, Ref, Value};
use crate::Code;
use rustc_hash::FxHashSet;
use std::cmp::Ordering;
use std::fmt::Write;

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

/// What `print(v)` and `str(v)` show. Unbounded: for values whose text
/// is known to be small (kinds, messages, constants).
pub fn display(heap: &Heap, code: &Code, v: Value) -> String {
    display_within(heap, code, v, usize::MAX).unwrap_or_default()
}

/// What `print(v)` and `str(v)` show, or `None` if that is longer than
/// `max` bytes: a list that holds itself many times over can have a text
/// far larger than memory, and building stops as soon as it is too long.
pub fn display_within(heap: &Heap, code: &Code, v: Value, max: usize) -> Option<String> {
    if let Value::Str(r) = v {
        let text = heap.str(r);
        return (text.len() <= max).then(|| text.to_string());
    }
    let mut out = String::new();
    write_value(heap, code, v, &mut out, max).then_some(out)
}

/// The literal form of a value: strings quoted and escaped; `None` if it
/// is longer than `max` bytes.
pub fn repr_within(heap: &Heap, code: &Code, v: Value, max: usize) -> Option<String> {
    let mut out = String::new();
    write_value(heap, code, v, &mut out, max).then_some(out)
}

/// The literal form of a value: strings quoted and escaped. Unbounded,
/// as [`display`] is.
pub fn repr(heap: &Heap, code: &Code, v: Value) -> String {
    repr_within(heap, code, v, usize::MAX).unwrap_or_default()
}

/// The literal form of a value, cut short to fit in a message.
pub fn repr_short(heap: &Heap, code: &Code, v: Value) -> String {
    const SHOWN: usize = 60;
    let mut out = String::new();
    if !write_value(heap, code, v, &mut out, SHOWN) || out.len() > SHOWN {
        let mut cut = SHOWN;
        while !out.is_char_boundary(cut) {
            cut -= 1;
        }
        out.truncate(cut);
        out.push_str("...");
    }
    out
}

/// One step of printing: a value to show, text between items, or the end
/// of a list or map that is being shown.
enum Step {
    Show(Value),
    Text(&'static str),
    Close(Ref),
}

/// Writes `v`'s text to `out`; stops, returning false, once `out` holds
/// more than `max` bytes.
fn write_value(heap: &Heap, code: &Code, v: Value, out: &mut String, max: usize) -> bool {
    if let Value::Int(i) = v {
        // The common case, with no work list.
        let _ = write!(out, "{i}");
        return out.len() <= max;
    }
    // The containers being shown, outermost to innermost: meeting one again
    // inside itself is a cycle.
    let mut open: FxHashSet<Ref> = FxHashSet::default();
    let mut steps = vec![Step::Show(v)];
    while let Some(step) = steps.pop() {
        // Every step writes at most a bounded piece or one string, so the
        // work done is bounded by `max` too.
        if out.len() > max {
            return false;
        }
        let v = match step {
            Step::Show(v) => v,
            Step::Text(text) => {
                out.push_str(text);
                continue;
            }
            Step::Close(r) => {
                out.push(']');
                open.remove(&r);
                continue;
            }
        };
        match v {
            Value::Nil => out.push_str("nil"),
            Value::Bool(b) => out.push_str(if b { "true" } else { "false" }),
            Value::Int(i) => {
                let _ = write!(out, "{i}");
            }
            Value::Float(x) => out.push_str(&float_repr(x)),
            Value::Str(r) => quote(heap.str(r), out),
            Value::List(r) | Value::Map(r) if open.contains(&r) => out.push_str("[...]"),
            Value::Map(r) if heap.map(r).is_empty() => out.push_str("[:]"),
            Value::List(r) => {
                open.insert(r);
                out.push('[');
                steps.push(Step::Close(r));
                // Pushed last to first, so that they pop in order.
                for (i, item) in heap.list(r).iter().enumerate().rev() {
                    steps.push(Step::Show(*item));
                    if i > 0 {
                        steps.push(Step::Text(", "));
                    }
                }
            }
            Value::Map(r) => {
                open.insert(r);
                out.push('[');
                steps.push(Step::Close(r));
                for (i, (k, item)) in heap.map(r).iter().enumerate().rev() {
                    steps.push(Step::Show(*item));
                    steps.push(Step::Text(": "));
                    steps.push(Step::Show(k.value()));
                    if i > 0 {
                        steps.push(Step::Text(", "));
                    }
                }
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
                let closed = if c.is_closed() { " closed" } else { "" };
                let _ = write!(out, "<channel {}/{}{closed}>", c.len(), c.cap());
            }
            Value::Nursery(_) => out.push_str("<nursery>"),
            Value::Object(r) => {
                let o = heap.object(r);
                let detail = o.data.describe();
                let class = &code.classes[o.class as usize].name;
                let _ = if detail.is_empty() { write!(out, "<{class}>") } else { write!(out, "<{class} {detail}>") };
            }
            Value::Cell(r) => steps.push(Step::Show(heap.cell(r))),
        }
    }
    out.len() <= max
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
///
/// Nested lists and maps are compared from a work list of pairs, at any
/// depth. Once many pairs of containers have been opened, each pair is
/// compared only once: the answer is whether every pair reachable from
/// `(a, b)` matches, so a pair met again (as in a cycle) adds nothing.
pub fn equal(heap: &Heap, a: Value, b: Value) -> bool {
    /// Containers opened before pairs are remembered: most comparisons
    /// are small and never pay for the set.
    const REMEMBER_AFTER: usize = 64;
    let mut pairs = vec![(a, b)];
    let mut opened = 0;
    let mut seen: FxHashSet<(Ref, Ref)> = FxHashSet::default();
    while let Some((a, b)) = pairs.pop() {
        let (x, y) = match (a, b) {
            (Value::List(x), Value::List(y)) | (Value::Map(x), Value::Map(y)) if x != y => (x, y),
            _ => {
                if !equal_flat(heap, a, b) {
                    return false;
                }
                continue;
            }
        };
        opened += 1;
        if opened > REMEMBER_AFTER && !seen.insert((x, y)) {
            continue;
        }
        if let Value::List(_) = a {
            let (xs, ys) = (heap.list(x), heap.list(y));
            if xs.len() != ys.len() {
                return false;
            }
            pairs.extend(xs.iter().copied().zip(ys.iter().copied()));
        } else {
            let (xs, ys) = (heap.map(x), heap.map(y));
            if xs.len() != ys.len() {
                return false;
            }
            for (k, v) in xs.iter() {
                let Some(w) = ys.get(&k) else { return false };
                pairs.push((*v, *w));
            }
        }
    }
    true
}

/// `==` for everything but two distinct lists or two distinct maps.
fn equal_flat(heap: &Heap, a: Value, b: Value) -> bool {
    match (a, b) {
        (Value::Nil, Value::Nil) => true,
        (Value::Bool(x), Value::Bool(y)) => x == y,
        (Value::Int(x), Value::Int(y)) => x == y,
        (Value::Float(x), Value::Float(y)) => x == y,
        (Value::Int(x), Value::Float(y)) | (Value::Float(y), Value::Int(x)) => int_equals_float(x, y),
        (Value::Str(x), Value::Str(y)) => heap.str_eq(x, y),
        (Value::List(x), Value::List(y)) | (Value::Map(x), Value::Map(y)) => x == y,
        (Value::Range(x), Value::Range(y)) => x == y || heap.range(x) == heap.range(y),
        (Value::Func(x), Value::Func(y)) | (Value::Error(x), Value::Error(y)) => x == y,
        (Value::Native(x), Value::Native(y)) => x == y,
        (Value::Task(x), Value::Task(y))
        | (Value::Chan(x), Value::Chan(y))
        | (Value::Nursery(x), Value::Nursery(y))
        | (Value::Object(x), Value::Object(y)) => x == y,
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

/// A value other than a string as a map key: nil, bools, ints, and
/// integral floats (as the equal int, since `1 == 1.0`). Strings are keyed
/// by [`Heap::key`] and [`Heap::find_key`], which find their interned equal.
pub fn key_of_scalar(v: Value) -> Option<Key> {
    match v {
        Value::Nil => Some(Key::Nil),
        Value::Bool(b) => Some(Key::Bool(b)),
        Value::Int(i) => Some(Key::Int(i)),
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
