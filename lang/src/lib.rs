//! Weft's front end: source text → tokens → AST → bytecode.
//!
//! `lexer` applies the layout rules, `parser` (lalrpop) builds the `ast`,
//! `compile` resolves names and emits the `bytecode` of each function, and
//! `diagnostic` renders what went wrong. Nothing here runs code.

#![forbid(unsafe_code)]

pub mod ast;
pub mod diagnostic;
pub mod lexer;
pub mod parser;

pub use diagnostic::{Diagnostic, Span};
pub mod bytecode;
pub mod compile;
pub mod snapshot;
