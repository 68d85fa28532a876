//! `attachd guests`: release builders make keys and sign releases; operators check, install
//! and roll back releases, and see what is installed.

use crate::release;
use crate::settings::Settings;
use anyhow::Context;
use clap::{Args, Subcommand};
use std::path::{Path, PathBuf};

#[derive(Args, Debug)]
pub struct GuestsArgs {
    #[command(subcommand)]
    pub command: GuestsCommand,
}

#[derive(Subcommand, Debug)]
pub enum GuestsCommand {
    /// Make a release signing key pair (minisign format): the secret key signs releases, the
    /// public key goes in ATTACH_GUEST_TRUSTED_KEYS. Prints the key id.
    Keygen {
        /// Where to write the secret key (created owner-only; never overwritten).
        #[arg(long)]
        secret_key: PathBuf,
        /// Where to write the public key.
        #[arg(long)]
        public_key: PathBuf,
        /// Encrypt the secret key with the password in this file (as `minisign -G` does).
        #[arg(long)]
        password_file: Option<PathBuf>,
    },
    /// Sign every guest manifest in DIR (writing NAME.json.minisig beside each), after
    /// checking each component's sha256 is the one its manifest names.
    Sign {
        dir: PathBuf,
        /// The secret key (from `attachd guests keygen` or `minisign -G`).
        #[arg(long)]
        secret_key: PathBuf,
        /// The password of an encrypted secret key, in a file.
        #[arg(long)]
        password_file: Option<PathBuf>,
    },
}

pub async fn run(args: GuestsArgs, _settings: &Settings) -> anyhow::Result<i32> {
    match args.command {
        GuestsCommand::Keygen {
            secret_key,
            public_key,
            password_file,
        } => {
            let password = read_password(password_file.as_deref())?;
            let id = release::keygen(&secret_key, &public_key, password)?;
            println!("{id}");
            Ok(0)
        }
        GuestsCommand::Sign {
            dir,
            secret_key,
            password_file,
        } => {
            let password = read_password(password_file.as_deref())?;
            let key = release::read_secret_key(&secret_key, password)?;
            let signed = release::sign_dir(&dir, &key)?;
            if signed.is_empty() {
                anyhow::bail!("no guest manifest (*.json) in {}", dir.display());
            }
            for name in signed {
                println!("signed {}", dir.join(name).display());
            }
            Ok(0)
        }
    }
}

/// The first line of `path`, if given: a password kept in a file, never on the command line
/// (where `ps` shows it).
fn read_password(path: Option<&Path>) -> anyhow::Result<Option<String>> {
    path.map(|p| {
        std::fs::read_to_string(p)
            .with_context(|| format!("reading the password file {}", p.display()))
            .map(|s| s.lines().next().unwrap_or("").to_string())
    })
    .transpose()
}
