package main

import (
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/tools/cache"

	konnectv1alpha2 "github.com/konnect-auth-controller/konnect-auth-controller/pkg/apis/konnect/v1alpha2"
	clientset "github.com/konnect-auth-controller/konnect-auth-controller/pkg/generated/clientset/versioned"
	informers "github.com/konnect-auth-controller/konnect-auth-controller/pkg/generated/informers/externalversions"
	listers "github.com/konnect-auth-controller/konnect-auth-controller/pkg/generated/listers/konnect/v1alpha2"
)

// connectWatch follows the connect phase's control planes and extensions with informers, so
// that counting them every second costs the apiserver nothing at 10,000 of each. The caches
// keep only names, the control planes' Konnect IDs and conditions.
type connectWatch struct {
	cancel context.CancelFunc
	done   chan struct{}
	planes listers.KonnectGatewayControlPlaneLister
	exts   listers.KonnectExtensionLister
}

func startConnectWatch(ctx context.Context, client clientset.Interface) (*connectWatch, error) {
	wctx, cancel := context.WithCancel(ctx)
	factory := informers.NewSharedInformerFactoryWithOptions(client, 0, informers.WithNamespace(connectNamespace),
		informers.WithTransform(func(obj any) (any, error) {
			switch o := obj.(type) {
			case *konnectv1alpha2.KonnectGatewayControlPlane:
				o.ManagedFields, o.Annotations, o.Labels = nil, nil, nil
				o.Spec = konnectv1alpha2.KonnectGatewayControlPlaneSpec{}
				o.Status = konnectv1alpha2.KonnectGatewayControlPlaneStatus{KonnectEntityStatus: konnectv1alpha2.KonnectEntityStatus{ID: o.Status.ID}, Conditions: o.Status.Conditions}
			case *konnectv1alpha2.KonnectExtension:
				o.ManagedFields, o.Annotations, o.Labels = nil, nil, nil
				o.Spec = konnectv1alpha2.KonnectExtensionSpec{}
				o.Status = konnectv1alpha2.KonnectExtensionStatus{Conditions: o.Status.Conditions}
			}
			return obj, nil
		}))
	planes := factory.Konnect().V1alpha2().KonnectGatewayControlPlanes()
	exts := factory.Konnect().V1alpha2().KonnectExtensions()
	w := &connectWatch{cancel: cancel, done: make(chan struct{}), planes: planes.Lister(), exts: exts.Lister()}
	synced := []cache.InformerSynced{planes.Informer().HasSynced, exts.Informer().HasSynced}
	go func() {
		defer close(w.done)
		factory.Start(wctx.Done())
		<-wctx.Done()
		factory.Shutdown()
	}()
	if !cache.WaitForCacheSync(wctx.Done(), synced...) {
		w.stop()
		return nil, fmt.Errorf("the watch of control planes and extensions did not sync: %w", context.Cause(ctx))
	}
	return w, nil
}

func (w *connectWatch) stop() {
	w.cancel()
	<-w.done
}

// counts are the Programmed control planes and the Ready extensions.
func (w *connectWatch) counts() (programmed, ready int) {
	planes, _ := w.planes.KonnectGatewayControlPlanes(connectNamespace).List(labels.Everything())
	for _, cp := range planes {
		if meta.IsStatusConditionTrue(cp.Status.Conditions, konnectv1alpha2.ConditionProgrammed) {
			programmed++
		}
	}
	exts, _ := w.exts.KonnectExtensions(connectNamespace).List(labels.Everything())
	for _, ext := range exts {
		if meta.IsStatusConditionTrue(ext.Status.Conditions, konnectv1alpha2.ConditionReady) {
			ready++
		}
	}
	return programmed, ready
}

// konnectID is the Konnect ID of the named control plane, "" while it has none.
func (w *connectWatch) konnectID(name string) string {
	cp, err := w.planes.KonnectGatewayControlPlanes(connectNamespace).Get(name)
	if err != nil {
		return ""
	}
	return cp.Status.ID
}
