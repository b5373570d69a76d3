//! Fuzz target: the front end (lexer, parser, compiler, loader's checks)
//! on arbitrary text, as `weft check` runs it.

use std::path::Path;

fn main() {
    afl::fuzz!(|data: &[u8]| {
        let Some(text) = weftscript_fuzz::source(data) else { return };
        let mut vm = weft::new_vm().expect("the standard library loads");
        let result = vm.compile_only("fuzz.weft", text, Path::new("."));
        weftscript_fuzz::assert_not_internal(&result);
    });
}
