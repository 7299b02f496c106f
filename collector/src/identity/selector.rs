//! SPIRE-style workload selectors, written `type:key:value`:
//!
//! | selector | matches |
//! |---|---|
//! | `unix:uid:1000` | real uid |
//! | `unix:gid:1000` | real gid |
//! | `unix:path:/usr/bin/api` | executable path, exactly |
//! | `unix:sha256:<64 hex>` | executable SHA-256 digest |
//! | `cgroup:path:/kubepods.slice/**` | cgroup v2 path, shell glob (`*` within one component, `**` across any) |
//! | `container:id:<64 hex>` | container id |
//! | `k8s:pod-uid:<uid>` | Kubernetes pod UID |
//! | `k8s:ns:payments` | the pod's namespace |
//! | `k8s:pod-name:api-7d4f` | the pod's name |
//! | `k8s:pod-label:app:api` (or `app=api`) | a label of the pod |
//! | `k8s:container-name:api` | the container's name in its pod |
//! | `k8s:sa:api` | the pod's service account |
//!
//! The kernel knows none of the `k8s:` facts but the pod UID (from the
//! cgroup path): they come from the container runtime's CRI socket
//! (`cri_endpoint`, [`crate::enrich::pods`]), and the service account from
//! the token the kubelet mounted into the pod; without them, or before the
//! runtime answers, they are unknown and match nothing.

use std::fmt;

use thiserror::Error;

/// Why a selector string is not one.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum SelectorError {
    /// Not `type:key:value`.
    #[error("selector '{0}' is not type:key:value")]
    Shape(String),
    /// An unknown `type:key`.
    #[error(
        "unknown selector '{0}' (known: unix:uid, unix:gid, unix:path, unix:sha256, cgroup:path, container:id, \
         k8s:pod-uid, k8s:ns, k8s:sa, k8s:pod-name, k8s:pod-label, k8s:container-name)"
    )]
    Unknown(String),
    /// A selector witness cannot evaluate.
    #[error("selector '{selector}' is not supported: {why}")]
    Unsupported {
        /// The selector.
        selector: String,
        /// Why, and what to use instead.
        why: &'static str,
    },
    /// A value of the wrong form.
    #[error("selector '{selector}': {what}")]
    Value {
        /// The selector.
        selector: String,
        /// What is wrong with the value.
        what: &'static str,
    },
}

/// Shell glob semantics: `*`, `?` and `[...]` never match a `/`.
const SHELL_GLOB: glob::MatchOptions =
    glob::MatchOptions { case_sensitive: true, require_literal_separator: true, require_literal_leading_dot: false };

/// One selector.
#[derive(Clone, Debug)]
pub enum Selector {
    /// `unix:uid`.
    Uid(u32),
    /// `unix:gid`.
    Gid(u32),
    /// `unix:path`.
    Path(String),
    /// `unix:sha256`.
    Sha256([u8; 32]),
    /// `cgroup:path` (glob).
    CgroupPath(glob::Pattern),
    /// `container:id`.
    ContainerId(String),
    /// `k8s:pod-uid`.
    K8sPodUid(String),
    /// `k8s:ns`.
    K8sNamespace(String),
    /// `k8s:pod-name`.
    K8sPodName(String),
    /// `k8s:pod-label` (key, value).
    K8sPodLabel(String, String),
    /// `k8s:container-name`.
    K8sContainerName(String),
    /// `k8s:sa`.
    K8sServiceAccount(String),
}

/// What is known about a process when selectors are evaluated. Unknown
/// facts (None) match no selector.
#[derive(Clone, Debug, Default)]
pub struct Subject<'a> {
    /// Real uid.
    pub uid: Option<u32>,
    /// Real gid.
    pub gid: Option<u32>,
    /// Executable path.
    pub exe: Option<&'a str>,
    /// Executable SHA-256.
    pub sha256: Option<[u8; 32]>,
    /// cgroup v2 path.
    pub cgroup: Option<&'a str>,
    /// Container id.
    pub container_id: Option<&'a str>,
    /// Kubernetes pod UID.
    pub k8s_pod_uid: Option<&'a str>,
    /// The pod, as the container runtime describes it.
    pub pod: Option<&'a crate::enrich::pods::Pod>,
}

pub(crate) fn hex32(s: &str) -> Option<[u8; 32]> {
    if s.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

impl Selector {
    /// Parses `type:key:value`.
    pub fn parse(s: &str) -> Result<Self, SelectorError> {
        let mut parts = s.splitn(3, ':');
        let (Some(kind), Some(key), Some(value)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(SelectorError::Shape(s.into()));
        };
        if value.is_empty() {
            return Err(SelectorError::Shape(s.into()));
        }
        let bad = |what| SelectorError::Value { selector: s.into(), what };
        Ok(match (kind, key) {
            ("unix", "uid") => Self::Uid(value.parse().map_err(|_| bad("uid must be a number"))?),
            ("unix", "gid") => Self::Gid(value.parse().map_err(|_| bad("gid must be a number"))?),
            ("unix", "path") if value.starts_with('/') => Self::Path(value.into()),
            ("unix", "path") => return Err(bad("path must be absolute")),
            ("unix", "sha256") => Self::Sha256(hex32(value).ok_or_else(|| bad("digest must be 64 hex digits"))?),
            ("cgroup", "path") => Self::CgroupPath(glob::Pattern::new(value).map_err(|_| bad("invalid glob"))?),
            ("container", "id") if hex32(value).is_some() => Self::ContainerId(value.to_ascii_lowercase()),
            ("container", "id") => return Err(bad("container id must be 64 hex digits")),
            ("k8s", "sa") => Self::K8sServiceAccount(value.into()),
            ("unix", "user" | "group") => {
                return Err(SelectorError::Unsupported {
                    selector: s.into(),
                    why: "names map to ids differently on each host; use unix:uid or unix:gid",
                })
            }
            ("k8s", "pod-uid") => Self::K8sPodUid(value.to_ascii_lowercase()),
            ("k8s", "ns") => Self::K8sNamespace(value.into()),
            ("k8s", "pod-name") => Self::K8sPodName(value.into()),
            ("k8s", "container-name") => Self::K8sContainerName(value.into()),
            ("k8s", "pod-label") => {
                // SPIRE writes `key:value`; `key=value` reads better. Label
                // keys and values hold neither character.
                let (key, v) = value
                    .split_once([':', '='])
                    .filter(|(k, _)| !k.is_empty())
                    .ok_or_else(|| bad("a pod label is key:value or key=value"))?;
                Self::K8sPodLabel(key.into(), v.into())
            }
            _ => return Err(SelectorError::Unknown(format!("{kind}:{key}"))),
        })
    }

    /// Whether the subject has this property.
    pub fn matches(&self, s: &Subject<'_>) -> bool {
        match self {
            Self::Uid(v) => s.uid == Some(*v),
            Self::Gid(v) => s.gid == Some(*v),
            Self::Path(p) => s.exe == Some(p.as_str()),
            Self::Sha256(d) => s.sha256 == Some(*d),
            Self::CgroupPath(g) => s.cgroup.is_some_and(|c| g.matches_with(c, SHELL_GLOB)),
            Self::ContainerId(id) => s.container_id.is_some_and(|c| c.eq_ignore_ascii_case(id)),
            Self::K8sPodUid(uid) => s.k8s_pod_uid.is_some_and(|u| u.eq_ignore_ascii_case(uid)),
            Self::K8sNamespace(ns) => s.pod.is_some_and(|p| p.namespace == *ns),
            Self::K8sPodName(name) => s.pod.is_some_and(|p| p.name == *name),
            Self::K8sPodLabel(k, v) => s.pod.is_some_and(|p| p.labels.get(k) == Some(v)),
            Self::K8sContainerName(name) => s.pod.is_some_and(|p| p.container.as_deref() == Some(name.as_str())),
            Self::K8sServiceAccount(sa) => s.pod.is_some_and(|p| p.service_account.as_deref() == Some(sa.as_str())),
        }
    }
}

impl fmt::Display for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Uid(v) => write!(f, "unix:uid:{v}"),
            Self::Gid(v) => write!(f, "unix:gid:{v}"),
            Self::Path(p) => write!(f, "unix:path:{p}"),
            Self::Sha256(d) => {
                f.write_str("unix:sha256:")?;
                d.iter().try_for_each(|b| write!(f, "{b:02x}"))
            }
            Self::CgroupPath(g) => write!(f, "cgroup:path:{}", g.as_str()),
            Self::ContainerId(id) => write!(f, "container:id:{id}"),
            Self::K8sPodUid(u) => write!(f, "k8s:pod-uid:{u}"),
            Self::K8sNamespace(ns) => write!(f, "k8s:ns:{ns}"),
            Self::K8sPodName(name) => write!(f, "k8s:pod-name:{name}"),
            Self::K8sPodLabel(k, v) => write!(f, "k8s:pod-label:{k}:{v}"),
            Self::K8sContainerName(name) => write!(f, "k8s:container-name:{name}"),
            Self::K8sServiceAccount(sa) => write!(f, "k8s:sa:{sa}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_display_and_match() {
        let digest = "ab".repeat(32);
        for s in [
            "unix:uid:1000",
            "unix:gid:5",
            "unix:path:/usr/bin/api",
            "cgroup:path:/kubepods*/*",
            "k8s:pod-uid:abc",
            "k8s:ns:payments",
            "k8s:pod-name:api-0",
            "k8s:pod-label:app.kubernetes.io/name:api",
            "k8s:container-name:api",
        ] {
            assert_eq!(Selector::parse(s).unwrap().to_string(), s);
        }
        assert_eq!(
            Selector::parse(&format!("unix:sha256:{digest}")).unwrap().to_string(),
            format!("unix:sha256:{digest}")
        );
        let subject = Subject { uid: Some(1000), cgroup: Some("/kubepods/burstable/pod1/x"), ..Default::default() };
        assert!(Selector::parse("unix:uid:1000").unwrap().matches(&subject));
        assert!(!Selector::parse("unix:uid:0").unwrap().matches(&subject));
        // A shell glob: `*` stays within one component, `**` spans any.
        assert!(!Selector::parse("cgroup:path:/kubepods/*").unwrap().matches(&subject));
        assert!(Selector::parse("cgroup:path:/kubepods/*/*/x").unwrap().matches(&subject));
        assert!(Selector::parse("cgroup:path:/kubepods/**").unwrap().matches(&subject));
        assert!(!Selector::parse("unix:path:/x").unwrap().matches(&subject), "unknown facts match nothing");
        assert!(!Selector::parse("k8s:ns:payments").unwrap().matches(&subject), "no pod, no namespace");
    }

    #[test]
    fn pod_selectors_match_what_the_runtime_says() {
        let pod = crate::enrich::pods::Pod {
            name: "api-0".into(),
            namespace: "payments".into(),
            uid: "u1".into(),
            container: Some("api".into()),
            labels: [("app".to_string(), "api".to_string()), ("tier".into(), "web".into())].into(),
            service_account: Some("api-sa".into()),
        };
        let subject = Subject { pod: Some(&pod), ..Default::default() };
        for yes in ["k8s:ns:payments", "k8s:pod-name:api-0", "k8s:pod-label:app=api", "k8s:pod-label:tier:web"] {
            assert!(Selector::parse(yes).unwrap().matches(&subject), "{yes}");
        }
        assert!(Selector::parse("k8s:container-name:api").unwrap().matches(&subject));
        assert!(Selector::parse("k8s:sa:api-sa").unwrap().matches(&subject));
        for no in [
            "k8s:sa:default",
            "k8s:ns:default",
            "k8s:pod-label:app=db",
            "k8s:pod-label:env=prod",
            "k8s:container-name:sidecar",
        ] {
            assert!(!Selector::parse(no).unwrap().matches(&subject), "{no}");
        }
        // Both spellings of a label are one selector.
        assert_eq!(Selector::parse("k8s:pod-label:app=api").unwrap().to_string(), "k8s:pod-label:app:api");
    }

    #[test]
    fn bad_selectors_say_why() {
        assert!(matches!(Selector::parse("unix:uid"), Err(SelectorError::Shape(_))));
        assert!(matches!(Selector::parse("unix:uid:"), Err(SelectorError::Shape(_))));
        assert!(matches!(Selector::parse("unix:shell:/bin/sh"), Err(SelectorError::Unknown(_))));
        // SPIRE's user names: refused, with what to use.
        let user = Selector::parse("unix:user:www-data").unwrap_err();
        assert!(matches!(user, SelectorError::Unsupported { .. }), "{user}");
        assert!(user.to_string().contains("unix:uid"), "{user}");
        for bad in [
            "unix:uid:root",
            "unix:path:relative",
            "unix:sha256:abc",
            "container:id:xyz",
            "cgroup:path:[abc",
            "k8s:pod-label:app",
            "k8s:pod-label:=api",
        ] {
            assert!(matches!(Selector::parse(bad), Err(SelectorError::Value { .. })), "{bad}");
        }
    }
}
