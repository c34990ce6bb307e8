//! The `wactor` command line: `run` serves a directory of actors; `call`,
//! `send` and `ps` talk to a running host over its HTTP API; `new`
//! scaffolds an actor crate.

mod client;
mod new;
mod progress;
mod run;

use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

/// Exit status of a command that the host or the actor refused (the error
/// kind is printed on stderr).
pub(crate) const EXIT_REFUSED: u8 = 1;
/// Exit status of a usage error (as clap's own).
pub(crate) const EXIT_USAGE: u8 = 2;
/// Exit status when the host could not be reached at all.
pub(crate) const EXIT_UNREACHABLE: u8 = 3;

/// Run WebAssembly actors: sandboxed, talking by send and call.
///
/// Put actors (`NAME.wasm`, built for wasm32-wasip2 with the wactor guest
/// SDK) in a directory and run `wactor run DIR`. Each file becomes a
/// behaviour, and one actor of each starts, registered under NAME. Files
/// added while the host runs start too. While it runs, `wactor call`,
/// `wactor send` and `wactor ps` talk to it over its HTTP API.
///
/// Start a new actor with `wactor new NAME`.
///
/// Exit status: 0 on success; 1 when the host or the actor refused the
/// request (the error kind is printed); 2 for a usage error; 3 when no host
/// answers at the given address.
#[derive(Parser)]
#[command(name = "wactor", version, about, long_about)]
struct Cli {
    /// Log format: `text` for people, `json` for machines.
    #[arg(long, value_enum, default_value_t = LogFormat::Text, global = true)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

// Parsed once per process: the size of the largest variant costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
enum Command {
    Run(run::RunArgs),
    Call(client::CallArgs),
    Send(client::SendArgs),
    Ps(client::PsArgs),
    New(new::NewArgs),
}

fn init_logging(format: LogFormat, default_filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_filter))
        // The NATS client's connector logs each server's URL, password
        // included, at debug level: never below info, whatever RUST_LOG says.
        .add_directive("async_nats::connector=info".parse().expect("a valid directive"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(progress::LogWriter);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

/// Runs the command line; what `main` returns.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    // `run` logs what the host does; the client commands only what goes
    // wrong.
    let default_filter = match cli.command {
        Command::Run(_) => "info",
        _ => "warn",
    };
    init_logging(cli.log_format, default_filter);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Run(args) => run::run(args, cli.log_format == LogFormat::Text)
                .await
                .map(|()| ExitCode::SUCCESS),
            Command::Call(args) => Ok(client::call(args).await),
            Command::Send(args) => Ok(client::send(args).await),
            Command::Ps(args) => Ok(client::ps(args).await),
            Command::New(args) => new::new(args).map(|()| ExitCode::SUCCESS),
        }
    });
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
