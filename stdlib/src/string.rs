//! String methods. Strings are immutable UTF-8 and count in characters
//! (Unicode scalar values): `len`, `find` and `slice` take and give
//! character positions. ASCII strings take byte-indexed fast paths.

use weft_vm::{Ctx, ListRef, StrRef, Throw, TypeTag, Value, Vm};

pub fn install(vm: &mut Vm) {
    let string = TypeTag::String;
    vm.register_method(string, "len", |cx: &mut Ctx, s: StrRef| cx.str_obj(s).chars() as i64);
    vm.register_method(string, "upper", |cx: &mut Ctx, s: StrRef| cx.str(s).to_uppercase());
    vm.register_method(string, "lower", |cx: &mut Ctx, s: StrRef| cx.str(s).to_lowercase());
    vm.register_method(string, "trim", |cx: &mut Ctx, s: StrRef| cx.str(s).trim().to_string());
    vm.register_method(string, "trim_start", |cx: &mut Ctx, s: StrRef| cx.str(s).trim_start().to_string());
    vm.register_method(string, "trim_end", |cx: &mut Ctx, s: StrRef| cx.str(s).trim_end().to_string());
    vm.register_method(string, "split", split);
    vm.register_method(string, "join", |cx: &mut Ctx, sep: StrRef, items: ListRef| {
        let (sep, items) = (cx.str(sep).to_string(), cx.list(items).to_vec());
        join_values(cx, &items, &sep)
    });
    vm.register_method(string, "contains", |cx: &mut Ctx, s: StrRef, t: StrRef| cx.str(s).contains(cx.str(t)));
    vm.register_method(string, "starts_with", |cx: &mut Ctx, s: StrRef, t: StrRef| cx.str(s).starts_with(cx.str(t)));
    vm.register_method(string, "ends_with", |cx: &mut Ctx, s: StrRef, t: StrRef| cx.str(s).ends_with(cx.str(t)));
    vm.register_method(string, "replace", |cx: &mut Ctx, s: StrRef, from: StrRef, to: StrRef| {
        cx.str(s).replace(cx.str(from), cx.str(to))
    });
    vm.register_method(string, "find", find);
    vm.register_method(string, "slice", slice);
    vm.register_method(string, "chars", chars);
    vm.register_method(string, "repeat", repeat);
}

/// `s.split(sep)` splits at every `sep`; `s.split()` splits at runs of
/// whitespace and drops empty pieces, as Python does.
fn split(cx: &mut Ctx, s: StrRef, sep: Option<StrRef>) -> Result<Value, Throw> {
    let text = cx.str(s).to_string();
    let pieces: Vec<&str> = match sep {
        None => text.split_whitespace().collect(),
        Some(sep) => {
            let sep = cx.str(sep).to_string();
            if sep.is_empty() {
                return Err(Throw::value_error("split: the separator is empty (use chars() to split into characters)"));
            }
            text.split(sep.as_str()).collect()
        }
    };
    let items = pieces.into_iter().map(|p| cx.string(p)).collect();
    Ok(cx.new_list(items))
}

/// Joins values' `str` forms; shared with `list.join`.
pub fn join_values(cx: &Ctx, items: &[Value], sep: &str) -> Result<String, Throw> {
    // The text may not outgrow the heap: lists that share their items can
    // make it far larger than memory.
    let room = cx.heap().room();
    let mut out = String::new();
    for (i, &v) in items.iter().enumerate() {
        if i > 0 {
            out.push_str(sep);
        }
        match v {
            Value::Str(r) => out.push_str(cx.heap().str(r)),
            v => out.push_str(&cx.display(v)?),
        }
        if out.len() > room {
            let message = format!("join: the text is longer than the {} MiB the heap has left", room >> 20);
            return Err(Throw::new("OutOfMemory", message));
        }
    }
    Ok(out)
}

/// The character index of the first occurrence, or nil.
fn find(cx: &mut Ctx, s: StrRef, needle: StrRef) -> Option<i64> {
    let hay = cx.str_obj(s);
    let byte = hay.text().find(cx.str(needle))?;
    Some(hay.char_index(byte) as i64)
}

/// Resolves `slice(a, b)` bounds as Python does: negative counts from the
/// end, out-of-range bounds clamp, and no end means the end. Shared with
/// `list.slice`.
pub fn slice_bounds(start: i64, end: Option<i64>, len: usize) -> (usize, usize) {
    let clamp = |i: i64| -> usize {
        let i = if i < 0 { i.saturating_add(len as i64) } else { i };
        i.clamp(0, len as i64) as usize
    };
    let start = clamp(start);
    let end = end.map_or(len, clamp);
    (start, end.max(start))
}

fn slice(cx: &mut Ctx, s: StrRef, start: i64, end: Option<i64>) -> String {
    let obj = cx.str_obj(s);
    let (start, end) = slice_bounds(start, end, obj.chars());
    obj.text()[obj.byte_offset(start)..obj.byte_offset(end)].to_string()
}

fn chars(cx: &mut Ctx, s: StrRef) -> Value {
    let text = cx.str(s).to_string();
    let mut buf = [0u8; 4];
    let items = text.chars().map(|c| cx.string(c.encode_utf8(&mut buf))).collect();
    cx.new_list(items)
}

fn repeat(cx: &mut Ctx, s: StrRef, n: i64) -> Result<String, Throw> {
    let n = usize::try_from(n).map_err(|_| Throw::value_error(format!("repeat: count {n} is negative")))?;
    let text = cx.str(s);
    cx.check_room(text.len().saturating_mul(n), &format!("repeat: {n} copies of {} bytes", text.len()))?;
    Ok(text.repeat(n))
}
