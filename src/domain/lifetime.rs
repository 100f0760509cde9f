//! How long a credential lives: `--expires-in 90d` and the like.

use chrono::{DateTime, Duration, Utc};

/// The longest lifetime accepted (ten years): beyond that, leave the
/// expiry out.
const MAX_DAYS: i64 = 3650;

/// A credential's lifetime: a whole number followed by `d` (days), `h`
/// (hours), `m` (minutes) or `s` (seconds), e.g. `90d`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lifetime(Duration);

impl Lifetime {
    pub fn parse(s: &str) -> Result<Self, String> {
        let s = s.trim();
        let bad = || format!("{s:?} is not a lifetime: use a number and d, h, m or s, e.g. 90d");
        let unit = s.chars().last().ok_or_else(bad)?;
        let n: i64 = s[..s.len() - unit.len_utf8()].parse().map_err(|_| bad())?;
        if n <= 0 {
            return Err(format!("{s:?}: a lifetime must be positive"));
        }
        let d = match unit.to_ascii_lowercase() {
            'd' => Duration::try_days(n),
            'h' => Duration::try_hours(n),
            'm' => Duration::try_minutes(n),
            's' => Duration::try_seconds(n),
            _ => return Err(bad()),
        }
        .filter(|d| *d <= Duration::days(MAX_DAYS))
        .ok_or_else(|| format!("{s:?}: at most {MAX_DAYS} days"))?;
        Ok(Self(d))
    }

    /// When a credential created at `now` expires.
    pub fn expires_at(self, now: DateTime<Utc>) -> DateTime<Utc> {
        now + self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lifetimes_parse_with_their_unit() {
        assert_eq!(Lifetime::parse("90d").unwrap().0, Duration::days(90));
        assert_eq!(Lifetime::parse("12h").unwrap().0, Duration::hours(12));
        assert_eq!(Lifetime::parse("30m").unwrap().0, Duration::minutes(30));
        assert_eq!(Lifetime::parse(" 5S ").unwrap().0, Duration::seconds(5));
        for bad in [
            "",
            "d",
            "90",
            "0d",
            "-1d",
            "1.5d",
            "90y",
            "3651d",
            "99999999999999d",
        ] {
            assert!(Lifetime::parse(bad).is_err(), "{bad:?}");
        }
        let now = Utc::now();
        assert_eq!(
            Lifetime::parse("1d").unwrap().expires_at(now),
            now + Duration::days(1)
        );
    }
}
