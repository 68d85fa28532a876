//! The command line. Each family of commands has its file: `local` works on local files
//! (`process`), `store` on uploads in the configured database and object store (`ingest`,
//! `process --store`, `migrate`, `cleanup`, `requeue`), `queue` on the queues (`worker`,
//! `enqueue`), `serve` runs the upload API (`serve`, `api-token`), `config` prints the
//! settings, and `health` asks a running worker whether it is up (`healthcheck`, the
//! container image's health check). Every setting is also a flag on
//! every command (see [`crate::settings`]); the arguments here are what a command acts on.

mod config;
mod guests;
mod health;
mod local;
mod queue;
mod serve;
mod store;

pub use local::{mime_from_extension, process_file, FileReport};

use crate::settings::{self, Flags, Layers, Settings};
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "attachd",
    version,
    about = "Processes untrusted uploads inside WebAssembly sandboxes"
)]
pub struct Cli {
    /// A config file of `ATTACH_…=value` lines, read under the environment and the flags
    /// (also `ATTACH_CONFIG`).
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run probe → scan → thumbnail on local files (or, with --store, on uploads in the
    /// configured storage and database); print one JSON line per file.
    Process(local::ProcessArgs),
    /// Apply the database migrations.
    Migrate,
    /// Put a local file into storage and create its `uploaded` row, as the API would.
    Ingest(store::IngestArgs),
    /// Remove stale `uploaded` rows with their objects, then objects no row owns.
    Cleanup(store::CleanupArgs),
    /// Take BullMQ jobs from Redis (as the Node worker would) until SIGTERM or SIGINT.
    Worker(queue::WorkerArgs),
    /// Serve the upload API (sign, complete, status), the review page of quarantined
    /// uploads and the local store's upload URLs on ATTACH_API_ADDR until SIGTERM or SIGINT.
    Serve(serve::ServeArgs),
    /// Make a token for attachd serve: the token on stdout, its ATTACH_API_TOKENS_FILE line
    /// (holding only its sha256) on stderr.
    ApiToken(serve::ApiTokenArgs),
    /// Add an `attachments.process` job, as the Node API does; prints its id.
    Enqueue(queue::EnqueueArgs),
    /// Send `failed` (or `uploaded`) uploads back to the process queue, e.g. those cleanup
    /// marked `processing-abandoned`; one JSON line per upload.
    Requeue(store::RequeueArgs),
    /// Print the effective settings (secrets redacted) and where each came from.
    Config(config::ConfigArgs),
    /// Guest releases: keygen and sign (for release builders); verify, install, rollback
    /// and list (for operators).
    Guests(guests::GuestsArgs),
    /// Ask the running worker at ATTACH_METRICS_ADDR (0.0.0.0 asked as 127.0.0.1) for
    /// /healthz, or --path /readyz; print one line; exit 0 on a 200 answer, 1 otherwise
    /// (the container image's HEALTHCHECK).
    Healthcheck(health::HealthcheckArgs),
}

/// Whether `c` may reach a terminal: not a control character (but the line break) nor a
/// bidirectional override. What the commands print comes from manifests anyone who can write
/// a release may have written, or from whatever answers on a port, and an escape sequence
/// there must not reach the operator's terminal (to redraw a refusal as "verifies", say).
fn shown(c: char) -> bool {
    c == '\n' || !(c.is_control() || crate::release::is_bidi_control(c))
}

/// `s` with every character that may not reach a terminal shown as `?`.
fn printable(s: &str) -> String {
    s.chars().map(|c| if shown(c) { c } else { '?' }).collect()
}

/// Help heading of the setting flags.
const SETTINGS_HEADING: &str = "Settings (each also an ATTACH_… variable)";

/// The command line: [`Cli`] and one flag per setting, on every command.
pub fn command() -> clap::Command {
    settings::all()
        .iter()
        .filter(|var| var.name != settings::CONFIG_VAR)
        .fold(Cli::command(), |cmd, var| {
            // clap keeps `&'static str` names; the table is built once per process.
            let long: &'static str = Box::leak(var.flag().into_boxed_str());
            let default = var.default.as_deref().unwrap_or("unset");
            let help: &'static str = Box::leak(
                format!("{} [{}; default: {default}]", var.meaning, var.name).into_boxed_str(),
            );
            cmd.arg(
                clap::Arg::new(var.name)
                    .long(long)
                    .aliases(var.aliases.iter().copied())
                    .value_name("VALUE")
                    .help(help)
                    .help_heading(SETTINGS_HEADING)
                    .num_args(1)
                    .global(true),
            )
        })
}

/// Parses `args` (the first is the program): the command, and the settings given as flags.
pub fn parse_from<I, T>(args: I) -> Result<(Cli, Flags), clap::Error>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let matches = command().try_get_matches_from(args)?;
    let cli = Cli::from_arg_matches(&matches)?;
    // Global flags are copied into the subcommand's matches, where they were given.
    let sub = matches.subcommand().map_or(&matches, |(_, m)| m);
    let flags = settings::all()
        .iter()
        .filter(|var| var.name != settings::CONFIG_VAR)
        .filter_map(|var| {
            sub.get_one::<String>(var.name)
                .map(|value| (var.name, value.clone()))
        })
        .collect();
    Ok((cli, flags))
}

/// Parses this process's arguments; prints help or the error and exits as clap does.
pub fn parse() -> (Cli, Flags) {
    parse_from(std::env::args_os()).unwrap_or_else(|e| e.exit())
}

/// Runs the command; returns the process exit code.
pub async fn run(cli: Cli, settings: Settings, layers: Layers) -> anyhow::Result<i32> {
    match cli.command {
        Command::Process(args) if args.store => store::process(args, &settings).await,
        Command::Process(args) => local::process(args, &settings).await,
        Command::Migrate => store::migrate(&settings).await,
        Command::Ingest(args) => store::ingest(args, &settings).await,
        Command::Cleanup(args) => store::cleanup(args, &settings).await,
        Command::Worker(args) => queue::worker(args, &settings).await,
        Command::Serve(args) => serve::serve(args, &settings).await,
        Command::ApiToken(args) => serve::api_token(args),
        Command::Enqueue(args) => queue::enqueue(args, &settings).await,
        Command::Requeue(args) => store::requeue(args, &settings).await,
        Command::Config(args) => config::print(args, &layers),
        Command::Guests(args) => guests::run(args, &settings).await,
        Command::Healthcheck(args) => health::run(args, &settings),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_is_well_formed() {
        command().debug_assert();
    }

    #[test]
    fn a_setting_flag_is_taken_on_any_command_and_by_its_old_name() {
        let (cli, flags) =
            parse_from(["attachd", "cleanup", "--max-age", "2s", "--dry-run"]).unwrap();
        assert!(matches!(cli.command, Command::Cleanup(ref a) if a.dry_run));
        assert_eq!(flags, [("ATTACH_ORPHAN_MAX_AGE", "2s".to_owned())]);
        let (_, flags) = parse_from(["attachd", "worker", "--queue-prefix", "p"]).unwrap();
        assert_eq!(flags, [("ATTACH_QUEUE_PREFIX", "p".to_owned())]);
    }
}
