package extension

import (
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	konnectv1alpha2 "github.com/konnect-auth-controller/konnect-auth-controller/pkg/apis/konnect/v1alpha2"
	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/controller/controllertest"
	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/konnect/konnecttest"
)

// waitFor polls cond for a second: the fake clock's AddAfter hands items over on a goroutine.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for range 100 {
		if cond() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("condition not met")
}

// TestNoTokenInLogs runs registration, a transient failure, a Manual change and deletion at
// -v=5 and checks that the token is in no log line, event, status or annotation.
func TestNoTokenInLogs(t *testing.T) {
	ctx, logs := controllertest.CaptureLogs(t, 5)

	f := newFixture(t, fixtureOptions{ctx: ctx, extensions: []*konnectv1alpha2.KonnectExtension{automaticExtension(extName), manualExtension("manual", "konnect-client-tls")},
		secrets: []*corev1.Secret{userSecret(t, "konnect-client-tls", true)}})
	f.api.Fail(konnecttest.OpListCertificates, konnecttest.Transient("listing data-plane certificates"))
	f.process(extName) // the loop reconciles and schedules the retry, logging it
	f.sync(extName)
	f.sync("manual")
	f.markDeleted(extName)
	f.sync(extName)

	contextual := logs.Contextual()
	if !strings.Contains(contextual, "Registered the data-plane certificate") {
		t.Fatalf("the logs do not show the registration; was -v=5 in effect?\n%s", contextual)
	}
	controllertest.AssertNoToken(t, "the contextual log at -v=5", contextual)
	controllertest.AssertNoToken(t, "klog's global log at -v=5", logs.Global())
	for _, e := range f.Events() {
		if strings.Contains(e, token) {
			t.Errorf("event holds the token: %s", e)
		}
	}
	for _, a := range f.Client.Actions() {
		if strings.Contains(fmtAction(a), token) {
			t.Errorf("a write holds the token: %s", a.GetVerb())
		}
	}
}
