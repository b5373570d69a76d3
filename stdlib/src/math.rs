//! placeholder
use weft_vm::Vm;
pub fn install(_vm: &mut Vm) {}
