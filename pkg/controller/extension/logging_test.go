package extension

import (
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/klog/v2/ktesting"

	konnectv1alpha2 "github.com/konnect-auth-controller/konnect-auth-controller/pkg/apis/konnect/v1alpha2"
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
	logger, ctx := ktesting.NewTestContext(t)
	_ = logger
	cfg := ktesting.NewConfig(ktesting.Verbosity(5), ktesting.BufferLogs(true))
	logger = ktesting.NewLogger(t, cfg)
	ctx = klogContext(ctx, logger)

	f := newFixture(t, ctx, fixtureOptions{extensions: []*konnectv1alpha2.KonnectExtension{automaticExtension(extName), manualExtension("manual", "konnect-client-tls")},
		secrets: []*corev1.Secret{userSecret(t, "konnect-client-tls", true)}})
	f.api.Fail(konnecttest.OpListCertificates, konnecttest.Transient("listing data-plane certificates"))
	f.process(extName) // the loop reconciles and schedules the retry, logging it
	f.sync(extName)
	f.sync("manual")
	ext := f.get(extName)
	now := metav1.NewTime(f.clock.Now())
	ext.DeletionTimestamp = &now
	if _, err := f.client.KonnectV1alpha2().KonnectExtensions(namespace).Update(ctx, ext, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	f.refresh()
	f.sync(extName)

	logs := logger.GetSink().(ktesting.Underlier).GetBuffer().String()
	if !strings.Contains(logs, "Registered the data-plane certificate") {
		t.Fatalf("the logs do not show the registration; was -v=5 in effect?\n%s", logs)
	}
	if strings.Contains(logs, token) || strings.Contains(logs, token[5:]) {
		t.Error("the token is in the logs")
	}
	close(f.events.Events)
	for e := range f.events.Events {
		if strings.Contains(e, token) {
			t.Errorf("event holds the token: %s", e)
		}
	}
	for _, a := range f.client.Actions() {
		if strings.Contains(fmtAction(a), token) {
			t.Errorf("a write holds the token: %s", a.GetVerb())
		}
	}
}
