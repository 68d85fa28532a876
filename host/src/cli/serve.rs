//! `attachd serve` (the upload API and review page) and `attachd api-token` (a new token for
//! it).

use crate::api::{self, Scope};
use crate::settings::Settings;
use anyhow::Context as _;
use clap::Args;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

#[derive(Args, Debug)]
pub struct ServeArgs {
    /// Print the OpenAPI 3.1 document and exit (docs/openapi.json is this output).
    #[arg(long)]
    pub openapi: bool,
}

/// `attachd serve`: listens on ATTACH_API_ADDR until SIGTERM or SIGINT (SIGHUP reads the
/// tokens file again). Prints one JSON line when it listens and one when it stops.
pub async fn serve(args: ServeArgs, settings: &Settings) -> anyhow::Result<i32> {
    if args.openapi {
        print!("{}", api::document());
        return Ok(0);
    }
    let shutdown = CancellationToken::new();
    let stop = crate::app::on_stop_signal(shutdown.clone())?;
    tokio::spawn(stop);
    let api = Arc::new(crate::app::api_server(settings).await?);
    // SIGHUP reads the tokens file again: a token added or revoked without a restart.
    let mut hangup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        .context("listening for SIGHUP")?;
    let reloading = api.clone();
    tokio::spawn(async move {
        while hangup.recv().await.is_some() {
            match reloading.tokens.reload() {
                Ok(callers) => tracing::warn!(callers, "SIGHUP: tokens file read again"),
                Err(e) => {
                    tracing::error!(error = %e, "SIGHUP: tokens file not read; the tokens loaded before stay")
                }
            }
        }
    });
    let listener = tokio::net::TcpListener::bind(&settings.api.addr)
        .await
        .with_context(|| format!("listening on {} (ATTACH_API_ADDR)", settings.api.addr))?;
    let addr = listener.local_addr()?;
    println!(
        "{}",
        serde_json::json!({ "event": "listening", "pid": std::process::id(), "addr": addr.to_string(), "publicUrl": api.public_url })
    );
    // A connection lives as long as its longest request may, and a little: a client reconnects
    // after that, and no client holds a connection for good.
    let lifetime = settings
        .api
        .upload_timeout
        .max(settings.api.request_timeout)
        + api::CONNECTION_LIFETIME_MARGIN;
    api::serve(
        listener,
        api::router(api),
        shutdown,
        api::SHUTDOWN_GRACE,
        lifetime,
    )
    .await;
    println!("{}", serde_json::json!({ "event": "stopped" }));
    Ok(0)
}

#[derive(Args, Debug)]
pub struct ApiTokenArgs {
    /// Who the token is for: shown in logs and, for reviewers, in the audit history.
    pub name: String,
    /// Comma-separated: upload (sign, complete, read), review (the review page and
    /// endpoints).
    #[arg(long, value_delimiter = ',', default_value = "upload")]
    pub scopes: Vec<String>,
}

/// `attachd api-token NAME`: prints a new token on stdout (give it to the caller, once) and
/// the line for ATTACH_API_TOKENS_FILE on stderr (it holds only the token's sha256).
pub fn api_token(args: ApiTokenArgs) -> anyhow::Result<i32> {
    let scopes = args
        .scopes
        .iter()
        .map(|s| match s.trim() {
            "upload" => Ok(Scope::Upload),
            "review" => Ok(Scope::Review),
            other => Err(anyhow::anyhow!("unknown scope {other:?}: upload or review")),
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let (token, line) = api::new_token(&args.name, &scopes).map_err(anyhow::Error::msg)?;
    println!("{token}");
    eprintln!("{line}");
    Ok(0)
}
