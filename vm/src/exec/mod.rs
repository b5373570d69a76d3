//! Executing instructions: the interpreter loop with the common case of
//! each instruction (`interp.rs`), every instruction in full
//! (`slow.rs`), and the operators' semantics both share (`ops.rs`).

pub(crate) mod interp;
#[cfg(feature = "op-pairs")]
pub mod op_pairs;
pub mod ops;
pub(crate) mod slow;
