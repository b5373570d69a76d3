//! The operators' full semantics. The interpreter inlines the int fast
//! paths; everything else (floats, strings, lists, errors) comes here.

use crate::error::Throw;
use crate::fmt::{comparable, compare, equal};
use crate::heap::Heap;
use crate::value::Value;
use weft_lang::ast::BinOp;

/// The `Overflow` error of `a op b` on ints.
#[cold]
pub fn overflow(op: &str, a: i64, b: i64) -> Throw {
    Throw::new("Overflow", format!("integer overflow in {a} {op} {b}"))
}

fn type_mismatch(op: BinOp, a: Value, b: Value) -> Throw {
    let (ta, tb) = (a.type_name(), b.type_name());
    let mut msg = format!("cannot apply '{}' to {ta} and {tb}", op.symbol());
    if op == BinOp::Add && (ta == "string" || tb == "string") {
        msg.push_str("; convert with str() or use interpolation \"${...}\"");
    }
    Throw::type_error(msg)
}

fn zero_division(op: BinOp) -> Throw {
    let what = if op == BinOp::Mod { "modulo" } else { "division" };
    Throw::new("ZeroDivision", format!("{what} by zero"))
}

/// `x` as an int when it lies within an int's range (a whole float from
/// `floor`, `ceil` or `round`); `None` for nan and out-of-range values.
#[inline(always)]
pub fn float_int(x: f64) -> Option<i64> {
    (-9.223372036854776e18..9.223372036854776e18).contains(&x).then_some(x as i64)
}

/// `a // b` for ints, rounding toward negative infinity, or `None` when
/// it raises (a zero divisor, or `i64::MIN // -1`). Inline for the
/// interpreter's fast path.
#[inline(always)]
pub fn checked_floor_div(a: i64, b: i64) -> Option<i64> {
    let q = a.checked_div(b)?;
    Some(if a % b != 0 && ((a < 0) != (b < 0)) { q - 1 } else { q })
}

/// `a % b` for ints with the sign of the divisor, or `None` for a zero
/// divisor.
#[inline(always)]
pub fn checked_mod(a: i64, b: i64) -> Option<i64> {
    if b == 0 {
        return None;
    }
    // `i64::MIN % -1` overflows in Rust; its remainder is 0.
    let r = a.wrapping_rem(b);
    Some(if r != 0 && ((r < 0) != (b < 0)) { r + b } else { r })
}

/// `a % m` for a positive divisor (as `checked_mod`, which never fails
/// for one). `ModI` (`i % 7`) is a hot instruction and a division is a
/// long wait on every CPU, so for `0 <= a < 2^54` and a divisor from 2 to
/// 1023 the quotient is a multiplication by `M = floor(2^64/m) + 1`, its
/// high half, as compilers divide by constants. Exact: `a*M/2^64` is
/// `a/m` plus less than `a/2^64 < 2^-10 < 1/m`, and the fraction of `a/m`
/// is at most `1 - 1/m`, so the floor is `floor(a/m)`.
#[inline(always)]
pub fn mod_positive(a: i64, m: i64) -> i64 {
    debug_assert!(m > 0);
    if (a as u64) < (1 << 54) && (m as u64).wrapping_sub(2) < (RECIPROCALS.len() - 2) as u64 {
        let q = ((a as u128 * RECIPROCALS[m as usize] as u128) >> 64) as i64;
        return a - q * m;
    }
    let r = a % m;
    if r < 0 {
        r + m
    } else {
        r
    }
}

/// `floor(2^64/m) + 1` for the divisors `mod_positive` multiplies by, 2 to
/// 1023 (0 and 1 unused).
static RECIPROCALS: [u64; 1024] = reciprocals();

const fn reciprocals() -> [u64; 1024] {
    let mut table = [0; 1024];
    let mut m = 2;
    while m < table.len() {
        table[m] = ((1u128 << 64) / m as u128 + 1) as u64;
        m += 1;
    }
    table
}

/// Floor division and modulo with the sign of the divisor, for ints.
pub fn int_floor_div(a: i64, b: i64) -> Result<i64, Throw> {
    if b == 0 {
        return Err(zero_division(BinOp::FloorDiv));
    }
    checked_floor_div(a, b).ok_or_else(|| overflow("//", a, b))
}

/// `a % b` on ints: the result has the sign of `b` (floored, as `//`);
/// a `ZeroDivision` error for `b == 0`.
pub fn int_mod(a: i64, b: i64) -> Result<i64, Throw> {
    checked_mod(a, b).ok_or_else(|| zero_division(BinOp::Mod))
}

fn float_mod(a: f64, b: f64) -> f64 {
    let r = a % b;
    if r != 0.0 && ((r < 0.0) != (b < 0.0)) {
        r + b
    } else {
        r
    }
}

/// `a op b` for the arithmetic operators, every type combination.
pub fn arith(heap: &mut Heap, op: BinOp, a: Value, b: Value) -> Result<Value, Throw> {
    use Value::{Float, Int};
    match (op, a, b) {
        (BinOp::Add, Int(x), Int(y)) => x.checked_add(y).map(Int).ok_or_else(|| overflow("+", x, y)),
        (BinOp::Sub, Int(x), Int(y)) => x.checked_sub(y).map(Int).ok_or_else(|| overflow("-", x, y)),
        (BinOp::Mul, Int(x), Int(y)) => x.checked_mul(y).map(Int).ok_or_else(|| overflow("*", x, y)),
        (BinOp::FloorDiv, Int(x), Int(y)) => int_floor_div(x, y).map(Int),
        (BinOp::Mod, Int(x), Int(y)) => int_mod(x, y).map(Int),
        (BinOp::Pow, Int(x), Int(y)) => int_pow(x, y),
        (BinOp::Add, Value::Str(x), Value::Str(y)) => Ok(Value::Str(heap.concat(x, y)?)),
        (BinOp::Add, Value::List(x), Value::List(y)) => {
            let len = heap.list(x).len() + heap.list(y).len();
            heap.check_room(len.saturating_mul(std::mem::size_of::<Value>()), "a list of that length")?;
            let mut items = heap.list(x).to_vec();
            items.extend_from_slice(heap.list(y));
            Ok(Value::List(heap.new_list(items)))
        }
        _ => {
            let (Some(x), Some(y)) = (a.as_f64(), b.as_f64()) else {
                return Err(type_mismatch(op, a, b));
            };
            Ok(Float(match op {
                BinOp::Add => x + y,
                BinOp::Sub => x - y,
                BinOp::Mul => x * y,
                BinOp::Div => {
                    if y == 0.0 {
                        return Err(zero_division(op));
                    }
                    x / y
                }
                BinOp::FloorDiv => {
                    if y == 0.0 {
                        return Err(zero_division(op));
                    }
                    (x / y).floor()
                }
                BinOp::Mod => {
                    if y == 0.0 {
                        return Err(zero_division(op));
                    }
                    float_mod(x, y)
                }
                BinOp::Pow => x.powf(y),
                _ => unreachable!("not an arithmetic operator"),
            }))
        }
    }
}

fn int_pow(x: i64, y: i64) -> Result<Value, Throw> {
    if y < 0 {
        if x == 0 {
            return Err(zero_division(BinOp::Pow));
        }
        return Ok(Value::Float((x as f64).powf(y as f64)));
    }
    // Bases 0, 1 and -1 stay small for any exponent, even past u32.
    let exp = match (x, u32::try_from(y)) {
        (_, Ok(exp)) => exp,
        (0 | 1, Err(_)) => return Ok(Value::Int(x)),
        (-1, Err(_)) => return Ok(Value::Int(if y % 2 == 0 { 1 } else { -1 })),
        _ => return Err(overflow("**", x, y)),
    };
    x.checked_pow(exp).map(Value::Int).ok_or_else(|| overflow("**", x, y))
}

/// `a < b` (or `a <= b` with `or_equal`).
pub fn less(heap: &Heap, a: Value, b: Value, or_equal: bool) -> Result<bool, Throw> {
    match compare(heap, a, b) {
        Some(o) => Ok(if or_equal { o.is_le() } else { o.is_lt() }),
        None if comparable(a, b) => Ok(false), // nan
        None => Err(Throw::type_error(format!(
            "cannot compare {} and {} with '{}'",
            a.type_name(),
            b.type_name(),
            if or_equal { "<=" } else { "<" }
        ))),
    }
}

/// `a in b`.
pub fn contains(heap: &Heap, a: Value, b: Value) -> Result<bool, Throw> {
    match b {
        Value::List(r) => Ok(heap.list(r).iter().any(|x| equal(heap, a, *x))),
        Value::Map(r) => Ok(heap.find_key(a).is_some_and(|k| heap.map(r).contains_key(&k))),
        Value::Str(r) => match a {
            Value::Str(s) => Ok(heap.str(r).contains(heap.str(s))),
            _ => Err(Throw::type_error(format!("'in <string>' needs a string on the left, not {}", a.type_name()))),
        },
        Value::Range(r) => {
            let (start, end, inclusive) = heap.range(r);
            let Some(x) = a.as_f64() else { return Ok(false) };
            let (start, end) = (start as f64, end as f64);
            if a.type_name() == "float" && a.as_f64().is_some_and(|x| x.fract() != 0.0) {
                return Ok(false);
            }
            Ok(x >= start && if inclusive { x <= end } else { x < end })
        }
        _ => Err(Throw::type_error(format!("cannot test membership in {}", b.type_name()))),
    }
}

/// The number of items in a range, which may be more than an int holds
/// (`0..=i64::MAX` has 2^63).
pub fn range_len(start: i64, end: i64, inclusive: bool) -> u128 {
    // i128: the whole of i64 has 2^64 items, one more than a u64 counts.
    let len = end as i128 - start as i128 + inclusive as i128;
    len.max(0) as u128
}

/// Resolves a possibly negative index against a length.
#[inline]
pub fn index(i: i64, len: usize) -> Option<usize> {
    let i = if i < 0 { i.checked_add(len as i64)? } else { i };
    if i >= 0 && (i as usize) < len {
        Some(i as usize)
    } else {
        None
    }
}

/// The `i`th character of a string, as a string.
pub fn char_at(heap: &mut Heap, s: crate::value::Ref, i: i64) -> Result<Value, Throw> {
    let obj = heap.str_obj(s);
    let Some(at) = index(i, obj.chars()) else {
        return Err(Throw::index_error(format!("string index {i} out of range for length {}", obj.chars())));
    };
    let c = if obj.is_ascii() {
        obj.text().as_bytes()[at] as char
    } else {
        obj.text()[obj.byte_offset(at)..].chars().next().expect("index checked")
    };
    let mut buf = [0u8; 4];
    Ok(Value::Str(heap.intern(c.encode_utf8(&mut buf))))
}

/// Maps with at most this many keys have them listed in a KeyError.
const KEYS_LISTED: usize = 8;

/// The KeyError for `k` missing from `map`: it suggests a near key ("did
/// you mean"), or lists the keys of a small map.
#[cold]
pub fn missing_key(heap: &Heap, map: &crate::heap::MapTable, k: Value) -> Throw {
    let shown = |v: Value| match v {
        Value::Str(r) => format!("{:?}", heap.str(r)),
        Value::Int(i) => i.to_string(),
        Value::Bool(b) => b.to_string(),
        _ => "nil".to_string(),
    };
    let mut msg = format!("key {} not found", shown(k));
    let near = match k {
        // A key of one or two letters is near almost anything.
        Value::Str(r) if heap.str(r).chars().count() >= 3 => {
            let names = map.keys().filter_map(|key| match key.value() {
                Value::Str(s) => Some(heap.str(s)),
                _ => None,
            });
            weft_lang::diagnostic::closest(heap.str(r), names).map(|s| format!("{s:?}"))
        }
        _ => None,
    };
    if let Some(near) = near {
        msg.push_str(&format!("; did you mean {near}?"));
    } else if map.is_empty() {
        msg.push_str("; the map is empty");
    } else if map.len() <= KEYS_LISTED {
        let keys: Vec<String> = map.keys().map(|key| shown(key.value())).collect();
        msg.push_str(&format!("; the keys are {}", keys.join(", ")));
    }
    Throw::new("KeyError", msg)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `mod_positive`'s multiplication against `checked_mod`: the edges of
    /// its range, multiples of each divisor and their neighbours, every
    /// divisor of the table, and a few million pseudo-random pairs.
    #[test]
    fn mod_positive_is_checked_mod() {
        let limit = 1i64 << 54;
        let mut edges = vec![0, 1, -1, limit - 1, -limit, limit, -limit - 1, i64::MAX, i64::MIN, i64::MIN + 1];
        for m in [1i64, 2, 3, 7, 10, 255, 1023, 1024, 32767] {
            for k in [limit / m, -(limit / m), 12345, -12345] {
                for d in -2..=2 {
                    edges.push(k * m + d);
                }
            }
        }
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        // Fewer under Miri, which runs the vm crate's unit tests too.
        let rounds = if cfg!(miri) { 1_000 } else { 2_000_000 };
        for _ in 0..rounds {
            let r = next();
            // Half the divisors from the table's range, half from the rest.
            let m = if r & 1 == 0 { (r % 1023 + 1) as i64 } else { (r % 32767 + 1) as i64 };
            for a in [((r >> 9) as i64) - limit, (next() as i64) >> (r % 64)] {
                assert_eq!(Some(mod_positive(a, m)), checked_mod(a, m), "{a} % {m}");
            }
        }
        for &a in &edges {
            for m in [1i64, 2, 3, 7, 10, 255, 1023, 1024, 32767, limit] {
                assert_eq!(Some(mod_positive(a, m)), checked_mod(a, m), "{a} % {m}");
            }
        }
        for m in 1..RECIPROCALS.len() as i64 {
            for k in [1, limit / m - 1, limit / m] {
                for a in [k * m - 1, k * m, k * m + 1, limit - 1 - k] {
                    assert_eq!(Some(mod_positive(a, m)), checked_mod(a, m), "{a} % {m}");
                }
            }
        }
    }
}
