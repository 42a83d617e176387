#!/usr/bin/env bash
# Fails when the generated code, the CRD or the Helm chart's copy of it
# (charts/konnect-auth-controller/crds) differs from what hack/update-codegen.sh produces from the
# current types: generated files are never edited by hand.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
scratch=$(mktemp -d)
trap 'rm -rf "${scratch}"' EXIT

# Generate in a copy of the tree, so that a failed check leaves the work tree untouched.
tar -C "${root}" --exclude=./bin --exclude=./.git -cf - . | tar -C "${scratch}" -xf -
CODEGEN_BIN="${root}/bin/codegen" "${scratch}/hack/update-codegen.sh" >/dev/null

status=0
for dir in pkg/apis pkg/generated manifests/crd charts/konnect-auth-controller/crds; do
  if ! diff -Nru "${root}/${dir}" "${scratch}/${dir}"; then
    status=1
  fi
done
if [[ ${status} -ne 0 ]]; then
  echo "verify-codegen: generated files are out of date; run hack/update-codegen.sh (make generate)" >&2
  exit 1
fi
echo "verify-codegen: generated code, CRD and the chart's CRDs are up to date"
