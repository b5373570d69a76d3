//! A `Write` a test hands to a VM as its output and reads back: shared by
//! the tests that drive a VM from Rust (`#[path]`-included, so that the
//! differential harnesses' `common` module stays apart).

use std::io::Write;
use std::sync::{Arc, Mutex};

/// What a VM printed, readable from the test.
#[derive(Clone, Default)]
pub struct Output(Arc<Mutex<Vec<u8>>>);

impl Write for Output {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("not poisoned").extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Output {
    /// Everything printed so far.
    pub fn text(&self) -> String {
        String::from_utf8(self.0.lock().expect("not poisoned").clone()).expect("utf-8 output")
    }
}
