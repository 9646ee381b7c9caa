//! The `Link` response header (RFC 8288 §3), as GitHub and Sentry use it for pagination.

/// One link of a `Link` header: `<target>; name="value"; …`.
///
/// Read by [`link_values`]; parameter values have their surrounding whitespace and double
/// quotes removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkValue<'a> {
    target: Option<&'a str>,
    params: &'a str,
}

impl<'a> LinkValue<'a> {
    /// The URI between `<` and `>`, or `None` when the link has none.
    #[must_use]
    pub fn target(&self) -> Option<&'a str> {
        self.target
    }

    /// The value of the parameter `name` (matched case-insensitively); when it repeats, the
    /// last value wins.
    #[must_use]
    pub fn param(&self, name: &str) -> Option<&'a str> {
        self.params
            .rsplit(';')
            .filter_map(|param| param.split_once('='))
            .find(|(key, _)| key.trim().eq_ignore_ascii_case(name))
            .map(|(_, value)| value.trim().trim_matches('"'))
    }

    /// Whether one of the link's `rel` parameters lists `relation` (RFC 8288 §3.3: a
    /// space-separated list, compared case-insensitively).
    #[must_use]
    pub fn has_rel(&self, relation: &str) -> bool {
        self.params
            .split(';')
            .filter_map(|param| param.split_once('='))
            .filter(|(key, _)| key.trim().eq_ignore_ascii_case("rel"))
            .any(|(_, value)| {
                value
                    .trim()
                    .trim_matches('"')
                    .split_ascii_whitespace()
                    .any(|rel| rel.eq_ignore_ascii_case(relation))
            })
    }
}

/// The links of a `Link` header value, in order.
///
/// Links are split at the commas between them (not at commas inside `<…>` or a quoted
/// parameter). The parameters of a link are whatever follows its last `>`; a link without
/// `<…>` has no [`target`](LinkValue::target). Never fails: garbage gives links without a
/// target or the parameters asked for.
pub fn link_values(header: &str) -> impl Iterator<Item = LinkValue<'_>> {
    split_links(header).map(|entry| match entry.rsplit_once('>') {
        Some((before, params)) => LinkValue {
            target: before.split_once('<').map(|(_, target)| target),
            params,
        },
        None => LinkValue {
            target: None,
            params: entry,
        },
    })
}

/// The target of the first link whose `rel` lists `next` (RFC 8288), e.g. GitHub's
/// `<https://api.github.com/…?page=4>; rel="next"`.
#[must_use]
pub fn next_link(header: &str) -> Option<&str> {
    link_values(header)
        .filter(|link| link.has_rel("next"))
        .find_map(|link| link.target())
}

/// Split a `Link` header at the commas between links (not inside `<…>` or quotes).
fn split_links(header: &str) -> impl Iterator<Item = &str> {
    let (mut in_url, mut in_quotes, mut start) = (false, false, 0);
    let mut ends = header
        .char_indices()
        .filter_map(move |(i, c)| {
            match c {
                '<' if !in_quotes => in_url = true,
                '>' if !in_quotes => in_url = false,
                '"' if !in_url => in_quotes = !in_quotes,
                ',' if !in_url && !in_quotes => return Some(i),
                _ => {}
            }
            None
        })
        .chain(std::iter::once(header.len()));
    std::iter::from_fn(move || {
        let end = ends.next()?;
        let part = &header[start..end];
        start = end + 1;
        Some(part)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn github_pagination_example() {
        // GitHub docs, "Using pagination in the REST API".
        let value = "<https://api.github.com/repositories/1300192/issues?page=2>; rel=\"prev\", \
<https://api.github.com/repositories/1300192/issues?page=4>; rel=\"next\", \
<https://api.github.com/repositories/1300192/issues?page=515>; rel=\"last\", \
<https://api.github.com/repositories/1300192/issues?page=1>; rel=\"first\"";
        assert_eq!(
            next_link(value),
            Some("https://api.github.com/repositories/1300192/issues?page=4")
        );
        assert_eq!(link_values(value).count(), 4);
        assert_eq!(next_link("<https://x/?page=1>; rel=\"first\""), None);
        // RFC 8288 §3.3: relation types are a space-separated, case-insensitive list.
        assert_eq!(
            next_link("<https://x/?page=2>; REL=\"last NEXT\""),
            Some("https://x/?page=2")
        );
        assert_eq!(
            next_link("<https://x/?page=2>; rel=next"),
            Some("https://x/?page=2")
        );
        for junk in ["", "garbage <", ",,,", "rel=\"next\"", "<a; rel=\"next\""] {
            assert_eq!(next_link(junk), None, "{junk:?}");
        }
    }

    #[test]
    fn sentry_pagination_example() {
        // docs.sentry.io, "Paginating Results".
        let value = r#"<https://sentry.io/api/0/organizations/acme/issues/123456/events/?&cursor=0:0:1>; rel="previous"; results="false"; cursor="0:0:1", <https://sentry.io/api/0/organizations/acme/issues/123456/events/?&cursor=0:100:0>; rel="next"; results="true"; cursor="0:100:0""#;
        let links: Vec<_> = link_values(value).collect();
        assert_eq!(links.len(), 2);
        assert_eq!(links[0].param("rel"), Some("previous"));
        assert_eq!(links[0].param("results"), Some("false"));
        assert_eq!(links[1].param("cursor"), Some("0:100:0"));
        assert_eq!(
            links[1].target(),
            Some(
                "https://sentry.io/api/0/organizations/acme/issues/123456/events/?&cursor=0:100:0"
            )
        );
        // A comma inside the URL or a quoted value does not split a link.
        let comma = r#"<https://x/?q=a,b>; rel="next"; title="a, b""#;
        let links: Vec<_> = link_values(comma).collect();
        assert_eq!(links.len(), 1);
        assert_eq!(links[0].target(), Some("https://x/?q=a,b"));
        assert_eq!(links[0].param("title"), Some("a, b"));
        assert_eq!(links[0].param("missing"), None);
    }

    proptest! {
        #[test]
        fn never_panics(value in ".*") {
            for link in link_values(&value) {
                let _ = (link.target(), link.param("rel"), link.has_rel("next"));
            }
            let _ = next_link(&value);
        }
    }
}
