//! The plan file (serde structs) and its validation into a [`DeployPlan`] in deploy order.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::time::Duration;

use serde::Deserialize;
use url::Url;

use super::shell::{shell_join, shell_quote};
use crate::error::DeployError;

/// The default smoke-test status.
const DEFAULT_EXPECT_STATUS: u16 = 200;
/// The default smoke-test timeout per attempt.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// The default wait between smoke-test attempts.
const DEFAULT_INTERVAL: Duration = Duration::from_secs(5);
/// The default deadline of a deploy or rollback command: 10 minutes.
pub const DEFAULT_COMMAND_TIMEOUT: Duration = Duration::from_secs(600);
/// The most retries a smoke test may ask for.
pub const MAX_RETRIES: u32 = 100;

/// The plan file as written (see the [module docs](super) for the format).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanConfig {
    /// The services, in file order.
    pub services: Vec<ServiceConfig>,
}

/// One service of the plan file.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceConfig {
    /// The service's unique name (letters, digits, `-`, `_`, `.`).
    pub name: String,
    /// Services that must be deployed (and pass their smoke tests) first.
    #[serde(default)]
    pub depends_on: Vec<String>,
    /// Names of the secrets the deploy needs (environment variables, a vault's keys).
    #[serde(default)]
    pub secrets: Vec<String>,
    /// How to deploy it.
    pub deploy: DeployStepConfig,
    /// How to put the previous version back (e.g. `[npx, wrangler, rollback]`); without
    /// one, a failure later in the run leaves this service deployed and says so.
    #[serde(default)]
    pub rollback: Option<DeployStepConfig>,
    /// How to check it afterwards; none means the deploy alone decides.
    #[serde(default)]
    pub smoke_test: Option<SmokeTestConfig>,
}

/// A deploy (or rollback) step as written.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeployStepConfig {
    /// The program and its arguments, e.g. `["npx", "wrangler", "deploy"]`. It is run
    /// directly, without a shell; write `[sh, -c, "…"]` to get one.
    pub command: Vec<String>,
    /// The directory to run it in, relative to the plan.
    #[serde(default)]
    pub workdir: Option<String>,
    /// The deadline, e.g. `5m` (default `10m`); past it the command is killed and the step
    /// fails.
    #[serde(default)]
    pub timeout: Option<String>,
}

/// The smoke test as written.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmokeTestConfig {
    /// The http(s) URL to `GET`.
    pub url: String,
    /// The status that passes (default 200).
    #[serde(default)]
    pub expect_status: Option<u16>,
    /// The deadline per attempt, e.g. `5s` (default `10s`).
    #[serde(default)]
    pub timeout: Option<String>,
    /// How many more attempts after a failed one (default 0).
    #[serde(default)]
    pub retries: Option<u32>,
    /// The wait between attempts, e.g. `10s` (default `5s`).
    #[serde(default)]
    pub interval: Option<String>,
}

/// A validated plan: services in deploy order, dependencies first.
///
/// # Order
/// A topological order of `depends_on`; among services whose dependencies are all placed,
/// the one written first in the file goes first (Kahn's algorithm with a file-order
/// queue). A plan without dependencies therefore deploys in file order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeployPlan {
    services: Vec<ServiceSpec>,
}

/// A validated service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceSpec {
    /// The unique name.
    pub name: String,
    /// Its dependencies, as written.
    pub depends_on: Vec<String>,
    /// The names of the secrets it needs.
    pub secrets: Vec<String>,
    /// How to deploy it.
    pub deploy: DeployStep,
    /// How to roll it back, if the plan says.
    pub rollback: Option<DeployStep>,
    /// Its smoke test, if any.
    pub smoke_test: Option<SmokeTest>,
}

/// A validated deploy or rollback step: what a [`Deployer`](super::Deployer) runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeployStep {
    /// The program and its arguments (never empty).
    pub command: Vec<String>,
    /// The working directory, if any.
    pub workdir: Option<String>,
    /// The deadline (more than zero; default [`DEFAULT_COMMAND_TIMEOUT`]).
    pub timeout: Duration,
}

/// A validated smoke test: an HTTP `GET` expecting one status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmokeTest {
    /// The URL (http or https).
    pub url: Url,
    /// The status that passes.
    pub expect_status: u16,
    /// The deadline per attempt (more than zero).
    pub timeout: Duration,
    /// Further attempts after a failure (at most [`MAX_RETRIES`]).
    pub retries: u32,
    /// The wait between attempts.
    pub interval: Duration,
}

impl SmokeTest {
    /// The number of attempts: `retries + 1`.
    #[must_use]
    pub fn attempts(&self) -> u32 {
        self.retries.saturating_add(1)
    }
}

fn invalid(field: impl Into<String>, reason: impl Into<String>) -> DeployError {
    DeployError::InvalidConfig {
        field: field.into(),
        reason: reason.into(),
    }
}

impl DeployPlan {
    /// Parse and validate a YAML plan.
    ///
    /// # Errors
    /// [`DeployError::PlanSyntax`] for YAML that does not match the format (unknown or
    /// missing fields, wrong types), with its line and column; [`DeployError::InvalidConfig`]
    /// naming the field for everything [`TryFrom<PlanConfig>`](DeployPlan#impl-TryFrom<PlanConfig>-for-DeployPlan)
    /// refuses.
    pub fn from_yaml(text: &str) -> Result<Self, DeployError> {
        let config: PlanConfig =
            serde_yaml_ng::from_str(text).map_err(|e| DeployError::PlanSyntax {
                line: e.location().map(|l| l.line()),
                column: e.location().map(|l| l.column()),
                reason: e.to_string(),
            })?;
        Self::try_from(config)
    }

    /// The services in deploy order.
    #[must_use]
    pub fn services(&self) -> &[ServiceSpec] {
        &self.services
    }

    /// The service called `name`.
    #[must_use]
    pub fn service(&self, name: &str) -> Option<&ServiceSpec> {
        self.services.iter().find(|s| s.name == name)
    }

    /// The dry run: the ordered steps, printable with `Display`, without executing anything.
    #[must_use]
    pub fn dry_run(&self) -> DryRun {
        DryRun {
            steps: self
                .services
                .iter()
                .enumerate()
                .map(|(i, service)| PlannedStep {
                    position: i + 1,
                    service: service.clone(),
                })
                .collect(),
        }
    }
}

impl TryFrom<PlanConfig> for DeployPlan {
    type Error = DeployError;

    /// Validate a plan file.
    ///
    /// Refused, with the field named: no services (`services`); an empty, malformed or
    /// duplicate name (`services[2].name`); an unknown or repeated dependency
    /// (`services.admin.depends_on[0]: unknown service "pubic"`); a dependency cycle
    /// (`services.a.depends_on: dependency cycle a → b → a`, starting at the cycle's member
    /// written first); an empty or repeated secret name (`services.admin.secrets[1]`); an
    /// empty command (`services.admin.deploy.command`); a smoke-test URL that is not
    /// http(s), a status outside 100–599, an unparsable or zero timeout, an unparsable
    /// interval or more than [`MAX_RETRIES`] retries (`services.admin.smoke_test.…`).
    fn try_from(config: PlanConfig) -> Result<Self, Self::Error> {
        if config.services.is_empty() {
            return Err(invalid("services", "the plan has no services"));
        }
        let mut index: BTreeMap<&str, usize> = BTreeMap::new();
        for (i, service) in config.services.iter().enumerate() {
            let field = format!("services[{i}].name");
            check_name(&field, &service.name)?;
            if let Some(first) = index.insert(service.name.as_str(), i) {
                return Err(invalid(
                    field,
                    format!(
                        "duplicate service {:?} (first at services[{first}])",
                        service.name
                    ),
                ));
            }
        }
        let mut deps: Vec<Vec<usize>> = Vec::with_capacity(config.services.len());
        for service in &config.services {
            let mut own = Vec::new();
            for (j, dep) in service.depends_on.iter().enumerate() {
                let field = format!("services.{}.depends_on[{j}]", service.name);
                let Some(&k) = index.get(dep.as_str()) else {
                    return Err(invalid(field, format!("unknown service {dep:?}")));
                };
                if own.contains(&k) {
                    return Err(invalid(field, format!("{dep:?} is listed twice")));
                }
                own.push(k);
            }
            deps.push(own);
        }
        let order = topological_order(&deps).map_err(|cycle| {
            let names: Vec<&str> = cycle
                .iter()
                .map(|&i| config.services[i].name.as_str())
                .collect();
            let first = names.first().copied().unwrap_or_default();
            invalid(
                format!("services.{first}.depends_on"),
                format!("dependency cycle {}", names.join(" → ")),
            )
        })?;
        let mut specs: Vec<Option<ServiceSpec>> = Vec::with_capacity(config.services.len());
        for service in config.services {
            specs.push(Some(validate_service(service)?));
        }
        let services = order
            .into_iter()
            .filter_map(|i| specs.get_mut(i).and_then(Option::take))
            .collect();
        Ok(Self { services })
    }
}

fn check_name(field: &str, name: &str) -> Result<(), DeployError> {
    if name.is_empty() {
        return Err(invalid(field, "must not be empty"));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
    {
        return Err(invalid(
            field,
            format!("{name:?} contains {c:?}; use letters, digits, `-`, `_` or `.`"),
        ));
    }
    Ok(())
}

fn validate_service(service: ServiceConfig) -> Result<ServiceSpec, DeployError> {
    let name = service.name;
    let mut seen = BTreeSet::new();
    for (j, secret) in service.secrets.iter().enumerate() {
        let field = format!("services.{name}.secrets[{j}]");
        if secret.trim().is_empty() || secret.contains(['=', '\0']) {
            return Err(invalid(
                field,
                format!("{secret:?} is not a secret name (empty, `=` or NUL)"),
            ));
        }
        if !seen.insert(secret.as_str()) {
            return Err(invalid(field, format!("{secret:?} is listed twice")));
        }
    }
    let deploy = validate_step(&format!("services.{name}.deploy"), service.deploy)?;
    let rollback = service
        .rollback
        .map(|step| validate_step(&format!("services.{name}.rollback"), step))
        .transpose()?;
    let smoke_test = service
        .smoke_test
        .map(|test| validate_smoke_test(&name, test))
        .transpose()?;
    Ok(ServiceSpec {
        depends_on: service.depends_on,
        secrets: service.secrets,
        deploy,
        rollback,
        smoke_test,
        name,
    })
}

/// A deploy or rollback step; `field` is `services.<name>.deploy` or `….rollback`.
fn validate_step(field: &str, step: DeployStepConfig) -> Result<DeployStep, DeployError> {
    if step.command.first().is_none_or(|p| p.trim().is_empty()) {
        return Err(invalid(format!("{field}.command"), "must name a program"));
    }
    let timeout = match step.timeout.as_deref() {
        None => DEFAULT_COMMAND_TIMEOUT,
        Some(text) => humantime::parse_duration(text).map_err(|e| {
            invalid(
                format!("{field}.timeout"),
                format!("{text:?}: {e} (e.g. `5m`)"),
            )
        })?,
    };
    if timeout.is_zero() {
        return Err(invalid(
            format!("{field}.timeout"),
            "must be more than zero",
        ));
    }
    Ok(DeployStep {
        command: step.command,
        workdir: step.workdir,
        timeout,
    })
}

fn validate_smoke_test(service: &str, test: SmokeTestConfig) -> Result<SmokeTest, DeployError> {
    let field = |name: &str| format!("services.{service}.smoke_test.{name}");
    let url =
        Url::parse(&test.url).map_err(|e| invalid(field("url"), format!("{:?}: {e}", test.url)))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(invalid(
            field("url"),
            format!("{:?} is not an http(s) URL", test.url),
        ));
    }
    let expect_status = test.expect_status.unwrap_or(DEFAULT_EXPECT_STATUS);
    if !(100..=599).contains(&expect_status) {
        return Err(invalid(
            field("expect_status"),
            format!("{expect_status} is not an HTTP status (100–599)"),
        ));
    }
    let duration = |name: &str, text: Option<&str>, default: Duration| match text {
        None => Ok(default),
        Some(text) => humantime::parse_duration(text)
            .map_err(|e| invalid(field(name), format!("{text:?}: {e} (e.g. `5s`, `1m`)"))),
    };
    let timeout = duration("timeout", test.timeout.as_deref(), DEFAULT_TIMEOUT)?;
    if timeout.is_zero() {
        return Err(invalid(field("timeout"), "must be more than zero"));
    }
    let interval = duration("interval", test.interval.as_deref(), DEFAULT_INTERVAL)?;
    let retries = test.retries.unwrap_or(0);
    if retries > MAX_RETRIES {
        return Err(invalid(
            field("retries"),
            format!("{retries} is more than {MAX_RETRIES}"),
        ));
    }
    Ok(SmokeTest {
        url,
        expect_status,
        timeout,
        retries,
        interval,
    })
}

/// Kahn's algorithm; among ready nodes the lowest index (file order) goes first.
/// `deps[i]` are the nodes `i` depends on. On a cycle, returns one cycle (as node indices,
/// first node repeated at the end), rotated to start at its lowest index.
fn topological_order(deps: &[Vec<usize>]) -> Result<Vec<usize>, Vec<usize>> {
    let n = deps.len();
    let mut pending: Vec<usize> = deps.iter().map(Vec::len).collect();
    let mut dependents: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (i, own) in deps.iter().enumerate() {
        for &d in own {
            if let Some(list) = dependents.get_mut(d) {
                list.push(i);
            }
        }
    }
    let mut ready: BTreeSet<usize> = (0..n).filter(|&i| pending[i] == 0).collect();
    let mut order = Vec::with_capacity(n);
    while let Some(next) = ready.pop_first() {
        order.push(next);
        for &dependent in &dependents[next] {
            pending[dependent] -= 1;
            if pending[dependent] == 0 {
                ready.insert(dependent);
            }
        }
    }
    if order.len() == n {
        return Ok(order);
    }
    // Every node left over still waits on a left-over dependency, so following the first
    // such dependency from any of them must come back to a node already on the path.
    let placed: BTreeSet<usize> = order.iter().copied().collect();
    let start = (0..n).find(|i| !placed.contains(i)).unwrap_or(0);
    let mut path = vec![start];
    let mut current = start;
    loop {
        let Some(&next) = deps[current].iter().find(|d| !placed.contains(d)) else {
            // Unreachable by the argument above; report what was found rather than panic.
            return Err(path);
        };
        if let Some(pos) = path.iter().position(|&p| p == next) {
            let mut cycle: Vec<usize> = path[pos..].to_vec();
            let lowest = cycle
                .iter()
                .enumerate()
                .min_by_key(|(_, &node)| node)
                .map_or(0, |(i, _)| i);
            cycle.rotate_left(lowest);
            if let Some(&first) = cycle.first() {
                cycle.push(first);
            }
            return Err(cycle);
        }
        path.push(next);
        current = next;
    }
}

/// One step of a [`DryRun`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedStep {
    /// 1-based position in the deploy order.
    pub position: usize,
    /// The service.
    pub service: ServiceSpec,
}

/// What a run would do, in order, without doing it (`--dry-run`). `Display` prints it:
/// commands shell-quoted ([`shell_join`](super::shell_join)), so that each can be pasted
/// into a shell, and `(in <workdir>)` as the plan writes it, relative to the plan file's
/// directory (a step without a `workdir` runs in that directory).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DryRun {
    /// The steps in deploy order.
    pub steps: Vec<PlannedStep>,
}

impl fmt::Display for DryRun {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "deploy plan: {} service(s), in order", self.steps.len())?;
        for step in &self.steps {
            let service = &step.service;
            write!(f, "{}. {}", step.position, service.name)?;
            if !service.depends_on.is_empty() {
                write!(f, " (after {})", service.depends_on.join(", "))?;
            }
            writeln!(f)?;
            if !service.secrets.is_empty() {
                writeln!(f, "   secrets: {}", service.secrets.join(", "))?;
            }
            write!(f, "   deploy: {}", shell_join(&service.deploy.command))?;
            if let Some(dir) = &service.deploy.workdir {
                write!(f, " (in {})", shell_quote(dir))?;
            }
            writeln!(f)?;
            match &service.rollback {
                None => writeln!(
                    f,
                    "   rollback: none (stays deployed if a later step fails)"
                )?,
                Some(step) => {
                    write!(f, "   rollback: {}", shell_join(&step.command))?;
                    if let Some(dir) = &step.workdir {
                        write!(f, " (in {})", shell_quote(dir))?;
                    }
                    writeln!(f)?;
                }
            }
            match &service.smoke_test {
                None => writeln!(f, "   smoke test: none")?,
                Some(test) => writeln!(
                    f,
                    "   smoke test: GET {} expecting {} (timeout {}, {})",
                    test.url,
                    test.expect_status,
                    humantime::format_duration(test.timeout),
                    retries_text(test.retries, test.interval),
                )?,
            }
        }
        write!(
            f,
            "on failure: roll back the services already deployed, in reverse order"
        )
    }
}

/// `no retries`, `1 retry 10s later`, `3 retries every 10s`.
fn retries_text(retries: u32, interval: std::time::Duration) -> String {
    let interval = humantime::format_duration(interval);
    match retries {
        0 => "no retries".to_owned(),
        1 => format!("1 retry {interval} later"),
        n => format!("{n} retries every {interval}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_prefers_file_order_among_ready() {
        // 0 and 2 ready; 1 depends on 2; 3 depends on 0.
        let deps = vec![vec![], vec![2], vec![], vec![0]];
        assert_eq!(topological_order(&deps), Ok(vec![0, 2, 1, 3]));
    }

    #[test]
    fn cycle_is_rotated_to_lowest() {
        // 0 → 1 (0 depends on 1), 1 → 2, 2 → 1; 3 is fine.
        let deps = vec![vec![1], vec![2], vec![1], vec![]];
        assert_eq!(topological_order(&deps), Err(vec![1, 2, 1]));
        let self_loop = vec![vec![0]];
        assert_eq!(topological_order(&self_loop), Err(vec![0, 0]));
    }
}
