package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"time"

	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/klog/v2"

	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/controller/apiauth"
	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/metrics"
)

// startServers listens on the probe and metrics addresses (failing at once if one is taken)
// and serves them until the returned function is called.
func startServers(ctx context.Context, opts options, m *metrics.Metrics, ctrl *apiauth.Controller, watchdog *leaderelection.HealthzAdaptor) (stop func(), err error) {
	var servers []*http.Server
	stop = func() {
		shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		for _, s := range servers {
			_ = s.Shutdown(shutdownCtx)
		}
	}
	serve := func(addr string, handler http.Handler) error {
		if addr == "0" || addr == "" {
			return nil
		}
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return fmt.Errorf("listening on %s: %w", addr, err)
		}
		s := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}
		servers = append(servers, s)
		klog.FromContext(ctx).Info("Serving", "address", ln.Addr().String())
		go func() { _ = s.Serve(ln) }()
		return nil
	}

	probes := http.NewServeMux()
	probes.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		if watchdog != nil {
			if err := watchdog.Check(r); err != nil {
				http.Error(w, "leader election: "+err.Error(), http.StatusInternalServerError)
				return
			}
		}
		fmt.Fprintln(w, "ok")
	})
	probes.HandleFunc("/readyz", func(w http.ResponseWriter, r *http.Request) {
		if !ctrl.HasSynced() {
			http.Error(w, "informer caches are not synced yet", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	metricsMux := http.NewServeMux()
	metricsMux.Handle("/metrics", m.Handler())

	if err := serve(opts.healthProbeAddr, probes); err != nil {
		stop()
		return nil, err
	}
	if err := serve(opts.metricsAddr, metricsMux); err != nil {
		stop()
		return nil, err
	}
	return stop, nil
}
