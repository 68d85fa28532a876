use anyhow::Context;
use clap::Parser;
use tracing_subscriber::fmt::writer::BoxMakeWriter;
use tracing_subscriber::prelude::*;

fn main() -> anyhow::Result<()> {
    // The jail's self-test runs inside the ffmpeg jail: before logging and the runtime, so
    // it makes only the system calls a plain program makes (see jail/selftest.rs).
    if let Some(code) = attachd::jail::selftest::main_if_selftest() {
        std::process::exit(code);
    }
    // Before any thread, secret or ffmpeg run: a same-uid process (ffmpeg's sandboxed child
    // when the worker is not root) may not ptrace the worker or read its /proc files.
    attachd::jail::make_worker_non_dumpable()
        .context("making the worker non-dumpable (PR_SET_DUMPABLE)")?;
    init_logging()?;
    let cli = attachd::cli::Cli::parse();
    let runtime = tokio::runtime::Runtime::new()?;
    let code = runtime.block_on(attachd::cli::run(cli))?;
    std::process::exit(code);
}

/// Two streams: the operational log (stderr, `ATTACH_WORKER_LOG_LEVEL`, default `warn`; text,
/// or one JSON object per line with `ATTACH_LOG_FORMAT=json` for log shippers) and the audit log (one JSON object per line, every event of the audit target whatever the log
/// level, on stderr or appended to the file `ATTACH_AUDIT_LOG` names). Audit events go only to
/// the audit stream.
fn init_logging() -> anyhow::Result<()> {
    let audit_target = attachd::audit::TARGET;
    let text_filter = tracing_subscriber::EnvFilter::try_from_env("ATTACH_WORKER_LOG_LEVEL")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"))
        .add_directive(format!("{audit_target}=off").parse()?);
    // Exactly one of the two is present; an absent layer does nothing.
    let (text, json) = match std::env::var("ATTACH_LOG_FORMAT").as_deref() {
        Ok("json") => (
            None,
            Some(
                tracing_subscriber::fmt::layer()
                    .json()
                    .flatten_event(true)
                    .with_writer(std::io::stderr)
                    .with_filter(text_filter),
            ),
        ),
        Ok("text") | Ok("") | Err(std::env::VarError::NotPresent) => (
            Some(
                tracing_subscriber::fmt::layer()
                    .with_writer(std::io::stderr)
                    .with_filter(text_filter),
            ),
            None,
        ),
        Ok(other) => anyhow::bail!("ATTACH_LOG_FORMAT={other:?}: expected text or json"),
        Err(e) => anyhow::bail!("ATTACH_LOG_FORMAT: {e}"),
    };
    let audit_writer = match std::env::var_os("ATTACH_AUDIT_LOG") {
        Some(path) if !path.is_empty() && path != "stderr" => {
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .with_context(|| format!("opening ATTACH_AUDIT_LOG {}", path.to_string_lossy()))?;
            BoxMakeWriter::new(std::sync::Mutex::new(file))
        }
        _ => BoxMakeWriter::new(std::io::stderr),
    };
    let audit = tracing_subscriber::fmt::layer()
        .json()
        .flatten_event(true)
        .with_current_span(false)
        .with_span_list(false)
        .with_writer(audit_writer)
        .with_filter(
            tracing_subscriber::filter::Targets::new()
                .with_target(audit_target, tracing::Level::INFO),
        );
    tracing_subscriber::registry()
        .with(text)
        .with(json)
        .with(audit)
        .init();
    Ok(())
}
