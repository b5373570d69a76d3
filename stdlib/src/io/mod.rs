//! The builtins that touch the world: streams, files, stdin, processes
//! and TCP (SPEC section 7). Each parks only its task, through the VM's
//! reactor and blocking-work pool, and checks its capability first.

mod fs;
mod net;
mod process;
mod stdin;
pub(crate) mod stream;
pub(crate) mod tls;

use std::sync::{Arc, OnceLock};
use weft_vm::{Handle, Vm};

/// The OS's reason for `e`, without Rust's `(os error N)` suffix.
pub(crate) fn os_reason(e: &std::io::Error) -> String {
    let text = e.to_string();
    match text.find(" (os error") {
        Some(i) => text[..i].to_string(),
        None => text,
    }
}

pub fn install(vm: &mut Vm, exec_driver: Arc<OnceLock<Handle>>) {
    stream::install(vm);
    fs::install(vm);
    stdin::install(vm);
    stream::install_outputs(vm);
    process::install(vm, exec_driver);
    net::install(vm);
}
