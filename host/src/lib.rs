//! attachd: a worker that processes untrusted file uploads. Every step that parses an
//! upload's bytes runs in a WebAssembly sandbox ([`sandbox`]); [`pipeline`] orders the steps
//! and enforces the limits between them; [`cli`] drives it from the command line.

pub mod cli;
pub mod config;
pub mod error;
pub mod pipeline;
pub mod sandbox;
pub mod variant;
