//! Executing instructions: the interpreter loop with the common case of
//! each instruction (`interp.rs`), every instruction in full
//! (`slow.rs`), the operators' semantics both share (`ops.rs`), and the
//! short functions a native may run without a call (`straight.rs`).

pub(crate) mod interp;
#[cfg(feature = "op-pairs")]
pub mod op_pairs;
pub mod ops;
pub(crate) mod slow;
pub(crate) mod straight;
