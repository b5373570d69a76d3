//! The `re` module: regular expressions on the `regex` crate, whose
//! matching is linear in the text, so no pattern (not even a hostile one
//! in a sandboxed script) can make a match take exponential time.
//!
//! `re.compile(pattern)` makes a `regex` host object with `test`, `find`,
//! `find_all`, `replace` and `split`; `re.test(pattern, s)` and the other
//! shorthands compile through a small cache. A match is a map with `text`,
//! `start` and `end` (in characters, as strings index), `groups` and
//! `named`. A bad pattern is a ValueError that points into the pattern.

use std::sync::{Arc, Mutex};
use weft_vm::heap::MapTable;
use weft_vm::{Ctx, IntoNative, Key, Object, Throw, Value, Vm};

/// A compiled regular expression.
struct Regex {
    re: regex::Regex,
}

impl Object for Regex {
    fn describe(&self) -> String {
        format!("\"{}\"", self.re.as_str())
    }
}

/// How many shorthand patterns stay compiled: a loop calling
/// `re.test(p, line)` compiles `p` once.
const CACHE_SIZE: usize = 32;

/// The most recently used shorthand patterns, newest last: one cache per
/// VM, shared by its shorthands (no VM's patterns reach another's).
#[derive(Clone, Default)]
struct Cache(Arc<Mutex<Vec<regex::Regex>>>);

/// Compiles `pattern`, or explains where it is wrong.
fn build(who: &str, pattern: &str) -> Result<regex::Regex, Throw> {
    if let Err(e) = regex_syntax::Parser::new().parse(pattern) {
        let (kind, span) = match &e {
            regex_syntax::Error::Parse(e) => (e.kind().to_string(), *e.span()),
            regex_syntax::Error::Translate(e) => (e.kind().to_string(), *e.span()),
            _ => (e.to_string(), regex_syntax::ast::Span::splat(regex_syntax::ast::Position::new(0, 1, 1))),
        };
        let at = pattern[..span.start.offset.min(pattern.len())].chars().count();
        let width = pattern.get(span.start.offset..span.end.offset).map_or(1, |s| s.chars().count()).max(1);
        return Err(Throw::value_error(format!(
            "{who}: bad pattern: {kind} at character {at}\n    {pattern}\n    {}{}",
            " ".repeat(at),
            "^".repeat(width)
        )));
    }
    regex::Regex::new(pattern).map_err(|e| match e {
        regex::Error::CompiledTooBig(limit) => {
            Throw::value_error(format!("{who}: the pattern compiles to more than {limit} bytes"))
        }
        other => Throw::value_error(format!("{who}: bad pattern: {other}")),
    })
}

impl Cache {
    /// A shorthand's pattern, from the cache or compiled and cached.
    fn get(&self, who: &str, pattern: &str) -> Result<regex::Regex, Throw> {
        // A panic while it was held cannot leave the list half changed.
        let mut cache = self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(at) = cache.iter().position(|r| r.as_str() == pattern) {
            let re = cache.remove(at);
            cache.push(re.clone());
            return Ok(re);
        }
        let re = build(who, pattern)?;
        if cache.len() == CACHE_SIZE {
            cache.remove(0);
        }
        cache.push(re.clone());
        Ok(re)
    }
}

/// The regex a method was called on.
fn this(cx: &Ctx, r: Value) -> Result<regex::Regex, Throw> {
    Ok(cx.object::<Regex>(0, r)?.re.clone())
}

/// Counts characters from byte offset to byte offset, moving forward
/// only, so that the matches of `find_all` cost one pass over the text.
struct CharCounter<'t> {
    text: &'t str,
    byte: usize,
    chars: usize,
}

impl CharCounter<'_> {
    fn at(&mut self, byte: usize) -> i64 {
        if byte < self.byte {
            self.byte = 0;
            self.chars = 0;
        }
        self.chars += self.text[self.byte..byte].chars().count();
        self.byte = byte;
        self.chars as i64
    }
}

/// A match as a map: `text`, `start`, `end`, `groups`, `named`.
fn match_value(cx: &mut Ctx, re: &regex::Regex, caps: &regex::Captures, count: &mut CharCounter) -> Value {
    let whole = caps.get(0).expect("group 0 is the whole match");
    let start = count.at(whole.start());
    let end = count.at(whole.end());
    let mut groups = Vec::with_capacity(caps.len().saturating_sub(1));
    for g in caps.iter().skip(1) {
        groups.push(match g {
            Some(m) => cx.string(m.as_str()),
            None => Value::Nil,
        });
    }
    let mut named = MapTable::default();
    for name in re.capture_names().flatten() {
        let v = match caps.name(name) {
            Some(m) => cx.string(m.as_str()),
            None => Value::Nil,
        };
        named.insert(Key::from(cx.intern(name)), v);
    }
    let mut map = MapTable::default();
    let text = cx.string(whole.as_str());
    map.insert(Key::from(cx.intern("text")), text);
    map.insert(Key::from(cx.intern("start")), Value::Int(start));
    map.insert(Key::from(cx.intern("end")), Value::Int(end));
    let groups = cx.new_list(groups);
    map.insert(Key::from(cx.intern("groups")), groups);
    let named = cx.new_map(named);
    map.insert(Key::from(cx.intern("named")), named);
    cx.new_map(map)
}

fn test(re: &regex::Regex, s: &str) -> bool {
    re.is_match(s)
}

fn find(cx: &mut Ctx, re: &regex::Regex, s: &str) -> Value {
    let mut count = CharCounter { text: s, byte: 0, chars: 0 };
    match re.captures(s) {
        Some(caps) => match_value(cx, re, &caps, &mut count),
        None => Value::Nil,
    }
}

fn find_all(cx: &mut Ctx, re: &regex::Regex, s: &str) -> Value {
    let mut count = CharCounter { text: s, byte: 0, chars: 0 };
    let found: Vec<Value> = re.captures_iter(s).map(|caps| match_value(cx, re, &caps, &mut count)).collect();
    cx.new_list(found)
}

fn replace(cx: &mut Ctx, re: &regex::Regex, s: &str, with: &str) -> Result<Value, Throw> {
    let out = re.replace_all(s, with);
    cx.check_room(out.len(), "re.replace")?;
    Ok(cx.string(&out))
}

fn split(cx: &mut Ctx, re: &regex::Regex, s: &str) -> Value {
    let parts: Vec<Value> = re.split(s).map(|p| cx.string(p)).collect();
    cx.new_list(parts)
}

fn compile(cx: &mut Ctx, pattern: String) -> Result<Value, Throw> {
    let re = build("re.compile", &pattern)?;
    cx.new_object(Regex { re })
}

pub fn install(vm: &mut Vm) {
    vm.register_class::<Regex>("regex");
    let cache = Cache::default();
    let [test_cache, find_cache, find_all_cache, replace_cache, split_cache] = [(); 5].map(|()| cache.clone());
    vm.register_module(
        "re",
        vec![
            ("compile", compile.into_native()),
            (
                "test",
                (move |p: String, s: String| -> Result<bool, Throw> { Ok(test(&test_cache.get("re.test", &p)?, &s)) })
                    .into_native(),
            ),
            (
                "find",
                (move |cx: &mut Ctx, p: String, s: String| -> Result<Value, Throw> {
                    Ok(find(cx, &find_cache.get("re.find", &p)?, &s))
                })
                .into_native(),
            ),
            (
                "find_all",
                (move |cx: &mut Ctx, p: String, s: String| -> Result<Value, Throw> {
                    Ok(find_all(cx, &find_all_cache.get("re.find_all", &p)?, &s))
                })
                .into_native(),
            ),
            (
                "replace",
                (move |cx: &mut Ctx, p: String, s: String, with: String| -> Result<Value, Throw> {
                    replace(cx, &replace_cache.get("re.replace", &p)?, &s, &with)
                })
                .into_native(),
            ),
            (
                "split",
                (move |cx: &mut Ctx, p: String, s: String| -> Result<Value, Throw> {
                    Ok(split(cx, &split_cache.get("re.split", &p)?, &s))
                })
                .into_native(),
            ),
        ],
    );
    vm.register_class_method::<Regex, _>("test", |cx: &mut Ctx, r: Value, s: String| -> Result<bool, Throw> {
        Ok(test(&this(cx, r)?, &s))
    });
    vm.register_class_method::<Regex, _>("find", |cx: &mut Ctx, r: Value, s: String| -> Result<Value, Throw> {
        let re = this(cx, r)?;
        Ok(find(cx, &re, &s))
    });
    vm.register_class_method::<Regex, _>("find_all", |cx: &mut Ctx, r: Value, s: String| -> Result<Value, Throw> {
        let re = this(cx, r)?;
        Ok(find_all(cx, &re, &s))
    });
    vm.register_class_method::<Regex, _>(
        "replace",
        |cx: &mut Ctx, r: Value, s: String, with: String| -> Result<Value, Throw> {
            let re = this(cx, r)?;
            replace(cx, &re, &s, &with)
        },
    );
    vm.register_class_method::<Regex, _>("split", |cx: &mut Ctx, r: Value, s: String| -> Result<Value, Throw> {
        let re = this(cx, r)?;
        Ok(split(cx, &re, &s))
    });
}
