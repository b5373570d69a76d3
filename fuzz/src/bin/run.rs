//! Fuzz target: compiling and running arbitrary text under tight limits:
//! no capabilities, a 32 MiB heap, virtual time, a fixed
//! seed, and a watchdog that interrupts a run after a tenth of a second:
//! under virtual time a CPU-bound loop inside `timeout` never ends, and
//! each such input (some of the suite's seeds among them) costs the fuzzer
//! the watchdog's whole wait.

use std::path::Path;
use std::time::Duration;

fn main() {
    afl::fuzz!(|data: &[u8]| {
        let Some(text) = weftscript_fuzz::source(data) else { return };
        let mut vm = weft::new_vm().expect("the standard library loads");
        vm.set_capabilities(weft::Capabilities::none());
        vm.set_heap_limit(32 << 20);
        vm.configure_scheduler(Some(1), true);
        vm.set_output(Box::new(std::io::sink()));
        vm.set_error_output(Box::new(std::io::sink()));
        let interrupt = vm.interrupt_handle();
        let (done, finished) = std::sync::mpsc::channel::<()>();
        let watchdog = std::thread::spawn(move || {
            if finished.recv_timeout(Duration::from_millis(100)).is_err() {
                interrupt.interrupt();
            }
        });
        let result = vm.run_script("fuzz.weft", text, Path::new("."));
        let _ = done.send(());
        let _ = watchdog.join();
        weftscript_fuzz::assert_not_internal(&result);
    });
}
