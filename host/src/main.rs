use clap::Parser;

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("ATTACH_WORKER_LOG_LEVEL")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = attachd::cli::Cli::parse();
    let runtime = tokio::runtime::Runtime::new()?;
    let code = runtime.block_on(attachd::cli::run(cli))?;
    std::process::exit(code);
}
