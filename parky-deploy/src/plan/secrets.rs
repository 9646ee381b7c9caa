//! Which secrets are available: the [`SecretStore`] trait and the pre-flight check.

use std::collections::BTreeSet;
use std::fmt;

use super::config::DeployPlan;
use crate::error::DeployError;

/// Answers whether a secret is available, by name. Values are never read here.
pub trait SecretStore: Send + Sync + fmt::Debug {
    /// Whether the secret `name` is present (and usable: not empty).
    fn is_present(&self, name: &str) -> bool;
}

/// Secrets in the process environment: a name is present when the variable is set to a
/// non-empty value.
#[derive(Debug, Clone, Copy, Default)]
pub struct EnvSecrets;

impl SecretStore for EnvSecrets {
    fn is_present(&self, name: &str) -> bool {
        // `var_os` rejects names with `=` or NUL by returning None; no panic.
        !name.is_empty()
            && !name.contains(['=', '\0'])
            && std::env::var_os(name).is_some_and(|v| !v.is_empty())
    }
}

/// A fixed set of secret names (tests, or names listed by a vault).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SecretNames(BTreeSet<String>);

impl SecretNames {
    /// The set of `names`.
    pub fn new<I, S>(names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self(names.into_iter().map(Into::into).collect())
    }
}

impl SecretStore for SecretNames {
    fn is_present(&self, name: &str) -> bool {
        self.0.contains(name)
    }
}

/// Check that every secret of every service is present, before anything starts.
///
/// # Errors
/// [`DeployError::MissingSecrets`] listing every missing `(service, name)` pair, in deploy
/// order and, within a service, in file order.
pub fn check_secrets(plan: &DeployPlan, store: &dyn SecretStore) -> Result<(), DeployError> {
    let missing: Vec<(String, String)> = plan
        .services()
        .iter()
        .flat_map(|service| {
            service
                .secrets
                .iter()
                .filter(|name| !store.is_present(name))
                .map(|name| (service.name.clone(), name.clone()))
        })
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(DeployError::MissingSecrets { missing })
    }
}
