//! Domain proof by DNS. An organization proves it owns a domain by
//! publishing a TXT record `_scim-verification.<domain>` whose value is
//! `scim-verification=<token>` (the token handed out when the domain was
//! added). The record is looked up through a real resolver: the system's
//! (`/etc/resolv.conf`), or the servers of `SCIM_DNS_RESOLVERS`.

use std::net::SocketAddr;
use std::time::Duration;

use hickory_resolver::TokioResolver;
use hickory_resolver::config::{ConnectionConfig, NameServerConfig, ResolverConfig};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::rr::RData;

use crate::domain::types::DomainName;

/// The label in front of the domain that carries the proof.
pub const RECORD_LABEL: &str = "_scim-verification";
/// What the TXT value starts with; the token follows.
pub const VALUE_PREFIX: &str = "scim-verification=";

/// The DNS name to publish the TXT record at.
pub fn record_name(domain: &DomainName) -> String {
    format!("{RECORD_LABEL}.{}", domain.as_str())
}

/// The TXT value to publish.
pub fn record_value(token: &str) -> String {
    format!("{VALUE_PREFIX}{token}")
}

/// What a TXT lookup found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finding {
    /// The name does not exist.
    NxDomain,
    /// The name exists but has no TXT record.
    NoTxt,
    /// These TXT values (each record's strings joined).
    Values(Vec<String>),
    /// The lookup itself failed (timeout, refused, no resolver).
    Failed(String),
}

/// Whether `finding` (the TXT lookup of `record`) proves ownership: one
/// of its values is exactly `expected`. The error says what was queried
/// and what was found, for the admin to fix the record.
pub fn judge(record: &str, expected: &str, finding: &Finding) -> Result<(), String> {
    let found = match finding {
        Finding::Values(values) if values.iter().any(|v| v.trim() == expected) => return Ok(()),
        Finding::Values(values) => format!(
            "TXT values {}",
            values
                .iter()
                .map(|v| format!("{v:?}"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Finding::NxDomain => "no such name (NXDOMAIN)".to_owned(),
        Finding::NoTxt => "no TXT record".to_owned(),
        Finding::Failed(e) => format!("no answer ({e})"),
    };
    Err(format!(
        "the domain is not verified: publish a TXT record at {record} with the value {expected:?}; the lookup found {found}"
    ))
}

/// Looks up proof records. Cheap to clone.
#[derive(Clone)]
pub struct DnsProof {
    resolver: Result<TokioResolver, String>,
}

impl std::fmt::Debug for DnsProof {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DnsProof")
            .field("ready", &self.resolver.is_ok())
            .finish()
    }
}

impl DnsProof {
    /// A resolver on `servers` (UDP then TCP), or on the system's
    /// configuration when `servers` is empty. Nothing is cached: an admin
    /// who just published the record and retries must be answered afresh.
    pub fn new(servers: &[SocketAddr]) -> Self {
        let provider = TokioRuntimeProvider::default();
        let builder = if servers.is_empty() {
            TokioResolver::builder_tokio().map_err(|e| format!("no system DNS configuration: {e}"))
        } else {
            let name_servers = servers
                .iter()
                .map(|addr| {
                    let mut udp = ConnectionConfig::udp();
                    udp.port = addr.port();
                    let mut tcp = ConnectionConfig::tcp();
                    tcp.port = addr.port();
                    NameServerConfig::new(addr.ip(), true, vec![udp, tcp])
                })
                .collect();
            Ok(TokioResolver::builder_with_config(
                ResolverConfig::from_name_servers(name_servers),
                provider,
            ))
        };
        let resolver = builder.and_then(|mut b| {
            let opts = b.options_mut();
            opts.timeout = Duration::from_secs(5);
            opts.attempts = 2;
            opts.cache_size = 0;
            opts.positive_max_ttl = Some(Duration::ZERO);
            opts.negative_max_ttl = Some(Duration::ZERO);
            b.build()
                .map_err(|e| format!("cannot build the DNS resolver: {e}"))
        });
        if let Err(e) = &resolver {
            tracing::warn!(error = %e, "domain verification by DNS is unavailable");
        }
        Self { resolver }
    }

    /// The TXT values at `name`.
    pub async fn txt(&self, name: &str) -> Finding {
        let resolver = match &self.resolver {
            Ok(r) => r,
            Err(e) => return Finding::Failed(e.clone()),
        };
        // Fully qualified: no search domains appended.
        match resolver.txt_lookup(format!("{name}.")).await {
            Ok(lookup) => {
                let values: Vec<String> = lookup
                    .answers()
                    .iter()
                    .filter_map(|r| match &r.data {
                        RData::TXT(t) => Some(
                            t.txt_data
                                .iter()
                                .map(|s| String::from_utf8_lossy(s).into_owned())
                                .collect::<String>(),
                        ),
                        _ => None,
                    })
                    .collect();
                if values.is_empty() {
                    Finding::NoTxt
                } else {
                    Finding::Values(values)
                }
            }
            Err(e) if e.is_nx_domain() => Finding::NxDomain,
            Err(e) if e.is_no_records_found() => Finding::NoTxt,
            Err(e) => Finding::Failed(e.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_exact_value_proves_ownership() {
        let want = "scim-verification=tok";
        let ok = Finding::Values(vec!["v=spf1 -all".into(), want.into()]);
        assert_eq!(judge("_r.d", want, &ok), Ok(()));
        for (finding, says) in [
            (Finding::NxDomain, "NXDOMAIN"),
            (Finding::NoTxt, "no TXT record"),
            (
                Finding::Values(vec!["scim-verification=other".into()]),
                "\"scim-verification=other\"",
            ),
            (Finding::Values(vec!["tok".into()]), "\"tok\""),
            (Finding::Failed("timed out".into()), "timed out"),
        ] {
            let e = judge("_r.d", want, &finding).unwrap_err();
            assert!(
                e.contains("_r.d") && e.contains(want) && e.contains(says),
                "{e}"
            );
        }
    }

    #[test]
    fn the_record_to_publish() {
        let d = DomainName::parse("Acme.Example").unwrap();
        assert_eq!(record_name(&d), "_scim-verification.acme.example");
        assert_eq!(record_value("tok"), "scim-verification=tok");
    }
}
