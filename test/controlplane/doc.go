// Package controlplane starts a real Kubernetes control plane — etcd and kube-apiserver built
// from source into <repo>/bin by `make tools` (hack/build-tools.sh) — for end-to-end tests, the
// demo command and benchmarks.
//
// It is an ordinary (non-test) package so that commands can import it too. It does not use
// controller-runtime's envtest: it runs the two processes itself, on free loopback ports, with
// their logs and data in a work directory, and writes an admin kubeconfig for kubectl and
// client-go.
//
// # One control plane per test binary
//
// Starting a control plane takes about three seconds, so the tests of one package should share
// one, started from TestMain, and isolate themselves with a namespace each:
//
//	var cp *controlplane.ControlPlane
//
//	func TestMain(m *testing.M) { os.Exit(controlplane.RunTestMain(m, &cp)) }
//
//	func TestSomething(t *testing.T) {
//		ns := controlplane.NewNamespace(t, cp)
//		stdout, stderr, err := cp.Kubectl(ctx, "get", "kong", "-n", ns)
//		...
//	}
//
// A single test that wants its own control plane calls StartForTest instead (StartEmptyForTest
// for one without the CRDs, as a fresh cluster is).
//
// # What runs
//
// By default only etcd and kube-apiserver: no controller-manager and no scheduler. Hence the
// ServiceAccount admission plugin is disabled (no "default" ServiceAccount is ever created) and
// deleted namespaces stay Terminating (no namespace controller finalizes them). With
// Options.ControllerManager (or RunTestMainWithOptions) kube-controller-manager runs too, with
// only the namespace and garbage-collector controllers: namespaces are then deleted and owned
// objects collected as in a real cluster. Clients authenticate with a static bearer token of a
// user in the group system:masters; authorization is RBAC.
//
// # Cleanup
//
// Children run in their own process group, which Stop signals (SIGTERM, then SIGKILL after a
// bound), so nothing they fork survives. On Linux they also get Pdeathsig=SIGKILL, so a test
// binary that crashes or is killed by `go test -timeout` leaves no orphan processes behind.
package controlplane
