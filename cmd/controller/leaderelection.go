package main

import (
	"context"
	"errors"
	"os"
	"strings"
	"sync/atomic"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/uuid"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	"k8s.io/klog/v2"

	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/controller/apiauth"
)

// runWithLeaderElection runs the controller's workers only while this replica holds the
// Lease. On SIGTERM the workers stop first (finishing the write they hold) and the Lease is
// released after, so a successor never overlaps with syncs still in flight; losing the Lease
// is an error (exit 1) so the replica restarts clean rather than lingering.
func runWithLeaderElection(ctx context.Context, opts options, kubeClient kubernetes.Interface, ctrl *apiauth.Controller, watchdog *leaderelection.HealthzAdaptor) error {
	logger := klog.FromContext(ctx)
	identity, err := os.Hostname()
	if err != nil {
		return err
	}
	identity += "_" + string(uuid.NewUUID())
	namespace := opts.leaderElectNamespace
	if namespace == "" {
		namespace = podNamespace()
	}
	lock := &resourcelock.LeaseLock{
		LeaseMeta:  metav1.ObjectMeta{Namespace: namespace, Name: opts.leaderElectID},
		Client:     kubeClient.CoordinationV1(),
		LockConfig: resourcelock.ResourceLockConfig{Identity: identity},
	}

	// The elector gets its own context: it is cancelled once the workers have stopped (or
	// at once on a standby), which is what makes ReleaseOnCancel release the Lease.
	electorCtx, stopElector := context.WithCancel(context.WithoutCancel(ctx))
	defer stopElector()
	var (
		runErr      error
		led         atomic.Bool
		lost        bool
		workersDone = make(chan struct{})
	)
	elector, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
		Lock:            lock,
		Name:            opts.leaderElectID,
		LeaseDuration:   opts.leaseDuration,
		RenewDeadline:   opts.renewDeadline,
		RetryPeriod:     opts.retryPeriod,
		ReleaseOnCancel: true,
		WatchDog:        watchdog,
		Callbacks: leaderelection.LeaderCallbacks{
			OnStartedLeading: func(leading context.Context) {
				led.Store(true)
				defer close(workersDone)
				logger.Info("Started leading", "lease", klog.KRef(namespace, opts.leaderElectID), "identity", identity)
				// Workers stop when the process is told to stop or the Lease is lost.
				workCtx, stopWork := context.WithCancel(ctx)
				defer stopWork()
				go func() {
					select {
					case <-leading.Done():
					case <-workCtx.Done():
					}
					stopWork()
				}()
				runErr = ctrl.Run(workCtx, opts.workers)
				stopElector()
			},
			OnStoppedLeading: func() {
				if ctx.Err() == nil {
					lost = true
				}
			},
		},
	})
	if err != nil {
		return err
	}
	if watchdog != nil {
		watchdog.SetLeaderElection(elector)
	}
	go func() {
		<-ctx.Done()
		if !elector.IsLeader() {
			stopElector()
		}
	}()
	elector.Run(electorCtx)
	if led.Load() {
		// The workers stop (no new item, no status write once the run ends) before the
		// process ends, also when the Lease was lost.
		<-workersDone
	}
	if lost {
		return errors.New("lost the leader Lease; exiting so that a fresh start rejoins the election")
	}
	switch {
	case !led.Load():
		logger.Info("Stopped without having led")
	case elector.IsLeader():
		logger.Info("Stopped; the Lease could not be released and will expire")
	default:
		logger.Info("Stopped; the Lease is released")
	}
	return runErr
}

// podNamespace is the namespace the controller runs in: $POD_NAMESPACE (from the downward
// API), else the in-cluster service account's, else "default".
func podNamespace() string {
	if ns := os.Getenv("POD_NAMESPACE"); ns != "" {
		return ns
	}
	if b, err := os.ReadFile("/var/run/secrets/kubernetes.io/serviceaccount/namespace"); err == nil && len(b) > 0 {
		return strings.TrimSpace(string(b))
	}
	return "default"
}
