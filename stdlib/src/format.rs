//! `format(template, args...)`: `{}` placeholders with Rust's format specs.
//!
//! ```text
//! {}  {0}  {:?}  {:>8}  {:<8}  {:^8}  {:*^8}  {:+}  {:08.2}  {:.9}  {:x}  {:e}
//! ```
//!
//! A placeholder is `{[index][:spec]}` and the spec is
//! `[[fill]align][+][#][0][width][.precision][type]`, type one of `?`
//! (quoted, as in a list), `x X o b` (ints), `e E` (numbers). Precision
//! gives a number that many decimals and cuts other values to that many
//! characters. Numbers align right by default, everything else left.
//! `{{` and `}}` are literal braces. A template that uses more arguments
//! than given, or fewer, is an error.

use weft_vm::{Ctx, NativeResult, StrRef, Throw, Value, Vm};

pub fn install(vm: &mut Vm) {
    vm.register("format", format);
}

fn format(cx: &mut Ctx, args: &[Value]) -> NativeResult {
    cx.arity(args, 1, usize::MAX)?;
    let template: StrRef = cx.arg(args, 0)?;
    let out = render(cx, cx.str(template), &args[1..])?;
    Ok(cx.string(&out))
}

#[derive(Default)]
struct Spec {
    fill: Option<char>,
    align: Option<char>,
    plus: bool,
    alternate: bool,
    zero: bool,
    width: usize,
    precision: Option<usize>,
    kind: Option<char>,
}

fn bad(message: impl std::fmt::Display) -> Throw {
    Throw::value_error(format!("format: {message}"))
}

fn render(cx: &Ctx, template: &str, args: &[Value]) -> Result<String, Throw> {
    let mut out = String::with_capacity(template.len());
    let mut chars = template.char_indices().peekable();
    let mut next_arg = 0;
    let mut used = vec![false; args.len()];
    while let Some((at, c)) = chars.next() {
        match c {
            '{' if chars.peek().map(|p| p.1) == Some('{') => {
                chars.next();
                out.push('{');
            }
            '}' if chars.peek().map(|p| p.1) == Some('}') => {
                chars.next();
                out.push('}');
            }
            '}' => return Err(bad(format!("unmatched '}}' at position {at} of the template"))),
            '{' => {
                let close = template[at..].find('}').ok_or_else(|| bad(format!("unclosed '{{' at position {at}")))?;
                let inside = &template[at + 1..at + close];
                while chars.peek().is_some_and(|&(i, _)| i <= at + close) {
                    chars.next();
                }
                let (index, spec) = inside.split_once(':').unwrap_or((inside, ""));
                let index = if index.is_empty() {
                    next_arg += 1;
                    next_arg - 1
                } else {
                    index.trim().parse::<usize>().map_err(|_| bad(format!("{{{inside}}} is not a placeholder")))?
                };
                let Some(&value) = args.get(index) else {
                    let given = match args.len() {
                        1 => "1 was".to_string(),
                        n => format!("{n} were"),
                    };
                    return Err(bad(format!("the template needs at least {} arguments, but {given} given", index + 1)));
                };
                used[index] = true;
                let spec = parse_spec(spec)?;
                place(cx, &mut out, value, &spec)?;
            }
            c => out.push(c),
        }
    }
    if let Some(unused) = used.iter().position(|u| !u) {
        return Err(bad(format!("argument {unused} is not used by the template")));
    }
    Ok(out)
}

fn parse_spec(text: &str) -> Result<Spec, Throw> {
    let mut spec = Spec::default();
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    let is_align = |c: char| matches!(c, '<' | '>' | '^');
    if chars.len() >= 2 && is_align(chars[1]) {
        spec.fill = Some(chars[0]);
        spec.align = Some(chars[1]);
        i = 2;
    } else if chars.first().is_some_and(|&c| is_align(c)) {
        spec.align = Some(chars[0]);
        i = 1;
    }
    if chars.get(i) == Some(&'+') {
        spec.plus = true;
        i += 1;
    }
    if chars.get(i) == Some(&'#') {
        spec.alternate = true;
        i += 1;
    }
    if chars.get(i) == Some(&'0') {
        spec.zero = true;
        i += 1;
    }
    let number = |i: &mut usize| -> Option<usize> {
        let start = *i;
        while chars.get(*i).is_some_and(|c| c.is_ascii_digit()) {
            *i += 1;
        }
        // Digits too many for a number are a width too large, not none.
        (*i > start).then(|| chars[start..*i].iter().collect::<String>().parse().unwrap_or(usize::MAX))
    };
    spec.width = number(&mut i).unwrap_or(0);
    if chars.get(i) == Some(&'.') {
        i += 1;
        spec.precision = Some(number(&mut i).ok_or_else(|| bad(format!("'{text}': a precision needs digits")))?);
    }
    if let Some(&kind) = chars.get(i) {
        if !matches!(kind, '?' | 'x' | 'X' | 'o' | 'b' | 'e' | 'E') {
            return Err(bad(format!("'{text}' is not a format spec")));
        }
        spec.kind = Some(kind);
        i += 1;
    }
    if i != chars.len() {
        return Err(bad(format!("'{text}' is not a format spec")));
    }
    if spec.width > 1 << 16 || spec.precision.is_some_and(|p| p > 1 << 16) {
        return Err(bad(format!("'{text}': widths and precisions go up to 65536")));
    }
    Ok(spec)
}

/// Formats one value by its spec and appends it, padded.
fn place(cx: &Ctx, out: &mut String, value: Value, spec: &Spec) -> Result<(), Throw> {
    let numeric = matches!(value, Value::Int(_) | Value::Float(_));
    let mut body = match (spec.kind, value) {
        (Some('?'), v) => cx.repr(v)?,
        (Some(k @ ('x' | 'X' | 'o' | 'b')), Value::Int(n)) => radix(n, k, spec.alternate),
        (Some(k @ ('x' | 'X' | 'o' | 'b')), v) => {
            return Err(bad(format!("{{:{k}}} needs an int, not {}", v.type_name())));
        }
        (Some(k @ ('e' | 'E')), v) if numeric => {
            let x = v.as_f64().unwrap_or(f64::NAN);
            let s = match spec.precision {
                Some(p) => format!("{x:.p$e}"),
                None => format!("{x:e}"),
            };
            if k == 'E' {
                s.to_uppercase()
            } else {
                s
            }
        }
        (Some(k), v) => return Err(bad(format!("{{:{k}}} needs a number, not {}", v.type_name()))),
        (None, Value::Float(x)) if !x.is_finite() => cx.display(value)?,
        (None, v) if numeric && spec.precision.is_some() => {
            let p = spec.precision.unwrap_or(0);
            format!("{:.p$}", v.as_f64().unwrap_or(f64::NAN))
        }
        (None, Value::Str(r)) => cx.heap().str(r).to_string(),
        (None, v) => cx.display(v)?,
    };
    if !numeric {
        if let Some(p) = spec.precision {
            if spec.kind.is_none() {
                body = body.chars().take(p).collect();
            }
        }
    }
    if numeric && spec.plus && !body.starts_with('-') {
        body.insert(0, '+');
    }
    let len = body.chars().count();
    let pad = spec.width.saturating_sub(len);
    if numeric && spec.zero && spec.align.is_none() {
        // Zeros go between the sign and the digits: -0042.
        let sign = if body.starts_with(['+', '-']) { body.remove(0).to_string() } else { String::new() };
        out.push_str(&sign);
        out.extend(std::iter::repeat_n('0', pad));
        out.push_str(&body);
        return Ok(());
    }
    let fill = spec.fill.unwrap_or(' ');
    let align = spec.align.unwrap_or(if numeric { '>' } else { '<' });
    let (before, after) = match align {
        '<' => (0, pad),
        '^' => (pad / 2, pad - pad / 2),
        _ => (pad, 0),
    };
    out.extend(std::iter::repeat_n(fill, before));
    out.push_str(&body);
    out.extend(std::iter::repeat_n(fill, after));
    Ok(())
}

fn radix(n: i64, kind: char, alternate: bool) -> String {
    let magnitude = n.unsigned_abs();
    let (digits, prefix) = match kind {
        'x' => (format!("{magnitude:x}"), "0x"),
        'X' => (format!("{magnitude:X}"), "0x"),
        'o' => (format!("{magnitude:o}"), "0o"),
        _ => (format!("{magnitude:b}"), "0b"),
    };
    let sign = if n < 0 { "-" } else { "" };
    let prefix = if alternate { prefix } else { "" };
    format!("{sign}{prefix}{digits}")
}
