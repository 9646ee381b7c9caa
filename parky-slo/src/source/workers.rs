//! JSON lines of Cloudflare Workers trace events.
//!
//! Each line is one object as the Logpush dataset `workers_trace_events` writes it (field
//! names from Cloudflare's "Workers Trace Events" log-field reference):
//!
//! ```json
//! {"EventTimestampMs":1700000000123,"Outcome":"ok","ScriptName":"api","Event":{"Request":{"URL":"https://x/","Method":"GET"},"Response":{"Status":200}}}
//! ```
//!
//! The camel-case names of a Tail Worker's `TraceItem` serialised with `JSON.stringify`
//! (`eventTimestamp`, `outcome`, `scriptName`, `event.response.status`) are accepted as
//! aliases. Only four fields are read; everything else (`Logs`, `Exceptions`, headers…) is
//! skipped by serde without being stored, and the strings that are read borrow from the line.

use std::borrow::Cow;

use serde::Deserialize;

/// The fields of a trace event that an SLI needs, borrowed from the line.
#[derive(Debug, Deserialize)]
pub(crate) struct TraceEvent<'a> {
    /// When the event was received, in milliseconds since the epoch.
    #[serde(rename = "EventTimestampMs", alias = "eventTimestamp")]
    pub(crate) event_timestamp_ms: i64,
    /// `ok`, `exception`, `exceededCpu`, `exceededMemory`, `canceled`, `scriptNotFound`,
    /// `responseStreamDisconnected`, `unknown`…
    #[serde(rename = "Outcome", alias = "outcome", borrow, default)]
    pub(crate) outcome: Option<Cow<'a, str>>,
    /// The Worker script name.
    #[serde(rename = "ScriptName", alias = "scriptName", borrow, default)]
    pub(crate) script_name: Option<Cow<'a, str>>,
    /// Details of the triggering event; `null` or absent for some event types.
    #[serde(rename = "Event", alias = "event", default)]
    event: Option<EventDetails>,
}

#[derive(Debug, Deserialize)]
struct EventDetails {
    #[serde(rename = "Response", alias = "response", default)]
    response: Option<ResponseDetails>,
}

#[derive(Debug, Deserialize)]
struct ResponseDetails {
    #[serde(rename = "Status", alias = "status", default)]
    status: Option<u16>,
}

impl<'a> TraceEvent<'a> {
    /// Parses one JSON line.
    ///
    /// # Errors
    ///
    /// serde_json's message (it names the missing field or the column of the syntax error).
    pub(crate) fn parse(line: &'a [u8]) -> Result<Self, Cow<'static, str>> {
        let event: Self = serde_json::from_slice(line).map_err(|e| Cow::Owned(e.to_string()))?;
        if event.outcome.is_none() && event.status().is_none() {
            return Err(Cow::Borrowed(
                "neither `Outcome` nor `Event.Response.Status` is present",
            ));
        }
        Ok(event)
    }

    /// `Event.Response.Status`, when present.
    pub(crate) fn status(&self) -> Option<u16> {
        self.event.as_ref()?.response.as_ref()?.status
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_logpush_names() {
        let line = br#"{"DispatchNamespace":"","Event":{"RayID":"8","Request":{"URL":"https://a/","Method":"GET"},"Response":{"Status":503}},"EventTimestampMs":1700000000123,"EventType":"fetch","Exceptions":[],"Logs":[{"Level":"log","Message":["hi \"there\""],"TimestampMs":1}],"Outcome":"ok","ScriptName":"api"}"#;
        let event = TraceEvent::parse(line).unwrap();
        assert_eq!(event.event_timestamp_ms, 1_700_000_000_123);
        assert_eq!(event.outcome.as_deref(), Some("ok"));
        assert_eq!(event.script_name.as_deref(), Some("api"));
        assert_eq!(event.status(), Some(503));
    }

    #[test]
    fn reads_tail_worker_names_and_null_event() {
        let line = br#"{"eventTimestamp":5,"outcome":"exceededCpu","scriptName":"s","event":null}"#;
        let event = TraceEvent::parse(line).unwrap();
        assert_eq!(event.event_timestamp_ms, 5);
        assert_eq!(event.outcome.as_deref(), Some("exceededCpu"));
        assert_eq!(event.status(), None);
    }

    #[test]
    fn refuses_lines_without_signal_or_timestamp() {
        assert!(TraceEvent::parse(br#"{"EventTimestampMs":5}"#).is_err());
        let missing = TraceEvent::parse(br#"{"Outcome":"ok"}"#).unwrap_err();
        assert!(missing.contains("EventTimestampMs"), "{missing}");
        assert!(TraceEvent::parse(b"not json").is_err());
    }
}
