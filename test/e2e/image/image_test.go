// Package image_test proves what `make image` builds (hack/build-image.sh, hack/image), reading
// the OCI image layout with nothing but the standard library, so that the check does not trust
// the library that wrote it:
//
//   - the layout is a valid OCI image layout whose one entry is an image index for linux/amd64
//     and linux/arm64; every blob matches its descriptor's digest and size, every layer its
//     diff ID;
//   - each platform's config runs /konnect-auth-controller as 65532:65532 and carries the
//     org.opencontainers.image.* labels (source, version = the binary's --version, revision =
//     the commit), and its time is the commit's;
//   - the layers hold exactly the binary, /etc/passwd and /etc/group with nonroot, a CA bundle
//     and /tmp, with sorted entries owned by 0:0 and the fixed time; no shell;
//   - the amd64 binary passes hack/check-static.sh and runs --version under env -i as
//     65532:65532 chrooted into the unpacked root file system; the arm64 one is a static
//     aarch64 executable;
//   - the docker-load tarballs hold the same configs and layers, tagged;
//   - `hack/image rootfs` (what the Dockerfile copies) writes the same files as the base layer;
//   - two builds of the same commit give the same index digest and the same bytes.
package image_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"crypto/x509"
	"debug/elf"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/konnect-auth-controller/konnect-auth-controller/test/controlplane"
)

const (
	ociIndex    = "application/vnd.oci.image.index.v1+json"
	ociManifest = "application/vnd.oci.image.manifest.v1+json"
	ociConfig   = "application/vnd.oci.image.config.v1+json"
	ociLayer    = "application/vnd.oci.image.layer.v1.tar+gzip"
)

type descriptor struct {
	MediaType   string            `json:"mediaType"`
	Digest      string            `json:"digest"`
	Size        int64             `json:"size"`
	Annotations map[string]string `json:"annotations"`
	Platform    *struct {
		OS           string `json:"os"`
		Architecture string `json:"architecture"`
		Variant      string `json:"variant"`
	} `json:"platform"`
}

type index struct {
	SchemaVersion int               `json:"schemaVersion"`
	MediaType     string            `json:"mediaType"`
	Manifests     []descriptor      `json:"manifests"`
	Annotations   map[string]string `json:"annotations"`
}

type manifest struct {
	SchemaVersion int          `json:"schemaVersion"`
	MediaType     string       `json:"mediaType"`
	Config        descriptor   `json:"config"`
	Layers        []descriptor `json:"layers"`
}

type config struct {
	Created      time.Time `json:"created"`
	Architecture string    `json:"architecture"`
	OS           string    `json:"os"`
	Config       struct {
		User       string            `json:"User"`
		Entrypoint []string          `json:"Entrypoint"`
		Cmd        []string          `json:"Cmd"`
		Env        []string          `json:"Env"`
		WorkingDir string            `json:"WorkingDir"`
		Labels     map[string]string `json:"Labels"`
	} `json:"config"`
	RootFS struct {
		Type    string   `json:"type"`
		DiffIDs []string `json:"diff_ids"`
	} `json:"rootfs"`
}

var repoRoot string

func TestMain(m *testing.M) {
	var err error
	if repoRoot, err = controlplane.RepoRoot(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(m.Run())
}

// makeImage runs `make image IMAGE_OUT=dir` and returns what it printed.
func makeImage(t *testing.T, dir string) string {
	t.Helper()
	start := time.Now()
	cmd := exec.Command("make", "-s", "image", "IMAGE_OUT="+dir)
	cmd.Dir = repoRoot
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("make image: %v\n%s", err, out)
	}
	t.Logf("$ make image IMAGE_OUT=%s (%v)\n%s", dir, time.Since(start).Round(time.Second), out)
	return string(out)
}

// blob reads the blob of d from the layout and checks its digest and size.
func blob(t *testing.T, layout string, d descriptor) []byte {
	t.Helper()
	algo, hexDigest, ok := strings.Cut(d.Digest, ":")
	if !ok || algo != "sha256" || len(hexDigest) != 64 {
		t.Fatalf("descriptor digest %q is not sha256:<64 hex>", d.Digest)
	}
	b, err := os.ReadFile(filepath.Join(layout, "blobs", "sha256", hexDigest))
	if err != nil {
		t.Fatalf("blob %s: %v", d.Digest, err)
	}
	if sum := sha256.Sum256(b); hex.EncodeToString(sum[:]) != hexDigest || int64(len(b)) != d.Size {
		t.Fatalf("blob %s: content has digest sha256:%x and size %d, descriptor says %s and %d", d.Digest, sum, len(b), d.Digest, d.Size)
	}
	return b
}

func decodeJSON(t *testing.T, what string, b []byte, v any) {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(v); err != nil {
		t.Fatalf("%s: %v\n%s", what, err, b)
	}
}

func git(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = repoRoot
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("git %s: %v", strings.Join(args, " "), err)
	}
	return strings.TrimSpace(string(out))
}

// entry is one file of a layer.
type entry struct {
	name string
	mode int64
	typ  byte
	data []byte
}

// unpack reads a gzip layer: it returns the entries in order, checks each entry's owner and
// time, checks the diff ID, and writes the files under root.
func unpack(t *testing.T, layer []byte, diffID string, created time.Time, root string) []entry {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(layer))
	if err != nil {
		t.Fatalf("layer is not gzip: %v", err)
	}
	if !zr.ModTime.IsZero() || zr.Name != "" {
		t.Errorf("gzip header carries a time %v or a name %q (not reproducible)", zr.ModTime, zr.Name)
	}
	raw, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	if sum := sha256.Sum256(raw); "sha256:"+hex.EncodeToString(sum[:]) != diffID {
		t.Errorf("layer diff ID is sha256:%x, config says %s", sum, diffID)
	}
	var entries []entry
	tr := tar.NewReader(bytes.NewReader(raw))
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(tr)
		if h.Uid != 0 || h.Gid != 0 || h.Uname != "" || h.Gname != "" || !h.ModTime.Equal(created) {
			t.Errorf("%s: owner %d:%d (%q:%q), time %v; want 0:0, no names, %v", h.Name, h.Uid, h.Gid, h.Uname, h.Gname, h.ModTime, created)
		}
		entries = append(entries, entry{name: h.Name, mode: h.Mode, typ: h.Typeflag, data: data})
		path := filepath.Join(root, filepath.FromSlash(h.Name))
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(path, 0o755); err != nil {
				t.Fatal(err)
			}
		case tar.TypeReg:
			if err := os.WriteFile(path, data, 0o644); err != nil {
				t.Fatal(err)
			}
		default:
			t.Errorf("%s: unexpected tar entry type %c", h.Name, h.Typeflag)
			continue
		}
		if err := os.Chmod(path, fs.FileMode(h.Mode&0o777)|stickyBit(h.Mode)); err != nil {
			t.Fatal(err)
		}
	}
	names := make([]string, len(entries))
	for i, e := range entries {
		names[i] = e.name
	}
	if !sort.StringsAreSorted(names) {
		t.Errorf("layer entries are not sorted: %v", names)
	}
	return entries
}

func stickyBit(mode int64) fs.FileMode {
	if mode&0o1000 != 0 {
		return fs.ModeSticky
	}
	return 0
}

func TestImage(t *testing.T) {
	out1, out2 := t.TempDir(), t.TempDir()
	log1 := makeImage(t, out1)
	layout := filepath.Join(out1, "oci")

	// The layout: oci-layout and index.json, with one entry, the image index.
	var marker struct {
		Version string `json:"imageLayoutVersion"`
	}
	b, err := os.ReadFile(filepath.Join(layout, "oci-layout"))
	if err != nil {
		t.Fatal(err)
	}
	decodeJSON(t, "oci-layout", b, &marker)
	if marker.Version != "1.0.0" {
		t.Errorf("imageLayoutVersion = %q", marker.Version)
	}
	top, err := os.ReadFile(filepath.Join(layout, "index.json"))
	if err != nil {
		t.Fatal(err)
	}
	var outer index
	decodeJSON(t, "index.json", top, &outer)
	if outer.SchemaVersion != 2 || outer.MediaType != ociIndex || len(outer.Manifests) != 1 || outer.Manifests[0].MediaType != ociIndex {
		t.Fatalf("index.json is not one OCI image index: %s", top)
	}
	indexDigest := outer.Manifests[0].Digest
	var idx index
	decodeJSON(t, "image index", blob(t, layout, outer.Manifests[0]), &idx)
	if idx.SchemaVersion != 2 || idx.MediaType != ociIndex {
		t.Errorf("image index: schemaVersion %d, mediaType %q", idx.SchemaVersion, idx.MediaType)
	}
	if !strings.Contains(log1, indexDigest) {
		t.Errorf("make image did not print the index digest %s", indexDigest)
	}

	revision := git(t, "rev-parse", "HEAD")
	epoch, err := strconv.ParseInt(git(t, "log", "-1", "--format=%ct"), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	created := time.Unix(epoch, 0).UTC()

	platforms := map[string]config{}
	rootfsDirs := map[string]string{}
	var baseEntries []entry
	var baseDigest string
	for _, m := range idx.Manifests {
		if m.MediaType != ociManifest || m.Platform == nil {
			t.Fatalf("index entry %+v is not an OCI image manifest with a platform", m)
		}
		plat := m.Platform.OS + "/" + m.Platform.Architecture
		var man manifest
		decodeJSON(t, plat+" manifest", blob(t, layout, m), &man)
		if man.SchemaVersion != 2 || man.MediaType != ociManifest || man.Config.MediaType != ociConfig || len(man.Layers) != 2 {
			t.Fatalf("%s manifest: %+v", plat, man)
		}
		var cfg config
		cfgBytes := blob(t, layout, man.Config)
		decodeJSON(t, plat+" config", cfgBytes, &cfg)
		platforms[plat] = cfg
		t.Logf("%s config (%s):\n%s", plat, man.Config.Digest, indentJSON(cfgBytes))

		if cfg.OS != m.Platform.OS || cfg.Architecture != m.Platform.Architecture {
			t.Errorf("%s: config says %s/%s", plat, cfg.OS, cfg.Architecture)
		}
		if cfg.Config.User != "65532:65532" {
			t.Errorf("%s: User = %q, want 65532:65532", plat, cfg.Config.User)
		}
		if !slices.Equal(cfg.Config.Entrypoint, []string{"/konnect-auth-controller"}) || len(cfg.Config.Cmd) != 0 {
			t.Errorf("%s: Entrypoint %v Cmd %v", plat, cfg.Config.Entrypoint, cfg.Config.Cmd)
		}
		labels := cfg.Config.Labels
		if labels["org.opencontainers.image.revision"] != revision || labels["org.opencontainers.image.source"] == "" ||
			labels["org.opencontainers.image.version"] == "" {
			t.Errorf("%s labels = %v, want source, version and revision %s", plat, labels, revision)
		}
		if !cfg.Created.Equal(created) {
			t.Errorf("%s: created %v, want the commit's time %v", plat, cfg.Created, created)
		}
		if cfg.RootFS.Type != "layers" || len(cfg.RootFS.DiffIDs) != len(man.Layers) {
			t.Fatalf("%s rootfs: %+v", plat, cfg.RootFS)
		}

		root := filepath.Join(t.TempDir(), "rootfs")
		var all []string
		for i, l := range man.Layers {
			if l.MediaType != ociLayer {
				t.Errorf("%s layer %d: mediaType %q", plat, i, l.MediaType)
			}
			entries := unpack(t, blob(t, layout, l), cfg.RootFS.DiffIDs[i], created, root)
			if i == 0 {
				// The first layer holds the files every platform shares, and is the same blob.
				if baseEntries == nil {
					baseEntries, baseDigest = entries, l.Digest
				} else if l.Digest != baseDigest {
					t.Errorf("%s: base layer %s differs from the other platform's %s", plat, l.Digest, baseDigest)
				}
			}
			for _, e := range entries {
				all = append(all, e.name)
			}
		}
		sort.Strings(all)
		want := []string{
			"etc/", "etc/group", "etc/passwd", "etc/ssl/", "etc/ssl/certs/", "etc/ssl/certs/ca-certificates.crt",
			"konnect-auth-controller", "tmp/",
		}
		sort.Strings(want)
		if !slices.Equal(all, want) {
			t.Errorf("%s files:\n  got  %v\n  want %v (no shell, nothing else)", plat, all, want)
		}
		rootfsDirs[plat] = root
	}
	if _, ok := platforms["linux/amd64"]; !ok || len(platforms) != 2 {
		t.Fatalf("platforms %v, want linux/amd64 and linux/arm64", keysOf(platforms))
	}
	if _, ok := platforms["linux/arm64"]; !ok {
		t.Fatalf("platforms %v, want linux/amd64 and linux/arm64", keysOf(platforms))
	}
	version := platforms["linux/amd64"].Config.Labels["org.opencontainers.image.version"]
	if outer.Manifests[0].Annotations["org.opencontainers.image.ref.name"] != version {
		t.Errorf("index.json ref.name = %q, want the version %q", outer.Manifests[0].Annotations["org.opencontainers.image.ref.name"], version)
	}

	amd64 := rootfsDirs["linux/amd64"]
	t.Run("root-file-system", func(t *testing.T) {
		passwd, _ := os.ReadFile(filepath.Join(amd64, "etc", "passwd"))
		if !strings.Contains(string(passwd), "nonroot:x:65532:65532:") {
			t.Errorf("/etc/passwd has no nonroot 65532: %q", passwd)
		}
		bundle, _ := os.ReadFile(filepath.Join(amd64, "etc", "ssl", "certs", "ca-certificates.crt"))
		n := 0
		for rest := bundle; ; {
			var block *pem.Block
			block, rest = pem.Decode(rest)
			if block == nil {
				break
			}
			if _, err := x509.ParseCertificate(block.Bytes); err != nil {
				t.Errorf("CA bundle: %v", err)
			}
			n++
		}
		if n < 100 {
			t.Errorf("CA bundle holds %d certificates, want Mozilla's (> 100)", n)
		}
		st, err := os.Stat(filepath.Join(amd64, "tmp"))
		if err != nil || st.Mode()&fs.ModeSticky == 0 || st.Mode().Perm() != 0o777 {
			t.Errorf("/tmp: %v %v, want 1777", st.Mode(), err)
		}
		bin, err := os.Stat(filepath.Join(amd64, "konnect-auth-controller"))
		if err != nil || bin.Mode().Perm() != 0o755 {
			t.Errorf("/konnect-auth-controller mode %v %v, want 0755", bin.Mode(), err)
		}
	})

	t.Run("amd64-binary-runs", func(t *testing.T) {
		bin := filepath.Join(amd64, "konnect-auth-controller")
		check := exec.Command(filepath.Join(repoRoot, "hack", "check-static.sh"), bin)
		check.Env = append(os.Environ(), "EXPECT_VERSION="+version)
		out, err := check.CombinedOutput()
		t.Logf("$ hack/check-static.sh rootfs/konnect-auth-controller\n%s", out)
		if err != nil {
			t.Fatalf("check-static: %v", err)
		}
		// From the image's own root file system, as its user: env -i, chroot, 65532:65532.
		// (env -i empties PATH, so the tools are named by absolute path.)
		chroot, _ := exec.LookPath("chroot")
		unshare, _ := exec.LookPath("unshare")
		var cmd *exec.Cmd
		switch {
		case chroot == "":
			t.Skip("no chroot on this machine")
		case os.Geteuid() == 0:
			cmd = exec.Command("env", "-i", chroot, "--userspec=65532:65532", amd64, "/konnect-auth-controller", "--version")
		case unshare != "" && exec.Command(unshare, "-r", "true").Run() == nil:
			cmd = exec.Command("env", "-i", unshare, "-r", chroot, amd64, "/konnect-auth-controller", "--version")
			t.Log("not root: chrooting in a user namespace, where the user cannot be switched to 65532")
		default:
			t.Skip("running in the unpacked root file system needs root or unprivileged user namespaces")
		}
		// The unpacked tree must be reachable by 65532.
		for dir := amd64; dir != "/" && dir != "."; dir = filepath.Dir(dir) {
			if st, err := os.Stat(dir); err == nil && st.Mode().Perm()&0o005 != 0o005 {
				_ = os.Chmod(dir, st.Mode().Perm()|0o005)
			}
		}
		out, err = cmd.CombinedOutput()
		t.Logf("$ env -i chroot --userspec=65532:65532 rootfs /konnect-auth-controller --version\n%s", out)
		if err != nil || strings.TrimSpace(string(out)) != version {
			t.Errorf("--version in the image's root file system: %v %q, want %q", err, out, version)
		}
		// And its user and group exist there by name, for tools that look them up.
		if os.Geteuid() == 0 {
			out, err := exec.Command("env", "-i", chroot, "--userspec=nonroot:nonroot", amd64, "/konnect-auth-controller", "--version").CombinedOutput()
			if err != nil || strings.TrimSpace(string(out)) != version {
				t.Errorf("chroot --userspec=nonroot:nonroot: %v %s", err, out)
			}
		}
	})

	t.Run("arm64-binary", func(t *testing.T) {
		f, err := elf.Open(filepath.Join(rootfsDirs["linux/arm64"], "konnect-auth-controller"))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if f.Machine != elf.EM_AARCH64 {
			t.Errorf("arm64 binary is for %v", f.Machine)
		}
		for _, p := range f.Progs {
			if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
				t.Errorf("arm64 binary has a %v program header: not static", p.Type)
			}
		}
	})

	t.Run("docker-load-tarballs", func(t *testing.T) {
		for _, m := range idx.Manifests {
			plat := m.Platform.OS + "/" + m.Platform.Architecture
			path := filepath.Join(out1, "konnect-auth-controller-"+m.Platform.OS+"-"+m.Platform.Architecture+".tar")
			files := readTar(t, path)
			var dm []struct {
				Config   string   `json:"Config"`
				RepoTags []string `json:"RepoTags"`
				Layers   []string `json:"Layers"`
			}
			decodeJSON(t, path+" manifest.json", files["manifest.json"], &dm)
			if len(dm) != 1 || !slices.Equal(dm[0].RepoTags, []string{"konnect-auth-controller:" + version}) {
				t.Fatalf("%s manifest.json: %+v", path, dm)
			}
			var man manifest
			b, _ := os.ReadFile(filepath.Join(layout, "blobs", "sha256", strings.TrimPrefix(m.Digest, "sha256:")))
			decodeJSON(t, "manifest", b, &man)
			cfg, _ := os.ReadFile(filepath.Join(layout, "blobs", "sha256", strings.TrimPrefix(man.Config.Digest, "sha256:")))
			if !bytes.Equal(files[dm[0].Config], cfg) {
				t.Errorf("%s: the tarball's config %s differs from the layout's", plat, dm[0].Config)
			}
			if len(dm[0].Layers) != len(man.Layers) {
				t.Errorf("%s: %d layers in the tarball, %d in the layout", plat, len(dm[0].Layers), len(man.Layers))
			}
			for i, l := range dm[0].Layers {
				sum := sha256.Sum256(files[l])
				if i < len(man.Layers) && "sha256:"+hex.EncodeToString(sum[:]) != man.Layers[i].Digest {
					t.Errorf("%s: tarball layer %s is not the layout's %s", plat, l, man.Layers[i].Digest)
				}
			}
		}
	})

	t.Run("dockerfile-files", func(t *testing.T) {
		// The Dockerfile copies what `image rootfs` writes: the base layer's files.
		dir := t.TempDir()
		out, err := exec.Command(filepath.Join(out1, "image-builder"), "rootfs", "--out", dir).CombinedOutput()
		if err != nil {
			t.Fatalf("image rootfs: %v\n%s", err, out)
		}
		var got []string
		_ = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if path == dir || err != nil {
				return err
			}
			rel, _ := filepath.Rel(dir, path)
			info, _ := d.Info()
			if d.IsDir() {
				rel += "/"
			}
			data, _ := os.ReadFile(path)
			if d.IsDir() {
				data = nil
			}
			got = append(got, fmt.Sprintf("%s %o %x", filepath.ToSlash(rel), info.Mode().Perm()|fs.FileMode(boolBit(info.Mode()&fs.ModeSticky != 0)), sha256.Sum256(data)))
			return nil
		})
		var want []string
		for _, e := range baseEntries {
			var data []byte
			if e.typ == tar.TypeReg {
				data = e.data
			}
			want = append(want, fmt.Sprintf("%s %o %x", e.name, e.mode, sha256.Sum256(data)))
		}
		sort.Strings(got)
		sort.Strings(want)
		if !slices.Equal(got, want) {
			t.Errorf("image rootfs (the Dockerfile's files):\n  got  %v\n  base layer %v", got, want)
		}
	})

	t.Run("reproducible", func(t *testing.T) {
		makeImage(t, out2)
		top2, err := os.ReadFile(filepath.Join(out2, "oci", "index.json"))
		if err != nil {
			t.Fatal(err)
		}
		var outer2 index
		decodeJSON(t, "index.json", top2, &outer2)
		t.Logf("index digest, build 1: %s", indexDigest)
		t.Logf("index digest, build 2: %s", outer2.Manifests[0].Digest)
		if outer2.Manifests[0].Digest != indexDigest {
			t.Errorf("two builds of one commit gave index digests %s and %s", indexDigest, outer2.Manifests[0].Digest)
		}
		// And every file of the layouts and tarballs is the same.
		for _, rel := range []string{"oci", "konnect-auth-controller-linux-amd64.tar", "konnect-auth-controller-linux-arm64.tar"} {
			a, b := treeDigest(t, filepath.Join(out1, rel)), treeDigest(t, filepath.Join(out2, rel))
			if !slices.Equal(a, b) {
				t.Errorf("%s differs between two builds:\n  %v\n  %v", rel, a, b)
			}
		}
	})
}

func boolBit(b bool) uint32 {
	if b {
		return 0o1000
	}
	return 0
}

// readTar returns the regular files of a tar file by name.
func readTar(t *testing.T, path string) map[string][]byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	files := map[string][]byte{}
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return files
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		b, _ := io.ReadAll(tr)
		files[h.Name] = b
	}
}

// treeDigest lists "path sha256" for every regular file under root (or root itself).
func treeDigest(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		out = append(out, fmt.Sprintf("%s %x", rel, sha256.Sum256(b)))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}

func keysOf[V any](m map[string]V) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

func indentJSON(b []byte) string {
	var buf bytes.Buffer
	if err := json.Indent(&buf, b, "", "  "); err != nil {
		return string(b)
	}
	return buf.String()
}
