//! The standard library's compiled prelude (`stdlib/src/prelude.snapshot`)
//! is what compiling its source gives now. `WEFT_BLESS=1` rewrites it.
//!
//! A file of its own: the test must compile the prelude, which a process
//! that already made a VM would take from its cache instead.

use std::path::Path;
use weft_vm::Vm;

#[test]
fn the_prelude_snapshot_is_current() {
    let mut vm = Vm::new();
    if let Err(failure) = weft_stdlib::install_compiling_prelude(&mut vm) {
        panic!("the prelude does not load: {failure:?}");
    }
    let compiled = vm.prelude_snapshot().expect("a prelude was loaded");
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("stdlib/src/prelude.snapshot");
    if std::env::var_os("WEFT_BLESS").is_some() {
        std::fs::write(&path, &compiled).expect("writes the snapshot");
        return;
    }
    let kept = std::fs::read(&path).unwrap_or_default();
    assert!(
        kept == compiled,
        "stdlib/src/prelude.snapshot is not what the prelude compiles to now ({} bytes, {} kept): \
         run `WEFT_BLESS=1 cargo test --test prelude_snapshot` and commit it",
        compiled.len(),
        kept.len()
    );
}
