//! Stack-trace entries: the debug information errors, tasks and reports
//! share. A leaf: it depends on nothing of the runtime.

/// One frame of a stack trace: function, file and span of the call or
/// failing instruction.
#[derive(Clone, Debug, PartialEq)]
pub struct TraceEntry {
    /// The function's name.
    pub function: std::sync::Arc<str>,
    /// The source file, by index into the loaded code's files.
    pub file: u32,
    /// Where in that file.
    pub span: weft_lang::Span,
}
