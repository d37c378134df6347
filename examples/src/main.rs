//! `uacce`: compress and decompress files on a uacce ZIP accelerator, list
//! devices, and measure throughput. Without hardware it runs on the SDK's
//! built-in emulated device and says so.

mod cli;
mod files;
mod list;
mod transform;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("uacce: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: cli::Cli) -> Result<(), cli::CliError> {
    let choice = cli::device_choice(&args.global)?;
    match args.command {
        cli::Command::List { json } => list::run(&args.global, json),
        cli::Command::Compress(t) => transform::run(choice, t, transform::Direction::Compress),
        cli::Command::Decompress(t) => transform::run(choice, t, transform::Direction::Decompress),
    }
}
