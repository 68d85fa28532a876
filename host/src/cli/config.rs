//! `attachd config`: the settings in force, and `--env-example`: every setting there is.

use crate::settings::{self, Layers};
use clap::Args;

#[derive(Args, Debug)]
pub struct ConfigArgs {
    /// Print every setting with its meaning and default instead (the text of .env.example).
    #[arg(long)]
    pub env_example: bool,
}

pub fn print(args: ConfigArgs, layers: &Layers) -> anyhow::Result<i32> {
    if args.env_example {
        print!("{}", settings::env_example());
    } else {
        print!("{}", settings::effective(layers));
    }
    Ok(0)
}
