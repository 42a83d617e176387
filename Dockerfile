# syntax=docker/dockerfile:1
#
# The konnect-auth-controller image, for those who build with Docker. `make image` builds the same
# contents without a Docker engine (hack/build-image.sh, hack/image): a static Go binary as the
# entrypoint, run as the unprivileged user 65532, on an empty base holding only /etc/passwd and
# /etc/group (root, nonroot), a CA bundle (Mozilla's roots, pinned in hack/image/go.mod) and
# /tmp. No shell, no package manager.
#
#   docker buildx build --platform linux/amd64,linux/arm64 -t REGISTRY/konnect-auth-controller:v1.2.3 \
#     --build-arg VERSION=v1.2.3 --build-arg REVISION=$(git rev-parse HEAD) .
#
# (`make image` also makes the result reproducible: fixed file times and sorted entries.)

ARG GO_VERSION=1.26

# The build stage runs on the builder's own platform and cross-compiles (no emulation needed
# for multi-arch images).
FROM --platform=$BUILDPLATFORM golang:${GO_VERSION} AS build
ARG TARGETOS
ARG TARGETARCH
ARG VERSION=dev
WORKDIR /src

# Modules first: this layer is reused until a go.mod or go.sum changes.
COPY go.mod go.sum ./
COPY hack/image/go.mod hack/image/go.sum hack/image/
RUN --mount=type=cache,target=/go/pkg/mod \
    go mod download && go mod download -C hack/image

# Only what the controller and the image's files are built from (see .dockerignore).
COPY cmd/ cmd/
COPY pkg/ pkg/
COPY hack/image/ hack/image/

# CGO_ENABLED=0: a static binary that needs no libc. -trimpath: no build-machine paths in the
# binary. -s -w: no symbol table or DWARF. The same flags as the Makefile's.
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=${TARGETOS} GOARCH=${TARGETARCH} \
    go build -trimpath \
      -ldflags "-s -w -X github.com/konnect-auth-controller/konnect-auth-controller/pkg/version.Version=${VERSION}" \
      -o /out/konnect-auth-controller ./cmd/controller

# The files of make image's first layer, written by the same program.
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    go run -C hack/image . rootfs --out /out/rootfs

FROM scratch
ARG VERSION=dev
ARG REVISION=
ARG SOURCE=https://github.com/konnect-auth-controller/konnect-auth-controller
LABEL org.opencontainers.image.title="konnect-auth-controller" \
      org.opencontainers.image.description="Validates KonnectAPIAuthConfigurations against Kong Konnect" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.source="${SOURCE}"
COPY --from=build /out/rootfs/ /
COPY --from=build /out/konnect-auth-controller /konnect-auth-controller
ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
WORKDIR /
# nonroot:nonroot; numeric so that runAsNonRoot can verify it without reading /etc/passwd.
USER 65532:65532
ENTRYPOINT ["/konnect-auth-controller"]
