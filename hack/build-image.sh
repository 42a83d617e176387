#!/usr/bin/env bash
# Usage: hack/build-image.sh OUT_DIR
#
# Builds the controller's container image for every platform in IMAGE_PLATFORMS (default
# linux/amd64 linux/arm64) without a Docker engine (make image):
#   OUT_DIR/oci/                                    an OCI image layout: one index, both platforms
#   OUT_DIR/konnect-auth-controller-linux-ARCH.tar  `docker load -i`-able, tagged IMAGE_TAG
#   OUT_DIR/binaries/linux-ARCH/konnect-auth-controller  the static binaries in the image
# with hack/image (go-containerregistry; see the comment at the top of hack/image/main.go).
#
# Inputs, all with defaults so that the same commit gives the same image digest:
#   VERSION            stamped into the binary and the labels (Makefile: git describe --dirty)
#   LDFLAGS            the Makefile's; must stamp VERSION the same way
#   SOURCE_DATE_EPOCH  time of every file and of the config (default: the commit's time)
#   IMAGE_SOURCE       org.opencontainers.image.source
#   IMAGE_TAG          the tag the tarballs load as (default konnect-auth-controller:VERSION)
set -euo pipefail

if [[ $# -ne 1 ]]; then
  echo "usage: $0 OUT_DIR" >&2
  exit 2
fi
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out=$1
mkdir -p "${out}"
out=$(cd "${out}" && pwd)
cd "${root}"

version=${VERSION:-$(git describe --tags --always --dirty 2>/dev/null || echo dev)}
ldflags=${LDFLAGS:-"-s -w -X github.com/konnect-auth-controller/konnect-auth-controller/pkg/version.Version=${version}"}
revision=$(git rev-parse HEAD 2>/dev/null || echo unknown)
epoch=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || echo 0)}
source=${IMAGE_SOURCE:-https://github.com/konnect-auth-controller/konnect-auth-controller}
tag=${IMAGE_TAG:-konnect-auth-controller:${version}}
platforms=${IMAGE_PLATFORMS:-linux/amd64 linux/arm64}

# The builder, from its own module (go build downloads what it needs on a fresh machine).
go build -C "${root}/hack/image" -trimpath -o "${out}/image-builder" .

binary_flags=()
for platform in ${platforms}; do
  os=${platform%%/*}
  arch=${platform#*/}
  arch=${arch%%/*}
  dir="${out}/binaries/${os}-${arch}"
  mkdir -p "${dir}"
  echo "image: building ${platform} binary (${version})"
  CGO_ENABLED=0 GOOS=${os} GOARCH=${arch} \
    go build -trimpath -ldflags "${ldflags}" -o "${dir}/konnect-auth-controller" ./cmd/controller
  binary_flags+=(--binary "${platform}=${dir}/konnect-auth-controller")
done

"${out}/image-builder" build "${binary_flags[@]}" \
  --version "${version}" --revision "${revision}" --source "${source}" --created "${epoch}" \
  --layout "${out}/oci" --tarball-dir "${out}" --tag "${tag}"
