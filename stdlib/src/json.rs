//! `json_encode(value, indent)` and `json_decode(text)`.
//!
//! Decoding goes through serde_json (with `preserve_order`, so objects keep
//! their key order). A number written as an integer (`2`, `-7`) becomes an
//! int, and any other (`2.0`, `1e2`) a float, as in Python, so a value
//! keeps its type through `json_encode` and back; an integer too big for
//! 64 bits becomes a float. Encoding is written here:
//! it walks Weft values directly, writes floats as `str` does, and turns
//! non-string map keys into strings, as JavaScript and Python do.

use serde_json::Value as Json;
use weft_vm::heap::MapTable;
use weft_vm::{fmt, Ctx, Key, Throw, Value, Vm};

pub fn install(vm: &mut Vm) {
    vm.register("json_encode", json_encode);
    vm.register("json_decode", json_decode);
}

/// The deepest nesting JSON goes to, both ways: serde_json's parser stops
/// at 128 levels, so encoding stops there too, and what `json_encode`
/// writes `json_decode` reads back. Deeper data is almost surely a cycle;
/// stopping also keeps the Rust stack small whatever the data.
const MAX_DEPTH: usize = 127;

fn json_encode(cx: &mut Ctx, value: Value, indent: Option<i64>) -> Result<String, Throw> {
    let indent = match indent {
        None => None,
        Some(n) => Some(
            usize::try_from(n)
                .ok()
                .filter(|&n| n <= 16)
                .ok_or_else(|| Throw::value_error(format!("json_encode: indent must be between 0 and 16, not {n}")))?,
        ),
    };
    let room = cx.heap().room();
    let mut encoder = Encoder { cx, out: String::new(), indent, room };
    encoder.value(value, 0)?;
    Ok(encoder.out)
}

struct Encoder<'c, 'a> {
    cx: &'c Ctx<'a>,
    out: String,
    indent: Option<usize>,
    /// The longest the text may grow: what the heap has left. Lists that
    /// share their items can make it far larger than memory.
    room: usize,
}

impl Encoder<'_, '_> {
    fn value(&mut self, v: Value, depth: usize) -> Result<(), Throw> {
        if depth > MAX_DEPTH {
            return Err(Throw::value_error(format!(
                "json_encode: nested deeper than {MAX_DEPTH} levels (is there a cycle?)"
            )));
        }
        if self.out.len() > self.room {
            let message = format!("json_encode: the text is longer than the {} MiB the heap has left", self.room >> 20);
            return Err(Throw::new("OutOfMemory", message));
        }
        let heap = self.cx.heap();
        match v {
            Value::Nil => self.out.push_str("null"),
            Value::Bool(b) => self.out.push_str(if b { "true" } else { "false" }),
            Value::Int(n) => self.out.push_str(&n.to_string()),
            Value::Float(x) if x.is_finite() => self.out.push_str(&fmt::float_repr(x)),
            Value::Float(x) => {
                return Err(Throw::value_error(format!("json_encode: {} has no JSON form", fmt::float_repr(x))))
            }
            Value::Str(r) => {
                let text = heap.str(r).to_string();
                self.string(&text)
            }
            Value::List(r) => {
                let items = heap.list(r).to_vec();
                self.out.push('[');
                for (i, item) in items.into_iter().enumerate() {
                    self.separator(i, depth + 1);
                    self.value(item, depth + 1)?;
                }
                self.close(']', depth, heap.list(r).is_empty());
            }
            Value::Map(r) => {
                let pairs: Vec<(Key, Value)> = heap.map(r).iter().map(|(k, v)| (k, *v)).collect();
                self.out.push('{');
                for (i, (k, item)) in pairs.iter().enumerate() {
                    self.separator(i, depth + 1);
                    let name = match k {
                        Key::Str(s) => heap.str(*s).to_string(),
                        Key::Nil => "null".to_string(),
                        k => self.cx.display(k.value())?,
                    };
                    self.string(&name);
                    self.out.push_str(if self.indent.is_some() { ": " } else { ":" });
                    self.value(*item, depth + 1)?;
                }
                self.close('}', depth, pairs.is_empty());
            }
            v => return Err(Throw::type_error(format!("json_encode: a {} has no JSON form", v.type_name()))),
        }
        Ok(())
    }

    /// Before the `i`th item: a comma, and a new line when indenting.
    fn separator(&mut self, i: usize, depth: usize) {
        if i > 0 {
            self.out.push(',');
        }
        self.newline(depth);
    }

    fn close(&mut self, bracket: char, depth: usize, empty: bool) {
        if !empty {
            self.newline(depth);
        }
        self.out.push(bracket);
    }

    fn newline(&mut self, depth: usize) {
        if let Some(width) = self.indent {
            self.out.push('\n');
            self.out.extend(std::iter::repeat_n(' ', width * depth));
        }
    }

    fn string(&mut self, s: &str) {
        self.out.push('"');
        for c in s.chars() {
            match c {
                '"' => self.out.push_str("\\\""),
                '\\' => self.out.push_str("\\\\"),
                '\n' => self.out.push_str("\\n"),
                '\r' => self.out.push_str("\\r"),
                '\t' => self.out.push_str("\\t"),
                c if (c as u32) < 0x20 => self.out.push_str(&format!("\\u{:04x}", c as u32)),
                c => self.out.push(c),
            }
        }
        self.out.push('"');
    }
}

fn json_decode(cx: &mut Ctx, text: String) -> Result<Value, Throw> {
    let json: Json = serde_json::from_str(&text).map_err(|e| Throw::value_error(decode_error(&e)))?;
    Ok(to_value(cx, json))
}

/// A decoding error in Weft's words, with where it is in the text.
fn decode_error(e: &serde_json::Error) -> String {
    let full = e.to_string();
    let what = full.split(" at line ").next().unwrap_or(&full);
    let said = match what {
        "EOF while parsing a value" => "the text ends where a value should be",
        "EOF while parsing a list" => "the text ends inside a list: a '[' is never closed",
        "EOF while parsing an object" => "the text ends inside an object: a '{' is never closed",
        "EOF while parsing a string" => "the text ends inside a string: a '\"' is never closed",
        "expected value" => "no JSON value starts here",
        "expected ident" => "no JSON value starts here (true, false and null are lowercase)",
        "trailing characters" => "more text follows the JSON value",
        "trailing comma" => "a ',' is followed by no item",
        "key must be a string" => "an object's key must be a string in double quotes",
        "expected `:`" => "a ':' should follow the object's key",
        "expected `,` or `]`" => "a ',' or a ']' should follow the list's item",
        "expected `,` or `}`" => "a ',' or a '}' should follow the object's value",
        "recursion limit exceeded" => "the values are nested too deeply (more than 128 levels)",
        other => other,
    };
    if e.line() == 0 {
        return format!("json_decode: {said}");
    }
    format!("json_decode: {said}, at line {} column {}", e.line(), e.column())
}

/// A decoded JSON document as a Weft value: objects become maps in
/// document order, integral numbers ints. Also how the embedding crate's
/// `serde` feature brings Rust values in.
pub fn to_value(cx: &mut Ctx, json: Json) -> Value {
    match json {
        Json::Null => Value::Nil,
        Json::Bool(b) => Value::Bool(b),
        Json::Number(n) => match n.as_i64() {
            Some(i) => Value::Int(i),
            None => Value::Float(n.as_f64().unwrap_or(f64::NAN)),
        },
        Json::String(s) => cx.string(&s),
        Json::Array(items) => {
            let items = items.into_iter().map(|j| to_value(cx, j)).collect();
            cx.new_list(items)
        }
        Json::Object(object) => {
            let mut map = MapTable::default();
            for (k, j) in object {
                let k = Key::from(cx.intern(&k));
                let v = to_value(cx, j);
                map.insert(k, v);
            }
            cx.new_map(map)
        }
    }
}
