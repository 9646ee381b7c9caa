//! The JSON bodies the intake endpoints accept, parsed into [`TimedAlert`]s. Pure: the
//! current instant is an argument.
//!
//! Errors are [`NotifyError::InvalidPayload`] whose `field` is a JSON path such as
//! `alerts[0].startsAt` (`$` is the whole body).

use std::time::Duration;

use chrono::{DateTime, Datelike, Utc};
use serde_json::{Map, Value};

use crate::error::NotifyError;
use crate::model::LabelSet;
use crate::pipeline::TimedAlert;
use crate::policy::strategy::add;

/// The only Alertmanager webhook payload version understood.
pub const ALERTMANAGER_VERSION: &str = "4";

/// The `source` of alerts received through the Alertmanager webhook.
pub const ALERTMANAGER_SOURCE: &str = "alertmanager";

/// The `source` of alerts received through the generic endpoint without one.
pub const GENERIC_SOURCE: &str = "api";

/// How long a firing alert received from Alertmanager lives in Parky without news by default.
/// Alertmanager sends no end for firing alerts and repeats a notification only every
/// `repeat_interval` (4 h by default); this must be longer than that.
pub const DEFAULT_ALERTMANAGER_TTL: Duration = Duration::from_secs(24 * 60 * 60);

/// What an Alertmanager webhook payload said about itself, besides its alerts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookGroup {
    /// `receiver`: the Alertmanager receiver that sent it.
    pub receiver: String,
    /// `groupKey`: Alertmanager's key of the alert group.
    pub group_key: String,
    /// `status`: `firing` or `resolved`.
    pub status: String,
    /// `truncatedAlerts`: how many alerts Alertmanager left out (`max_alerts`).
    pub truncated_alerts: u64,
    /// The alerts.
    pub alerts: Vec<TimedAlert>,
}

/// Parses an Alertmanager webhook payload (version `"4"`), as sent by `webhook_configs`:
///
/// ```json
/// {"version": "4", "groupKey": "{}:{alertname=\"HighErrorRate\"}", "truncatedAlerts": 0,
///  "status": "firing", "receiver": "parky", "groupLabels": {"alertname": "HighErrorRate"},
///  "commonLabels": {…}, "commonAnnotations": {…}, "externalURL": "http://am:9093",
///  "alerts": [{"status": "firing", "labels": {…}, "annotations": {…},
///              "startsAt": "2024-06-03T10:00:00Z", "endsAt": "0001-01-01T00:00:00Z",
///              "generatorURL": "http://prometheus/graph?…", "fingerprint": "8d1c…"}]}
/// ```
///
/// Required: `version` (exactly `"4"`), `status`, `receiver`, `groupKey`, `alerts`; each
/// alert's `status` (`firing` or `resolved`), `labels` (at least one non-empty value) and
/// `startsAt`. The other documented fields are type-checked when present; unknown fields are
/// ignored (newer Alertmanager versions may add some).
///
/// Ends: Alertmanager hides the end of a firing alert (`endsAt` is Go's zero time
/// `0001-01-01T00:00:00Z`) and re-sends a group only every `repeat_interval`, so a firing
/// alert gets `ends_at = now + ttl` unless it carries a real end; a resolved alert ends at its
/// `endsAt` (at `now` if that is zero or later than `now`). Empty label values are dropped
/// (an empty label is a missing label).
///
/// # Errors
/// [`NotifyError::InvalidPayload`] naming the field.
pub fn parse_alertmanager_webhook(
    body: &[u8],
    now: DateTime<Utc>,
    ttl: Duration,
) -> Result<WebhookGroup, NotifyError> {
    let value = parse_json(body)?;
    let Value::Object(top) = &value else {
        return Err(invalid("$", "expected a JSON object"));
    };
    let version = required_string(top, "version", "version")?;
    if version != ALERTMANAGER_VERSION {
        return Err(invalid(
            "version",
            format!(
                "unsupported webhook payload version {version:?} (only {ALERTMANAGER_VERSION:?} is supported)"
            ),
        ));
    }
    let status = required_string(top, "status", "status")?;
    check_status(&status, "status")?;
    let receiver = required_string(top, "receiver", "receiver")?;
    let group_key = required_string(top, "groupKey", "groupKey")?;
    let truncated_alerts = match top.get("truncatedAlerts") {
        None | Some(Value::Null) => 0,
        Some(v) => v
            .as_u64()
            .ok_or_else(|| invalid("truncatedAlerts", "expected a non-negative integer"))?,
    };
    for field in ["groupLabels", "commonLabels", "commonAnnotations"] {
        if let Some(v) = top.get(field) {
            string_map(v, field)?;
        }
    }
    if let Some(v) = top.get("externalURL") {
        if !v.is_string() {
            return Err(invalid("externalURL", "expected a string"));
        }
    }
    let Some(alerts) = top.get("alerts") else {
        return Err(invalid("alerts", "missing field"));
    };
    let Value::Array(alerts) = alerts else {
        return Err(invalid("alerts", "expected an array"));
    };
    let mut out = Vec::with_capacity(alerts.len());
    for (i, alert) in alerts.iter().enumerate() {
        let path = format!("alerts[{i}]");
        let Value::Object(alert) = alert else {
            return Err(invalid(&path, "expected an object"));
        };
        let at = |f: &str| format!("{path}.{f}");
        let status = required_string(alert, "status", &at("status"))?;
        check_status(&status, &at("status"))?;
        let labels = labels(alert.get("labels"), &at("labels"))?;
        let annotations = match alert.get("annotations") {
            None | Some(Value::Null) => LabelSet::new(),
            Some(v) => string_map(v, &at("annotations"))?,
        };
        let starts_at = match alert.get("startsAt") {
            None => return Err(invalid(&at("startsAt"), "missing field")),
            Some(v) => timestamp(v, &at("startsAt"))?,
        };
        let ends_at = match alert.get("endsAt") {
            None | Some(Value::Null) => None,
            Some(v) => timestamp(v, &at("endsAt"))?,
        };
        let starts_at = starts_at.ok_or_else(|| invalid(&at("startsAt"), "zero time"))?;
        let ends_at = if status == "resolved" {
            Some(ends_at.map_or(now, |end| end.min(now)))
        } else {
            Some(ends_at.filter(|end| *end > now).unwrap_or(add(now, ttl)))
        };
        let generator_url = optional_string(alert, "generatorURL", &at("generatorURL"))?;
        optional_string(alert, "fingerprint", &at("fingerprint"))?;
        out.push(TimedAlert {
            labels,
            annotations,
            starts_at,
            ends_at,
            generator_url: generator_url.filter(|u| !u.is_empty()),
            source: Some(ALERTMANAGER_SOURCE.to_owned()),
        });
    }
    Ok(WebhookGroup {
        receiver,
        group_key,
        status,
        truncated_alerts,
        alerts: out,
    })
}

/// Parses the generic alert body: one alert object or an array of them, each
///
/// ```json
/// {"labels": {"alertname": "DiskFull", "severity": "warning"},
///  "annotations": {"summary": "disk 91% full"},
///  "startsAt": "2024-06-03T10:00:00Z", "endsAt": "2024-06-03T11:00:00Z",
///  "generatorURL": "https://grafana/d/disk", "source": "cron-check"}
/// ```
///
/// This is Alertmanager's API v2 `postableAlert` (`POST /api/v2/alerts`) plus an optional
/// Parky `source`. Only `labels` is required (at least one non-empty value). `startsAt`
/// defaults to `now`; without `endsAt` the alert resolves after the pipeline's
/// `resolve_timeout` unless it is posted again, as in Alertmanager. Unknown fields are refused
/// (a typo such as `label` would otherwise lose data).
///
/// # Errors
/// [`NotifyError::InvalidPayload`] naming the field (`[2].labels`, or `labels` for a single
/// object).
pub fn parse_generic_alerts(
    body: &[u8],
    now: DateTime<Utc>,
) -> Result<Vec<TimedAlert>, NotifyError> {
    let value = parse_json(body)?;
    let items: Vec<(String, &Value)> = match &value {
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, v)| (format!("[{i}]"), v))
            .collect(),
        Value::Object(_) => vec![(String::new(), &value)],
        _ => return Err(invalid("$", "expected an alert object or an array of them")),
    };
    let mut out = Vec::with_capacity(items.len());
    for (prefix, item) in items {
        let at = |f: &str| {
            if prefix.is_empty() {
                f.to_owned()
            } else {
                format!("{prefix}.{f}")
            }
        };
        let Value::Object(alert) = item else {
            return Err(invalid(&prefix, "expected an object"));
        };
        if let Some(key) = alert.keys().find(|k| {
            !matches!(
                k.as_str(),
                "labels" | "annotations" | "startsAt" | "endsAt" | "generatorURL" | "source"
            )
        }) {
            return Err(invalid(
                &at(key),
                "unknown field (expected labels, annotations, startsAt, endsAt, generatorURL, source)",
            ));
        }
        let labels = labels(alert.get("labels"), &at("labels"))?;
        let annotations = match alert.get("annotations") {
            None | Some(Value::Null) => LabelSet::new(),
            Some(v) => string_map(v, &at("annotations"))?,
        };
        let starts_at = match alert.get("startsAt") {
            None | Some(Value::Null) => None,
            Some(v) => timestamp(v, &at("startsAt"))?,
        }
        .unwrap_or(now);
        let ends_at = match alert.get("endsAt") {
            None | Some(Value::Null) => None,
            Some(v) => timestamp(v, &at("endsAt"))?,
        };
        if let Some(end) = ends_at {
            if end < starts_at {
                return Err(invalid(&at("endsAt"), "before startsAt"));
            }
        }
        let generator_url = optional_string(alert, "generatorURL", &at("generatorURL"))?;
        let source = optional_string(alert, "source", &at("source"))?;
        out.push(TimedAlert {
            labels,
            annotations,
            starts_at,
            ends_at,
            generator_url: generator_url.filter(|u| !u.is_empty()),
            source: Some(
                source
                    .filter(|s| !s.trim().is_empty())
                    .unwrap_or_else(|| GENERIC_SOURCE.to_owned()),
            ),
        });
    }
    Ok(out)
}

fn parse_json(body: &[u8]) -> Result<Value, NotifyError> {
    serde_json::from_slice(body).map_err(|e| invalid("$", format!("invalid JSON: {e}")))
}

fn invalid(field: &str, reason: impl Into<String>) -> NotifyError {
    NotifyError::InvalidPayload {
        field: if field.is_empty() {
            "$".to_owned()
        } else {
            field.to_owned()
        },
        reason: reason.into(),
    }
}

fn required_string(map: &Map<String, Value>, key: &str, path: &str) -> Result<String, NotifyError> {
    match map.get(key) {
        None => Err(invalid(path, "missing field")),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(_) => Err(invalid(path, "expected a string")),
    }
}

fn optional_string(
    map: &Map<String, Value>,
    key: &str,
    path: &str,
) -> Result<Option<String>, NotifyError> {
    match map.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(invalid(path, "expected a string")),
    }
}

fn check_status(status: &str, path: &str) -> Result<(), NotifyError> {
    if matches!(status, "firing" | "resolved") {
        Ok(())
    } else {
        Err(invalid(
            path,
            format!("expected \"firing\" or \"resolved\", got {status:?}"),
        ))
    }
}

fn string_map(value: &Value, path: &str) -> Result<LabelSet, NotifyError> {
    let Value::Object(map) = value else {
        return Err(invalid(path, "expected an object of strings"));
    };
    let mut out = LabelSet::new();
    for (k, v) in map {
        let Value::String(v) = v else {
            return Err(invalid(&format!("{path}.{k}"), "expected a string"));
        };
        out.insert(k.clone(), v.clone());
    }
    Ok(out)
}

fn labels(value: Option<&Value>, path: &str) -> Result<LabelSet, NotifyError> {
    let Some(value) = value else {
        return Err(invalid(path, "missing field"));
    };
    let mut labels = string_map(value, path)?;
    for name in labels.keys() {
        if !is_label_name(name) {
            return Err(invalid(
                &format!("{path}.{name}"),
                "invalid label name (expected [a-zA-Z_][a-zA-Z0-9_]*)",
            ));
        }
    }
    labels.retain(|_, v| !v.is_empty());
    if labels.is_empty() {
        return Err(invalid(
            path,
            "at least one label with a non-empty value is required",
        ));
    }
    Ok(labels)
}

fn is_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// An RFC 3339 timestamp; Go's zero time (`0001-01-01T00:00:00Z`, any instant in year 1 or
/// before) is `None`.
fn timestamp(value: &Value, path: &str) -> Result<Option<DateTime<Utc>>, NotifyError> {
    let Value::String(text) = value else {
        return Err(invalid(path, "expected an RFC 3339 timestamp string"));
    };
    let parsed = DateTime::parse_from_rfc3339(text)
        .map_err(|e| invalid(path, format!("invalid RFC 3339 timestamp {text:?}: {e}")))?
        .with_timezone(&Utc);
    Ok((parsed.year() > 1).then_some(parsed))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2024, 6, 3, 10, 5, 0).single().unwrap()
    }

    #[test]
    fn zero_end_and_offsets() {
        let body = br#"{"version":"4","status":"firing","receiver":"r","groupKey":"{}:{}",
            "alerts":[{"status":"firing","labels":{"alertname":"A","empty":""},
            "startsAt":"2024-06-03T12:00:00+02:00","endsAt":"0001-01-01T00:00:00Z"}]}"#;
        let group = parse_alertmanager_webhook(body, now(), Duration::from_secs(60)).unwrap();
        let a = &group.alerts[0];
        assert_eq!(
            a.starts_at,
            Utc.with_ymd_and_hms(2024, 6, 3, 10, 0, 0).unwrap()
        );
        assert_eq!(
            a.ends_at,
            Some(Utc.with_ymd_and_hms(2024, 6, 3, 10, 6, 0).unwrap())
        );
        assert_eq!(a.labels.len(), 1);
        assert_eq!(a.source.as_deref(), Some("alertmanager"));
    }

    #[test]
    fn generic_errors_name_fields() {
        let cases: &[(&str, &str)] = &[
            (r#"{"labels":{}}"#, "labels"),
            (r#"{"label":{"a":"b"}}"#, "label"),
            (
                r#"[{"labels":{"a":"b"}},{"labels":{"a":1}}]"#,
                "[1].labels.a",
            ),
            (
                r#"[{"labels":{"a":"b"},"startsAt":"yesterday"}]"#,
                "[0].startsAt",
            ),
            (r#"{"labels":{"1a":"b"}}"#, "labels.1a"),
            (r#"42"#, "$"),
            (r#"{"labels":"#, "$"),
        ];
        for (body, field) in cases {
            match parse_generic_alerts(body.as_bytes(), now()) {
                Err(NotifyError::InvalidPayload { field: f, .. }) => {
                    assert_eq!(&f, field, "{body}")
                }
                other => panic!("{body}: {other:?}"),
            }
        }
    }
}
