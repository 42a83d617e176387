package extension

import (
	"crypto/x509"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"

	konnectv1alpha1 "github.com/konnect-auth-controller/konnect-auth-controller/pkg/apis/konnect/v1alpha1"
	konnectv1alpha2 "github.com/konnect-auth-controller/konnect-auth-controller/pkg/apis/konnect/v1alpha2"
	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/controller"
	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/controller/controllertest"
	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/konnect"
	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/konnect/konnecttest"
)

// TestReplacedCertificateRemovalFailureKeepsReady: a replaced Manual certificate whose new one is
// registered is Ready with it even when Konnect fails to remove the old one; the old one stays
// recorded and is removed at the next sync.
func TestReplacedCertificateRemovalFailureKeepsReady(t *testing.T) {
	f := newFixture(t, fixtureOptions{extensions: []*konnectv1alpha2.KonnectExtension{manualExtension(extName, "konnect-client-tls")},
		secrets: []*corev1.Secret{userSecret(t, "konnect-client-tls", true)}})
	f.sync(extName)
	old := parseRegistration(f.get(extName).Annotations[CertificateAnnotation])

	f.replaceCertificate("konnect-client-tls")
	f.api.Fail(konnecttest.OpDeleteCertificate, konnecttest.Transient("deleting data-plane certificate"))
	if res := f.sync(extName); res.Transient == nil {
		t.Error("the failed removal is not retried with backoff")
	}
	f.wantCondition(extName, konnectv1alpha2.ConditionDataPlaneCertificateProvisioned, metav1.ConditionTrue, konnectv1alpha2.ReasonProvisioned, "")
	f.wantCondition(extName, konnectv1alpha2.ConditionReady, metav1.ConditionTrue, konnectv1alpha2.ReasonReady, "")
	if got := parseRegistration(f.get(extName).Annotations[CertificateAnnotation]); got != old {
		t.Fatalf("annotation %v forgot the certificate still to remove, %v", got, old)
	}

	f.sync(extName)
	if got := f.api.Certificates(f.cpID); len(got) != 1 || got[0].ID == old.certificateID {
		t.Errorf("Konnect holds %d certificates after the retry; want only the new one", len(got))
	}
}

// TestSharedManualSecretRotation: two extensions share a Manual Secret whose certificate is
// replaced. The first to sync registers the new certificate; the old one is removed although
// the cache still shows the other extension's annotation naming it, because nobody's Secret
// holds it any more.
func TestSharedManualSecretRotation(t *testing.T) {
	f := newFixture(t, fixtureOptions{
		extensions: []*konnectv1alpha2.KonnectExtension{manualExtension("first", "shared-tls"), manualExtension("second", "shared-tls")},
		secrets:    []*corev1.Secret{userSecret(t, "shared-tls", true)},
	})
	f.sync("first")
	f.sync("second")
	f.replaceCertificate("shared-tls")
	// Both sync before the informer brings the other's new annotation.
	for _, name := range []string{"first", "second"} {
		if _, err := f.ctrl.reconcile(f.ctx, cache.ObjectName{Namespace: namespace, Name: name}); err != nil {
			t.Fatal(err)
		}
	}
	f.Resync()
	if got := f.api.Certificates(f.cpID); len(got) != 1 {
		t.Fatalf("Konnect holds %d certificates for one shared Secret; the replaced one leaked", len(got))
	}
	f.wantCondition("first", konnectv1alpha2.ConditionReady, metav1.ConditionTrue, konnectv1alpha2.ReasonReady, "")
	f.wantCondition("second", konnectv1alpha2.ConditionReady, metav1.ConditionTrue, konnectv1alpha2.ReasonReady, "")
}

// TestUnconfirmedCredentialsKeepReady: an auth configuration whose verdict turned Unknown (its
// token rotated, or re-validated, while Konnect could not be asked) says nothing new about the
// token: a Ready extension stays Ready and is looked at again with backoff.
func TestUnconfirmedCredentialsKeepReady(t *testing.T) {
	f := newFixture(t, fixtureOptions{extensions: []*konnectv1alpha2.KonnectExtension{automaticExtension(extName)}})
	f.sync(extName)
	f.wantCondition(extName, konnectv1alpha2.ConditionReady, metav1.ConditionTrue, konnectv1alpha2.ReasonReady, "")
	f.SetConfigVerdict(namespace, authName, metav1.ConditionUnknown, konnectv1alpha1.ReasonKonnectUnavailable)
	if res := f.sync(extName); res.Transient == nil {
		t.Error("not retried with backoff")
	}
	f.wantCondition(extName, konnectv1alpha2.ConditionReady, metav1.ConditionTrue, konnectv1alpha2.ReasonReady, "")
	f.wantCondition(extName, konnectv1alpha2.ConditionAPIAuthValid, metav1.ConditionTrue, konnectv1alpha2.ReasonValid, "")
}

// TestLostRegistrationOfAGeneratedCertificate: a certificate generated in a sync is registered
// without a LIST first (Konnect cannot hold it yet), but once that registration's answer is lost
// the next sync looks before registering: the certificate is registered once.
func TestLostRegistrationOfAGeneratedCertificate(t *testing.T) {
	f := newFixture(t, fixtureOptions{extensions: []*konnectv1alpha2.KonnectExtension{automaticExtension(extName)}})
	f.api.Fail(konnecttest.OpCreateCertificate, konnecttest.Transient("registering data-plane certificate"))
	f.sync(extName)
	if n := f.count(konnecttest.OpListCertificates); n != 0 {
		t.Fatalf("%d LISTs before registering a certificate generated in the same sync, want 0", n)
	}
	// The registration was carried out; its answer was lost.
	cert, err := parseCertificatePEM(f.secret(namespace, generatedSecretName(extName)).Data[corev1.TLSCertKey])
	if err != nil {
		t.Fatal(err)
	}
	done, err := f.api.CreateDataPlaneCertificate(f.ctx, konnect.Auth{Token: token, ServerURL: serverURL}, f.cpID, certificatePEM(cert), registrationTitle(f.get(extName)))
	if err != nil {
		t.Fatal(err)
	}
	f.sync(extName)
	if got := f.api.Certificates(f.cpID); len(got) != 1 {
		t.Fatalf("Konnect holds %d certificates, want the one whose answer was lost", len(got))
	}
	if got := parseRegistration(f.get(extName).Annotations[CertificateAnnotation]).certificateID; got != done.ID {
		t.Errorf("recorded certificate %q, want %q", got, done.ID)
	}
	f.wantCondition(extName, konnectv1alpha2.ConditionReady, metav1.ConditionTrue, konnectv1alpha2.ReasonReady, "")
}

// TestCertificatesOnTheirOwnBudget: a registration seen in Konnect is looked up again at the
// certificate sync period, not at every re-sync, and that period is lengthened so that these
// LISTs use at most 2.5 % of --konnect-qps (issue 19).
func TestCertificatesOnTheirOwnBudget(t *testing.T) {
	for _, tc := range []struct {
		name    string
		qps     float64
		wantTTL time.Duration
	}{
		{"the certificate sync period", 0, 10 * syncPeriod},
		// Two registrations at 0.00025 calls a second (2.5 % of 0.01): one LIST each per 8,000 s.
		{"lengthened for the budget", 0.01, 8000 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, fixtureOptions{extensions: []*konnectv1alpha2.KonnectExtension{automaticExtension(extName), automaticExtension("second")},
				tune: func(c *controller.Context) { c.CertificateSyncPeriod, c.KonnectQPS = 10*syncPeriod, tc.qps }})
			f.sync(extName)
			f.sync("second")
			lists := func() int { return f.count(konnecttest.OpListCertificates) }
			for f.Clock.Since(controllertest.Start) < tc.wantTTL-syncPeriod {
				f.Clock.Step(syncPeriod)
				f.sync(extName)
			}
			if n := lists(); n != 0 {
				t.Fatalf("%d LISTs within %v of the registration, want none", n, tc.wantTTL)
			}
			f.Clock.Step(2 * syncPeriod)
			f.sync(extName)
			if n := lists(); n != 1 {
				t.Fatalf("%d LISTs once %v had passed, want 1", n, tc.wantTTL)
			}
		})
	}
}

// TestRegistrationConflictFindsTheCertificate: a registration Konnect refuses with 409 because it
// holds the certificate already (another extension sharing the Manual Secret registered it
// between this one's LIST and its POST) finds it: Provisioned, never False.
func TestRegistrationConflictFindsTheCertificate(t *testing.T) {
	f := newFixture(t, fixtureOptions{extensions: []*konnectv1alpha2.KonnectExtension{manualExtension(extName, "konnect-client-tls")},
		secrets: []*corev1.Secret{userSecret(t, "konnect-client-tls", true)}})
	pem := f.secret(namespace, "konnect-client-tls").Data[corev1.TLSCertKey]
	cert, err := parseCertificatePEM(pem)
	if err != nil {
		t.Fatal(err)
	}
	done, err := f.api.CreateDataPlaneCertificate(f.ctx, konnect.Auth{Token: token, ServerURL: serverURL}, f.cpID, certificatePEM(cert), "k8s-uid:3d0a2f4e-another-extension")
	if err != nil {
		t.Fatal(err)
	}
	conds := conditions{}
	id, konnectErr := f.ctrl.createRegistration(f.ctx, f.get(extName), konnect.Auth{Token: token, ServerURL: serverURL}, f.cpID,
		&certificate{cert: cert, secretName: "konnect-client-tls"}, conds)
	if konnectErr != nil || id != done.ID {
		t.Fatalf("registration %q (%v), want the one Konnect holds, %q", id, konnectErr, done.ID)
	}
	if c := conds[konnectv1alpha2.ConditionDataPlaneCertificateProvisioned]; c.Status != metav1.ConditionTrue {
		t.Fatalf("DataPlaneCertificateProvisioned %s/%s %q, want True", c.Status, c.Reason, c.Message)
	}
}

// TestFirstRegistrationNeedsNoList: an Automatic extension's certificate, generated while its
// control plane was not there yet, is registered without a LIST once it is — the extension
// has never had a registration (its clean-up finalizer is added in the same sync); one that
// carries the finalizer already (a registration may have been sent, in this process or an
// earlier one) looks first.
func TestFirstRegistrationNeedsNoList(t *testing.T) {
	for _, tc := range []struct {
		name      string
		finalizer bool
		wantLists int
	}{
		{"first registration", false, 0},
		{"finalizer already there", true, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ext := automaticExtension(extName)
			if tc.finalizer {
				ext.Finalizers = []string{konnectv1alpha2.KonnectCleanupFinalizer}
			}
			f := newFixture(t, fixtureOptions{extensions: []*konnectv1alpha2.KonnectExtension{ext}, noControlPlane: true})
			f.sync(extName) // the certificate is generated; no control plane to register with
			if _, err := f.Client.KonnectV1alpha2().KonnectGatewayControlPlanes(namespace).Create(f.ctx, programmedControlPlane(f.cpID), metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
			f.Resync()
			f.sync(extName)
			if lists, creates := f.count(konnecttest.OpListCertificates), f.count(konnecttest.OpCreateCertificate); lists != tc.wantLists || creates != 1 {
				t.Fatalf("%d LISTs and %d registrations, want %d and 1", lists, creates, tc.wantLists)
			}
			f.wantCondition(extName, konnectv1alpha2.ConditionReady, metav1.ConditionTrue, konnectv1alpha2.ReasonReady, "")
		})
	}
}

// TestRegistrationsCarryTheExtensionsUID: a registration is titled with the extension's UID, and
// a lost answer is found by that title (issue 19). A registration of the same certificate under
// another title (another extension sharing the Secret) is found too.
func TestRegistrationsCarryTheExtensionsUID(t *testing.T) {
	f := newFixture(t, fixtureOptions{extensions: []*konnectv1alpha2.KonnectExtension{automaticExtension(extName)}})
	f.sync(extName)
	held := f.api.Certificates(f.cpID)
	if len(held) != 1 || held[0].Title != "k8s-uid:uid-"+extName {
		t.Fatalf("Konnect holds %+v, want one registration titled k8s-uid:uid-%s", held, extName)
	}

	cert := &certificate{cert: mustParse(t, held[0].Cert)}
	other := konnect.DataPlaneCertificate{ID: "other", Cert: held[0].Cert, Title: "k8s-uid:another"}
	unrelated := konnect.DataPlaneCertificate{ID: "unrelated", Cert: "not a certificate", Title: "k8s-uid:another"}
	for _, tc := range []struct {
		name       string
		registered []konnect.DataPlaneCertificate
		want       string
	}{
		{"by title", []konnect.DataPlaneCertificate{unrelated, held[0]}, held[0].ID},
		{"under another title", []konnect.DataPlaneCertificate{unrelated, other}, "other"},
		{"titled first", []konnect.DataPlaneCertificate{other, held[0]}, held[0].ID},
		{"not held", []konnect.DataPlaneCertificate{unrelated}, ""},
	} {
		if got := registrationOf(tc.registered, cert, registrationTitle(f.get(extName))); got != tc.want {
			t.Errorf("%s: found %q, want %q", tc.name, got, tc.want)
		}
	}
}

func mustParse(t *testing.T, pem string) *x509.Certificate {
	t.Helper()
	c, err := parseCertificatePEM([]byte(pem))
	if err != nil {
		t.Fatal(err)
	}
	return c
}
