//! What the fuzz targets share: the rule that a run may fail in any way a
//! script can make it fail, but never inside the VM.

#![forbid(unsafe_code)]

use weft::Failure;

/// Panics, so that the fuzzer records a crash, when `result` is a failure
/// of the VM itself: an `Internal` error, which is a caught panic or a
/// broken invariant. Compile errors, runtime errors, exits and interrupts
/// are what scripts may cause.
pub fn assert_not_internal<T>(result: &Result<T, Failure>) {
    if let Err(Failure::Runtime(e)) = result {
        if e.kind == "Internal" {
            panic!("internal error: {}", e.report);
        }
    }
}

/// The input as source text; not UTF-8 is not a program.
pub fn source(data: &[u8]) -> Option<&str> {
    std::str::from_utf8(data).ok()
}
