//! The `serde` feature: any `Serialize` type into a Weft value and any
//! `Deserialize` type out of one, through [`Serde`]. Structs and maps
//! become maps with string keys, sequences and tuples lists, unit and
//! `None` nil; JSON's data model is the bridge, so map keys must be
//! strings.

use crate::convert::FromWeft;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value as Json;
use std::collections::HashMap;
use weft_vm::{Ctx, IntoValue, Value};

/// A Rust value that crosses into Weft (as an argument or a global) or
/// out of it (as a result) through serde.
///
/// ```
/// use weft::Serde;
///
/// #[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq)]
/// struct Order { item: String, quantity: i64, tags: Vec<String> }
///
/// let mut vm = weft::Vm::new()?;
/// vm.exec("fn double(o) { o.quantity *= 2\nreturn o }")?;
/// let order = Order { item: "pen".into(), quantity: 2, tags: vec!["blue".into()] };
/// let Serde(back): Serde<Order> = vm.call("double", (Serde(order),))?;
/// assert_eq!(back, Order { item: "pen".into(), quantity: 4, tags: vec!["blue".into()] });
/// # Ok::<(), weft::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Serde<T>(pub T);

/// The value as Weft sees it; nil if it cannot be serialized (a map
/// whose keys are not strings).
impl<T: Serialize> IntoValue for Serde<T> {
    fn into_value(self, cx: &mut Ctx) -> Value {
        match serde_json::to_value(&self.0) {
            Ok(json) => weft_stdlib::json_to_value(cx, json),
            Err(_) => Value::Nil,
        }
    }
}

impl<T: DeserializeOwned> FromWeft for Serde<T> {
    fn expected() -> &'static str {
        std::any::type_name::<T>()
    }
    fn from_weft(v: Value, vm: &mut weft_vm::Vm) -> Option<Serde<T>> {
        let json = to_json(v, vm, 0)?;
        serde_json::from_value(json).ok().map(Serde)
    }
}

/// Deeper nesting than this is refused rather than risking the stack.
const MAX_DEPTH: usize = 128;

fn to_json(v: Value, vm: &weft_vm::Vm, depth: usize) -> Option<Json> {
    if depth > MAX_DEPTH {
        return None;
    }
    Some(match v {
        Value::Nil => Json::Null,
        Value::Bool(b) => Json::Bool(b),
        Value::Int(i) => Json::from(i),
        Value::Float(x) => Json::from(serde_json::Number::from_f64(x)?),
        Value::Str(_) => Json::String(vm.convert::<String>(v)?),
        Value::List(_) => {
            let items = vm.convert::<Vec<Value>>(v)?;
            Json::Array(items.into_iter().map(|i| to_json(i, vm, depth + 1)).collect::<Option<_>>()?)
        }
        Value::Map(_) => {
            let entries = vm.convert::<HashMap<String, Value>>(v)?;
            let mut object = serde_json::Map::new();
            for (k, v) in entries {
                object.insert(k, to_json(v, vm, depth + 1)?);
            }
            Json::Object(object)
        }
        _ => return None,
    })
}
