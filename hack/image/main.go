// Command image builds the konnect-auth-controller container image without a Docker engine,
// with go-containerregistry, and pushes it. hack/build-image.sh (make image, make image-push)
// runs it; the Dockerfile runs its rootfs subcommand so that both give the same files.
//
//	image build  --binary linux/amd64=PATH --binary linux/arm64=PATH --version V --revision R \
//	             --source URL --created UNIX_SECONDS --layout DIR --tarball-dir DIR --tag NAME:TAG
//	image rootfs --out DIR     # the platform-independent files, for the Dockerfile
//	image push   --layout DIR --image REGISTRY/REPO:TAG
//
// The image is built on an empty base (nothing can be pulled here, and the controller needs
// nothing but itself and a trust store). Each platform's image has two layers:
//
//  1. the same for every platform: /etc/passwd and /etc/group with root and nonroot (65532),
//     /etc/ssl/certs/ca-certificates.crt (Mozilla's roots as pinned by the Go module
//     golang.org/x/crypto/x509roots/fallback in go.mod, so that the bundle, like everything
//     else, depends on the commit and not on the build machine), and /tmp (1777). (No home
//     directory: nothing uses one, and the root file system is read-only in the Deployment.)
//  2. /konnect-auth-controller, the static binary (0755), the entrypoint.
//
// It runs as 65532:65532, has no shell, and carries org.opencontainers.image.* labels.
// Reproducible: every tar entry has the time --created (SOURCE_DATE_EPOCH, by default the
// commit's time), owner 0:0, no user or group names, and entries are sorted; gzip headers
// carry no name or time; the config's created time is --created. The same inputs give the
// same bytes, so the same commit (and Go toolchain) gives the same index digest.
package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/google/go-containerregistry/pkg/v1/validate"
	"golang.org/x/crypto/x509roots/fallback/bundle"
)

const (
	entrypoint = "/konnect-auth-controller"
	// user is nonroot:nonroot, numeric so that runAsNonRoot can check it without /etc/passwd.
	user = "65532:65532"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: image build|rootfs|push [flags]")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "build":
		err = build(os.Args[2:])
	case "rootfs":
		err = rootfs(os.Args[2:])
	case "push":
		err = push(os.Args[2:])
	default:
		err = fmt.Errorf("unknown command %q: want build, rootfs or push", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "image:", err)
		os.Exit(1)
	}
}

// file is one entry of a layer.
type file struct {
	path string // relative, no leading slash; directories end in /
	mode int64
	data []byte
}

// baseFiles are the files every platform's image holds besides the binary.
func baseFiles() []file {
	return []file{
		{path: "etc/", mode: 0o755},
		{path: "etc/group", mode: 0o644, data: []byte("root:x:0:\nnonroot:x:65532:\n")},
		{path: "etc/passwd", mode: 0o644, data: []byte("root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n")},
		{path: "etc/ssl/", mode: 0o755},
		{path: "etc/ssl/certs/", mode: 0o755},
		{path: "etc/ssl/certs/ca-certificates.crt", mode: 0o644, data: caBundle()},
		{path: "tmp/", mode: 0o1777},
	}
}

// caBundle is Mozilla's root store (NSS) from the pinned x509roots/fallback module, as PEM.
// Roots that NSS constrains (distrust after a date) are left out: a PEM file cannot carry the
// constraint, and a trust store without them is stricter, never looser.
func caBundle() []byte {
	var b bytes.Buffer
	for root := range bundle.Roots() {
		if root.Constraint != nil {
			continue
		}
		_ = pem.Encode(&b, &pem.Block{Type: "CERTIFICATE", Bytes: root.Certificate})
	}
	return b.Bytes()
}

// layerTar writes files as a tar stream: sorted by path, owner 0:0, every time t.
func layerTar(files []file, t time.Time) ([]byte, error) {
	files = slices.Clone(files)
	slices.SortFunc(files, func(a, b file) int { return strings.Compare(a.path, b.path) })
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range files {
		h := &tar.Header{
			Name:    f.path,
			Mode:    f.mode,
			ModTime: t,
			Uid:     0,
			Gid:     0,
			Format:  tar.FormatPAX,
		}
		if strings.HasSuffix(f.path, "/") {
			h.Typeflag = tar.TypeDir
		} else {
			h.Typeflag = tar.TypeReg
			h.Size = int64(len(f.data))
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if _, err := tw.Write(f.data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// layer gzips a tar stream (no name, no time in the gzip header) into an OCI layer.
func layer(tarBytes []byte) (v1.Layer, error) {
	var gz bytes.Buffer
	zw, err := gzip.NewWriterLevel(&gz, gzip.BestCompression)
	if err != nil {
		return nil, err
	}
	if _, err := zw.Write(tarBytes); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	data := gz.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(data)), nil
	}, tarball.WithMediaType(types.OCILayer))
}

// multiFlag collects repeated --binary flags.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

func build(args []string) error {
	fs := flag.NewFlagSet("build", flag.ContinueOnError)
	var binaries multiFlag
	fs.Var(&binaries, "binary", "OS/ARCH[/VARIANT]=PATH of a static controller binary; repeat for each platform")
	version := fs.String("version", "dev", "org.opencontainers.image.version")
	revision := fs.String("revision", "", "org.opencontainers.image.revision (the commit)")
	source := fs.String("source", "", "org.opencontainers.image.source")
	created := fs.Int64("created", 0, "time of every file and of the config, in Unix seconds (SOURCE_DATE_EPOCH)")
	layoutDir := fs.String("layout", "", "write the OCI image layout here (replaced)")
	tarballDir := fs.String("tarball-dir", "", "write a `docker load`-able tarball per platform here")
	tag := fs.String("tag", "konnect-auth-controller:dev", "the tag the tarballs load as")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if len(binaries) == 0 || *layoutDir == "" {
		return errors.New("build needs at least one --binary and --layout")
	}
	t := time.Unix(*created, 0).UTC()
	labels := map[string]string{
		"org.opencontainers.image.title":       "konnect-auth-controller",
		"org.opencontainers.image.description": "Validates KonnectAPIAuthConfigurations against Kong Konnect",
		"org.opencontainers.image.version":     *version,
		"org.opencontainers.image.revision":    *revision,
		"org.opencontainers.image.source":      *source,
		"org.opencontainers.image.created":     t.Format(time.RFC3339),
	}

	baseTar, err := layerTar(baseFiles(), t)
	if err != nil {
		return err
	}
	base, err := layer(baseTar)
	if err != nil {
		return err
	}

	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	images := map[string]v1.Image{}
	var platforms []string
	for _, b := range binaries {
		plat, path, ok := strings.Cut(b, "=")
		if !ok {
			return fmt.Errorf("--binary %q: want OS/ARCH=PATH", b)
		}
		p, err := v1.ParsePlatform(plat)
		if err != nil {
			return err
		}
		img, err := platformImage(*p, path, base, t, labels)
		if err != nil {
			return fmt.Errorf("%s: %w", plat, err)
		}
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{
			Add:        img,
			Descriptor: v1.Descriptor{Platform: p},
		})
		images[p.OS+"-"+p.Architecture] = img
		platforms = append(platforms, plat)
	}
	idx = mutate.Annotations(idx, map[string]string{
		"org.opencontainers.image.version":  *version,
		"org.opencontainers.image.revision": *revision,
		"org.opencontainers.image.source":   *source,
		"org.opencontainers.image.created":  t.Format(time.RFC3339),
	}).(v1.ImageIndex)
	if err := os.RemoveAll(*layoutDir); err != nil {
		return err
	}
	lp, err := layout.Write(*layoutDir, empty.Index)
	if err != nil {
		return err
	}
	if err := lp.AppendIndex(idx, layout.WithAnnotations(map[string]string{
		"org.opencontainers.image.ref.name": *version,
	})); err != nil {
		return err
	}
	digest, err := idx.Digest()
	if err != nil {
		return err
	}
	// Validate what is on disk, read back: every blob's digest and size, every manifest and
	// config against its descriptor, every layer's diff ID.
	written, err := lp.ImageIndex()
	if err != nil {
		return err
	}
	writtenIdx, err := written.ImageIndex(digest)
	if err != nil {
		return err
	}
	if err := validate.Index(writtenIdx); err != nil {
		return fmt.Errorf("the written layout %s is not valid: %w", *layoutDir, err)
	}
	fmt.Printf("image: OCI layout %s: index %s (%s)\n", *layoutDir, digest, strings.Join(platforms, ", "))

	if *tarballDir != "" {
		ref, err := name.NewTag(*tag)
		if err != nil {
			return err
		}
		if err := os.MkdirAll(*tarballDir, 0o755); err != nil {
			return err
		}
		keys := make([]string, 0, len(images))
		for k := range images {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			path := filepath.Join(*tarballDir, "konnect-auth-controller-"+k+".tar")
			if err := tarball.WriteToFile(path, ref, images[k]); err != nil {
				return err
			}
			d, _ := images[k].Digest()
			fmt.Printf("image: docker load -i %s  # %s, %s\n", path, ref, d)
		}
	}
	return nil
}

// platformImage is the empty base plus the shared layer plus the binary, with the config.
func platformImage(p v1.Platform, binary string, base v1.Layer, t time.Time, labels map[string]string) (v1.Image, error) {
	bin, err := os.ReadFile(binary)
	if err != nil {
		return nil, err
	}
	binTar, err := layerTar([]file{{path: strings.TrimPrefix(entrypoint, "/"), mode: 0o755, data: bin}}, t)
	if err != nil {
		return nil, err
	}
	binLayer, err := layer(binTar)
	if err != nil {
		return nil, err
	}
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	img, err = mutate.Append(img,
		mutate.Addendum{Layer: base, History: v1.History{Created: v1.Time{Time: t}, CreatedBy: "hack/image: /etc/passwd, /etc/group, /etc/ssl/certs/ca-certificates.crt, /tmp", Comment: "konnect-auth-controller"}},
		mutate.Addendum{Layer: binLayer, History: v1.History{Created: v1.Time{Time: t}, CreatedBy: "hack/image: " + entrypoint, Comment: "konnect-auth-controller"}},
	)
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.Created = v1.Time{Time: t}
	cf.OS = p.OS
	cf.Architecture = p.Architecture
	cf.Variant = p.Variant
	cf.Author = ""
	cf.Config = v1.Config{
		User:       user,
		Entrypoint: []string{entrypoint},
		WorkingDir: "/",
		Labels:     labels,
		// The paths Go's crypto/x509 reads first; set for tools that look for them.
		Env: []string{"SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt"},
	}
	return mutate.ConfigFile(img, cf)
}

// rootfs writes the shared files into a directory (for the Dockerfile's COPY).
func rootfs(args []string) error {
	fs := flag.NewFlagSet("rootfs", flag.ContinueOnError)
	out := fs.String("out", "", "directory to write the files into")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *out == "" {
		return errors.New("rootfs needs --out")
	}
	for _, f := range baseFiles() {
		path := filepath.Join(*out, filepath.FromSlash(f.path))
		perm := os.FileMode(f.mode & 0o777)
		if f.mode&0o1000 != 0 {
			perm |= os.ModeSticky
		}
		if strings.HasSuffix(f.path, "/") {
			if err := os.MkdirAll(path, 0o755); err != nil {
				return err
			}
		} else if err := os.WriteFile(path, f.data, perm); err != nil {
			return err
		}
		if err := os.Chmod(path, perm); err != nil {
			return err
		}
	}
	return nil
}

// push pushes the layout's index (both platforms) to a registry, with the credentials of
// ~/.docker/config.json (docker login, crane auth login) or a credential helper.
func push(args []string) error {
	fs := flag.NewFlagSet("push", flag.ContinueOnError)
	layoutDir := fs.String("layout", "", "the OCI image layout `image build` wrote")
	image := fs.String("image", "", "REGISTRY/REPO:TAG to push to")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *layoutDir == "" || *image == "" {
		return errors.New("push needs --layout and --image (make image-push IMAGE=registry/repo:tag)")
	}
	ref, err := name.ParseReference(*image)
	if err != nil {
		return err
	}
	lp, err := layout.FromPath(*layoutDir)
	if err != nil {
		return err
	}
	outer, err := lp.ImageIndex()
	if err != nil {
		return err
	}
	m, err := outer.IndexManifest()
	if err != nil {
		return err
	}
	if len(m.Manifests) != 1 {
		return fmt.Errorf("%s holds %d entries, want the one index `image build` writes", *layoutDir, len(m.Manifests))
	}
	idx, err := outer.ImageIndex(m.Manifests[0].Digest)
	if err != nil {
		return err
	}
	if err := remote.WriteIndex(ref, idx, remote.WithAuthFromKeychain(authn.DefaultKeychain)); err != nil {
		return err
	}
	fmt.Printf("image: pushed %s@%s\n", ref, m.Manifests[0].Digest)
	return nil
}
