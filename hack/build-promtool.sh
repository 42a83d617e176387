#!/usr/bin/env bash
# Builds promtool (Prometheus's rule checker and rule unit tester, the version pinned in
# hack/tools/promtool/go.mod, a module of its own so that the project's go.mod does not carry
# Prometheus's dependencies) into bin/promtool, skipping the build when it is already there.
# hack/build-tools.sh runs it (make tools, make test, make promtool); make test-alerts and
# go test ./test/alerts use bin/promtool. It takes several minutes the first time on two cores.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bin="${root}/bin"
mkdir -p "${bin}"
if [[ -x "${bin}/promtool" ]]; then
  echo "tools: promtool already built"
  exit 0
fi
dir="${root}/hack/tools/promtool"
# The version promtool reports (`promtool --version`) is the Prometheus release of the module
# pinned in go.mod: v0.316.0 is Prometheus 3.16.0.
module_version=$(cd "${dir}" && go list -m -f '{{.Version}}' github.com/prometheus/prometheus)
version=$(sed -E 's/^v0\.([0-9]+)\.([0-9]+).*/\1.\2/' <<<"${module_version}")
version="$((${version%%.*} / 100)).$((${version%%.*} % 100)).${version#*.}"
echo "tools: building promtool ${version} (${module_version}; several minutes the first time)..."
start=${SECONDS}
(cd "${dir}" && CGO_ENABLED=0 go build -trimpath \
  -ldflags "-s -w -X github.com/prometheus/common/version.Version=${version}" \
  -o "${bin}/promtool.tmp" github.com/prometheus/prometheus/cmd/promtool)
mv "${bin}/promtool.tmp" "${bin}/promtool"
echo "tools: built promtool in $((SECONDS - start))s"
