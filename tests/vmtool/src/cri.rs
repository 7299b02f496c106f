//! `witness-vmtool pod`: what the kubelet does for one pod, and no more:
//! RunPodSandbox, CreateContainer and StartContainer on a container
//! runtime's CRI socket, so the host test runs a real pod in a real
//! containerd without a cluster.

use std::collections::HashMap;

use anyhow::{bail, Context as _};
use k8s_cri::v1::runtime_service_client::RuntimeServiceClient;
use k8s_cri::v1::{
    ContainerConfig, ContainerMetadata, CreateContainerRequest, ImageSpec, LinuxPodSandboxConfig,
    LinuxSandboxSecurityContext, NamespaceMode, NamespaceOption, PodSandboxConfig, PodSandboxMetadata,
    RunPodSandboxRequest, StartContainerRequest,
};

/// One pod of one container.
pub(crate) struct PodSpec<'a> {
    pub endpoint: &'a str,
    pub image: &'a str,
    pub name: &'a str,
    pub namespace: &'a str,
    pub uid: &'a str,
    /// `KEY=VALUE` pod labels.
    pub labels: &'a [String],
    /// The pod's cgroup (a systemd slice with the systemd cgroup driver).
    pub cgroup_parent: &'a str,
    pub container: &'a str,
    pub command: &'a [String],
}

/// Starts the pod; says the sandbox and container ids.
pub(crate) fn run(spec: &PodSpec<'_>) -> anyhow::Result<String> {
    let mut labels = HashMap::new();
    for l in spec.labels {
        let Some((k, v)) = l.split_once('=') else { bail!("pod label '{l}' is not KEY=VALUE") };
        labels.insert(k.to_string(), v.to_string());
    }
    let sandbox = PodSandboxConfig {
        metadata: Some(PodSandboxMetadata {
            name: spec.name.into(),
            uid: spec.uid.into(),
            namespace: spec.namespace.into(),
            attempt: 0,
        }),
        labels,
        linux: Some(LinuxPodSandboxConfig {
            cgroup_parent: spec.cgroup_parent.into(),
            // The node's network: no CNI plugin is needed.
            security_context: Some(LinuxSandboxSecurityContext {
                namespace_options: Some(NamespaceOption {
                    network: NamespaceMode::Node as i32,
                    pid: NamespaceMode::Container as i32,
                    ipc: NamespaceMode::Pod as i32,
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    };
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(async {
        let channel = tonic::transport::Endpoint::from_shared(spec.endpoint.to_string())
            .with_context(|| format!("CRI endpoint '{}'", spec.endpoint))?
            .connect()
            .await
            .with_context(|| format!("connecting to {}", spec.endpoint))?;
        let mut client = RuntimeServiceClient::new(channel);
        let pod = client
            .run_pod_sandbox(RunPodSandboxRequest { config: Some(sandbox.clone()), runtime_handler: String::new() })
            .await
            .context("RunPodSandbox")?
            .into_inner()
            .pod_sandbox_id;
        let config = ContainerConfig {
            metadata: Some(ContainerMetadata { name: spec.container.into(), attempt: 0 }),
            image: Some(ImageSpec { image: spec.image.into(), ..Default::default() }),
            command: spec.command.to_vec(),
            ..Default::default()
        };
        let request =
            CreateContainerRequest { pod_sandbox_id: pod.clone(), config: Some(config), sandbox_config: Some(sandbox) };
        let container = client.create_container(request).await.context("CreateContainer")?.into_inner().container_id;
        client
            .start_container(StartContainerRequest { container_id: container.clone() })
            .await
            .context("StartContainer")?;
        Ok(format!("sandbox {pod} container {container}"))
    })
}
