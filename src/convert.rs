//! Conversions at the host's side of the boundary: results of `eval`,
//! `call` and globals into Rust types ([`FromWeft`]), argument tuples
//! into Weft values ([`IntoArgs`]), what can be called ([`Callee`]), and
//! [`Function`], a script function a host keeps.

use crate::Error;
use weft_vm::{Callable, Ctx, FromValue, Handle, IntoValue, Value};

/// A Rust type a result or a global converts to: every [`FromValue`]
/// type (`i64`, `f64`, `bool`, `String`, `Option<T>`, `Vec<T>`,
/// `HashMap<String, T>`, `BTreeMap<String, T>`, two- and three-item
/// tuples from lists, `Value`), and [`Function`].
pub trait FromWeft: Sized {
    /// What the value must be, for the error when it is not.
    fn expected() -> &'static str;
    /// The value as `Self`, or `None` if it is of another type.
    fn from_weft(v: Value, vm: &mut weft_vm::Vm) -> Option<Self>;
}

impl<T: FromValue> FromWeft for T {
    fn expected() -> &'static str {
        T::EXPECTED
    }
    fn from_weft(v: Value, vm: &mut weft_vm::Vm) -> Option<T> {
        vm.convert(v)
    }
}

/// Converts `v` for `what` (`"eval"`, `"call of f"`), or says why not.
pub(crate) fn convert<T: FromWeft>(vm: &mut weft_vm::Vm, what: &str, v: Value) -> Result<T, Error> {
    match T::from_weft(v, vm) {
        Some(t) => Ok(t),
        None => Err(Error::conversion(what, T::expected(), vm.type_name(v))),
    }
}

/// A script function (or a native) a host keeps: rooted, so it stays
/// valid across collections and runs for as long as the host holds it.
/// Call it with [`Vm::call`](crate::Vm::call); pass it to scripts as an
/// argument or a global.
///
/// ```
/// let mut vm = weft::Vm::new()?;
/// let square: weft::Function = vm.eval("fn(x) { return x * x }")?;
/// vm.exec("for i in 0..10000 { let junk = [i] }")?; // collections come and go
/// let n: i64 = vm.call(&square, (12,))?;
/// assert_eq!(n, 144);
/// # Ok::<(), weft::Error>(())
/// ```
#[derive(Clone)]
pub struct Function {
    handle: Handle,
}

impl Function {
    /// The rooted handle of the function.
    pub fn handle(&self) -> &Handle {
        &self.handle
    }
}

impl std::fmt::Debug for Function {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Function")
    }
}

impl FromWeft for Function {
    fn expected() -> &'static str {
        "a function"
    }
    fn from_weft(v: Value, vm: &mut weft_vm::Vm) -> Option<Function> {
        let f = Callable::of(v)?;
        Some(Function { handle: vm.root(f.value()).ok()? })
    }
}

/// The function, for a script to call; nil if it belongs to another VM.
impl IntoValue for &Function {
    fn into_value(self, cx: &mut Ctx) -> Value {
        cx.value(&self.handle).unwrap_or(Value::Nil)
    }
}

/// The function, for a script to call; nil if it belongs to another VM.
impl IntoValue for Function {
    fn into_value(self, cx: &mut Ctx) -> Value {
        (&self).into_value(cx)
    }
}

/// What [`Vm::call`](crate::Vm::call) calls: a global's name, or a
/// [`Function`].
pub trait Callee {
    /// The function as a value.
    fn resolve(&self, vm: &weft_vm::Vm) -> Result<Value, Error>;
    /// How an error names it: the global's name, or "a function". Only
    /// errors ask, so that a call makes no string.
    fn describe(&self) -> String;
}

impl Callee for &str {
    fn resolve(&self, vm: &weft_vm::Vm) -> Result<Value, Error> {
        match vm.global(self) {
            Some(v) => Ok(v),
            None => Err(Error::new("ValueError", format!("call: there is no global named '{self}'"))),
        }
    }
    fn describe(&self) -> String {
        self.to_string()
    }
}

impl Callee for String {
    fn resolve(&self, vm: &weft_vm::Vm) -> Result<Value, Error> {
        self.as_str().resolve(vm)
    }
    fn describe(&self) -> String {
        self.clone()
    }
}

impl Callee for &Function {
    fn resolve(&self, vm: &weft_vm::Vm) -> Result<Value, Error> {
        Ok(vm.value(&self.handle)?)
    }
    fn describe(&self) -> String {
        "a function".to_string()
    }
}

impl Callee for Function {
    fn resolve(&self, vm: &weft_vm::Vm) -> Result<Value, Error> {
        (&self).resolve(vm)
    }
    fn describe(&self) -> String {
        (&self).describe()
    }
}

/// The arguments of a call from the host: a tuple of [`IntoValue`]
/// values (`()`, `(x,)`, `(a, b)`, ... up to six), or a `Vec` of them.
pub trait IntoArgs {
    /// What the arguments become: an array for a tuple, so that a call
    /// with a fixed number of arguments allocates nothing for them.
    type Values: AsRef<[Value]>;
    /// The arguments as Weft values.
    fn into_args(self, cx: &mut Ctx) -> Self::Values;
}

impl<T: IntoValue> IntoArgs for Vec<T> {
    type Values = Vec<Value>;
    fn into_args(self, cx: &mut Ctx) -> Vec<Value> {
        self.into_iter().map(|v| v.into_value(cx)).collect()
    }
}

macro_rules! arg_tuples {
    ($($n:literal: $($t:ident $i:tt),*;)*) => {$(
        impl<$($t: IntoValue),*> IntoArgs for ($($t,)*) {
            type Values = [Value; $n];
            #[allow(unused_variables)]
            fn into_args(self, cx: &mut Ctx) -> [Value; $n] {
                [$(self.$i.into_value(cx)),*]
            }
        }
    )*};
}

arg_tuples! {
    0: ;
    1: A 0;
    2: A 0, B 1;
    3: A 0, B 1, C 2;
    4: A 0, B 1, C 2, D 3;
    5: A 0, B 1, C 2, D 3, E 4;
    6: A 0, B 1, C 2, D 3, E 4, F 5;
}
