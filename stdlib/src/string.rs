//! String methods. Strings are immutable UTF-8 and count in characters
//! (Unicode scalar values): `len`, `find` and `slice` take and give
//! character positions. ASCII strings take byte-indexed fast paths.

use crate::args::*;
use weft_vm::{Ctx, NativeResult, Ref, Throw, TypeTag, Value, Vm};

pub fn install(vm: &mut Vm) {
    let methods: [(&str, weft_vm::NativeFn); 16] = [
        ("len", len),
        ("upper", upper),
        ("lower", lower),
        ("trim", trim),
        ("split", split),
        ("join", join),
        ("contains", contains),
        ("starts_with", starts_with),
        ("ends_with", ends_with),
        ("replace", replace),
        ("find", find),
        ("slice", slice),
        ("chars", chars),
        ("repeat", repeat),
        ("trim_start", trim_start),
        ("trim_end", trim_end),
    ];
    for (name, f) in methods {
        vm.register_method(TypeTag::String, name, f);
    }
}

/// The receiver's text, copied so that the heap may be used afterwards.
fn text(cx: &Ctx, args: &[Value]) -> String {
    match args[0] {
        Value::Str(r) => cx.rt.heap.str(r).to_string(),
        _ => unreachable!("string methods are only called on strings"),
    }
}

fn receiver(args: &[Value]) -> Ref {
    match args[0] {
        Value::Str(r) => r,
        _ => unreachable!("string methods are only called on strings"),
    }
}

fn len(cx: &mut Ctx, args: &[Value]) -> NativeResult {
    method_arity("len", args, 0)?;
    Ok(Value::Int(cx.rt.heap.str_obj(receiver(args)).chars() as i64))
}

fn mapped(cx: &mut Ctx, name: &str, args: &[Value], f: fn(&str) -> String) -> NativeResult {
    method_arity(name, args, 0)?;
    let out = f(cx.rt.heap.str(receiver(args)));
    Ok(cx.string(&out))
}

fn upper(cx: &mut Ctx, args: &[Value]) -> NativeResult {
    mapped(cx, "upper", args, str::to_uppercase)
}

fn lower(cx: &mut Ctx, args: &[Value]) -> NativeResult {
    mapped(cx, "lower", args, str::to_lowercase)
}

fn trim(cx: &mut Ctx, args: &[Value]) -> NativeResult {
    mapped(cx, "trim", args, |s| s.trim().to_string())
}

fn trim_start(cx: &mut Ctx, args: &[Value]) -> NativeResult {
    mapped(cx, "trim_start", args, |s| s.trim_start().to_string())
}

fn trim_end(cx: &mut Ctx, args: &[Value]) -> NativeResult {
    mapped(cx, "trim_end", args, |s| s.trim_end().to_string())
}

/// `s.split(sep)` splits at every `sep`; `s.split()` splits at runs of
/// whitespace and drops empty pieces, as Python does.
fn split(cx: &mut Ctx, args: &[Value]) -> NativeResult {
    method_arity_between("split", args, 0, 1)?;
    let s = text(cx, args);
    let pieces: Vec<&str> = if args.len() == 1 {
        s.split_whitespace().collect()
    } else {
        let sep = str_arg(cx, "split", &args[1..], 0)?;
        if sep.is_empty() {
            return Err(Throw::value_error("split: the separator is empty (use chars() to split into characters)"));
        }
        s.split(sep.as_str()).collect()
    };
    let items = pieces.into_iter().map(|p| cx.string(p)).collect();
    Ok(cx.list(items))
}

/// `sep.join(items)`: the items' `str` forms with `sep` between them.
fn join(cx: &mut Ctx, args: &[Value]) -> NativeResult {
    method_arity("join", args, 1)?;
    let items = list_arg("join", &args[1..], 0)?;
    let sep = text(cx, args);
    let out = join_values(cx, cx.rt.heap.list(items).clone(), &sep);
    Ok(cx.string(&out))
}

/// Joins values' `str` forms; shared with `list.join`.
pub fn join_values(cx: &Ctx, items: Vec<Value>, sep: &str) -> String {
    let mut out = String::new();
    for (i, v) in items.into_iter().enumerate() {
        if i > 0 {
            out.push_str(sep);
        }
        match v {
            Value::Str(r) => out.push_str(cx.rt.heap.str(r)),
            v => out.push_str(&cx.display(v)),
        }
    }
    out
}

fn test(cx: &mut Ctx, name: &str, args: &[Value], f: fn(&str, &str) -> bool) -> NativeResult {
    method_arity(name, args, 1)?;
    let needle = str_ref(name, &args[1..], 0)?;
    let heap = &cx.rt.heap;
    Ok(Value::Bool(f(heap.str(receiver(args)), heap.str(needle))))
}

fn contains(cx: &mut Ctx, args: &[Value]) -> NativeResult {
    test(cx, "contains", args, |s, t| s.contains(t))
}

fn starts_with(cx: &mut Ctx, args: &[Value]) -> NativeResult {
    test(cx, "starts_with", args, |s, t| s.starts_with(t))
}

fn ends_with(cx: &mut Ctx, args: &[Value]) -> NativeResult {
    test(cx, "ends_with", args, |s, t| s.ends_with(t))
}

/// Replaces every occurrence.
fn replace(cx: &mut Ctx, args: &[Value]) -> NativeResult {
    method_arity("replace", args, 2)?;
    let from = str_ref("replace", &args[1..], 0)?;
    let to = str_ref("replace", &args[1..], 1)?;
    let heap = &cx.rt.heap;
    let out = heap.str(receiver(args)).replace(heap.str(from), heap.str(to));
    Ok(cx.string(&out))
}

/// The character index of the first occurrence, or nil.
fn find(cx: &mut Ctx, args: &[Value]) -> NativeResult {
    method_arity("find", args, 1)?;
    let needle = str_ref("find", &args[1..], 0)?;
    let heap = &cx.rt.heap;
    let hay = heap.str_obj(receiver(args));
    Ok(match hay.text().find(heap.str(needle)) {
        None => Value::Nil,
        Some(byte) if hay.is_ascii() => Value::Int(byte as i64),
        Some(byte) => Value::Int(hay.text()[..byte].chars().count() as i64),
    })
}

/// Resolves `slice(a, b)` bounds as Python does: negative counts from the
/// end, and out-of-range bounds clamp. Shared with `list.slice`.
pub fn slice_bounds(name: &str, args: &[Value], len: usize) -> Result<(usize, usize), Throw> {
    method_arity_between(name, args, 1, 2)?;
    let clamp = |i: i64| -> usize {
        let i = if i < 0 { i.saturating_add(len as i64) } else { i };
        i.clamp(0, len as i64) as usize
    };
    let start = clamp(int_arg(name, &args[1..], 0)?);
    let end = match args.get(2) {
        None | Some(Value::Nil) => len,
        Some(_) => clamp(int_arg(name, &args[1..], 1)?),
    };
    Ok((start, end.max(start)))
}

fn slice(cx: &mut Ctx, args: &[Value]) -> NativeResult {
    let obj = cx.rt.heap.str_obj(receiver(args));
    let (start, end) = slice_bounds("slice", args, obj.chars())?;
    let out: String = if obj.is_ascii() {
        obj.text()[start..end].to_string()
    } else {
        obj.text().chars().skip(start).take(end - start).collect()
    };
    Ok(cx.string(&out))
}

fn chars(cx: &mut Ctx, args: &[Value]) -> NativeResult {
    method_arity("chars", args, 0)?;
    let s = text(cx, args);
    let mut buf = [0u8; 4];
    let items = s.chars().map(|c| cx.string(c.encode_utf8(&mut buf))).collect();
    Ok(cx.list(items))
}

fn repeat(cx: &mut Ctx, args: &[Value]) -> NativeResult {
    method_arity("repeat", args, 1)?;
    let n = int_arg("repeat", &args[1..], 0)?;
    let s = text(cx, args);
    let n = usize::try_from(n).map_err(|_| Throw::value_error(format!("repeat: count {n} is negative")))?;
    cx.rt.heap.check_room(s.len().saturating_mul(n), &format!("repeat: {n} copies of {} bytes", s.len()))?;
    Ok(cx.string(&s.repeat(n)))
}
