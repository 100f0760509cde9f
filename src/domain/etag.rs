//! Entity tags (RFC 7232) of versioned resources: `W/"<version>"`.

/// A parsed `If-Match` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IfMatch {
    /// `*`: any current version.
    Any,
    /// The versions the client accepts (none parseable: nothing matches).
    Versions(Vec<i64>),
}

fn versions(header: &str) -> Vec<i64> {
    header
        .split(',')
        .filter_map(|tag| {
            let tag = tag.trim();
            let tag = tag.strip_prefix("W/").unwrap_or(tag);
            tag.trim_matches('"').parse::<i64>().ok()
        })
        .collect()
}

impl IfMatch {
    pub fn parse(header: &str) -> Self {
        if header.trim() == "*" {
            Self::Any
        } else {
            Self::Versions(versions(header))
        }
    }
}

/// `If-None-Match`: whether the client's copy is current (→ 304).
pub fn none_match_hits(header: &str, version: i64) -> bool {
    header.trim() == "*" || versions(header).contains(&version)
}

pub fn etag(version: i64) -> String {
    format!("W/\"{version}\"")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_weak_strong_lists_and_star() {
        assert_eq!(IfMatch::parse("W/\"3\""), IfMatch::Versions(vec![3]));
        assert_eq!(
            IfMatch::parse("\"3\", W/\"4\""),
            IfMatch::Versions(vec![3, 4])
        );
        assert_eq!(IfMatch::parse(" * "), IfMatch::Any);
        assert_eq!(IfMatch::parse("\"abc\""), IfMatch::Versions(vec![]));
        assert!(none_match_hits("W/\"7\"", 7));
        assert!(!none_match_hits("W/\"7\"", 8));
        assert_eq!(etag(2), "W/\"2\"");
    }
}
