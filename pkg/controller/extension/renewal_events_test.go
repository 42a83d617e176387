package extension

import (
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	clienttesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/cache"

	konnectv1alpha2 "github.com/konnect-auth-controller/konnect-auth-controller/pkg/apis/konnect/v1alpha2"
	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/metrics"
)

// TestRenewalEvents: the Events that the renewal counters of package metrics count are recorded
// under the reasons it counts: a failed write of the renewed certificate is a Warning
// CertificateRenewalFailed that names the API's reason and never its text, a Conflict (the cache
// was behind) is none, and the renewal that then succeeds is a CertificateRenewed.
func TestRenewalEvents(t *testing.T) {
	f := newFixture(t, fixtureOptions{extensions: []*konnectv1alpha2.KonnectExtension{automaticExtension(extName)}})
	f.sync(extName)
	first, _ := parseKeyPair(f.secret(namespace, extName+"-client-tls").Data)
	f.Events()

	var refuse error
	f.Kube.PrependReactor("update", "secrets", func(clienttesting.Action) (bool, runtime.Object, error) {
		if refuse != nil {
			return true, nil, refuse
		}
		return false, nil, nil
	})
	f.Clock.SetTime(renewAt(first.cert).Add(time.Second))
	key := cache.ObjectName{Namespace: namespace, Name: extName}
	secrets := schema.GroupResource{Resource: "secrets"}

	refuse = apierrors.NewForbidden(secrets, extName+"-client-tls", nil)
	if _, err := f.ctrl.reconcile(f.ctx, key); err == nil {
		t.Fatal("a refused renewal reconciled without an error")
	}
	events := f.Events()
	if len(events) != 1 || !strings.HasPrefix(events[0], "Warning "+metrics.EventCertificateRenewalFailed+" ") ||
		!strings.Contains(events[0], "(Forbidden)") || strings.Contains(events[0], "forbidden:") {
		t.Errorf("after a refused renewal, Events %q; want one Warning %s naming the reason Forbidden only", events, metrics.EventCertificateRenewalFailed)
	}

	refuse = apierrors.NewConflict(secrets, extName+"-client-tls", nil)
	if _, err := f.ctrl.reconcile(f.ctx, key); err == nil {
		t.Fatal("a conflicting renewal reconciled without an error")
	}
	if events := f.Events(); len(events) != 0 {
		t.Errorf("after a Conflict, Events %q; want none", events)
	}

	refuse = nil
	f.sync(extName)
	var renewed int
	for _, e := range f.Events() {
		if strings.HasPrefix(e, "Normal "+metrics.EventCertificateRenewed+" ") {
			renewed++
		}
	}
	if renewed != 1 {
		t.Errorf("%d %s Events after the renewal went through, want 1", renewed, metrics.EventCertificateRenewed)
	}
}
