//! [`Message`]: a value that can cross threads. It owns its data and
//! names nothing on any heap, so it may be made on one thread and become a
//! [`Value`] on another runtime's thread: what host channels carry, what a
//! [`RemoteWaker`](crate::RemoteWaker) delivers, and what will join two
//! isolates. [`IntoMessage`] and [`FromMessage`] convert host types.
//!
//! Only data crosses: nil, bools, numbers, strings, and lists and maps of
//! them. A function, task, channel, nursery, error or host object names
//! things of one runtime, so converting one is refused (the script sees a
//! `TypeError`). This module never touches a heap it was not handed.

use crate::heap::Heap;
use crate::heap::MapTable;
use crate::value::{Key, Value};
use std::collections::{BTreeMap, HashMap};

/// How deeply lists and maps may nest in a message: a list that holds
/// itself is refused rather than followed for ever.
pub const MAX_DEPTH: usize = 256;

/// A value that can cross threads: see the module documentation.
#[derive(Clone, Debug, PartialEq)]
pub enum Message {
    /// `nil`.
    Nil,
    /// `true` or `false`.
    Bool(bool),
    /// An int.
    Int(i64),
    /// A float.
    Float(f64),
    /// A string.
    Str(String),
    /// A list.
    List(Vec<Message>),
    /// A map, its entries in insertion order. A key becomes a map key of
    /// the script as a value would (nil, a bool, an int, a string; an
    /// integral float is an int); any other key becomes its text.
    Map(Vec<(Message, Message)>),
}

impl Message {
    /// The name `type()` gives the value this message becomes.
    ///
    /// ```
    /// use weft_vm::Message;
    /// assert_eq!(Message::List(vec![]).type_name(), "list");
    /// assert_eq!(Message::Str("x".into()).type_name(), "string");
    /// ```
    pub fn type_name(&self) -> &'static str {
        match self {
            Message::Nil => "nil",
            Message::Bool(_) => "bool",
            Message::Int(_) => "int",
            Message::Float(_) => "float",
            Message::Str(_) => "string",
            Message::List(_) => "list",
            Message::Map(_) => "map",
        }
    }

    /// The message as a value of `heap`.
    pub(crate) fn into_value(self, heap: &mut Heap) -> Value {
        match self {
            Message::Nil => Value::Nil,
            Message::Bool(b) => Value::Bool(b),
            Message::Int(i) => Value::Int(i),
            Message::Float(x) => Value::Float(x),
            Message::Str(s) => heap.str_value(&s),
            Message::List(items) => {
                let items: Vec<Value> = items.into_iter().map(|m| m.into_value(heap)).collect();
                Value::List(heap.new_list(items))
            }
            Message::Map(entries) => {
                let mut map = MapTable::with_capacity(entries.len());
                for (k, v) in entries {
                    let key = match k {
                        Message::Nil => Key::Nil,
                        Message::Bool(b) => Key::Bool(b),
                        Message::Int(i) => Key::Int(i),
                        Message::Str(s) => Key::Str(heap.intern(&s)),
                        Message::Float(x) => match crate::fmt::key_of_scalar(Value::Float(x)) {
                            Some(key) => key,
                            None => Key::Str(heap.intern(&x.to_string())),
                        },
                        other => Key::Str(heap.intern(&format!("{other:?}"))),
                    };
                    let v = v.into_value(heap);
                    map.insert(key, v);
                }
                Value::Map(heap.new_map(map))
            }
        }
    }

    /// `v` as a message, or the type name of the part of it that cannot
    /// cross (or `"a value nested too deeply"`).
    pub(crate) fn from_value(heap: &Heap, v: Value) -> Result<Message, &'static str> {
        Message::from_value_at(heap, v, 0)
    }

    fn from_value_at(heap: &Heap, v: Value, depth: usize) -> Result<Message, &'static str> {
        if depth > MAX_DEPTH {
            return Err("a value nested too deeply");
        }
        Ok(match v {
            Value::Nil => Message::Nil,
            Value::Bool(b) => Message::Bool(b),
            Value::Int(i) => Message::Int(i),
            Value::Float(x) => Message::Float(x),
            Value::Str(r) => Message::Str(heap.str(r).to_string()),
            Value::List(r) => {
                let items = heap.list(r);
                let mut out = Vec::with_capacity(items.len());
                for item in items {
                    out.push(Message::from_value_at(heap, *item, depth + 1)?);
                }
                Message::List(out)
            }
            Value::Map(r) => {
                let map = heap.map(r);
                let mut out = Vec::with_capacity(map.len());
                for (k, v) in map.iter() {
                    let k = Message::from_value_at(heap, k.value(), depth + 1)?;
                    out.push((k, Message::from_value_at(heap, *v, depth + 1)?));
                }
                Message::Map(out)
            }
            other => return Err(other.type_name()),
        })
    }
}

/// A host type that can be sent as a [`Message`].
///
/// ```
/// use weft_vm::{IntoMessage, Message};
/// assert_eq!(vec![1, 2].into_message(), Message::List(vec![Message::Int(1), Message::Int(2)]));
/// assert_eq!(Some("hi").into_message(), Message::Str("hi".into()));
/// assert_eq!(None::<i64>.into_message(), Message::Nil);
/// ```
pub trait IntoMessage {
    /// The value as a message.
    fn into_message(self) -> Message;
}

/// A host type a [`Message`] can be received as.
///
/// ```
/// use weft_vm::{FromMessage, Message};
/// assert_eq!(i64::from_message(Message::Int(7)), Some(7));
/// assert_eq!(f64::from_message(Message::Int(7)), Some(7.0));
/// assert_eq!(String::from_message(Message::Int(7)), None);
/// ```
pub trait FromMessage: Sized {
    /// What the message must be, for errors: `"an int"`.
    const EXPECTED: &'static str;
    /// The message as `Self`, or `None` if it is of another shape.
    fn from_message(m: Message) -> Option<Self>;
}

impl IntoMessage for Message {
    fn into_message(self) -> Message {
        self
    }
}

impl FromMessage for Message {
    const EXPECTED: &'static str = "any value";
    fn from_message(m: Message) -> Option<Message> {
        Some(m)
    }
}

impl IntoMessage for () {
    fn into_message(self) -> Message {
        Message::Nil
    }
}

impl FromMessage for () {
    const EXPECTED: &'static str = "nil";
    fn from_message(m: Message) -> Option<()> {
        matches!(m, Message::Nil).then_some(())
    }
}

impl IntoMessage for bool {
    fn into_message(self) -> Message {
        Message::Bool(self)
    }
}

impl FromMessage for bool {
    const EXPECTED: &'static str = "a bool";
    fn from_message(m: Message) -> Option<bool> {
        match m {
            Message::Bool(b) => Some(b),
            _ => None,
        }
    }
}

macro_rules! int_messages {
    ($($t:ty),*) => {$(
        impl IntoMessage for $t {
            fn into_message(self) -> Message {
                Message::Int(self as i64)
            }
        }

        impl FromMessage for $t {
            const EXPECTED: &'static str = "an int";
            fn from_message(m: Message) -> Option<$t> {
                match m {
                    Message::Int(i) => <$t>::try_from(i).ok(),
                    _ => None,
                }
            }
        }
    )*};
}

int_messages!(i64, i32, i16, i8, u32, u16, u8);

/// A `u64` or `usize` past `i64::MAX` cannot be an int: it is sent as a
/// float.
macro_rules! wide_int_messages {
    ($($t:ty),*) => {$(
        impl IntoMessage for $t {
            fn into_message(self) -> Message {
                match i64::try_from(self) {
                    Ok(i) => Message::Int(i),
                    Err(_) => Message::Float(self as f64),
                }
            }
        }

        impl FromMessage for $t {
            const EXPECTED: &'static str = "a non-negative int";
            fn from_message(m: Message) -> Option<$t> {
                match m {
                    Message::Int(i) => <$t>::try_from(i).ok(),
                    _ => None,
                }
            }
        }
    )*};
}

wide_int_messages!(u64, usize);

impl IntoMessage for f64 {
    fn into_message(self) -> Message {
        Message::Float(self)
    }
}

impl FromMessage for f64 {
    const EXPECTED: &'static str = "a number";
    fn from_message(m: Message) -> Option<f64> {
        match m {
            Message::Float(x) => Some(x),
            Message::Int(i) => Some(i as f64),
            _ => None,
        }
    }
}

impl IntoMessage for f32 {
    fn into_message(self) -> Message {
        Message::Float(self as f64)
    }
}

impl IntoMessage for String {
    fn into_message(self) -> Message {
        Message::Str(self)
    }
}

impl IntoMessage for &str {
    fn into_message(self) -> Message {
        Message::Str(self.to_string())
    }
}

impl FromMessage for String {
    const EXPECTED: &'static str = "a string";
    fn from_message(m: Message) -> Option<String> {
        match m {
            Message::Str(s) => Some(s),
            _ => None,
        }
    }
}

/// `None` is nil.
impl<T: IntoMessage> IntoMessage for Option<T> {
    fn into_message(self) -> Message {
        self.map_or(Message::Nil, T::into_message)
    }
}

/// Nil is `None`.
impl<T: FromMessage> FromMessage for Option<T> {
    const EXPECTED: &'static str = T::EXPECTED;
    fn from_message(m: Message) -> Option<Option<T>> {
        match m {
            Message::Nil => Some(None),
            m => T::from_message(m).map(Some),
        }
    }
}

impl<T: IntoMessage> IntoMessage for Vec<T> {
    fn into_message(self) -> Message {
        Message::List(self.into_iter().map(T::into_message).collect())
    }
}

impl<T: FromMessage> FromMessage for Vec<T> {
    const EXPECTED: &'static str = "a list";
    fn from_message(m: Message) -> Option<Vec<T>> {
        match m {
            Message::List(items) => items.into_iter().map(T::from_message).collect(),
            _ => None,
        }
    }
}

/// Map keys of a message that a host map keyed by strings takes: strings
/// only.
fn string_keyed<T: FromMessage>(m: Message) -> Option<impl Iterator<Item = Option<(String, T)>>> {
    match m {
        Message::Map(entries) => Some(entries.into_iter().map(|(k, v)| match k {
            Message::Str(k) => T::from_message(v).map(|v| (k, v)),
            _ => None,
        })),
        _ => None,
    }
}

impl<T: IntoMessage> IntoMessage for HashMap<String, T> {
    fn into_message(self) -> Message {
        Message::Map(self.into_iter().map(|(k, v)| (Message::Str(k), v.into_message())).collect())
    }
}

impl<T: FromMessage> FromMessage for HashMap<String, T> {
    const EXPECTED: &'static str = "a map with string keys";
    fn from_message(m: Message) -> Option<HashMap<String, T>> {
        string_keyed(m)?.collect()
    }
}

impl<T: IntoMessage> IntoMessage for BTreeMap<String, T> {
    fn into_message(self) -> Message {
        Message::Map(self.into_iter().map(|(k, v)| (Message::Str(k), v.into_message())).collect())
    }
}

impl<T: FromMessage> FromMessage for BTreeMap<String, T> {
    const EXPECTED: &'static str = "a map with string keys";
    fn from_message(m: Message) -> Option<BTreeMap<String, T>> {
        string_keyed(m)?.collect()
    }
}

macro_rules! tuple_messages {
    ($($($t:ident $i:tt),*;)*) => {$(
        /// A tuple is a list of its items.
        impl<$($t: IntoMessage),*> IntoMessage for ($($t,)*) {
            fn into_message(self) -> Message {
                Message::List(vec![$(self.$i.into_message()),*])
            }
        }

        /// A list of exactly as many items.
        impl<$($t: FromMessage),*> FromMessage for ($($t,)*) {
            const EXPECTED: &'static str = "a list of as many items as the tuple";
            #[allow(non_snake_case)]
            fn from_message(m: Message) -> Option<($($t,)*)> {
                let Message::List(items) = m else { return None };
                let mut items = items.into_iter();
                $(let $t = $t::from_message(items.next()?)?;)*
                if items.next().is_some() {
                    return None;
                }
                Some(($($t,)*))
            }
        }
    )*};
}

tuple_messages! {
    A 0, B 1;
    A 0, B 1, C 2;
    A 0, B 1, C 2, D 3;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_become_values_and_back() {
        let mut heap = Heap::new();
        let m = Message::Map(vec![
            (Message::Str("xs".into()), Message::List(vec![Message::Int(1), Message::Float(1.5), Message::Nil])),
            (Message::Int(2), Message::Bool(true)),
        ]);
        let v = m.clone().into_value(&mut heap);
        assert_eq!(Message::from_value(&heap, v), Ok(m));
    }

    #[test]
    fn keys_a_map_cannot_hold_become_their_text() {
        let mut heap = Heap::new();
        let m = Message::Map(vec![(Message::Float(2.0), Message::Nil), (Message::Float(0.5), Message::Nil)]);
        let v = m.into_value(&mut heap);
        let back = Message::from_value(&heap, v);
        let keys = vec![(Message::Int(2), Message::Nil), (Message::Str("0.5".into()), Message::Nil)];
        assert_eq!(back, Ok(Message::Map(keys)));
    }

    #[test]
    fn a_list_that_holds_itself_is_refused() {
        let mut heap = Heap::new();
        let r = heap.new_list(Vec::new());
        heap.list_mut(r).push(Value::List(r));
        assert_eq!(Message::from_value(&heap, Value::List(r)), Err("a value nested too deeply"));
        let f = heap.new_cell(Value::Nil);
        let holds_a_cell = heap.new_list(vec![Value::Cell(f)]);
        assert_eq!(Message::from_value(&heap, Value::List(holds_a_cell)), Err("cell"));
    }
}
