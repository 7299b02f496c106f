//! What a cgroup v2 path says about the workload in it: the container id and
//! runtime, the Kubernetes pod UID, the systemd unit.
//!
//! Layouts understood (systemd and cgroupfs drivers):
//!
//! ```text
//! /kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod<uid_with_underscores>.slice/cri-containerd-<id>.scope
//! /kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod<uid>.slice/crio-<id>.scope
//! /kubepods/burstable/pod<uid>/<id>
//! /system.slice/docker-<id>.scope        /docker/<id>
//! /system.slice/nginx.service            /user.slice/user-1000.slice/session-3.scope
//! ```
//!
//! Container ids are 64 lower-case hex digits; anything else is not taken
//! for one. Pod UIDs are returned in their canonical dashed form.

/// What a cgroup path identifies.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CgroupInfo {
    /// Container id (64 hex digits).
    pub container_id: Option<String>,
    /// The runtime that named the container scope ("containerd", "crio",
    /// "docker"), when the layout says.
    pub runtime: Option<&'static str>,
    /// Kubernetes pod UID, dashed.
    pub pod_uid: Option<String>,
    /// The innermost systemd unit (`*.service` or `*.scope`) that is not a
    /// container scope.
    pub systemd_unit: Option<String>,
}

fn is_container_id(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// A pod UID from a path segment: `pod<uid>` (cgroupfs, dashes) or
/// `...-pod<uid>.slice` (systemd, underscores).
fn pod_uid(segment: &str) -> Option<String> {
    let rest = segment.strip_suffix(".slice").unwrap_or(segment);
    let idx = rest.rfind("pod")?;
    if idx > 0 && !rest[..idx].ends_with('-') {
        return None;
    }
    let uid = rest[idx + 3..].replace('_', "-");
    let is_uid =
        uid.len() == 36
            && uid.bytes().enumerate().all(|(i, b)| {
                if [8, 13, 18, 23].contains(&i) {
                    b == b'-'
                } else {
                    b.is_ascii_hexdigit()
                }
            });
    is_uid.then(|| uid.to_ascii_lowercase())
}

/// A container id and runtime from a path segment.
fn container(segment: &str) -> Option<(String, Option<&'static str>)> {
    if is_container_id(segment) {
        return Some((segment.to_string(), None));
    }
    let scope = segment.strip_suffix(".scope")?;
    for (prefix, runtime) in [("cri-containerd-", "containerd"), ("crio-", "crio"), ("docker-", "docker")] {
        if let Some(id) = scope.strip_prefix(prefix) {
            if is_container_id(id) {
                return Some((id.to_string(), Some(runtime)));
            }
        }
    }
    None
}

/// Parses a cgroup v2 path (as in `/proc/PID/cgroup` after `0::`).
pub fn parse(path: &str) -> CgroupInfo {
    let mut info = CgroupInfo::default();
    for segment in path.split('/').filter(|s| !s.is_empty()) {
        if let Some(uid) = pod_uid(segment) {
            info.pod_uid = Some(uid);
        } else if let Some((id, runtime)) = container(segment) {
            info.container_id = Some(id);
            info.runtime = runtime.or(info.runtime);
        } else if segment.ends_with(".service") || segment.ends_with(".scope") {
            info.systemd_unit = Some(segment.to_string());
        }
    }
    if path.split('/').any(|s| s == "docker") && info.container_id.is_some() {
        info.runtime = info.runtime.or(Some("docker"));
    }
    info
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "4f2c1e0a9b8d7c6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d2e";
    const UID: &str = "1b2c3d4e-5f60-4a7b-8c9d-0e1f2a3b4c5d";

    #[test]
    fn containerd_systemd_layout() {
        let path = format!(
            "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{}.slice/cri-containerd-{ID}.scope",
            UID.replace('-', "_")
        );
        let info = parse(&path);
        assert_eq!(info.container_id.as_deref(), Some(ID));
        assert_eq!(info.runtime, Some("containerd"));
        assert_eq!(info.pod_uid.as_deref(), Some(UID));
        assert_eq!(info.systemd_unit, None);
    }

    #[test]
    fn crio_docker_and_cgroupfs_layouts() {
        let crio = parse(&format!(
            "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod{}.slice/crio-{ID}.scope",
            UID.replace('-', "_")
        ));
        assert_eq!((crio.runtime, crio.pod_uid.as_deref()), (Some("crio"), Some(UID)));
        let cgroupfs = parse(&format!("/kubepods/burstable/pod{UID}/{ID}"));
        assert_eq!((cgroupfs.container_id.as_deref(), cgroupfs.pod_uid.as_deref()), (Some(ID), Some(UID)));
        let docker = parse(&format!("/system.slice/docker-{ID}.scope"));
        assert_eq!((docker.container_id.as_deref(), docker.runtime), (Some(ID), Some("docker")));
        let docker_fs = parse(&format!("/docker/{ID}"));
        assert_eq!(docker_fs.runtime, Some("docker"));
    }

    #[test]
    fn systemd_units_and_noise() {
        assert_eq!(parse("/system.slice/nginx.service").systemd_unit.as_deref(), Some("nginx.service"));
        assert_eq!(
            parse("/user.slice/user-1000.slice/session-3.scope").systemd_unit.as_deref(),
            Some("session-3.scope")
        );
        assert_eq!(parse("/"), CgroupInfo::default());
        // Almost ids and almost pods are not taken.
        assert_eq!(parse(&format!("/docker/{}", &ID[..63])).container_id, None);
        assert_eq!(parse("/kubepods/burstable/podnot-a-uid").pod_uid, None);
        assert_eq!(parse("/shipod1b2c3d4e-5f60-4a7b-8c9d-0e1f2a3b4c5d").pod_uid, None);
    }
}
