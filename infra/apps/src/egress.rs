//! The egress allow-list: the only hosts a lifecycle callback may reach.
//!
//! An entry is `host` or `host:port` (IPv6 in brackets, `[::1]:8080`). Hosts
//! are compared after URL host normalisation (WHATWG URL standard, as `url`
//! does it: lower case, IDNA to ASCII, IPv4 forms canonicalised), so
//! `Apps.Example` allows `https://apps.example/`. Without a port an entry
//! allows only the scheme's default port (80 for `http`, 443 for `https`):
//! fail closed, an unexpected port on a known host is denied and named.
//! There are no wildcards.

use url::{Host, Url};

/// One parsed entry of the allow-list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct EgressRule {
    host: Host<String>,
    /// `None`: the default port of the callback URL's scheme.
    port: Option<u16>,
}

impl EgressRule {
    /// Parses `host` or `host:port`; the error is a reason without the field name.
    pub(crate) fn parse(entry: &str) -> Result<Self, String> {
        let bad = |why: &str| format!("{why}, got {entry:?} (expected \"host\" or \"host:port\")");
        if entry.contains('*') {
            return Err(bad("wildcards are not supported"));
        }
        let (host, port) = if entry.starts_with('[') {
            let end = entry
                .find(']')
                .ok_or_else(|| bad("unclosed IPv6 bracket"))?;
            match &entry[end + 1..] {
                "" => (&entry[..=end], None),
                rest => match rest.strip_prefix(':') {
                    Some(port) => (&entry[..=end], Some(port)),
                    None => return Err(bad("unexpected text after the IPv6 address")),
                },
            }
        } else {
            match entry.split_once(':') {
                Some((_, port)) if port.contains(':') => {
                    return Err(bad("an IPv6 address needs brackets"));
                }
                Some((host, port)) => (host, Some(port)),
                None => (entry, None),
            }
        };
        if host.is_empty() {
            return Err(bad("the host is empty"));
        }
        let host = Host::parse(host).map_err(|e| bad(&format!("not a valid host ({e})")))?;
        let port = match port {
            None => None,
            Some(raw) => match raw.parse::<u16>() {
                Ok(port) if port > 0 => Some(port),
                _ => return Err(bad("the port must be 1-65535")),
            },
        };
        Ok(Self { host, port })
    }

    fn allows(&self, host: &Host<String>, port: u16, default_port: Option<u16>) -> bool {
        self.host == *host && self.port.or(default_port) == Some(port)
    }
}

/// The parsed allow-list.
#[derive(Debug, Clone, Default)]
pub(crate) struct EgressAllowList(Vec<EgressRule>);

impl EgressAllowList {
    /// Parses every entry; the error is `(index, reason)`.
    pub(crate) fn parse(entries: &[String]) -> Result<Self, (usize, String)> {
        entries
            .iter()
            .enumerate()
            .map(|(i, entry)| EgressRule::parse(entry).map_err(|reason| (i, reason)))
            .collect::<Result<Vec<_>, _>>()
            .map(Self)
    }

    /// `Ok` when `url` may be called; otherwise `Err("host:port")`, the
    /// authority that was denied, ready to be copied into the allow-list.
    pub(crate) fn check(&self, url: &Url) -> Result<(), String> {
        let default_port = default_port(url.scheme());
        let (Some(host), Some(port)) = (url.host(), url.port_or_known_default()) else {
            return Err(url.as_str().to_owned());
        };
        let host = host.to_owned();
        if self
            .0
            .iter()
            .any(|rule| rule.allows(&host, port, default_port))
        {
            Ok(())
        } else {
            Err(format!("{host}:{port}"))
        }
    }
}

fn default_port(scheme: &str) -> Option<u16> {
    match scheme {
        "http" => Some(80),
        "https" => Some(443),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(entries: &[&str]) -> EgressAllowList {
        let entries: Vec<String> = entries.iter().map(|e| (*e).to_owned()).collect();
        EgressAllowList::parse(&entries).unwrap()
    }

    #[test]
    fn matches_host_and_port_after_normalisation() {
        let allow = list(&["Apps.Example", "127.0.0.1:9999", "[::1]:8080"]);
        let cases = [
            ("https://apps.example/x", Ok(())),
            ("http://APPS.example:80/x", Ok(())),
            ("https://apps.example:8443/x", Err("apps.example:8443")),
            ("http://127.0.0.1:9999/apps/a", Ok(())),
            ("http://127.0.0.1:9998/apps/a", Err("127.0.0.1:9998")),
            ("http://[::1]:8080/", Ok(())),
            ("https://evil.example/", Err("evil.example:443")),
            (
                "https://apps.example.evil.example/",
                Err("apps.example.evil.example:443"),
            ),
        ];
        for (raw, want) in cases {
            let url = Url::parse(raw).unwrap();
            assert_eq!(allow.check(&url), want.map_err(str::to_owned), "{raw}");
        }
    }

    #[test]
    fn rejects_malformed_entries_with_a_reason() {
        for bad in [
            "",
            "*.example",
            "a:b:c",
            "host:0",
            "host:70000",
            "[::1",
            "h/x",
            "a b",
        ] {
            let err = EgressRule::parse(bad).unwrap_err();
            assert!(
                err.contains("expected \"host\" or \"host:port\""),
                "{bad}: {err}"
            );
        }
        assert_eq!(
            EgressAllowList::parse(&["ok".into(), "bad:port".into()])
                .unwrap_err()
                .0,
            1
        );
    }
}
