package controlplane

// PIDs returns the process ids of the running etcd and kube-apiserver (0 when not running),
// for tests that check nothing is left behind.
func (cp *ControlPlane) PIDs() (etcd, apiserver int) {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	if cp.etcd != nil {
		etcd = cp.etcd.cmd.Process.Pid
	}
	if cp.apiserver != nil {
		apiserver = cp.apiserver.cmd.Process.Pid
	}
	return etcd, apiserver
}
