//! SPIFFE IDs, validated as the SPIFFE ID specification requires:
//! `spiffe://<trust domain>[/<path>]`, a lower-case trust domain of
//! `[a-z0-9._-]`, path segments of `[A-Za-z0-9._-]` that are neither empty,
//! `.` nor `..`, no trailing slash, no query or fragment, at most 2048 bytes.

use std::fmt;

use thiserror::Error;

/// Longest SPIFFE ID, in bytes.
pub const MAX_LEN: usize = 2048;
/// Longest trust domain, in bytes.
pub const MAX_TRUST_DOMAIN_LEN: usize = 255;

/// Why a string is not a SPIFFE ID.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum SpiffeIdError {
    /// It does not start with `spiffe://`.
    #[error("'{0}' does not start with spiffe://")]
    Scheme(String),
    /// The trust domain is empty, too long, or has a forbidden character.
    #[error("'{id}': bad trust domain '{domain}' (lower-case letters, digits, '.', '-', '_'; 1 to 255 bytes)")]
    TrustDomain {
        /// The whole ID.
        id: String,
        /// The trust domain.
        domain: String,
    },
    /// A path segment is empty, `.`, `..`, or has a forbidden character.
    #[error("'{id}': bad path segment '{segment}' (letters, digits, '.', '-', '_'; not empty, '.' or '..'; no trailing '/')")]
    Path {
        /// The whole ID.
        id: String,
        /// The segment.
        segment: String,
    },
    /// Longer than [`MAX_LEN`].
    #[error("SPIFFE ID of {0} bytes is longer than {MAX_LEN}")]
    TooLong(usize),
}

/// A valid SPIFFE ID.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SpiffeId(String);

impl SpiffeId {
    /// Validates `s`.
    pub fn parse(s: &str) -> Result<Self, SpiffeIdError> {
        if s.len() > MAX_LEN {
            return Err(SpiffeIdError::TooLong(s.len()));
        }
        let rest = s.strip_prefix("spiffe://").ok_or_else(|| SpiffeIdError::Scheme(s.into()))?;
        let (domain, path) = rest.split_once('/').map_or((rest, None), |(d, p)| (d, Some(p)));
        let domain_ok = !domain.is_empty()
            && domain.len() <= MAX_TRUST_DOMAIN_LEN
            && domain.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b));
        if !domain_ok {
            return Err(SpiffeIdError::TrustDomain { id: s.into(), domain: domain.into() });
        }
        for segment in path.into_iter().flat_map(|p| p.split('/')) {
            let ok = !segment.is_empty()
                && segment != "."
                && segment != ".."
                && segment.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
            if !ok {
                return Err(SpiffeIdError::Path { id: s.into(), segment: segment.into() });
            }
        }
        Ok(Self(s.into()))
    }

    /// The ID as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The trust domain.
    pub fn trust_domain(&self) -> &str {
        let rest = &self.0["spiffe://".len()..];
        rest.split_once('/').map_or(rest, |(d, _)| d)
    }
}

impl fmt::Display for SpiffeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_ids() {
        for s in ["spiffe://example.org", "spiffe://example.org/payments/api", "spiffe://a-b_c.d/x.y-z_1"] {
            assert_eq!(SpiffeId::parse(s).unwrap().as_str(), s);
        }
        assert_eq!(SpiffeId::parse("spiffe://example.org/ns/x").unwrap().trust_domain(), "example.org");
    }

    #[test]
    fn invalid_ids_say_why() {
        assert!(matches!(SpiffeId::parse("http://example.org/x"), Err(SpiffeIdError::Scheme(_))));
        assert!(matches!(SpiffeId::parse("SPIFFE://example.org"), Err(SpiffeIdError::Scheme(_))));
        for bad in [
            "spiffe://",
            "spiffe://Example.org/x",
            "spiffe://exa mple.org",
            "spiffe://user@example.org/x",
            "spiffe://example.org:443/x",
        ] {
            assert!(matches!(SpiffeId::parse(bad), Err(SpiffeIdError::TrustDomain { .. })), "{bad}");
        }
        for bad in [
            "spiffe://example.org/",
            "spiffe://example.org//x",
            "spiffe://example.org/./x",
            "spiffe://example.org/../x",
            "spiffe://example.org/x?y",
            "spiffe://example.org/x#y",
            "spiffe://example.org/x%20",
        ] {
            assert!(matches!(SpiffeId::parse(bad), Err(SpiffeIdError::Path { .. })), "{bad}");
        }
        let long = format!("spiffe://example.org/{}", "a".repeat(MAX_LEN));
        assert!(matches!(SpiffeId::parse(&long), Err(SpiffeIdError::TooLong(_))));
        let err = SpiffeId::parse("spiffe://example.org/a//b").unwrap_err().to_string();
        assert!(err.contains("bad path segment ''"), "{err}");
    }
}
