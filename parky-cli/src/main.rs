//! `parky`: the Parky Ops command-line tool.
//!
//! It only wires the library crates together: it reads files and flags, calls `parky-slo`,
//! and renders the result as text, JSON or Markdown. Logs go to standard error through
//! `tracing` (set `RUST_LOG=debug` for more).

mod args;
mod demo;
mod deploy;
mod dora;
mod error;
mod notify;
mod render;
mod slo;

use clap::Parser;
use std::io::IsTerminal;
use std::process::ExitCode;

/// A single-threaded tokio runtime for the commands that talk HTTP.
pub(crate) fn runtime() -> Result<tokio::runtime::Runtime, error::CliError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(error::CliError::Runtime)
}

fn main() -> ExitCode {
    let cli = args::Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    let mut out = std::io::stdout().lock();
    let result = match cli.command {
        args::Command::Slo(args::SloCommand::Report(report)) => slo::report(&report, &mut out),
        args::Command::Slo(args::SloCommand::Windows(windows)) => slo::windows(&windows, &mut out),
        args::Command::Notify(args::NotifyCommand::Route(a)) => notify::route(&a, &mut out),
        args::Command::Notify(args::NotifyCommand::Send(a)) => notify::send(&a, &mut out),
        args::Command::Notify(args::NotifyCommand::Serve(a)) => notify::serve(&a),
        args::Command::Notify(args::NotifyCommand::Outbox(args::OutboxCommand::List(a))) => {
            notify::outbox_list(&a, &mut out)
        }
        args::Command::Notify(args::NotifyCommand::Outbox(args::OutboxCommand::Retry(a))) => {
            notify::outbox_retry(&a, &mut out)
        }
        args::Command::Notify(args::NotifyCommand::SentrySync(a)) => {
            notify::sentry_sync(&a, &mut out)
        }
        args::Command::Demo(demo) => demo::run(&demo, &mut out),
        args::Command::Dora(dora::DoraCommand::Report(a)) => dora::report(&a, &mut out),
        args::Command::Deploy(args::DeployCommand::Plan(a)) => deploy::plan(&a, &mut out),
        args::Command::Deploy(args::DeployCommand::Run(a)) => deploy::run(&a, &mut out),
        args::Command::Deploy(args::DeployCommand::Rollback(a)) => deploy::rollback(&a, &mut out),
        args::Command::Deploy(args::DeployCommand::Autorollback(
            args::AutorollbackCommand::Report(a),
        )) => deploy::autorollback_report(&a, &mut out),
        args::Command::Deploy(args::DeployCommand::Autorollback(
            args::AutorollbackCommand::Mark(a),
        )) => deploy::autorollback_mark(&a, &mut out),
        args::Command::Canary(args::CanaryCommand::Status(a)) => {
            deploy::canary_status(&a, &mut out)
        }
        args::Command::Canary(args::CanaryCommand::Tick(a)) => deploy::canary_tick(&a, &mut out),
        args::Command::Canary(args::CanaryCommand::Start(a)) => deploy::canary_start(&a, &mut out),
        args::Command::Canary(args::CanaryCommand::Promote(a)) => {
            let command = if a.full {
                parky_deploy::Command::PromoteFull
            } else {
                parky_deploy::Command::PromoteStep
            };
            deploy::canary_command(&a.command, command, &mut out)
        }
        args::Command::Canary(args::CanaryCommand::Pause(a)) => {
            deploy::canary_command(&a, parky_deploy::Command::Pause, &mut out)
        }
        args::Command::Canary(args::CanaryCommand::Resume(a)) => {
            deploy::canary_command(&a, parky_deploy::Command::Resume, &mut out)
        }
        args::Command::Canary(args::CanaryCommand::Abort(a)) => {
            deploy::canary_command(&a, parky_deploy::Command::Abort, &mut out)
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // The reader went away (`parky … | head`): stop quietly, as Unix tools do.
        Err(err) if err.is_broken_pipe() => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("parky: error: {err}");
            ExitCode::FAILURE
        }
    }
}
