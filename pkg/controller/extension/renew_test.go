package extension

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	konnectv1alpha2 "github.com/konnect-auth-controller/konnect-auth-controller/pkg/apis/konnect/v1alpha2"
	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/konnect/konnecttest"
)

// TestRenewalDuringOutage: a renewal that falls due while Konnect cannot register the new
// certificate leaves the data plane's certificate (tls.crt, tls.key) as it is — still registered,
// Ready still True — and only stages the new one; once Konnect holds the new one, it is put in
// place, and only then is the replaced one removed. A data plane restarting at any point finds a
// certificate Konnect admits.
func TestRenewalDuringOutage(t *testing.T) {
	f := newFixture(t, fixtureOptions{extensions: []*konnectv1alpha2.KonnectExtension{automaticExtension(extName)}})
	f.sync(extName)
	secretName := extName + "-client-tls"
	first, _ := parseKeyPair(f.secret(namespace, secretName).Data)
	admitted := func() bool {
		live, err := parseKeyPair(f.secret(namespace, secretName).Data)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range f.api.Certificates(f.cpID) {
			if sameCertificate(c.Cert, live.cert) {
				return true
			}
		}
		return false
	}

	f.Clock.SetTime(renewAt(first.cert).Add(time.Second))
	f.api.Fail(konnecttest.OpCreateCertificate, konnecttest.Transient("registering data-plane certificate"))
	res := f.sync(extName)
	if res.Transient == nil {
		t.Fatal("the failed registration of the renewed certificate was not reported as transient")
	}
	secret := f.secret(namespace, secretName)
	if live, _ := parseKeyPair(secret.Data); live.cert.SerialNumber.Cmp(first.cert.SerialNumber) != 0 {
		t.Fatal("the Secret's certificate was replaced before Konnect held the new one")
	}
	if len(secret.Data[nextCertKey]) == 0 || len(secret.Data[nextKeyKey]) == 0 {
		t.Fatal("the renewed certificate was not staged in the Secret")
	}
	if !admitted() {
		t.Fatal("the data plane's certificate is not registered during the outage")
	}
	f.wantCondition(extName, konnectv1alpha2.ConditionReady, metav1.ConditionTrue, konnectv1alpha2.ReasonReady, "")

	// Konnect is back: the staged certificate is registered, put in place, and the old one goes.
	f.sync(extName)
	secret = f.secret(namespace, secretName)
	second, _ := parseKeyPair(secret.Data)
	if second.cert.SerialNumber.Cmp(first.cert.SerialNumber) == 0 {
		t.Fatal("not renewed once Konnect answered")
	}
	if _, staged := secret.Data[nextCertKey]; staged {
		t.Error("the staged keys are left in the Secret")
	}
	if !admitted() {
		t.Fatal("the renewed certificate is in the Secret but not registered")
	}
	if got := f.api.Certificates(f.cpID); len(got) != 1 {
		t.Errorf("Konnect holds %d certificates after the renewal; want only the renewed one", len(got))
	}
	if reg := parseRegistration(f.get(extName).Annotations[CertificateAnnotation]); reg.fingerprint != fingerprint(second.cert) {
		t.Errorf("the annotation records %s, want the renewed certificate", reg)
	}
}
