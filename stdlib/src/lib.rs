//! Weft's standard library. Every function here is an ordinary native
//! registered through the VM's public API (`Vm::register`,
//! `Vm::register_method`), seeing the runtime only through `Ctx` as any
//! host's native does, or a Weft function in `prelude.weft`.

#![forbid(unsafe_code)]

mod conc;
mod core;
mod format;
mod http;
mod io;
mod json;
mod list;
mod map;
mod math;
mod merge_sort;
mod re;
mod sort_by;
mod sort_by_key;
mod string;

pub use json::to_value as json_to_value;
use weft_vm::{Failure, TypeTag, Vm};

/// The prelude: methods written in Weft, so that the functions they call
/// back may block like any other Weft code.
const PRELUDE: &str = include_str!("prelude.weft");

/// The prelude compiled, as `Vm::prelude_snapshot` gives it for a new VM
/// with nothing but the standard library: a process loads it instead of
/// compiling the prelude, which would be most of its start-up.
/// `tests/prelude_snapshot.rs` checks that it is current, and
/// `WEFT_BLESS=1` rewrites it.
const PRELUDE_SNAPSHOT: &[u8] = include_bytes!("prelude.snapshot");

/// Installs the whole standard library into `vm`.
pub fn install(vm: &mut Vm) -> Result<(), Failure> {
    install_with(vm, PRELUDE_SNAPSHOT)
}

/// As [`install`], compiling the prelude from its source whatever its
/// snapshot holds: how the snapshot is made.
#[doc(hidden)]
pub fn install_compiling_prelude(vm: &mut Vm) -> Result<(), Failure> {
    install_with(vm, &[])
}

fn install_with(vm: &mut Vm, prelude_snapshot: &[u8]) -> Result<(), Failure> {
    core::install(vm);
    format::install(vm);
    conc::install(vm);
    math::install(vm);
    json::install(vm);
    string::install(vm);
    list::install(vm);
    let prelude_sort = std::sync::Arc::new(std::sync::OnceLock::new());
    sort_by::install(vm, prelude_sort.clone());
    sort_by_key::install(vm);
    map::install(vm);
    re::install(vm);
    let exec_driver = std::sync::Arc::new(std::sync::OnceLock::new());
    io::install(vm, exec_driver.clone());
    let http_drivers = http::Drivers::default();
    http::install(vm, http_drivers.clone());
    vm.load_prelude_with(
        &format!("{PRELUDE}\n{}", http::PRELUDE),
        &[
            (TypeTag::List, "map", "list_map"),
            (TypeTag::List, "filter", "list_filter"),
            (TypeTag::List, "reduce", "list_reduce"),
            (TypeTag::List, "each", "list_each"),
        ],
        prelude_snapshot,
    )?;
    if let Some(handle) = vm.prelude_value("process_exec").and_then(|f| vm.root(f).ok()) {
        let _ = exec_driver.set(handle);
    }
    if let Some(handle) = vm.prelude_value("list_sort_by").and_then(|f| vm.root(f).ok()) {
        let _ = prelude_sort.set(handle);
    }
    http_drivers.attach(vm);
    Ok(())
}
