//! attachd: a worker that processes untrusted file uploads. Every step that parses an
//! upload's bytes runs in a WebAssembly sandbox ([`sandbox`]); [`pipeline`] orders the steps
//! and enforces the limits between them; [`cli`] drives it from the command line. Video is
//! the exception: ffmpeg runs natively ([`video`]), in a locked-down child process ([`jail`]).

pub mod app;
pub mod audit;
pub mod cleanup;
pub mod cli;
pub mod config;
pub mod db;
pub mod error;
pub mod jail;
pub mod job;
pub mod metrics;
pub mod pipeline;
pub mod queue;
pub mod sandbox;
pub mod settings;
pub mod storage;
pub mod variant;
pub mod video;
pub mod vscan;
pub mod worker;
