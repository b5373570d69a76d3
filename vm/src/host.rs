//! What a host needs beyond loading and running code: calling a Weft
//! function (or a native) from Rust as the main task of a run, so the
//! callee may block, spawn and wait like any script; making values with a
//! context outside any native; converting results; and the conversions
//! of the Rust types hosts pass around (maps, narrower numbers, tuples
//! of results) that the stdlib itself never needed.

use crate::native::{Control, Ctx, FromValue, IntoValue};
use crate::value::{Key, Value};
use crate::{Failure, Heap, Throw, Vm};
use std::collections::{BTreeMap, HashMap};

/// The most arguments a call from the host may pass.
pub const MAX_HOST_ARGS: usize = 200;

impl Vm {
    /// Calls `f` (a script function or a native) with `args` as the main
    /// task of a run: it may block, spawn tasks and wait for them, and
    /// the run lasts until it returns, with every task it started. The
    /// instruction limit counts from zero, as for each [`eval`](Vm::eval).
    ///
    /// When no other task is ready, the call runs directly: the
    /// interpreter runs `f` on a reused register window with no run of
    /// the scheduler, until `f` returns or first needs the scheduler (it
    /// waits, spawns, opens a nursery, runs a whole time slice), and from
    /// there on the scheduler runs it as the main task of an ordinary
    /// run. What a script sees is the same either way.
    ///
    /// ```
    /// let mut vm = weft_vm::Vm::new();
    /// vm.eval("<setup>", "fn add(a, b) { return a + b }").unwrap();
    /// let add = vm.global("add").unwrap();
    /// let sum = vm.call_value(add, &[weft_vm::Value::Int(40), weft_vm::Value::Int(2)]).unwrap();
    /// assert!(matches!(sum, weft_vm::Value::Int(42)));
    /// ```
    pub fn call_value(&mut self, f: Value, args: &[Value]) -> Result<Value, Failure> {
        if !matches!(f, Value::Func(_) | Value::Native(_)) {
            let message = format!("cannot call {}: it is not a function", f.type_name());
            return Err(crate::report::without_source(crate::ErrorKind::TypeError, message));
        }
        if args.len() > MAX_HOST_ARGS {
            let message = format!("too many arguments ({}): at most {MAX_HOST_ARGS}", args.len());
            return Err(crate::report::without_source(crate::ErrorKind::ArityError, message));
        }
        if let Some(Err(Throw::Error { kind, message })) =
            std::iter::once(&f).chain(args).map(|&v| self.check_value(v)).find(Result::is_err)
        {
            return Err(crate::report::without_source(kind, message));
        }
        self.guarded(|vm| {
            let mut task = vm.main_task();
            task.stack.push(f);
            task.stack.extend_from_slice(args);
            task.start = Some(args.len() as u8);
            match vm.host_call_start() {
                crate::sched::HostCallStart::Direct => vm.call_directly(task),
                crate::sched::HostCallStart::Run { ahead } => vm.run_as_main(task, ahead),
            }
        })
    }

    /// How many calls from the host ([`call_value`](Vm::call_value)) ran
    /// directly from start to end, never needing the scheduler: for tests
    /// and diagnostics of a host's calls.
    ///
    /// ```
    /// let mut vm = weft_vm::Vm::new();
    /// vm.eval("<setup>", "fn add(a, b) { return a + b }").unwrap();
    /// let add = vm.global("add").unwrap();
    /// vm.call_value(add, &[weft_vm::Value::Int(1), weft_vm::Value::Int(2)]).unwrap();
    /// assert_eq!(vm.direct_calls(), 1);
    /// ```
    pub fn direct_calls(&self) -> u64 {
        self.direct_calls
    }

    /// Runs `f` with a context outside any native, to make values (with
    /// [`IntoValue`]) for a call or a global. Values made are valid until
    /// the next run: pass them on or root them.
    pub fn with_ctx<R>(&mut self, f: impl FnOnce(&mut Ctx) -> R) -> R {
        let mut cx = Ctx { rt: &mut self.rt, code: &self.code, site: None, native: u32::MAX };
        f(&mut cx)
    }

    /// `v` as a `T`, or `None` if it is of another type, or names no live
    /// object (see [`Vm::root`]).
    pub fn convert<T: FromValue>(&self, v: Value) -> Option<T> {
        self.check_value(v).ok()?;
        T::from_value(v, &self.rt.heap)
    }

    /// The name `type(v)` gives: a host object's class, or the type (its
    /// variant's name for a value that names no live object).
    pub fn type_name(&self, v: Value) -> &str {
        match self.check_value(v) {
            Ok(()) => self.code.type_name(&self.rt.heap, v),
            Err(_) => v.type_name(),
        }
    }
}

// Conversions hosts use.

macro_rules! narrow_ints {
    ($($t:ty),*) => {$(
        /// An int that fits.
        impl FromValue for $t {
            const EXPECTED: &'static str = concat!("an int that fits in ", stringify!($t));
            #[inline]
            fn from_value(v: Value, _: &Heap) -> Option<$t> {
                match v {
                    Value::Int(n) => <$t>::try_from(n).ok(),
                    _ => None,
                }
            }
        }

        impl IntoValue for $t {
            #[inline]
            fn into_value(self, _: &mut Ctx) -> Value {
                Value::Int(self as i64)
            }
        }
    )*};
}

narrow_ints!(i8, i16, i32, u8, u16, u32);

/// An int that is not negative.
impl FromValue for usize {
    const EXPECTED: &'static str = "a non-negative int";
    #[inline]
    fn from_value(v: Value, _: &Heap) -> Option<usize> {
        match v {
            Value::Int(n) => usize::try_from(n).ok(),
            _ => None,
        }
    }
}

/// An int; a count past `i64::MAX` saturates.
impl IntoValue for usize {
    #[inline]
    fn into_value(self, _: &mut Ctx) -> Value {
        Value::Int(i64::try_from(self).unwrap_or(i64::MAX))
    }
}

/// A number, rounded to the nearest `f32`.
impl FromValue for f32 {
    const EXPECTED: &'static str = "a number";
    #[inline]
    fn from_value(v: Value, _: &Heap) -> Option<f32> {
        v.as_f64().map(|x| x as f32)
    }
}

impl IntoValue for f32 {
    #[inline]
    fn into_value(self, _: &mut Ctx) -> Value {
        Value::Float(self as f64)
    }
}

/// A map whose keys are all strings and whose values all convert.
impl<T: FromValue> FromValue for HashMap<String, T> {
    const EXPECTED: &'static str = "a map of strings";
    fn from_value(v: Value, heap: &Heap) -> Option<HashMap<String, T>> {
        map_entries(v, heap)?.collect()
    }
}

/// A map whose keys are all strings and whose values all convert.
impl<T: FromValue> FromValue for BTreeMap<String, T> {
    const EXPECTED: &'static str = "a map of strings";
    fn from_value(v: Value, heap: &Heap) -> Option<BTreeMap<String, T>> {
        map_entries(v, heap)?.collect()
    }
}

fn map_entries<'h, T: FromValue>(v: Value, heap: &'h Heap) -> Option<impl Iterator<Item = Option<(String, T)>> + 'h> {
    let Value::Map(r) = v else { return None };
    Some(heap.map(r).iter().map(move |(k, &v)| match k {
        Key::Str(s) => Some((heap.str(s).to_string(), T::from_value(v, heap)?)),
        _ => None,
    }))
}

/// A new map, keys in the map's order (sorted for a `BTreeMap`).
impl<T: IntoValue> IntoValue for HashMap<String, T> {
    fn into_value(self, cx: &mut Ctx) -> Value {
        string_map(self, cx)
    }
}

/// A new map, keys sorted.
impl<T: IntoValue> IntoValue for BTreeMap<String, T> {
    fn into_value(self, cx: &mut Ctx) -> Value {
        string_map(self, cx)
    }
}

fn string_map<T: IntoValue>(entries: impl IntoIterator<Item = (String, T)>, cx: &mut Ctx) -> Value {
    let mut table = crate::heap::MapTable::default();
    for (k, v) in entries {
        let key = Key::Str(cx.rt.heap.intern_string(k));
        let v = v.into_value(cx);
        table.insert(key, v);
    }
    cx.new_map(table)
}

/// A list of two or three items, as a tuple.
macro_rules! tuples {
    ($($n:literal: $($t:ident $i:tt),*;)*) => {$(
        impl<$($t: FromValue),*> FromValue for ($($t,)*) {
            const EXPECTED: &'static str = concat!("a list of ", $n, " items");
            fn from_value(v: Value, heap: &Heap) -> Option<Self> {
                let Value::List(r) = v else { return None };
                match heap.list(r) {
                    &[$($t),*] => Some(($(<$t as FromValue>::from_value($t, heap)?,)*)),
                    _ => None,
                }
            }
        }

        impl<$($t: IntoValue),*> IntoValue for ($($t,)*) {
            fn into_value(self, cx: &mut Ctx) -> Value {
                let items = vec![$(self.$i.into_value(cx)),*];
                cx.new_list(items)
            }
        }
    )*};
}

#[allow(non_snake_case)]
mod tuple_impls {
    use super::*;
    tuples! {
        "2": A 0, B 1;
        "3": A 0, B 1, C 2;
    }
}

/// A host's error message: a catchable `Error` with that message.
impl From<String> for Control {
    fn from(message: String) -> Control {
        Control::Raise(Throw::new("Error", message))
    }
}

/// An I/O error of the host: a catchable `IOError`.
impl From<std::io::Error> for Control {
    fn from(e: std::io::Error) -> Control {
        Control::Raise(Throw::new("IOError", e.to_string()))
    }
}

/// Any value, dropped: for a result the host does not want.
impl FromValue for () {
    const EXPECTED: &'static str = "any value";
    #[inline]
    fn from_value(_: Value, _: &Heap) -> Option<()> {
        Some(())
    }
}
