//! Conversions between Weft values and Rust types, and the typed natives
//! built on them: a Rust function or closure whose parameters implement
//! [`FromValue`] and whose result implements [`NativeReturn`] is a native
//! ([`IntoNative`]), with its arity and argument types checked before it
//! runs and reported in one form that names the function and the argument.
//!
//! ```
//! use weft_vm::{Ctx, Throw, Vm};
//!
//! let mut vm = Vm::new();
//! // No context needed: plain values in, a plain value out.
//! vm.register("add", |a: i64, b: i64| a + b);
//! // With the context, and an error of its own.
//! vm.register("halve", |_cx: &mut Ctx, n: i64| {
//!     if n % 2 == 0 { Ok(n / 2) } else { Err(Throw::value_error(format!("halve: {n} is odd"))) }
//! });
//! // Trailing `Option` parameters are optional.
//! vm.register("greet", |cx: &mut Ctx, name: Option<String>| {
//!     cx.string(&format!("hello, {}", name.as_deref().unwrap_or("world")))
//! });
//! ```

use super::{Control, Ctx, NativeResult};
use crate::value::{Ref, Value};
use crate::{Heap, Throw};

/// A Rust type a native can take as a parameter.
pub trait FromValue: Sized {
    /// What the argument must be, for the error when it is not: "an int".
    const EXPECTED: &'static str;
    /// Whether the argument may be left out (an `Option`).
    const OPTIONAL: bool = false;

    /// The value as `Self`, or `None` if it is of the wrong type.
    fn from_value(v: Value, heap: &Heap) -> Option<Self>;

    /// What a left-out argument becomes; only optional types have one.
    fn missing() -> Option<Self> {
        None
    }
}

/// A Rust type a native can return as a Weft value.
pub trait IntoValue {
    /// The value, made on the heap if it needs to be.
    fn into_value(self, cx: &mut Ctx) -> Value;
}

/// What a native may return: anything [`IntoValue`], or a `Result` of one
/// whose error is a [`Throw`] or a [`Control`].
pub trait NativeReturn {
    /// How the native ends.
    fn into_result(self, cx: &mut Ctx) -> NativeResult;
}

impl<T: IntoValue> NativeReturn for T {
    #[inline(always)]
    fn into_result(self, cx: &mut Ctx) -> NativeResult {
        Ok(self.into_value(cx))
    }
}

impl<T: IntoValue, E: Into<Control>> NativeReturn for Result<T, E> {
    #[inline(always)]
    fn into_result(self, cx: &mut Ctx) -> NativeResult {
        match self {
            Ok(v) => Ok(v.into_value(cx)),
            Err(e) => Err(e.into()),
        }
    }
}

/// The body every native is made into: the context and the arguments in,
/// a result out. Natives are `Send + Sync`, so that loaded code can later
/// be shared by runtimes on several threads.
pub type NativeBody = dyn Fn(&mut Ctx, &[Value]) -> NativeResult + Send + Sync;

/// Something that can be registered as a native. `Marker` tells apart the
/// shapes that qualify (and lets them coexist): a function of the context
/// and the raw arguments (`Raw`), or one of typed parameters, with or
/// without the context first.
pub trait IntoNative<Marker>: Send + Sync + 'static {
    /// The body the VM calls: the arguments checked and converted, then
    /// the function.
    fn into_native(self) -> Box<NativeBody>;

    /// The parameters a script passes, each as what it must be and
    /// whether it may be left out; `None` for a native over the raw
    /// arguments, which counts them itself. The compiler checks direct
    /// calls against it (see `weft_lang::compile::BuiltinSig`).
    fn signature(&self) -> Option<Vec<(&'static str, bool)>> {
        None
    }
}

/// The marker of a native over the raw argument slice: variadic, checking
/// its own arguments (with [`Ctx::arg`] and [`Ctx::arity`]).
pub struct Raw;

impl<F> IntoNative<Raw> for F
where
    F: Fn(&mut Ctx, &[Value]) -> NativeResult + Send + Sync + 'static,
{
    fn into_native(self) -> Box<NativeBody> {
        Box::new(self)
    }
}

/// The marker of a typed native that takes the context first.
pub struct WithCtx<Args>(std::marker::PhantomData<Args>);
/// The marker of a typed native without the context.
pub struct Plain<Args>(std::marker::PhantomData<Args>);

/// How many leading parameters must be given, when `optional[i]` says
/// whether parameter `i` may be left out: all up to the last required one.
#[inline(always)]
fn required(optional: &[bool]) -> usize {
    optional.iter().rposition(|o| !o).map_or(0, |i| i + 1)
}

/// Checks the argument count against the parameter types, then converts
/// each argument, binding it to the name of its type parameter.
macro_rules! convert_args {
    ($cx:ident, $args:ident; $($arg:ident $i:tt),*) => {
        let optional: &[bool] = &[$($arg::OPTIONAL),*];
        $cx.arity($args, required(optional), optional.len())?;
        $(#[allow(non_snake_case)] let $arg = $cx.arg::<$arg>($args, $i)?;)*
    };
}

macro_rules! typed_natives {
    ($($arg:ident $i:tt),*) => {
        impl<F, R, $($arg),*> IntoNative<WithCtx<($($arg,)*)>> for F
        where
            F: Fn(&mut Ctx, $($arg),*) -> R + Send + Sync + 'static,
            R: NativeReturn,
            $($arg: FromValue,)*
        {
            fn into_native(self) -> Box<NativeBody> {
                Box::new(move |cx: &mut Ctx, args: &[Value]| {
                    convert_args!(cx, args; $($arg $i),*);
                    self(cx, $($arg),*).into_result(cx)
                })
            }

            fn signature(&self) -> Option<Vec<(&'static str, bool)>> {
                Some(vec![$(($arg::EXPECTED, $arg::OPTIONAL)),*])
            }
        }

        impl<F, R, $($arg),*> IntoNative<Plain<($($arg,)*)>> for F
        where
            F: Fn($($arg),*) -> R + Send + Sync + 'static,
            R: NativeReturn,
            $($arg: FromValue,)*
        {
            fn into_native(self) -> Box<NativeBody> {
                Box::new(move |cx: &mut Ctx, args: &[Value]| {
                    convert_args!(cx, args; $($arg $i),*);
                    self($($arg),*).into_result(cx)
                })
            }

            fn signature(&self) -> Option<Vec<(&'static str, bool)>> {
                Some(vec![$(($arg::EXPECTED, $arg::OPTIONAL)),*])
            }
        }
    };
}

typed_natives!();
typed_natives!(A 0);
typed_natives!(A 0, B 1);
typed_natives!(A 0, B 1, C 2);
typed_natives!(A 0, B 1, C 2, D 3);
typed_natives!(A 0, B 1, C 2, D 3, E 4);

// Parameters.

impl FromValue for Value {
    const EXPECTED: &'static str = "a value";
    #[inline(always)]
    fn from_value(v: Value, _: &Heap) -> Option<Value> {
        Some(v)
    }
}

impl FromValue for i64 {
    const EXPECTED: &'static str = "an int";
    #[inline(always)]
    fn from_value(v: Value, _: &Heap) -> Option<i64> {
        match v {
            Value::Int(n) => Some(n),
            _ => None,
        }
    }
}

/// A number: an int converts.
impl FromValue for f64 {
    const EXPECTED: &'static str = "a number";
    #[inline(always)]
    fn from_value(v: Value, _: &Heap) -> Option<f64> {
        v.as_f64()
    }
}

impl FromValue for bool {
    const EXPECTED: &'static str = "a bool";
    #[inline(always)]
    fn from_value(v: Value, _: &Heap) -> Option<bool> {
        match v {
            Value::Bool(b) => Some(b),
            _ => None,
        }
    }
}

/// A string's text, copied out of the heap.
impl FromValue for String {
    const EXPECTED: &'static str = "a string";
    fn from_value(v: Value, heap: &Heap) -> Option<String> {
        match v {
            Value::Str(r) => Some(heap.str(r).to_string()),
            _ => None,
        }
    }
}

/// A list whose every item converts: `["-l", "-a"]` as `Vec<String>`.
impl<T: FromValue> FromValue for Vec<T> {
    const EXPECTED: &'static str = "a list";
    fn from_value(v: Value, heap: &Heap) -> Option<Vec<T>> {
        match v {
            Value::List(r) => heap.list(r).iter().map(|&item| T::from_value(item, heap)).collect(),
            _ => None,
        }
    }
}

/// An argument that may be left out or nil.
impl<T: FromValue> FromValue for Option<T> {
    const EXPECTED: &'static str = T::EXPECTED;
    const OPTIONAL: bool = true;
    #[inline(always)]
    fn from_value(v: Value, heap: &Heap) -> Option<Option<T>> {
        match v {
            Value::Nil => Some(None),
            v => T::from_value(v, heap).map(Some),
        }
    }
    fn missing() -> Option<Option<T>> {
        Some(None)
    }
}

/// Typed references to heap objects: a native that takes one knows the
/// argument's type, and reads the object through [`Ctx`].
macro_rules! object_refs {
    ($($(#[$doc:meta])* $name:ident = $variant:ident, $expected:literal;)*) => {$(
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub struct $name(pub(crate) Ref);

        impl $name {
            /// The value as this type, if it is one.
            pub fn of(v: Value) -> Option<$name> {
                match v {
                    Value::$variant(r) => Some($name(r)),
                    _ => None,
                }
            }
        }

        impl FromValue for $name {
            const EXPECTED: &'static str = $expected;
            #[inline(always)]
            fn from_value(v: Value, _: &Heap) -> Option<$name> {
                match v {
                    Value::$variant(r) => Some($name(r)),
                    _ => None,
                }
            }
        }

        impl IntoValue for $name {
            #[inline(always)]
            fn into_value(self, _: &mut Ctx) -> Value {
                Value::$variant(self.0)
            }
        }

        impl From<$name> for Value {
            fn from(r: $name) -> Value {
                Value::$variant(r.0)
            }
        }

        impl From<$name> for Ref {
            fn from(r: $name) -> Ref {
                r.0
            }
        }
    )*};
}

object_refs! {
    /// A string.
    StrRef = Str, "a string";
    /// A list.
    ListRef = List, "a list";
    /// A map.
    MapRef = Map, "a map";
    /// A channel.
    ChanRef = Chan, "a channel";
    /// A task handle.
    TaskRef = Task, "a task";
    /// A nursery handle.
    NurseryRef = Nursery, "a nursery";
    /// An error object.
    ErrorRef = Error, "an error";
}

/// Something that can be called: a script function or a native.
#[derive(Clone, Copy, Debug)]
pub struct Callable(pub(crate) Value);

impl Callable {
    /// The value, if it can be called.
    pub fn of(v: Value) -> Option<Callable> {
        matches!(v, Value::Func(_) | Value::Native(_)).then_some(Callable(v))
    }

    /// The function as a value.
    pub fn value(self) -> Value {
        self.0
    }
}

impl From<Callable> for Value {
    fn from(f: Callable) -> Value {
        f.0
    }
}

impl FromValue for Callable {
    const EXPECTED: &'static str = "a function";
    #[inline(always)]
    fn from_value(v: Value, _: &Heap) -> Option<Callable> {
        Callable::of(v)
    }
}

impl IntoValue for Callable {
    fn into_value(self, _: &mut Ctx) -> Value {
        self.0
    }
}

// Results.

impl IntoValue for Value {
    #[inline(always)]
    fn into_value(self, _: &mut Ctx) -> Value {
        self
    }
}

impl IntoValue for () {
    #[inline(always)]
    fn into_value(self, _: &mut Ctx) -> Value {
        Value::Nil
    }
}

impl IntoValue for i64 {
    #[inline(always)]
    fn into_value(self, _: &mut Ctx) -> Value {
        Value::Int(self)
    }
}

impl IntoValue for f64 {
    #[inline(always)]
    fn into_value(self, _: &mut Ctx) -> Value {
        Value::Float(self)
    }
}

impl IntoValue for bool {
    #[inline(always)]
    fn into_value(self, _: &mut Ctx) -> Value {
        Value::Bool(self)
    }
}

impl IntoValue for String {
    fn into_value(self, cx: &mut Ctx) -> Value {
        Value::Str(cx.rt.heap.intern_string(self))
    }
}

impl IntoValue for &str {
    fn into_value(self, cx: &mut Ctx) -> Value {
        cx.string(self)
    }
}

/// `None` is nil.
impl<T: IntoValue> IntoValue for Option<T> {
    fn into_value(self, cx: &mut Ctx) -> Value {
        match self {
            Some(v) => v.into_value(cx),
            None => Value::Nil,
        }
    }
}

/// A new list.
impl<T: IntoValue> IntoValue for Vec<T> {
    fn into_value(self, cx: &mut Ctx) -> Value {
        let items = self.into_iter().map(|v| v.into_value(cx)).collect();
        cx.new_list(items)
    }
}

/// The key for a string from [`Ctx::intern`]. A string a script made may
/// be a long one that is not interned: key that with [`Ctx::key`].
impl From<StrRef> for crate::Key {
    fn from(s: StrRef) -> crate::Key {
        crate::Key::Str(s.0)
    }
}

impl From<Throw> for Control {
    #[inline(always)]
    fn from(t: Throw) -> Control {
        Control::Raise(t)
    }
}
