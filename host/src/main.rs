use anyhow::Context;
use attachd::settings::{LogSettings, Settings};
use tracing_subscriber::fmt::writer::BoxMakeWriter;
use tracing_subscriber::prelude::*;

fn main() -> anyhow::Result<()> {
    // The jail's self-test runs inside the ffmpeg jail: before logging and the runtime, so
    // it makes only the system calls a plain program makes (see jail/selftest.rs).
    if let Some(code) = attachd::jail::main_if_selftest() {
        std::process::exit(code);
    }
    // Before any thread, secret or ffmpeg run: a same-uid process (ffmpeg's sandboxed child
    // when the worker is not root) may not ptrace the worker or read its /proc files.
    attachd::jail::make_worker_non_dumpable()
        .context("making the worker non-dumpable (PR_SET_DUMPABLE)")?;
    let (cli, flags) = attachd::cli::parse();
    let (settings, layers) = match Settings::load(cli.config.clone(), flags) {
        Ok(loaded) => loaded,
        Err(e) => {
            // A usage error, as clap reports a malformed flag: exit 2, nothing started.
            eprintln!("error: {e}");
            std::process::exit(2);
        }
    };
    init_logging(&settings.log)?;
    let runtime = tokio::runtime::Runtime::new()?;
    let code = runtime.block_on(attachd::cli::run(cli, settings, layers))?;
    std::process::exit(code);
}

/// Two streams: the operational log (stderr, filtered by `ATTACH_WORKER_LOG_LEVEL`; text, or
/// one JSON object per line with `ATTACH_LOG_FORMAT=json` for log shippers) and the audit log
/// (one JSON object per line, every event of the audit target whatever the log level, on
/// stderr or appended to the file `ATTACH_AUDIT_LOG` names). Audit events go only to the
/// audit stream.
fn init_logging(log: &LogSettings) -> anyhow::Result<()> {
    let audit_target = attachd::audit::TARGET;
    let text_filter = tracing_subscriber::EnvFilter::try_new(&log.level)
        .with_context(|| format!("ATTACH_WORKER_LOG_LEVEL={:?}", log.level))?
        .add_directive(format!("{audit_target}=off").parse()?)
        // Libraries that print connection settings with a secret in them: sqlx warns of a
        // PostgreSQL URL parameter it does not know with its value (`?sslpassword=…`) and
        // logs malformed .pgpass lines whole; bullmq-official logs the Redis URL at debug,
        // hiding only a password before the host. Their errors still surface through
        // attachd's own messages.
        .add_directive("sqlx_postgres::options=error".parse()?)
        .add_directive("bullmq::redis_connection=info".parse()?);
    // Exactly one of the two is present; an absent layer does nothing.
    let (text, json) = if log.json {
        let json = tracing_subscriber::fmt::layer()
            .json()
            .flatten_event(true)
            .with_writer(std::io::stderr)
            .with_filter(text_filter);
        (None, Some(json))
    } else {
        // Colours only on a terminal: a journal, a container log or a file would keep the
        // escape sequences as text around every level and field name.
        use std::io::IsTerminal;
        let text = tracing_subscriber::fmt::layer()
            .with_ansi(std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none())
            .with_writer(std::io::stderr)
            .with_filter(text_filter);
        (Some(text), None)
    };
    let audit_writer = match &log.audit_file {
        Some(path) => {
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .with_context(|| format!("opening ATTACH_AUDIT_LOG {}", path.display()))?;
            BoxMakeWriter::new(std::sync::Mutex::new(file))
        }
        None => BoxMakeWriter::new(std::io::stderr),
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
