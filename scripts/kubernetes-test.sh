#!/usr/bin/env bash
# The Kubernetes manifests (deploy/kubernetes), checked without a cluster:
#   1. yamllint, and kubernetes-validate --strict against the Kubernetes
#      API's schemas (both from PyPI, in a venv under $WITNESS_CACHE);
#   2. what the schemas cannot say: every file is in the kustomization, in
#      namespace witness; the DaemonSet runs in the host's PID namespace,
#      has resource limits, a read-only root, and mounts every path the
#      ConfigMap's settings name; the Service and ServiceMonitor select the
#      DaemonSet's pods by the port it exposes, over https with a client
#      certificate;
#   3. the ConfigMap's own witness.toml and inventory.toml, served by the
#      real collector (paths moved to a scratch directory, certificates made
#      with openssl): a scrape without a client certificate is refused, one
#      over plain HTTP too, one with a certificate the CA signed answers.
#
#   scripts/kubernetes-test.sh
#
# Ends with "kubernetes: PASS (N checks)" or "kubernetes: FAIL: why".
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"

dir="$WITNESS_ROOT/deploy/kubernetes"
fail() { echo "kubernetes: FAIL: $*"; exit 1; }
checks=0
pass() { checks=$((checks + 1)); note "ok $*"; }

venv="$WITNESS_CACHE/venv-kubernetes"
if ! "$venv/bin/kubernetes-validate" --version >/dev/null 2>&1 || ! "$venv/bin/yamllint" --version >/dev/null 2>&1; then
    step "kubernetes test: installing kubernetes-validate and yamllint (PyPI) into $venv"
    python3 -m venv "$venv" >&2 || fail "python3 -m venv (Debian package python3-venv)"
    "$venv/bin/pip" install --quiet --disable-pip-version-check kubernetes-validate yamllint >&2 || fail "pip install"
fi

step "kubernetes test: yamllint and kubernetes-validate --strict"
"$venv/bin/yamllint" -s -d '{extends: default, rules: {line-length: {max: 120}, document-start: disable}}' "$dir" \
    || fail "yamllint"
pass "yamllint"
for f in "$dir"/*.yaml; do
    case "$(basename "$f")" in
        kustomization.yaml | servicemonitor.yaml) continue ;; # no schema in the Kubernetes API
    esac
    "$venv/bin/kubernetes-validate" --strict --quiet "$f" || fail "kubernetes-validate $(basename "$f")"
    pass "kubernetes-validate --strict $(basename "$f")"
done

step "kubernetes test: what the manifests promise each other"
work="$(mktemp -d)"
trap 'kill "${witness_pid:-0}" 2>/dev/null; rm -rf "$work"' EXIT
"$venv/bin/python3" - "$dir" "$work" <<'PY' || fail "manifest checks (above)"
import os, sys, tomllib, yaml
d, work = sys.argv[1], sys.argv[2]
def need(cond, what):
    if not cond:
        print(f"kubernetes: manifest check failed: {what}", file=sys.stderr)
        sys.exit(1)
    print(f"    ok {what}", file=sys.stderr)
kust = yaml.safe_load(open(f"{d}/kustomization.yaml"))
files = sorted(f for f in os.listdir(d) if f.endswith(".yaml") and f != "kustomization.yaml")
need(sorted(kust["resources"]) == files, "the kustomization lists every manifest")
docs = {}
for f in files:
    doc = yaml.safe_load(open(f"{d}/{f}"))
    docs[doc["kind"]] = doc
    if doc["kind"] != "Namespace":
        need(doc["metadata"].get("namespace") == "witness", f"{f} is in namespace witness")
ds = docs["DaemonSet"]["spec"]["template"]
pod = ds["spec"]
(c,) = pod["containers"]
need(pod.get("hostPID") is True, "the DaemonSet sees the host's processes (hostPID)")
need(pod.get("automountServiceAccountToken") is False, "no Kubernetes API token is mounted")
need(all(k in c["resources"].get("limits", {}) for k in ("cpu", "memory")), "cpu and memory limits")
need(c["securityContext"].get("readOnlyRootFilesystem") is True, "read-only root filesystem")
mounts = {m["mountPath"]: m for m in c["volumeMounts"]}
volumes = {v["name"]: v for v in pod["volumes"]}
cm = docs["ConfigMap"]["data"]
settings = tomllib.loads(cm["witness.toml"])
tomllib.loads(cm["inventory.toml"])
config_mount = os.path.dirname(c["args"][c["args"].index("--config") + 1])
need(volumes[mounts[config_mount]["name"]].get("configMap", {}).get("name") == docs["ConfigMap"]["metadata"]["name"],
     "--config is the ConfigMap's witness.toml")
def mounted(path):
    return any(path == m or path.startswith(m.rstrip("/") + "/") for m in mounts)
paths = [settings["device"], settings["evidence"], settings["evidence_key"], settings["listen_tls_cert"],
         settings["listen_tls_key"], settings["listen_client_ca"], settings["cri_endpoint"].removeprefix("unix://"),
         "/sys/fs/cgroup", "/var/lib/kubelet/pods"]
for p in paths:
    need(mounted(p), f"{p} is mounted")
for p in (settings["evidence"], settings["evidence_key"]):
    m = max((m for m in mounts if p.startswith(m.rstrip("/") + "/")), key=len)
    need(not mounts[m].get("readOnly") and "hostPath" in volumes[mounts[m]["name"]], f"{p} is kept on the node, writable")
need(settings["listen"].startswith("0.0.0.0:") and all(k in settings for k in ("listen_tls_cert", "listen_client_ca")),
     "listening beyond loopback only with TLS and client certificates")
port = int(settings["listen"].rsplit(":", 1)[1])
(cport,) = c["ports"]
need(cport["containerPort"] == port, "the container port is the listen port")
labels = ds["metadata"]["labels"]
svc = docs["Service"]["spec"]
need(all(labels.get(k) == v for k, v in svc["selector"].items()), "the Service selects the DaemonSet's pods")
need(svc["ports"][0]["targetPort"] == cport["name"], "the Service targets the metrics port")
sm = docs["ServiceMonitor"]["spec"]
need(all(docs["Service"]["metadata"]["labels"].get(k) == v for k, v in sm["selector"]["matchLabels"].items()),
     "the ServiceMonitor selects the Service")
(ep,) = sm["endpoints"]
need(ep["port"] == svc["ports"][0]["name"] and ep["scheme"] == "https", "the ServiceMonitor scrapes the port over https")
need(all(k in ep["tlsConfig"] for k in ("ca", "cert", "keySecret")), "the ServiceMonitor presents a client certificate")
# The collector's files for step 3.
open(f"{work}/witness.toml", "w").write(cm["witness.toml"])
open(f"{work}/inventory.toml", "w").write(cm["inventory.toml"])
PY
checks=$((checks + 1))

step "kubernetes test: the ConfigMap's settings served by the collector"
collector="$("$WITNESS_ROOT/scripts/build-collector.sh")" || fail "the collector did not build"
tls="$work/tls"
mkdir -p "$tls"
openssl_quiet() { openssl "$@" 2>>"$work/openssl.log" >/dev/null || fail "openssl $1 (see $work/openssl.log)"; }
openssl_quiet req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=witness-test-ca \
    -keyout "$tls/ca.key" -out "$tls/ca.crt"
for who in server client; do
    openssl_quiet req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=witness-$who" \
        -keyout "$tls/$who.key" -out "$tls/$who.csr"
    printf 'subjectAltName=IP:127.0.0.1,DNS:witness.witness.svc\nextendedKeyUsage=%s\n' \
        "$([ "$who" = server ] && echo serverAuth || echo clientAuth)" > "$tls/$who.ext"
    openssl_quiet x509 -req -in "$tls/$who.csr" -CA "$tls/ca.crt" -CAkey "$tls/ca.key" -CAcreateserial -days 1 \
        -extfile "$tls/$who.ext" -out "$tls/$who.crt"
done
cp "$tls/server.crt" "$tls/tls.crt"
cp "$tls/server.key" "$tls/tls.key"
port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
# Only the places move: the node's paths become the scratch directory's.
sed -i -e "s|\"/dev/witness\"|\"$work/absent-device\"|" -e "s|/etc/witness-tls/|$tls/|g" \
    -e "s|/var/log/witness/|$work/log/|" -e "s|/var/lib/witness/|$work/state/|" \
    -e "s|unix:///run/containerd/containerd.sock|unix://$work/containerd.sock|" \
    -e "s|^listen = \"0.0.0.0:9750\"|listen = \"127.0.0.1:$port\"|" "$work/witness.toml"
mkdir -p "$work/log" "$work/state"
"$collector" run --config "$work/witness.toml" > "$work/witness.log" 2>&1 &
witness_pid=$!
url="https://127.0.0.1:$port/metrics"
for _ in $(seq 100); do
    curl -s --max-time 2 --cacert "$tls/ca.crt" --cert "$tls/client.crt" --key "$tls/client.key" "$url" -o /dev/null && break
    kill -0 "$witness_pid" 2>/dev/null || fail "witness run exited: $(tail -5 "$work/witness.log" | tr '\n' '|')"
    sleep 0.1
done
body="$(curl -sf --max-time 5 --cacert "$tls/ca.crt" --cert "$tls/client.crt" --key "$tls/client.key" "$url")" \
    || fail "a scrape with the client certificate failed: $(tail -5 "$work/witness.log" | tr '\n' '|')"
grep -q '^witness_build_info' <<< "$body" || fail "no witness_build_info in /metrics"
pass "a scraper with a client certificate the CA signed gets /metrics"
if out="$(curl -s --max-time 5 --cacert "$tls/ca.crt" "$url" 2>&1)" && grep -q '^witness_' <<< "$out"; then
    fail "a scrape without a client certificate was answered"
fi
pass "a scrape without a client certificate is refused"
if curl -s --max-time 5 "http://127.0.0.1:$port/metrics" 2>&1 | grep -q '^witness_'; then
    fail "a plain-HTTP scrape was answered"
fi
pass "a plain-HTTP scrape is refused"
openssl_quiet req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=other-ca \
    -keyout "$tls/other.key" -out "$tls/other.crt"
if curl -s --max-time 5 --cacert "$tls/ca.crt" --cert "$tls/other.crt" --key "$tls/other.key" "$url" 2>&1 | grep -q '^witness_'; then
    fail "a scrape with a certificate of another CA was answered"
fi
pass "a scrape with a certificate another CA signed is refused"
echo "kubernetes: PASS ($checks checks)"
