//! Pod metadata from the container runtime: container id → pod name,
//! namespace, UID, labels and container name, asked of the runtime's CRI
//! socket (containerd, CRI-O) — the facts `k8s:ns`, `k8s:pod-name`,
//! `k8s:pod-label` and `k8s:container-name` select on, and that evidence
//! and OTLP logs carry as `k8s.pod.name`, `k8s.namespace.name`.
//!
//! The kernel's records never wait for the runtime. [`Pods::get`] answers
//! from a cache; on a miss it queues the container id for a background
//! thread (its own single-threaded tokio runtime, one gRPC channel that
//! reconnects by itself) and answers "unknown". Until the runtime answers,
//! the container's processes keep what their cgroup says (container id, pod
//! UID) and are attributed by that; when it answers, [`Pods::poll`] hands the
//! pipeline the containers that became known, and their processes are
//! attributed again. Nothing is held back or dropped while waiting.
//!
//! On start, and every [`REFRESH`], the thread lists every container and
//! sandbox, which warms the cache and evicts the containers that two lists
//! in a row no longer show.
//!
//! The CRI does not carry a pod's service account. The kubelet writes it,
//! though, into the token it mounts into the pod:
//! `/var/lib/kubelet/pods/<uid>/volumes/kubernetes.io~projected/*/token`, a
//! JWT whose claims name the service account, the namespace and the pod
//! UID. [`service_account`] reads those claims (only root can write there;
//! the token is decoded, never verified, kept or sent) when they agree with
//! what the runtime said, for `k8s:sa`.
//!
//! A container id the runtime does not know (not a CRI container, or asked
//! in the instant between its cgroup and its registration) is asked again a
//! few times before it is taken as "not a pod".

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;

use k8s_cri::v1::runtime_service_client::RuntimeServiceClient;
use k8s_cri::v1::{ContainerFilter, ListContainersRequest, ListPodSandboxRequest, PodSandboxStatusRequest};
use tonic::transport::{Channel, Endpoint};

/// A pod, as the runtime describes the container's sandbox.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Pod {
    /// `k8s.pod.name`.
    pub name: String,
    /// `k8s.namespace.name`.
    pub namespace: String,
    /// `k8s.pod.uid`.
    pub uid: String,
    /// `k8s.container.name` (None for the sandbox's own process).
    pub container: Option<String>,
    /// The pod's labels.
    pub labels: BTreeMap<String, String>,
    /// Its service account, from the kubelet's token ([`service_account`]).
    pub service_account: Option<String>,
}

/// Where the kubelet keeps each pod's volumes, by pod UID.
pub const KUBELET_PODS: &str = "/var/lib/kubelet/pods";

/// The service account of pod `uid` in `namespace`, from the claims of the
/// service-account token the kubelet projected into it (or, on old
/// clusters, the secret it mounted), when they name that pod and namespace.
pub fn service_account(pods_dir: &std::path::Path, uid: &str, namespace: &str) -> Option<String> {
    use base64::Engine as _;
    let volumes = pods_dir.join(uid).join("volumes");
    for kind in ["kubernetes.io~projected", "kubernetes.io~secret"] {
        let Ok(dir) = std::fs::read_dir(volumes.join(kind)) else { continue };
        for volume in dir.flatten() {
            let Ok(token) = std::fs::read_to_string(volume.path().join("token")) else { continue };
            let Some(payload) = token.trim().split('.').nth(1) else { continue };
            let Ok(json) = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload.trim_end_matches('='))
            else {
                continue;
            };
            let Ok(claims) = serde_json::from_slice::<serde_json::Value>(&json) else { continue };
            let k8s = &claims["kubernetes.io"];
            let (sa, ns, pod) = if k8s.is_object() {
                (&k8s["serviceaccount"]["name"], &k8s["namespace"], Some(&k8s["pod"]["uid"]))
            } else {
                // Legacy secret tokens name no pod.
                (
                    &claims["kubernetes.io/serviceaccount/service-account.name"],
                    &claims["kubernetes.io/serviceaccount/namespace"],
                    None,
                )
            };
            if ns.as_str() != Some(namespace) || pod.is_some_and(|p| p.as_str() != Some(uid)) {
                continue;
            }
            if let Some(sa) = sa.as_str() {
                return Some(sa.to_string());
            }
        }
    }
    None
}

/// How often the whole container list is read again.
pub const REFRESH: Duration = Duration::from_secs(30);
/// Containers asked of the runtime at once, at most; more wait for the next
/// miss.
const QUEUE: usize = 4096;
/// Containers remembered, at most (a node runs a few hundred).
const MAX_KNOWN: usize = 65_536;
/// Each call's deadline.
const CALL_TIMEOUT: Duration = Duration::from_secs(5);
/// Delays before asking again about a container the runtime does not know.
const RETRIES: [Duration; 3] = [Duration::from_millis(200), Duration::from_millis(800), Duration::from_secs(3)];

/// What the runtime thread tells the pipeline.
#[derive(Debug)]
enum Answer {
    /// The container (or sandbox) runs in this pod.
    Pod(String, Arc<Pod>),
    /// The runtime does not know the container.
    NotAPod(String),
    /// The runtime could not be asked (it is down, or the call failed).
    Unreachable(String, String),
    /// The containers the runtime runs now (a refresh).
    Running(HashSet<String>),
}

/// The pipeline's side: the cache and the two queues.
#[derive(Debug)]
pub struct Pods {
    endpoint: String,
    known: HashMap<String, Option<Arc<Pod>>>,
    pending: HashSet<String>,
    requests: tokio::sync::mpsc::Sender<String>,
    answers: mpsc::Receiver<Answer>,
    /// Pods that the last list did not show.
    missing: HashSet<String>,
    /// The last failure to reach the runtime, while it lasts.
    unreachable: Option<String>,
}

/// Why no client could be started.
#[derive(Debug, thiserror::Error)]
pub enum PodsError {
    /// Not `unix:///path` (or `http://...`).
    #[error("cri_endpoint '{endpoint}' is not a unix:///path or http:// URL: {source}")]
    Endpoint {
        /// What was given.
        endpoint: String,
        /// Why it is not one.
        source: tonic::transport::Error,
    },
    /// The thread could not be started.
    #[error("starting the CRI client thread: {0}")]
    Thread(#[from] std::io::Error),
}

fn endpoint(uri: &str) -> Result<Endpoint, PodsError> {
    let uri = if uri.starts_with('/') { format!("unix://{uri}") } else { uri.to_string() };
    Endpoint::from_shared(uri.clone())
        .map(|e| e.connect_timeout(CALL_TIMEOUT).timeout(CALL_TIMEOUT))
        .map_err(|source| PodsError::Endpoint { endpoint: uri, source })
}

impl Pods {
    /// Starts the client of the CRI socket at `uri` (`unix:///run/containerd/containerd.sock`
    /// or a bare path). It does not wait for the runtime: one that is down
    /// is tried again on every miss.
    pub fn start(uri: &str) -> Result<Self, PodsError> {
        let endpoint = endpoint(uri)?;
        let (requests, rx) = tokio::sync::mpsc::channel(QUEUE);
        let (tx, answers) = mpsc::channel();
        std::thread::Builder::new().name("witness-cri".into()).spawn(move || serve(endpoint, rx, tx))?;
        Ok(Self {
            endpoint: uri.to_string(),
            known: HashMap::new(),
            pending: HashSet::new(),
            requests,
            answers,
            missing: HashSet::new(),
            unreachable: None,
        })
    }

    /// The pod of a container, if the runtime has said; on a first miss the
    /// runtime is asked, and the answer comes through [`Pods::poll`].
    pub fn get(&mut self, container_id: &str) -> Option<Arc<Pod>> {
        if let Some(known) = self.known.get(container_id) {
            return known.clone();
        }
        if !self.pending.contains(container_id) && self.requests.try_send(container_id.to_string()).is_ok() {
            self.pending.insert(container_id.to_string());
        }
        None
    }

    /// The pod of a container as far as known, without asking.
    pub fn known(&self, container_id: &str) -> Option<&Pod> {
        self.known.get(container_id)?.as_deref()
    }

    /// Takes the runtime's answers; returns the containers whose pod became
    /// known (their processes are to be attributed again).
    pub fn poll(&mut self) -> Vec<String> {
        let mut resolved = Vec::new();
        while let Ok(answer) = self.answers.try_recv() {
            match answer {
                Answer::Pod(id, pod) => {
                    self.pending.remove(&id);
                    if self.unreachable.take().is_some() {
                        tracing::info!(endpoint = %self.endpoint, "container runtime answers again");
                    }
                    if self.known.len() >= MAX_KNOWN {
                        self.known.clear();
                    }
                    if self.known.get(&id).is_none_or(|p| p.as_deref() != Some(&*pod)) {
                        resolved.push(id.clone());
                    }
                    self.known.insert(id, Some(pod));
                }
                Answer::NotAPod(id) => {
                    self.pending.remove(&id);
                    self.known.insert(id, None);
                }
                Answer::Unreachable(id, why) => {
                    // Asked again on the next miss.
                    self.pending.remove(&id);
                    if self.unreachable.is_none() {
                        tracing::warn!(endpoint = %self.endpoint, error = %why,
                            "container runtime unreachable: pods are attributed by their cgroup until it answers");
                    }
                    self.unreachable = Some(why);
                }
                Answer::Running(running) => {
                    // A pod missing from two lists in a row is gone (one
                    // list may predate a container just resolved).
                    let missing: HashSet<String> = self
                        .known
                        .iter()
                        .filter(|(id, pod)| pod.is_some() && !running.contains(*id))
                        .map(|(id, _)| id.clone())
                        .collect();
                    self.known.retain(|id, _| !(missing.contains(id) && self.missing.contains(id)));
                    self.missing = missing;
                }
            }
        }
        resolved
    }
}

/// One lookup, waiting for the answer (for `witness identity explain`).
pub fn lookup(uri: &str, container_id: &str) -> anyhow::Result<Option<Pod>> {
    let endpoint = endpoint(uri)?;
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    rt.block_on(async {
        let mut client =
            RuntimeServiceClient::new(endpoint.connect().await.map_err(|e| {
                anyhow::anyhow!("cannot reach the container runtime at {uri}: {e} ({})", source_chain(&e))
            })?);
        Ok(ask(&mut client, container_id).await.map_err(|e| anyhow::anyhow!("{uri}: {e}"))?.map(|p| (*p).clone()))
    })
}

fn source_chain(e: &dyn std::error::Error) -> String {
    let mut out = Vec::new();
    let mut cur = e.source();
    while let Some(s) = cur {
        out.push(s.to_string());
        cur = s.source();
    }
    out.join(": ")
}

/// The runtime thread.
fn serve(endpoint: Endpoint, mut requests: tokio::sync::mpsc::Receiver<String>, answers: mpsc::Sender<Answer>) {
    let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!(error = %e, "CRI client runtime failed to start: no pod metadata");
            return;
        }
    };
    rt.block_on(async move {
        let client = RuntimeServiceClient::new(endpoint.connect_lazy());
        let mut refresh = tokio::time::interval(REFRESH);
        loop {
            tokio::select! {
                request = requests.recv() => {
                    let Some(id) = request else { return };
                    let (mut client, answers) = (client.clone(), answers.clone());
                    tokio::spawn(async move {
                        let answer = resolve(&mut client, id).await;
                        let _ = answers.send(answer);
                    });
                }
                _ = refresh.tick() => {
                    let (mut client, answers) = (client.clone(), answers.clone());
                    tokio::spawn(async move {
                        if let Err(e) = list(&mut client, &answers).await {
                            tracing::debug!(error = %e, "listing the runtime's containers failed");
                        }
                    });
                }
            }
        }
    });
}

/// Asks about one container, again a few times while the runtime does not
/// know it yet.
async fn resolve(client: &mut RuntimeServiceClient<Channel>, id: String) -> Answer {
    for delay in RETRIES.iter().copied().map(Some).chain([None]) {
        match ask(client, &id).await {
            Ok(Some(pod)) => return Answer::Pod(id, pod),
            Ok(None) => match delay {
                Some(d) => tokio::time::sleep(d).await,
                None => return Answer::NotAPod(id),
            },
            Err(status) => return Answer::Unreachable(id, status.to_string()),
        }
    }
    unreachable!("the last round returns")
}

/// The pod of a container id, or of a sandbox id; None if the runtime knows
/// neither.
async fn ask(client: &mut RuntimeServiceClient<Channel>, id: &str) -> Result<Option<Arc<Pod>>, tonic::Status> {
    let filter = ContainerFilter { id: id.to_string(), ..Default::default() };
    let containers = client.list_containers(ListContainersRequest { filter: Some(filter) }).await?.into_inner();
    let (sandbox, container) = match containers.containers.into_iter().find(|c| c.id == id) {
        Some(c) => (c.pod_sandbox_id, c.metadata.map(|m| m.name)),
        None => (id.to_string(), None),
    };
    let request = PodSandboxStatusRequest { pod_sandbox_id: sandbox, verbose: false };
    let status = match client.pod_sandbox_status(request).await {
        Ok(r) => r.into_inner().status,
        Err(s) if s.code() == tonic::Code::NotFound => None,
        // containerd 1.6 answers Unknown with "not found" in the text.
        Err(s) if s.message().contains("not found") => None,
        Err(s) => return Err(s),
    };
    Ok(status.and_then(|s| {
        let meta = s.metadata?;
        Some(Arc::new(Pod {
            service_account: service_account(std::path::Path::new(KUBELET_PODS), &meta.uid, &meta.namespace),
            name: meta.name,
            namespace: meta.namespace,
            uid: meta.uid,
            container,
            labels: s.labels.into_iter().collect(),
        }))
    }))
}

/// Every running container and sandbox: their pods, then the whole set.
async fn list(client: &mut RuntimeServiceClient<Channel>, answers: &mpsc::Sender<Answer>) -> Result<(), tonic::Status> {
    let sandboxes = client.list_pod_sandbox(ListPodSandboxRequest { filter: None }).await?.into_inner().items;
    let mut running = HashSet::new();
    let mut pods = HashMap::new();
    for s in sandboxes {
        let Some(meta) = s.metadata else { continue };
        let pod = Pod {
            service_account: service_account(std::path::Path::new(KUBELET_PODS), &meta.uid, &meta.namespace),
            name: meta.name,
            namespace: meta.namespace,
            uid: meta.uid,
            container: None,
            labels: s.labels.into_iter().collect(),
        };
        let _ = answers.send(Answer::Pod(s.id.clone(), Arc::new(pod.clone())));
        running.insert(s.id.clone());
        pods.insert(s.id, pod);
    }
    let containers = client.list_containers(ListContainersRequest { filter: None }).await?.into_inner().containers;
    for c in containers {
        let Some(pod) = pods.get(&c.pod_sandbox_id) else { continue };
        let pod = Pod { container: c.metadata.map(|m| m.name), ..pod.clone() };
        let _ = answers.send(Answer::Pod(c.id.clone(), Arc::new(pod)));
        running.insert(c.id);
    }
    let _ = answers.send(Answer::Running(running));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_endpoint_is_named() {
        let e = Pods::start("no such thing").unwrap_err();
        assert!(e.to_string().contains("'no such thing'"), "{e}");
    }

    /// A token as the kubelet projects it (claims as Kubernetes 1.30 writes
    /// them; the signature is not read).
    fn token(claims: &str) -> String {
        use base64::Engine as _;
        let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
        format!("{}.{}.c2lnbmF0dXJl", b64(r#"{"alg":"RS256","kid":"k"}"#), b64(claims))
    }

    #[test]
    fn the_service_account_is_read_from_the_kubelets_token() {
        let dir = std::env::temp_dir().join(format!("witness-kubelet-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let uid = "6b1c7e2a-5d4f-4c3b-9a8e-0f1e2d3c4b5a";
        let volume = dir.join(uid).join("volumes/kubernetes.io~projected/kube-api-access-x2v9q");
        std::fs::create_dir_all(&volume).unwrap();
        let claims = format!(
            r#"{{"aud":["https://kubernetes.default.svc"],"exp":1,"iat":0,"iss":"https://kubernetes.default.svc",
            "kubernetes.io":{{"namespace":"payments","node":{{"name":"n1","uid":"u"}},
            "pod":{{"name":"api-7d9f","uid":"{uid}"}},"serviceaccount":{{"name":"api","uid":"s"}},"warnafter":1}},
            "nbf":0,"sub":"system:serviceaccount:payments:api"}}"#
        );
        std::fs::write(volume.join("token"), token(&claims)).unwrap();
        assert_eq!(service_account(&dir, uid, "payments").as_deref(), Some("api"));
        // Claims of another namespace (or pod) are not this pod's.
        assert_eq!(service_account(&dir, uid, "default"), None);
        std::fs::write(volume.join("token"), token(&claims.replace(uid, "other"))).unwrap();
        assert_eq!(service_account(&dir, uid, "payments"), None);
        // Not a token, no token, no pod: unknown, never an error.
        std::fs::write(volume.join("token"), "garbage").unwrap();
        assert_eq!(service_account(&dir, uid, "payments"), None);
        assert_eq!(service_account(&dir, "no-such-pod", "payments"), None);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_runtime_that_is_down_leaves_pods_unknown_and_is_asked_again() {
        let dir = std::env::temp_dir().join(format!("witness-pods-{}", std::process::id()));
        let socket = dir.join("absent.sock");
        let mut pods = Pods::start(socket.to_str().unwrap()).unwrap();
        let id = "ab".repeat(32);
        assert_eq!(pods.get(&id), None);
        // The answer: unreachable, so the id is not cached as "not a pod".
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while pods.unreachable.is_none() && std::time::Instant::now() < deadline {
            pods.poll();
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(pods.unreachable.is_some(), "the failure is reported");
        assert!(!pods.known.contains_key(&id) && !pods.pending.contains(&id));
        assert_eq!(pods.get(&id), None);
        assert!(pods.pending.contains(&id), "asked again");
    }
}
