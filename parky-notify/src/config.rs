//! The Alertmanager configuration file as written, in plain serde structs.
//!
//! These types only mirror the YAML; nothing here is validated beyond its shape. Turn a
//! [`AlertmanagerConfig`] into a [`NotifyPolicy`](crate::policy::NotifyPolicy) with `TryFrom`
//! to get the checked, typed form that routes alerts.
//!
//! Parsing rules, as in Alertmanager (which reads the file with Go's `yaml.UnmarshalStrict`):
//!
//! - Unknown fields are errors (`deny_unknown_fields`), except inside a receiver (see below)
//!   and inside the `global` section.
//! - `global` and `templates` are accepted and ignored: they only matter for delivery, which
//!   this crate does not do yet. `global` is kept as an opaque YAML value.
//! - A receiver must have a `name`. Its other keys must be integration blocks, i.e. end in
//!   `_configs` (`slack_configs`, `webhook_configs`, …); they are kept unchecked as opaque
//!   YAML values for the delivery code to read later.
//! - A field written with no value (`routes:`) is the same as an absent field, as in Go.
//! - Where Alertmanager reads a string, a YAML number or boolean is accepted and read as its
//!   text (`match: {code: 500}` means the value `"500"`), because Go's YAML decoder does so.
//!   Numbers are re-printed from their value, so prefer quoting odd spellings like `0x1F`.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize};
use serde_yaml_ng::Value;

use crate::error::NotifyError;

/// The whole configuration file. Only the sections routing needs are read.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertmanagerConfig {
    /// `global`: accepted and ignored (SMTP, Slack URL defaults, … belong to delivery).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub global: Option<Value>,
    /// `templates`: accepted and ignored (notification templates belong to delivery).
    #[serde(
        default,
        deserialize_with = "null_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub templates: Vec<String>,
    /// `route`: the root of the routing tree. Required.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route: Option<RouteConfig>,
    /// `receivers`: the notification targets routes refer to by name.
    #[serde(
        default,
        deserialize_with = "null_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub receivers: Vec<ReceiverConfig>,
    /// `inhibit_rules`: which firing alerts mute which others.
    #[serde(
        default,
        deserialize_with = "null_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub inhibit_rules: Vec<InhibitRuleConfig>,
    /// `time_intervals`: named sets of periods routes can be muted or active in.
    #[serde(
        default,
        deserialize_with = "null_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub time_intervals: Vec<TimeIntervalConfig>,
    /// `mute_time_intervals`: the deprecated name of `time_intervals`; both may be used and
    /// share one namespace.
    #[serde(
        default,
        deserialize_with = "null_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub mute_time_intervals: Vec<TimeIntervalConfig>,
}

impl AlertmanagerConfig {
    /// Parses the YAML text of an Alertmanager configuration file.
    ///
    /// # Errors
    ///
    /// [`NotifyError::Yaml`] when the text is not YAML or does not fit the structure.
    pub fn from_yaml(text: &str) -> Result<Self, NotifyError> {
        // An empty document is an empty config (Go does the same); the missing route is
        // reported by validation.
        if text.trim().is_empty() {
            return Ok(AlertmanagerConfig::default());
        }
        Ok(serde_yaml_ng::from_str(text)?)
    }

    /// Prints the configuration back as YAML. Parsing the result gives an equal value.
    ///
    /// # Errors
    ///
    /// [`NotifyError::Yaml`] if an opaque value cannot be printed (it came from YAML, so
    /// this does not happen in practice).
    pub fn to_yaml(&self) -> Result<String, NotifyError> {
        Ok(serde_yaml_ng::to_string(self)?)
    }
}

/// One node of the routing tree (`route` and every entry of `routes`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteConfig {
    /// `receiver`: where matching alerts go; inherited from the parent when absent.
    #[serde(
        default,
        deserialize_with = "opt_scalar_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub receiver: Option<String>,
    /// `group_by`: label names, or `['...']` for all labels; inherited when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_by: Option<Vec<String>>,
    /// `continue`: keep matching the following siblings after this route matched.
    #[serde(
        default,
        rename = "continue",
        skip_serializing_if = "std::ops::Not::not"
    )]
    pub continue_matching: bool,
    /// `match` (deprecated): label name → exact value.
    #[serde(
        default,
        rename = "match",
        deserialize_with = "scalar_map",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub match_labels: BTreeMap<String, String>,
    /// `match_re` (deprecated): label name → regular expression (anchored).
    #[serde(
        default,
        deserialize_with = "scalar_map",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub match_re: BTreeMap<String, String>,
    /// `matchers`: matcher strings such as `severity=~"page|critical"`; one entry may hold a
    /// comma-separated list.
    #[serde(
        default,
        deserialize_with = "scalar_list",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub matchers: Vec<String>,
    /// `group_wait` (Prometheus duration); inherited, default `30s`.
    #[serde(
        default,
        deserialize_with = "opt_scalar_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub group_wait: Option<String>,
    /// `group_interval`; inherited, default `5m`.
    #[serde(
        default,
        deserialize_with = "opt_scalar_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub group_interval: Option<String>,
    /// `repeat_interval`; inherited, default `4h`.
    #[serde(
        default,
        deserialize_with = "opt_scalar_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub repeat_interval: Option<String>,
    /// `mute_time_intervals`: names of intervals in which this route sends nothing. Not
    /// inherited.
    #[serde(
        default,
        deserialize_with = "scalar_list",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub mute_time_intervals: Vec<String>,
    /// `active_time_intervals`: names of the only intervals in which this route sends. Not
    /// inherited.
    #[serde(
        default,
        deserialize_with = "scalar_list",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub active_time_intervals: Vec<String>,
    /// `routes`: child routes, tried in order.
    #[serde(
        default,
        deserialize_with = "null_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub routes: Vec<RouteConfig>,
}

/// One entry of `receivers`: a name plus integration blocks kept as opaque YAML.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "BTreeMap<String, Value>", into = "BTreeMap<String, Value>")]
pub struct ReceiverConfig {
    /// `name`: what routes refer to.
    pub name: String,
    /// Every `*_configs` block, by key (`slack_configs`, `webhook_configs`, …), unchecked.
    pub integrations: BTreeMap<String, Value>,
}

impl TryFrom<BTreeMap<String, Value>> for ReceiverConfig {
    type Error = String;

    fn try_from(mut map: BTreeMap<String, Value>) -> Result<Self, Self::Error> {
        let name = match map.remove("name") {
            None | Some(Value::Null) => return Err("missing name in receiver".to_owned()),
            Some(v) => {
                scalar_text(&v).ok_or_else(|| "receiver name must be a string".to_owned())?
            }
        };
        if let Some(key) = map.keys().find(|k| !k.ends_with("_configs")) {
            return Err(format!(
                "unknown field `{key}` in receiver {name:?} (expected `name` or an integration \
                 block ending in `_configs`)"
            ));
        }
        Ok(ReceiverConfig {
            name,
            integrations: map,
        })
    }
}

impl From<ReceiverConfig> for BTreeMap<String, Value> {
    fn from(r: ReceiverConfig) -> Self {
        let mut map = r.integrations;
        map.insert("name".to_owned(), Value::String(r.name));
        map
    }
}

/// One entry of `inhibit_rules`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InhibitRuleConfig {
    /// `name`: optional, for people reading the config.
    #[serde(
        default,
        deserialize_with = "opt_scalar_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub name: Option<String>,
    /// `source_match` (deprecated): exact values a source alert must have.
    #[serde(
        default,
        deserialize_with = "scalar_map",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub source_match: BTreeMap<String, String>,
    /// `source_match_re` (deprecated): regexes a source alert must match.
    #[serde(
        default,
        deserialize_with = "scalar_map",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub source_match_re: BTreeMap<String, String>,
    /// `source_matchers`: matcher strings a source alert must match.
    #[serde(
        default,
        deserialize_with = "scalar_list",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub source_matchers: Vec<String>,
    /// `target_match` (deprecated): exact values a muted alert must have.
    #[serde(
        default,
        deserialize_with = "scalar_map",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub target_match: BTreeMap<String, String>,
    /// `target_match_re` (deprecated): regexes a muted alert must match.
    #[serde(
        default,
        deserialize_with = "scalar_map",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub target_match_re: BTreeMap<String, String>,
    /// `target_matchers`: matcher strings a muted alert must match.
    #[serde(
        default,
        deserialize_with = "scalar_list",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub target_matchers: Vec<String>,
    /// `equal`: labels whose values must be the same on source and target.
    #[serde(
        default,
        deserialize_with = "scalar_list",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub equal: Vec<String>,
}

/// One entry of `time_intervals` (or the deprecated `mute_time_intervals`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimeIntervalConfig {
    /// `name`: what routes refer to.
    #[serde(default, deserialize_with = "scalar_string_or_empty")]
    pub name: String,
    /// `time_intervals`: the periods; the named interval contains an instant when any of
    /// them does.
    #[serde(
        default,
        deserialize_with = "null_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub time_intervals: Vec<TimeIntervalSpecConfig>,
}

/// One period of a named time interval. Absent fields do not restrict; every present field
/// must match.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimeIntervalSpecConfig {
    /// `times`: `start_time`/`end_time` pairs (`HH:MM`, end exclusive, `24:00` allowed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub times: Option<Vec<TimeRangeConfig>>,
    /// `weekdays`: `monday`, `monday:friday`, … (case-insensitive).
    #[serde(
        default,
        deserialize_with = "opt_scalar_list",
        skip_serializing_if = "Option::is_none"
    )]
    pub weekdays: Option<Vec<String>>,
    /// `days_of_month`: `1`, `1:5`, `-3:-1` (negative counts from the month's end).
    #[serde(
        default,
        deserialize_with = "opt_scalar_list",
        skip_serializing_if = "Option::is_none"
    )]
    pub days_of_month: Option<Vec<String>>,
    /// `months`: `january`, `1:3`, `may:august`.
    #[serde(
        default,
        deserialize_with = "opt_scalar_list",
        skip_serializing_if = "Option::is_none"
    )]
    pub months: Option<Vec<String>>,
    /// `years`: `2024`, `2024:2026`.
    #[serde(
        default,
        deserialize_with = "opt_scalar_list",
        skip_serializing_if = "Option::is_none"
    )]
    pub years: Option<Vec<String>>,
    /// `location`: an IANA time zone name (`Asia/Tokyo`); UTC when absent.
    #[serde(
        default,
        deserialize_with = "opt_scalar_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub location: Option<String>,
}

/// One `times` entry.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimeRangeConfig {
    /// `start_time`: `HH:MM`, inclusive.
    #[serde(default, deserialize_with = "scalar_string_or_empty")]
    pub start_time: String,
    /// `end_time`: `HH:MM`, exclusive.
    #[serde(default, deserialize_with = "scalar_string_or_empty")]
    pub end_time: String,
}

// --- lenient readers, matching Go's YAML decoder ---

/// `null` (a key with no value) reads as the default, as Go leaves the field unset.
fn null_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// The text of a YAML scalar; `None` for sequences, mappings and tagged values.
fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Null => Some(String::new()),
        Value::Sequence(_) | Value::Mapping(_) | Value::Tagged(_) => None,
    }
}

fn scalar<E: serde::de::Error>(v: &Value) -> Result<String, E> {
    scalar_text(v).ok_or_else(|| E::custom("expected a string, found a sequence or mapping"))
}

fn opt_scalar_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    match Option::<Value>::deserialize(d)? {
        None | Some(Value::Null) => Ok(None),
        Some(v) => scalar(&v).map(Some),
    }
}

fn scalar_string_or_empty<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(opt_scalar_string(d)?.unwrap_or_default())
}

fn scalar_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    Ok(opt_scalar_list(d)?.unwrap_or_default())
}

fn opt_scalar_list<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<String>>, D::Error> {
    match Option::<Vec<Value>>::deserialize(d)? {
        None => Ok(None),
        Some(items) => items.iter().map(scalar).collect::<Result<_, _>>().map(Some),
    }
}

fn scalar_map<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, String>, D::Error> {
    let raw = Option::<BTreeMap<String, Value>>::deserialize(d)?.unwrap_or_default();
    raw.into_iter().map(|(k, v)| Ok((k, scalar(&v)?))).collect()
}
