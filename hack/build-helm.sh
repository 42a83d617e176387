#!/usr/bin/env bash
# Builds Helm (the version pinned in hack/tools/helm/go.mod, a module of its own so that the
# project's go.mod does not carry Helm's dependencies) into bin/helm, skipping the build when it
# is already there. hack/build-tools.sh runs it (make tools, make test, make helm); the chart tests
# and make chart use bin/helm.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bin="${root}/bin"
mkdir -p "${bin}"
if [[ -x "${bin}/helm" ]]; then
  echo "tools: helm already built"
  exit 0
fi
dir="${root}/hack/tools/helm"
# The version Helm reports (`helm version`) is the one pinned in go.mod.
version=$(cd "${dir}" && go list -m -f '{{.Version}}' helm.sh/helm/v3)
echo "tools: building helm ${version} (a few minutes the first time)..."
start=${SECONDS}
(cd "${dir}" && CGO_ENABLED=0 go build -trimpath \
  -ldflags "-s -w -X helm.sh/helm/v3/internal/version.version=${version}" \
  -o "${bin}/helm.tmp" helm.sh/helm/v3/cmd/helm)
mv "${bin}/helm.tmp" "${bin}/helm"
echo "tools: built helm in $((SECONDS - start))s"
