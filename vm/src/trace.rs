//! Stack-trace entries: the debug information errors, tasks and reports
//! share. A leaf: it depends on nothing of the runtime.

/// One frame of a stack trace: function, file and span of the call or
/// failing instruction.
#[derive(Clone, Debug, PartialEq)]
pub struct TraceEntry {
    pub function: std::sync::Arc<str>,
    pub file: u32,
    pub span: weft_lang::Span,
}
