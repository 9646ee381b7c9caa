//! Secrets that must not leak through `Debug`, `Display` or error messages.
//!
//! Tokens are held in [`SecretString`] (from the `secrecy` crate, re-exported at
//! the crate root) and read only through [`ExposeSecret::expose_secret`] where a
//! header is built. Webhook URLs carry their token in the path or query, so they
//! get their own guard, [`SecretUrl`]. Text that came from elsewhere (an HTTP
//! library's error that echoes the request URL) goes through [`redact`].

use std::fmt;
use std::str::FromStr;

use secrecy::{ExposeSecret, SecretString};
use url::{Position, Url};

use crate::error::SecretUrlError;
use crate::CoreError;

/// What secrets are replaced with.
pub const REDACTED: &str = "[REDACTED]";

/// A webhook URL whose path and query are secret.
///
/// Discord (`https://discord.com/api/webhooks/123/TOKEN`) and Slack
/// (`https://hooks.slack.com/services/T0/B0/XXXX`) put the credential in the path;
/// others put it in the query. `Debug` and `Display` therefore show only the
/// scheme, host and port, followed by `/[REDACTED]`; user info, path, query and
/// fragment are never printed. The full URL is available only through
/// [`SecretUrl::expose_url`], named so that call sites are easy to audit.
///
/// This guards against accidental printing; unlike [`SecretString`] it does not
/// zero its memory on drop (the `url` crate offers no way to).
///
/// Only `http` and `https` URLs with a host are accepted. Parse errors never echo
/// the input. `SecretUrl` implements `Deserialize` (for config files) but not
/// `Serialize`.
#[derive(Clone)]
pub struct SecretUrl {
    url: Url,
}

impl SecretUrl {
    /// Parse a webhook URL.
    ///
    /// # Errors
    /// [`CoreError::InvalidSecretUrl`] if the text is not an absolute `http` or
    /// `https` URL with a host. The error does not contain the text.
    pub fn parse(text: &str) -> Result<Self, CoreError> {
        let invalid = |reason| CoreError::InvalidSecretUrl { reason };
        let url = Url::parse(text.trim()).map_err(|e| invalid(SecretUrlError::Parse(e)))?;
        if !matches!(url.scheme(), "https" | "http") {
            return Err(invalid(SecretUrlError::UnsupportedScheme));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(invalid(SecretUrlError::MissingHost));
        }
        Ok(Self { url })
    }

    /// Parse a webhook URL held in a [`SecretString`] (e.g. read from an
    /// environment variable).
    ///
    /// # Errors
    /// As [`SecretUrl::parse`].
    pub fn from_secret(secret: &SecretString) -> Result<Self, CoreError> {
        Self::parse(secret.expose_secret())
    }

    /// The full URL, token included. Use it only to send the request.
    #[must_use]
    pub fn expose_url(&self) -> &Url {
        &self.url
    }

    /// Remove this URL from `text`: the full URL, its path-and-query (e.g.
    /// `/api/webhooks/123/TOKEN` in a log line) and any password, each replaced by
    /// `[REDACTED]`.
    #[must_use]
    pub fn redact(&self, text: &str) -> String {
        let tail = &self.url[Position::BeforePath..];
        let mut secrets = vec![self.url.as_str()];
        if tail != "/" {
            secrets.push(tail);
        }
        if let Some(password) = self.url.password() {
            secrets.push(password);
        }
        redact_values(text, &secrets)
    }

    fn fmt_redacted(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.url.scheme())?;
        f.write_str("://")?;
        f.write_str(self.url.host_str().unwrap_or_default())?;
        if let Some(port) = self.url.port() {
            write!(f, ":{port}")?;
        }
        f.write_str("/")?;
        f.write_str(REDACTED)
    }
}

impl fmt::Display for SecretUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.fmt_redacted(f)
    }
}

impl fmt::Debug for SecretUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretUrl(\"")?;
        self.fmt_redacted(f)?;
        f.write_str("\")")
    }
}

impl FromStr for SecretUrl {
    type Err = CoreError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl<'de> serde::Deserialize<'de> for SecretUrl {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = SecretString::from(String::deserialize(deserializer)?);
        Self::from_secret(&text).map_err(serde::de::Error::custom)
    }
}

/// Replace every occurrence of every secret's value in `text` with `[REDACTED]`.
///
/// Use it on messages from libraries that may echo credentials (an HTTP client's
/// error showing the request URL). Matching is exact and case-sensitive; where
/// secrets overlap, the longest match at each position wins; empty secrets are
/// ignored.
#[must_use]
pub fn redact(text: &str, secrets: &[&SecretString]) -> String {
    let values: Vec<&str> = secrets.iter().map(|s| s.expose_secret()).collect();
    redact_values(text, &values)
}

fn redact_values(text: &str, secrets: &[&str]) -> String {
    let mut secrets: Vec<&str> = secrets.iter().copied().filter(|s| !s.is_empty()).collect();
    // Longest first, so a secret containing another is removed whole.
    secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        if let Some(secret) = secrets.iter().find(|s| rest.starts_with(**s)) {
            out.push_str(REDACTED);
            // `rest` starts with `secret`, so its length is a char boundary.
            rest = &rest[secret.len()..];
        } else {
            out.push(c);
            // `c` is the first char of `rest`, so its length is a char boundary.
            rest = &rest[c.len_utf8()..];
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde::de::value::{Error as DeError, StrDeserializer};
    use serde::de::IntoDeserializer;
    use serde::Deserialize;

    const DISCORD: &str = "https://discord.com/api/webhooks/123456/d1sc0rd-T0KEN_abc";
    const SLACK: &str = "https://hooks.slack.com/services/T0000/B0000/XXXXsl4ckXXXX";

    fn shows(url: &SecretUrl) -> String {
        format!("{url} {url:?} {url:#?}")
    }

    #[test]
    fn discord_webhook_is_redacted() {
        let url = SecretUrl::parse(DISCORD).unwrap();
        assert_eq!(url.to_string(), "https://discord.com/[REDACTED]");
        assert_eq!(
            format!("{url:?}"),
            "SecretUrl(\"https://discord.com/[REDACTED]\")"
        );
        assert!(!shows(&url).contains("d1sc0rd-T0KEN"));
        assert!(!shows(&url).contains("123456"));
        assert_eq!(url.expose_url().as_str(), DISCORD);
    }

    #[test]
    fn slack_webhook_is_redacted() {
        let url = SecretUrl::from_secret(&SecretString::from(SLACK)).unwrap();
        assert_eq!(url.to_string(), "https://hooks.slack.com/[REDACTED]");
        assert!(!shows(&url).contains("XXXXsl4ckXXXX"));
        assert_eq!(url.expose_url().as_str(), SLACK);
    }

    #[test]
    fn port_query_and_userinfo() {
        let url =
            SecretUrl::parse("http://user:p4ss@127.0.0.1:8080/hook?token=q7ery#frag").unwrap();
        assert_eq!(url.to_string(), "http://127.0.0.1:8080/[REDACTED]");
        let shown = shows(&url);
        for leak in ["p4ss", "user", "q7ery", "frag", "hook"] {
            assert!(!shown.contains(leak), "{leak} in {shown}");
        }
        // Default ports are not shown; IPv6 hosts keep their brackets.
        assert_eq!(
            SecretUrl::parse("https://example.com:443/x")
                .unwrap()
                .to_string(),
            "https://example.com/[REDACTED]"
        );
        assert_eq!(
            SecretUrl::parse("http://[::1]:9000/x").unwrap().to_string(),
            "http://[::1]:9000/[REDACTED]"
        );
    }

    #[test]
    fn parse_errors_do_not_echo_the_url() {
        let cases = [
            ("d1sc0rd-T0KEN_abc", "relative URL without a base"),
            (
                "https://discord.com:99999/api/webhooks/1/d1sc0rd-T0KEN_abc",
                "invalid port number",
            ),
            (
                "ftp://discord.com/d1sc0rd-T0KEN_abc",
                "the scheme must be https or http",
            ),
            (
                "mailto:d1sc0rd-T0KEN_abc@example.com",
                "the scheme must be https or http",
            ),
            ("https://:443/d1sc0rd-T0KEN_abc", "empty host"),
        ];
        for (text, reason) in cases {
            let err = SecretUrl::parse(text).unwrap_err();
            let shown = format!("{err} {err:?}");
            assert!(!shown.contains("d1sc0rd-T0KEN"), "{shown}");
            assert!(shown.contains(reason), "{shown}");
        }
    }

    #[test]
    fn deserialize_accepts_and_hides() {
        let de: StrDeserializer<'_, DeError> = DISCORD.into_deserializer();
        let url = SecretUrl::deserialize(de).unwrap();
        assert_eq!(url.expose_url().as_str(), DISCORD);

        let bad = "https://discord.com:99999/d1sc0rd-T0KEN_abc";
        let de: StrDeserializer<'_, DeError> = bad.into_deserializer();
        let err = SecretUrl::deserialize(de).unwrap_err();
        assert!(!err.to_string().contains("d1sc0rd-T0KEN"), "{err}");
    }

    #[test]
    fn url_redacts_itself_from_library_errors() {
        let url = SecretUrl::parse(DISCORD).unwrap();
        let message = format!(
            "error sending request for url ({DISCORD}): connection refused; POST /api/webhooks/123456/d1sc0rd-T0KEN_abc"
        );
        assert_eq!(
            url.redact(&message),
            "error sending request for url ([REDACTED]): connection refused; POST [REDACTED]"
        );
    }

    #[test]
    fn redact_removes_every_secret() {
        let token = SecretString::from("tok3n");
        let longer = SecretString::from("tok3n-and-more");
        let empty = SecretString::from("");
        let text = "a tok3n-and-more b tok3n c tok3ntok3n d";
        assert_eq!(
            redact(text, &[&token, &longer, &empty]),
            "a [REDACTED] b [REDACTED] c [REDACTED][REDACTED] d"
        );
        assert_eq!(redact("nothing here é", &[&token]), "nothing here é");
        assert_eq!(redact("", &[&token]), "");
    }

    #[test]
    fn secret_string_debug_is_redacted() {
        let token = SecretString::from("tok3n");
        assert!(!format!("{token:?}").contains("tok3n"));
    }

    proptest! {
        #[test]
        fn redacted_text_never_contains_the_secret(
            prefix in ".*", suffix in ".*", secret in "[A-Za-z0-9_-]{4,40}"
        ) {
            let text = format!("{prefix}{secret}{suffix}{secret}");
            let out = redact(&text, &[&SecretString::from(secret.as_str())]);
            prop_assert!(!out.contains(&secret));
        }

        #[test]
        fn webhook_display_never_contains_the_token(token in "[A-Za-z0-9_-]{16,68}") {
            let text = format!("https://discord.com/api/webhooks/42/{token}");
            let url = SecretUrl::parse(&text).unwrap();
            prop_assert!(!shows(&url).contains(&token));
            let message = format!("failed: {text}");
            prop_assert!(!url.redact(&message).contains(&token));
        }
    }
}
