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
    /// serde_json's message (it names the missing field, the wrong type or the syntax error),
    /// without its own position (see [`json_reason`]).
    pub(crate) fn parse(line: &'a [u8]) -> Result<Self, Cow<'static, str>> {
        let event: Self = serde_json::from_slice(line).map_err(|e| Cow::Owned(json_reason(&e)))?;
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

/// serde_json's message without its " at line N column M" suffix: the reader reports the
/// file's line number itself, and serde's line is always 1 on a JSON line. The column stays as
/// "(column M)" where it points at the problem (a syntax error or a wrong value); for a missing
/// field it only points at the end of the object and is left out.
///
/// `expected i64 at line 1 column 35` → `expected i64 (column 35)`;
/// ``missing field `EventTimestampMs` at line 1 column 16`` → ``missing field `EventTimestampMs` ``.
fn json_reason(error: &serde_json::Error) -> String {
    let message = error.to_string();
    if error.line() == 0 {
        return message;
    }
    let suffix = format!(" at line {} column {}", error.line(), error.column());
    let Some(reason) = message.strip_suffix(&suffix) else {
        return message;
    };
    if reason.starts_with("missing field") {
        reason.to_owned()
    } else {
        format!("{reason} (column {})", error.column())
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
        assert_eq!(missing, "missing field `EventTimestampMs`");
        // `n` at column 1 starts no JSON value (serde reads `n` as the start of `null`, then
        // fails on `o` at column 2).
        assert_eq!(
            TraceEvent::parse(b"not json").unwrap_err(),
            "expected ident (column 2)"
        );
    }

    #[test]
    fn reasons_keep_the_column_but_not_serdes_line() {
        // `{"EventTimestampMs":"yesterday"`: `{` is column 1, the 18-character key columns
        // 2–19, `:` column 20, the 11-character string columns 21–31; serde reports the
        // column of the last byte it read, 31.
        let reason =
            TraceEvent::parse(br#"{"EventTimestampMs":"yesterday","Outcome":"ok"}"#).unwrap_err();
        assert_eq!(
            reason,
            r#"invalid type: string "yesterday", expected i64 (column 31)"#
        );
        // A truncated line: 20 bytes, EOF after `:` at column 20.
        let reason = TraceEvent::parse(br#"{"EventTimestampMs":"#).unwrap_err();
        assert_eq!(reason, "EOF while parsing a value (column 20)");
    }
}
