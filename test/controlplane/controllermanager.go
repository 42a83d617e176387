package controlplane

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// KubeControllerManagerBinary is the name of kube-controller-manager in the binary folder; it
// is needed only when Options.ControllerManager is set.
const KubeControllerManagerBinary = "kube-controller-manager"

// controllerManagerControllers are the controllers started: namespace deletion and
// owner-reference garbage collection, what tests of finalizers and cascading deletes need.
// The others (Deployments, ServiceAccount tokens, …) would only add load and need more set-up.
const controllerManagerControllers = "namespace,garbagecollector"

// ControllerManagerLogPath returns the path of kube-controller-manager's log.
func (cp *ControlPlane) ControllerManagerLogPath() string {
	return filepath.Join(cp.LogDir(), "kube-controller-manager.log")
}

// startControllerManager starts kube-controller-manager with the admin kubeconfig (a member
// of system:masters: the namespace controller deletes every kind of object, the garbage
// collector reads every resource) and waits until both controllers say they started.
func (cp *ControlPlane) startControllerManager(ctx context.Context) error {
	path := filepath.Join(cp.binDir, KubeControllerManagerBinary)
	if fi, err := os.Stat(path); err != nil || fi.IsDir() || fi.Mode().Perm()&0o111 == 0 {
		return &MissingBinariesError{Dir: cp.binDir, Missing: []string{KubeControllerManagerBinary}}
	}
	args := []string{
		"--kubeconfig=" + cp.kubeconfigPath,
		"--controllers=" + controllerManagerControllers,
		"--leader-elect=false",
		// No serving port: nothing scrapes it, and a fixed port would collide between tests.
		"--secure-port=0",
		// Namespaces are finalized within a second or two of their last object going.
		"--concurrent-namespace-syncs=5",
	}
	p, err := startProcess("kube-controller-manager", path, args, cp.ControllerManagerLogPath())
	if err != nil {
		return err
	}
	cp.mu.Lock()
	if cp.stopped {
		cp.mu.Unlock()
		_ = p.stop(0)
		return fmt.Errorf("controlplane: stopped while starting kube-controller-manager")
	}
	cp.controllerManager = p
	cp.mu.Unlock()

	// With no serving port there is no /healthz: the log says when the controllers run.
	want := []string{"Starting namespace controller", "Proceeding to collect garbage"}
	for {
		log := logTail(p.logPath, 2000)
		started := 0
		for _, w := range want {
			if strings.Contains(log, w) {
				started++
			}
		}
		if started == len(want) {
			return nil
		}
		if err := p.exitError(); err != nil {
			return withLogTail(fmt.Errorf("controlplane: kube-controller-manager: %w", err), p)
		}
		select {
		case <-ctx.Done():
			return withLogTail(fmt.Errorf("controlplane: kube-controller-manager did not start its controllers: %w", ctx.Err()), p)
		case <-time.After(100 * time.Millisecond):
		}
	}
}
