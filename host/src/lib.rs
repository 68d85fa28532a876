//! attachd: a worker that processes untrusted file uploads. Every step that parses an
//! upload's bytes runs in a WebAssembly sandbox ([`sandbox`]); [`pipeline`] orders the steps
//! and enforces the limits between them. Video is the exception: ffmpeg runs natively
//! ([`video`]), in a locked-down child process ([`jail`]). [`job`] is the process job, over
//! [`storage`], [`db`], [`vscan`] and [`queue`]; [`worker`] takes jobs off the queues.
//! [`settings`] reads every setting once; the composition root (`app`) builds the parts from
//! them, and [`cli`] is the command line over it.
//!
//! The modules public here are what the binary, the tests and the benchmarks use; each
//! keeps its own parts private. Hooks only tests may call are behind the `test-hooks`
//! feature.

pub mod api;
mod app;
pub mod audit;
pub mod cleanup;
pub mod cli;
pub mod config;
pub mod db;
pub mod deps;
pub mod error;
pub mod jail;
pub mod job;
pub mod metrics;
pub mod pipeline;
pub mod queue;
pub mod redact;
pub mod release;
pub mod sandbox;
pub mod settings;
pub mod storage;
pub mod swap;
pub mod variant;
pub mod video;
pub mod vscan;
pub mod worker;
