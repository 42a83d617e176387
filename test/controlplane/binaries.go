package controlplane

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// ModulePath is the module path of this repository; RepoRoot looks for the go.mod declaring it.
const ModulePath = "github.com/konnect-auth-controller/konnect-auth-controller"

// EnvBinDir names the environment variable that overrides the folder holding the etcd,
// kube-apiserver and kubectl binaries (default: <repo>/bin).
const EnvBinDir = "KUBE_BIN_DIR"

// Names of the binaries looked up in the binary folder.
const (
	EtcdBinary          = "etcd"
	KubeAPIServerBinary = "kube-apiserver"
	KubectlBinary       = "kubectl"
)

// RepoRoot returns the root of this repository: the nearest folder, walking up from the
// current working directory, whose go.mod declares ModulePath. Tests run in their package's
// folder, so this finds the repository from any package in it.
func RepoRoot() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("controlplane: finding the repository root: %w", err)
	}
	for dir := wd; ; dir = filepath.Dir(dir) {
		if isModuleRoot(filepath.Join(dir, "go.mod")) {
			return dir, nil
		}
		if parent := filepath.Dir(dir); parent == dir {
			break
		}
	}
	return "", fmt.Errorf("controlplane: no go.mod for module %s in %s or any parent folder; "+
		"run from inside the repository or set %s", ModulePath, wd, EnvBinDir)
}

// isModuleRoot reports whether the go.mod at path declares ModulePath (and not, say, one of
// the tool modules under hack/tools).
func isModuleRoot(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		fields := strings.Fields(s.Text())
		if len(fields) >= 2 && fields[0] == "module" {
			return strings.Trim(fields[1], `"`) == ModulePath
		}
	}
	return false
}

// BinDir returns the folder that holds etcd, kube-apiserver and kubectl: $KUBE_BIN_DIR when
// set, else <repo>/bin. It does not check that the binaries are there; see CheckBinaries.
func BinDir() (string, error) {
	if dir := os.Getenv(EnvBinDir); dir != "" {
		return filepath.Abs(dir)
	}
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	return filepath.Join(root, "bin"), nil
}

// CheckBinaries returns an error naming every one of etcd, kube-apiserver and kubectl that is
// missing from dir (or not executable), and saying how to build them.
func CheckBinaries(dir string) error {
	var missing []string
	for _, name := range []string{EtcdBinary, KubeAPIServerBinary, KubectlBinary} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil || fi.IsDir() || fi.Mode().Perm()&0o111 == 0 {
			missing = append(missing, name)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	return &MissingBinariesError{Dir: dir, Missing: missing}
}

// MissingBinariesError says which control-plane binaries are missing and how to build them.
type MissingBinariesError struct {
	// Dir is the folder that was searched.
	Dir string
	// Missing lists the binaries not found there.
	Missing []string
}

func (e *MissingBinariesError) Error() string {
	return fmt.Sprintf("controlplane: %s not found in %s: run `make tools` (or `bash hack/build-tools.sh`) "+
		"to build etcd, kube-apiserver and kubectl from the Go module proxy (several minutes the first time), "+
		"or set %s to a folder that holds them",
		strings.Join(e.Missing, ", "), e.Dir, EnvBinDir)
}

// IsMissingBinaries reports whether err says that control-plane binaries are missing.
func IsMissingBinaries(err error) bool {
	var m *MissingBinariesError
	return errors.As(err, &m)
}
