//! Command-line flags. Values are parsed into typed values here, so a bad flag fails before any
//! file is read, with the flag named.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;
use std::time::Duration;

/// Parky Ops: SLO reports and burn-rate alerts, severity-routed notifications, canary
/// deploys and rollbacks, DORA metrics, and the end-to-end ops demo.
// `about` is the package description (parky-cli/Cargo.toml). `--version` is on `parky`
// only, not propagated to the subcommands, where it would print the version and exit 0 in
// place of the command (`deploy rollback --version v1` for `--to v1`).
#[derive(Debug, Parser)]
#[command(name = "parky", version, about)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Service level objectives: reports from access logs and alert window tables.
    #[command(subcommand)]
    Slo(SloCommand),
    /// Notifications: Alertmanager-compatible routing, the durable outbox, Sentry alert rules.
    #[command(subcommand)]
    Notify(NotifyCommand),
    /// Tell the ops cycle end to end on a seeded, simulated service (no network, no account).
    Demo(DemoArgs),
    /// Deploys: ordered multi-service plans (run, dry run), rollbacks and the auto-rollback
    /// ledger.
    #[command(subcommand)]
    Deploy(DeployCommand),
    /// Canaries of a Worker: start, tick (the 5-minute cron), promote, pause, resume, abort,
    /// status; on Cloudflare or the embedded simulator.
    #[command(subcommand)]
    Canary(CanaryCommand),
    /// DORA's four keys from a git history, GitHub or a history file, classified against
    /// the State of DevOps clusters, with the weekly trend.
    #[command(subcommand)]
    Dora(crate::dora::DoraCommand),
}

#[derive(Debug, Subcommand)]
pub(crate) enum DeployCommand {
    /// Dry run of a deploy plan: validate the YAML, print the services in deploy order, and
    /// mark the secrets missing from the environment (listed, not fatal). Exits non-zero only
    /// when the plan is invalid (unknown field, unknown dependency, dependency cycle, …).
    Plan(DeployPlanArgs),
    /// Run a deploy plan: check the secrets, deploy each service in order with its command,
    /// smoke-test it, and on the first failure roll back what was deployed, in reverse order.
    Run(DeployRunArgs),
    /// Roll back a Worker (wrangler's rule: the newest earlier deployment that ran one
    /// version at 100 %, or the version given with --to), or one service of a plan (its
    /// rollback command).
    Rollback(DeployRollbackArgs),
    /// The auto-rollback decisions (shadow ledger) kept in the canary controller's state file.
    #[command(subcommand)]
    Autorollback(AutorollbackCommand),
}

#[derive(Debug, Args)]
pub(crate) struct DeployPlanArgs {
    /// The deploy plan (YAML: `services` with `depends_on`, `secrets`, `deploy`,
    /// `smoke_test`).
    #[arg(long)]
    pub(crate) plan: PathBuf,
}

#[derive(Debug, Args)]
pub(crate) struct DeployRunArgs {
    /// The deploy plan (YAML); `workdir`s are relative to its directory.
    #[arg(long)]
    pub(crate) plan: PathBuf,
    /// Print the plan and the secret check; run nothing.
    #[arg(long)]
    pub(crate) dry_run: bool,
}

#[derive(Debug, Args)]
pub(crate) struct DeployRollbackArgs {
    /// The Worker script to roll back (with --simulate or --account-id).
    #[arg(
        long,
        conflicts_with_all = ["plan", "service"],
        required_unless_present = "plan",
        requires = "worker_platform"
    )]
    pub(crate) script: Option<String>,
    /// Roll back on the embedded Workers simulator, seeded with --simulated-history.
    #[arg(long, conflicts_with = "account_id", group = "worker_platform")]
    pub(crate) simulate: bool,
    /// The simulated Worker's deployments, oldest first, each one version at 100 %
    /// (--simulate only).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "v1,v2",
        requires = "simulate",
        value_parser = parse_version_id
    )]
    pub(crate) simulated_history: Vec<String>,
    /// The Cloudflare account id (the API token comes from CLOUDFLARE_API_TOKEN).
    #[arg(long, group = "worker_platform")]
    pub(crate) account_id: Option<String>,
    /// The Cloudflare API base URL.
    #[arg(long, default_value = parky_deploy::workers::CLOUDFLARE_API_BASE)]
    pub(crate) api_base: String,
    /// Roll back to this version instead of wrangler's default target.
    #[arg(long, value_name = "VERSION")]
    pub(crate) to: Option<String>,
    /// The deployment message (at most 100 bytes; default "Rollback", as wrangler).
    #[arg(long)]
    pub(crate) message: Option<String>,
    /// Deploy even though secrets changed since the target version was deployed.
    #[arg(long)]
    pub(crate) force: bool,
    /// A deploy plan whose service to roll back with its rollback command.
    #[arg(long, requires = "service")]
    pub(crate) plan: Option<PathBuf>,
    /// The plan's service to roll back.
    #[arg(long, requires = "plan")]
    pub(crate) service: Option<String>,
    /// Print the rollback command (shell-quoted) and its directory; run nothing (with
    /// --plan).
    #[arg(long, requires = "plan")]
    pub(crate) dry_run: bool,
}

#[derive(Debug, Subcommand)]
pub(crate) enum AutorollbackCommand {
    /// Report every rollback decision, per environment: shadowed or enforced, false
    /// positives, and whether the two-week shadow rule allows enforcing.
    Report(AutorollbackReportArgs),
    /// Mark a rollback decision as a false positive (taking the controller's lease; a
    /// second mark keeps the first).
    Mark(AutorollbackMarkArgs),
}

#[derive(Debug, Args)]
pub(crate) struct AutorollbackReportArgs {
    /// The canary controller's SQLite state file (must exist).
    #[arg(long)]
    pub(crate) state: PathBuf,
    /// Evaluate the two-week rule at this time (RFC 3339) instead of now.
    #[arg(long, value_parser = parse_time)]
    pub(crate) at: Option<chrono::DateTime<chrono::Utc>>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = DemoOutput::Text)]
    pub(crate) output: DemoOutput,
}

#[derive(Debug, Args)]
pub(crate) struct AutorollbackMarkArgs {
    /// The canary controller's SQLite state file (must exist).
    #[arg(long)]
    pub(crate) state: PathBuf,
    /// Mark the decision as a false positive (the only mark there is; required).
    #[arg(long, required = true)]
    pub(crate) false_positive: bool,
    /// The decision's id (see `deploy autorollback report`).
    #[arg(value_name = "ID")]
    pub(crate) id: u64,
    /// Why the decision was wrong, e.g. "cold start after deploy".
    #[arg(long, default_value = "")]
    pub(crate) note: String,
    /// Mark at this time (RFC 3339) instead of the system clock, to replay a timeline.
    #[arg(long, value_parser = parse_time)]
    pub(crate) now: Option<chrono::DateTime<chrono::Utc>>,
}

#[derive(Debug, Subcommand)]
pub(crate) enum CanaryCommand {
    /// Show the canary in a state file (read-only): phase, traffic weight, stable and canary
    /// versions, failed checks, the last tick's slot, the lease and any pending traffic
    /// change.
    Status(CanaryStatusArgs),
    /// Run one controller tick (as a cron job would every 5 minutes): judge the canary on
    /// the last window's metrics and promote, hold or roll back. With --simulate: the
    /// embedded simulator (a canary `v2` against `v1` is started when the state file has
    /// none; 200,000 simulated requests per window); with --account-id: Cloudflare, judged
    /// on its GraphQL Analytics.
    Tick(CanaryTickArgs),
    /// Start a canary of a new version against the version now serving 100 %.
    Start(CanaryStartArgs),
    /// Promote the canary one step now (ignoring bake time and checks), or to 100 % with
    /// --full.
    Promote(CanaryPromoteArgs),
    /// Pause the canary: ticks stop advancing it (failed checks still count).
    Pause(CanaryCommandArgs),
    /// Resume a paused canary; the progress deadline restarts now.
    Resume(CanaryCommandArgs),
    /// Abort the canary: all traffic back to the stable version now, and the canary
    /// recorded as aborted in the same command, no tick needed (enforced even in shadow
    /// mode).
    Abort(CanaryCommandArgs),
}

#[derive(Debug, Args)]
pub(crate) struct CanaryStatusArgs {
    /// The canary controller's SQLite state file (must exist; opened read-only).
    #[arg(long)]
    pub(crate) state: PathBuf,
}

/// Where the canary runs: the embedded simulator or a Cloudflare account.
#[derive(Debug, Args)]
pub(crate) struct PlatformArgs {
    /// Drive the embedded Workers simulator, rebuilt from the state file on each run.
    #[arg(
        long,
        required_unless_present = "account_id",
        conflicts_with = "account_id"
    )]
    pub(crate) simulate: bool,
    /// The Cloudflare account id; the API token comes from the environment variable
    /// CLOUDFLARE_API_TOKEN (Workers Scripts: Edit, and Account Analytics: Read for ticks).
    #[arg(long)]
    pub(crate) account_id: Option<String>,
    /// The Worker script (default with --simulate: demo-worker; required with --account-id).
    #[arg(long)]
    pub(crate) script: Option<String>,
    /// The Cloudflare API base URL (the GraphQL endpoint is `<base>/graphql`).
    #[arg(long, default_value = parky_deploy::workers::CLOUDFLARE_API_BASE)]
    pub(crate) api_base: String,
    /// The environment the auto-rollback ledger records decisions under.
    #[arg(long, default_value = "production")]
    pub(crate) environment: String,
    /// With --simulate: the canary version fails 5 % of its requests (it gets rolled back).
    #[arg(long, requires = "simulate")]
    pub(crate) bad: bool,
}

#[derive(Debug, Args)]
pub(crate) struct CanaryTickArgs {
    /// The canary controller's SQLite state file (created on first use).
    #[arg(long)]
    pub(crate) state: PathBuf,
    #[command(flatten)]
    pub(crate) platform: PlatformArgs,
    /// Tick at this time (RFC 3339) instead of the system clock, to walk through a rollout.
    /// A time before the last recorded tick is refused.
    #[arg(long, value_parser = parse_time)]
    pub(crate) now: Option<chrono::DateTime<chrono::Utc>>,
    /// With --simulate, when the tick starts the canary: start it in shadow mode.
    #[arg(long)]
    pub(crate) shadow: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t = DemoOutput::Text)]
    pub(crate) output: DemoOutput,
}

#[derive(Debug, Args)]
pub(crate) struct CanaryStartArgs {
    /// The canary controller's SQLite state file (created on first use).
    #[arg(long)]
    pub(crate) state: PathBuf,
    #[command(flatten)]
    pub(crate) platform: PlatformArgs,
    /// The new version to canary (a Workers version id).
    #[arg(long, value_name = "VERSION")]
    pub(crate) canary: String,
    /// With --simulate and a new state file: the version serving 100 % (default v1).
    #[arg(long, requires = "simulate")]
    pub(crate) stable: Option<String>,
    /// Only record the automatic rollbacks the controller would make (shadow mode).
    #[arg(long)]
    pub(crate) shadow: bool,
    /// Start at this time (RFC 3339) instead of the system clock.
    #[arg(long, value_parser = parse_time)]
    pub(crate) now: Option<chrono::DateTime<chrono::Utc>>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = DemoOutput::Text)]
    pub(crate) output: DemoOutput,
}

#[derive(Debug, Args)]
pub(crate) struct CanaryPromoteArgs {
    #[command(flatten)]
    pub(crate) command: CanaryCommandArgs,
    /// Promote to 100 % now, skipping the remaining steps.
    #[arg(long)]
    pub(crate) full: bool,
}

#[derive(Debug, Args)]
pub(crate) struct CanaryCommandArgs {
    /// The canary controller's SQLite state file (must exist).
    #[arg(long)]
    pub(crate) state: PathBuf,
    #[command(flatten)]
    pub(crate) platform: PlatformArgs,
    /// Act at this time (RFC 3339) instead of the system clock.
    #[arg(long, value_parser = parse_time)]
    pub(crate) now: Option<chrono::DateTime<chrono::Utc>>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = DemoOutput::Text)]
    pub(crate) output: DemoOutput,
}

#[derive(Debug, Subcommand)]
pub(crate) enum NotifyCommand {
    /// Show which receivers an alert with these labels goes to (like `amtool config routes
    /// test`).
    Route(RouteArgs),
    /// Send one notification now through the durable outbox.
    Send(SendArgs),
    /// Receive alerts over HTTP (Alertmanager webhooks, generic JSON) and deliver them.
    Serve(ServeArgs),
    /// Inspect or re-queue the durable outbox.
    #[command(subcommand)]
    Outbox(OutboxCommand),
    /// Sync alert rules as code to Sentry: create missing, update changed, report extra.
    SentrySync(SentrySyncArgs),
}

#[derive(Debug, Args)]
pub(crate) struct RouteArgs {
    /// The routing configuration, in Alertmanager's format.
    #[arg(long)]
    pub(crate) config: PathBuf,
    /// Also print each matched route's path, group key and timers.
    #[arg(long)]
    pub(crate) verbose: bool,
    /// The alert's labels, as `name=value`.
    #[arg(value_name = "LABEL=VALUE", value_parser = parse_label)]
    pub(crate) labels: Vec<(String, String)>,
}

/// The configuration files shared by `notify send` and `notify serve`.
#[derive(Debug, Args)]
pub(crate) struct NotifyConfigArgs {
    /// Routing and receivers, in Alertmanager's format (`discord_configs`, `slack_configs`,
    /// `pagerduty_configs`, `webhook_configs`, and Parky's `file_configs`).
    #[arg(long)]
    pub(crate) config: PathBuf,
    /// The P0-P3 severity strategy (YAML); without it every alert follows the routing tree
    /// only.
    #[arg(long)]
    pub(crate) strategy: Option<PathBuf>,
    /// The SQLite outbox: notifications are written here before delivery and stay until a
    /// receiver accepts them.
    #[arg(long, default_value = "parky-outbox.sqlite")]
    pub(crate) outbox: PathBuf,
}

#[derive(Debug, Args)]
pub(crate) struct SendArgs {
    #[command(flatten)]
    pub(crate) files: NotifyConfigArgs,
    /// Severity: P0, P1, P2 or P3.
    #[arg(long, value_parser = parse_severity)]
    pub(crate) severity: parky_notify::Severity,
    /// One-line title.
    #[arg(long)]
    pub(crate) title: String,
    /// Longer text.
    #[arg(long, default_value = "")]
    pub(crate) summary: String,
    /// A detail shown with the message, as `name=value` (repeatable).
    #[arg(long = "field", value_name = "NAME=VALUE", value_parser = parse_label)]
    pub(crate) fields: Vec<(String, String)>,
    /// A link for more (runbook, dashboard).
    #[arg(long)]
    pub(crate) url: Option<String>,
    /// Send to this receiver (repeatable); default: where the routing tree and the strategy
    /// send an alert with these fields as labels.
    #[arg(long = "receiver")]
    pub(crate) receivers: Vec<String>,
}

#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    #[command(flatten)]
    pub(crate) files: NotifyConfigArgs,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:9095")]
    pub(crate) listen: std::net::SocketAddr,
}

#[derive(Debug, Subcommand)]
pub(crate) enum OutboxCommand {
    /// List pending notifications and dead letters.
    List(OutboxListArgs),
    /// Put dead letters back in the queue.
    Retry(OutboxRetryArgs),
}

#[derive(Debug, Args)]
pub(crate) struct OutboxListArgs {
    /// The SQLite outbox file.
    #[arg(long)]
    pub(crate) outbox: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Output::Text)]
    pub(crate) output: Output,
}

#[derive(Debug, Args)]
pub(crate) struct OutboxRetryArgs {
    /// The SQLite outbox file.
    #[arg(long)]
    pub(crate) outbox: PathBuf,
    /// The dead letter to re-queue (see `outbox list`).
    #[arg(long, conflicts_with = "all", required_unless_present = "all")]
    pub(crate) id: Option<i64>,
    /// Re-queue every dead letter.
    #[arg(long)]
    pub(crate) all: bool,
}

#[derive(Debug, Args)]
pub(crate) struct SentrySyncArgs {
    /// The alert rules file (YAML; see parky-notify/examples/sentry-rules.yaml).
    #[arg(long)]
    pub(crate) rules: PathBuf,
    /// Only print the plan; change nothing.
    #[arg(long)]
    pub(crate) dry_run: bool,
    /// Also delete managed rules that the file no longer has.
    #[arg(long)]
    pub(crate) delete_extra: bool,
    /// Sentry's base URL (self-hosted Sentry, or a region such as `https://de.sentry.io`).
    #[arg(long, default_value = "https://sentry.io")]
    pub(crate) base_url: String,
    /// Output format of the plan.
    #[arg(long, value_enum, default_value_t = Output::Text)]
    pub(crate) output: Output,
}

#[derive(Debug, Subcommand)]
pub(crate) enum SloCommand {
    /// Read an access log and report the SLI, error budget, burn rates and alert timeline.
    Report(ReportArgs),
    /// Print the multi-window, multi-burn-rate alert table for an objective.
    Windows(WindowsArgs),
}

/// Output formats of the report commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Output {
    /// Aligned text for a terminal.
    Text,
    /// One JSON document (the shape is documented in docs/slo-report.md).
    Json,
    /// A Markdown document, e.g. for a pull request or a wiki page.
    Markdown,
}

/// Output formats of `parky demo`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum DemoOutput {
    /// The story as text for a terminal.
    Text,
    /// Every stage's data as one JSON document.
    Json,
}

/// Formats of the log given to `--log`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum LogFormatArg {
    /// Apache/Nginx combined format, with Nginx's optional trailing `$request_time`.
    Combined,
    /// JSON lines of Cloudflare Workers trace events.
    WorkersJsonl,
}

/// The objective and its period, shared by `slo report` and `slo windows`.
#[derive(Debug, Args)]
pub(crate) struct ObjectiveArgs {
    /// Target share of good requests, in percent (e.g. 99.9).
    #[arg(long, value_parser = parse_percent)]
    pub(crate) objective: f64,
    /// Length of the SLO period (e.g. 30d, 28d, 7d). Alert windows longer than the period are
    /// left out, with a note.
    #[arg(long, default_value = "30d", value_parser = parse_duration)]
    pub(crate) period: Duration,
}

#[derive(Debug, Args)]
pub(crate) struct ReportArgs {
    /// The access log to read ("-" reads standard input).
    #[arg(long)]
    pub(crate) log: PathBuf,
    /// Format of the log.
    #[arg(long, value_enum, default_value_t = LogFormatArg::Combined)]
    pub(crate) log_format: LogFormatArg,
    #[command(flatten)]
    pub(crate) objective: ObjectiveArgs,
    /// Report as of this time (RFC 3339, e.g. 2015-05-20T12:00:00Z) instead of the end of the data.
    #[arg(long, value_parser = parse_time)]
    pub(crate) at: Option<chrono::DateTime<chrono::Utc>>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Output::Text)]
    pub(crate) output: Output,
    /// Lowest HTTP status that counts as a bad request (every status from it up is bad).
    #[arg(long, default_value_t = 500)]
    pub(crate) bad_status_from: u16,
    /// Also count HTTP 429 (rate limited) as bad.
    #[arg(long)]
    pub(crate) count_429_as_bad: bool,
    /// Only count Workers events of this script (workers-jsonl only).
    #[arg(long)]
    pub(crate) script: Option<String>,
    /// Fail when more than this share of the non-blank lines is malformed, in percent. (After
    /// the first 10,000 lines the reader also stops early if more than half are malformed:
    /// the file is then in another format.)
    #[arg(long, default_value = "1", value_parser = parse_share)]
    pub(crate) max_malformed: f64,
    /// Evaluation resolution: the size of the time buckets (e.g. 1m, 10s).
    #[arg(long, default_value = "1m", value_parser = parse_duration)]
    pub(crate) resolution: Duration,
}

#[derive(Debug, Args)]
pub(crate) struct WindowsArgs {
    #[command(flatten)]
    pub(crate) objective: ObjectiveArgs,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Output::Text)]
    pub(crate) output: Output,
}

#[derive(Debug, Args)]
pub(crate) struct DemoArgs {
    /// Seed of the simulated traffic; the same seed tells the same story.
    #[arg(long, default_value_t = 42)]
    pub(crate) seed: u64,
    /// Output format.
    #[arg(long, value_enum, default_value_t = DemoOutput::Text)]
    pub(crate) output: DemoOutput,
    /// Where the demo's file receivers write their notifications (notifications.jsonl).
    /// Default: `parky-demo` in the system's temporary directory.
    #[arg(long)]
    pub(crate) out_dir: Option<std::path::PathBuf>,
}

/// `P0`…`P3`, any case.
pub(crate) fn parse_severity(text: &str) -> Result<parky_notify::Severity, String> {
    text.parse()
        .map_err(|e: parky_notify::severity::UnknownSeverity| e.to_string())
}

/// `name=value` (the value may be empty or contain `=`).
pub(crate) fn parse_label(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((name, value)) if !name.is_empty() => Ok((name.to_owned(), value.to_owned())),
        _ => Err(format!("`{text}` is not a label such as severity=page")),
    }
}

/// `99.9` or `99.9%` → 0.999; must lie strictly between 0 and 100.
pub(crate) fn parse_percent(text: &str) -> Result<f64, String> {
    let number = text.trim().trim_end_matches('%').trim();
    let value: f64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a percentage such as 99.9"))?;
    if !(value > 0.0 && value < 100.0) {
        return Err(format!(
            "`{text}` must lie strictly between 0 and 100 (a percentage, e.g. 99.9)"
        ));
    }
    Ok(percent_to_ratio(number, value))
}

/// Moves the decimal point instead of dividing, so `99.9` becomes the double nearest to
/// 0.999 (dividing by 100 gives 0.9990000000000001). `number` is the text `value` was parsed
/// from; a form that cannot take an exponent (such as `1e1`) is divided instead.
fn percent_to_ratio(number: &str, value: f64) -> f64 {
    format!("{number}e-2").parse().unwrap_or(value / 100.0)
}

/// A share in percent from 0 to 100 inclusive → a fraction.
pub(crate) fn parse_share(text: &str) -> Result<f64, String> {
    let number = text.trim().trim_end_matches('%').trim();
    let value: f64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a percentage such as 1 or 0.5"))?;
    if !(0.0..=100.0).contains(&value) {
        return Err(format!("`{text}` must lie between 0 and 100"));
    }
    Ok(percent_to_ratio(number, value))
}

/// Durations such as `30d`, `28d`, `6h`, `5m`, `1h30m` (humantime syntax), non-zero.
pub(crate) fn parse_duration(text: &str) -> Result<Duration, String> {
    let duration = humantime::parse_duration(text.trim())
        .map_err(|e| format!("`{text}` is not a duration such as 30d, 6h or 5m ({e})"))?;
    if duration.is_zero() {
        return Err(format!("`{text}` must be longer than zero"));
    }
    Ok(duration)
}

/// RFC 3339 timestamps, e.g. `2015-05-20T12:00:00Z` or `2015-05-20T21:00:00+09:00`.
pub(crate) fn parse_time(text: &str) -> Result<chrono::DateTime<chrono::Utc>, String> {
    chrono::DateTime::parse_from_rfc3339(text.trim())
        .map(|t| t.with_timezone(&chrono::Utc))
        .map_err(|e| format!("`{text}` is not an RFC 3339 time such as 2015-05-20T12:00:00Z ({e})"))
}

/// A Workers version id (`--simulated-history`): trimmed, not empty.
fn parse_version_id(text: &str) -> Result<String, String> {
    match text.trim() {
        "" => Err(
            "a version id cannot be empty (give version ids, oldest first, e.g. v1,v2)".to_owned(),
        ),
        id => Ok(id.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_accepts_plain_and_suffixed_values() {
        assert_eq!(parse_percent("99.9"), Ok(0.999));
        assert_eq!(parse_percent("99.9%"), Ok(0.999));
        assert_eq!(parse_percent("99.95"), Ok(0.9995));
        assert_eq!(parse_share("1"), Ok(0.01));
        assert_eq!(parse_share("0"), Ok(0.0));
        assert_eq!(parse_share("1e1"), Ok(0.1));
        assert!(parse_percent("100").is_err());
        assert!(parse_percent("0").is_err());
        assert!(parse_percent("abc").unwrap_err().contains("abc"));
        assert!(parse_percent("NaN").is_err());
    }

    #[test]
    fn durations_use_day_hour_minute_units() {
        assert_eq!(parse_duration("30d"), Ok(Duration::from_secs(30 * 86_400)));
        assert_eq!(parse_duration("28d"), Ok(Duration::from_secs(28 * 86_400)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5_400)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("thirty days").is_err());
    }

    #[test]
    fn times_are_rfc3339_with_offsets() {
        let t = parse_time("2015-05-20T21:00:00+09:00").unwrap();
        assert_eq!(t.to_rfc3339(), "2015-05-20T12:00:00+00:00");
        assert!(parse_time("yesterday").is_err());
    }
}
