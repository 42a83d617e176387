package extension

import (
	"crypto/x509"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	konnectv1alpha2 "github.com/konnect-auth-controller/konnect-auth-controller/pkg/apis/konnect/v1alpha2"
	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/konnect"
	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/konnect/konnecttest"
)

func TestAutomaticCertificate(t *testing.T) {
	f := newFixture(t, fixtureOptions{extensions: []*konnectv1alpha2.KonnectExtension{automaticExtension(extName), automaticExtension("second")}})

	// Five syncs, a re-sync period apart: one registration (of a certificate generated in the
	// same sync: no LIST before it), then one LIST each.
	for i := range 5 {
		f.sync(extName)
		f.Clock.Step(syncPeriod + time.Second)
		_ = i
	}
	f.sync("second")

	if got := f.count(konnecttest.OpCreateCertificate); got != 2 {
		t.Errorf("certificate creates: %d, want 2 (one per extension)", got)
	}
	if got := f.count(konnecttest.OpListCertificates); got != 4 {
		t.Errorf("certificate lists: %d, want 4 (one per re-sync, none before registering a certificate just generated)", got)
	}
	if got := f.caSecretCreates(); got != 1 {
		t.Errorf("CA Secret creates: %d, want 1 (created once, then reused)", got)
	}

	ca := f.secret(caNamespace, caName)
	if ca.Type != corev1.SecretTypeTLS {
		t.Errorf("CA Secret type %q", ca.Type)
	}
	caCert, err := parseCertificatePEM(ca.Data[corev1.TLSCertKey])
	if err != nil || !caCert.IsCA {
		t.Fatalf("CA certificate: %v, IsCA=%v", err, caCert != nil && caCert.IsCA)
	}
	if d := caCert.NotAfter.Sub(caCert.NotBefore); d < 10*365*24*time.Hour {
		t.Errorf("CA validity %v, want ten years", d)
	}

	s := f.secret(namespace, extName+"-client-tls")
	if s.Type != corev1.SecretTypeTLS {
		t.Errorf("Secret type %q, want kubernetes.io/tls", s.Type)
	}
	for _, k := range []string{"tls.crt", "tls.key", "ca.crt"} {
		if len(s.Data[k]) == 0 {
			t.Errorf("Secret has no %s", k)
		}
	}
	if s.Labels[konnectv1alpha2.DataPlaneCertificateLabel] != "true" || s.Labels[konnectv1alpha2.SecretLabel] != "true" {
		t.Errorf("Secret labels %v", s.Labels)
	}
	owner := metav1.GetControllerOf(s)
	if owner == nil || owner.Kind != "KonnectExtension" || owner.Name != extName || owner.UID != "uid-"+extName ||
		owner.BlockOwnerDeletion == nil || !*owner.BlockOwnerDeletion {
		t.Errorf("Secret owner %+v", owner)
	}
	pair, err := parseKeyPair(s.Data)
	if err != nil {
		t.Fatal(err)
	}
	cert := pair.cert
	cn := extName + "." + namespace
	if cert.Subject.CommonName != cn || !slices.Equal(cert.Subject.Organization, []string{"Kong, Inc."}) || !slices.Equal(cert.DNSNames, []string{cn}) {
		t.Errorf("subject %v, DNS %v", cert.Subject, cert.DNSNames)
	}
	if !slices.Equal(cert.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}) {
		t.Errorf("ExtKeyUsage %v, want client auth", cert.ExtKeyUsage)
	}
	if err := cert.CheckSignatureFrom(caCert); err != nil {
		t.Errorf("not signed by the cluster CA: %v", err)
	}
	if d := cert.NotAfter.Sub(cert.NotBefore); d < 365*24*time.Hour || d > 366*24*time.Hour {
		t.Errorf("validity %v, want a year", d)
	}
	if string(s.Data["ca.crt"]) != string(ca.Data[corev1.TLSCertKey]) {
		t.Error("ca.crt is not the cluster CA")
	}

	registered := f.api.Certificates(f.cpID)
	if len(registered) != 2 || !sameCertificate(registered[0].Cert, cert) {
		t.Errorf("registered certificates: %d; first is ours: %v", len(registered), len(registered) > 0 && sameCertificate(registered[0].Cert, cert))
	}

	ext := f.get(extName)
	if !slices.Contains(ext.Finalizers, konnectv1alpha2.KonnectCleanupFinalizer) {
		t.Errorf("finalizers %v", ext.Finalizers)
	}
	if got := parseRegistration(ext.Annotations[CertificateAnnotation]); got.certificateID != registered[0].ID || got.controlPlaneID != f.cpID {
		t.Errorf("annotation %q", ext.Annotations[CertificateAnnotation])
	}
	// True conditions carry Kong's messages; the Secret is in status, the certificate's id in
	// the annotation (checked above).
	f.wantCondition(extName, konnectv1alpha2.ConditionReady, metav1.ConditionTrue, konnectv1alpha2.ReasonReady, konnectv1alpha2.MessageReady)
	if a := ext.Status.DataPlaneClientAuth; a == nil || a.CertificateSecretRef == nil || a.CertificateSecretRef.Name != extName+"-client-tls" {
		t.Errorf("status.dataPlaneClientAuth %+v", a)
	}
	f.wantCondition(extName, konnectv1alpha2.ConditionDataPlaneCertificateProvisioned, metav1.ConditionTrue, konnectv1alpha2.ReasonProvisioned, konnectv1alpha2.MessageProvisioned)
	f.wantCondition(extName, konnectv1alpha2.ConditionControlPlaneRefValid, metav1.ConditionTrue, konnectv1alpha2.ReasonValid, konnectv1alpha2.MessageControlPlaneRefValid)
	f.wantCondition(extName, konnectv1alpha2.ConditionAPIAuthResolvedRef, metav1.ConditionTrue, konnectv1alpha2.ReasonResolvedRef, authName)
	f.wantCondition(extName, konnectv1alpha2.ConditionAPIAuthValid, metav1.ConditionTrue, konnectv1alpha2.ReasonValid, authName)
	k := ext.Status.Konnect
	if k == nil || k.ControlPlaneID != f.cpID || k.ClusterType != konnectv1alpha2.ExtensionClusterTypeControlPlane ||
		k.Endpoints.ControlPlaneEndpoint != "https://abc.cp.konghq.com" || k.AuthRef == nil || k.AuthRef.Name != authName {
		t.Errorf("status.konnect %+v", k)
	}
	if ext.Status.DataPlaneClientAuth == nil || ext.Status.DataPlaneClientAuth.CertificateSecretRef.Name != extName+"-client-tls" {
		t.Errorf("status.dataPlaneClientAuth %+v", ext.Status.DataPlaneClientAuth)
	}
	for _, c := range f.api.Calls() {
		if c.Token != token || c.ServerURL != serverURL {
			t.Errorf("call %s made with server URL %q and another token", c.Op, c.ServerURL)
		}
	}
	// A first Ready is in the status; only the registrations (an act in Konnect) are Events.
	for _, e := range f.Events() {
		if !strings.Contains(e, "CertificateRegistered") {
			t.Errorf("event %q, want only CertificateRegistered ones", e)
		}
	}
}

func TestSyncsBetweenResyncsMakeNoCall(t *testing.T) {
	f := newFixture(t, fixtureOptions{extensions: []*konnectv1alpha2.KonnectExtension{automaticExtension(extName)}})
	for range 5 {
		f.sync(extName)
	}
	if got := len(f.api.Calls()); got != 1 {
		t.Errorf("Konnect calls: %d (%v), want 1 (one CREATE of the certificate generated in the first sync)", got, f.api.Calls())
	}
	patches := 0
	for _, a := range f.Client.Actions() {
		if a.GetVerb() == "patch" && a.GetSubresource() == "status" {
			patches++
		}
	}
	if patches != 1 {
		t.Errorf("status writes: %d, want 1 (only on change)", patches)
	}
}

func TestExistingCertificateInKonnectIsNotCreatedAgain(t *testing.T) {
	secret := userSecret(t, "konnect-client-tls", true)
	f := newFixture(t, fixtureOptions{extensions: []*konnectv1alpha2.KonnectExtension{manualExtension(extName, "konnect-client-tls")},
		secrets: []*corev1.Secret{secret}})
	// Konnect holds the same certificate, re-wrapped (another PEM text, same DER).
	cert, _ := parseCertificatePEM(secret.Data[corev1.TLSCertKey])
	rewrapped := "\n" + strings.ReplaceAll(certificatePEM(cert), "\n", "\r\n")
	existing, err := f.api.CreateDataPlaneCertificate(f.ctx, konnect.Auth{Token: token, ServerURL: serverURL}, f.cpID, rewrapped, "")
	if err != nil {
		t.Fatal(err)
	}
	f.api.ResetCalls()

	f.sync(extName)
	if got := f.count(konnecttest.OpCreateCertificate); got != 0 {
		t.Errorf("creates: %d, want 0", got)
	}
	if got := parseRegistration(f.get(extName).Annotations[CertificateAnnotation]).certificateID; got != existing.ID {
		t.Errorf("recorded id %q, want %q", got, existing.ID)
	}
	f.wantCondition(extName, konnectv1alpha2.ConditionReady, metav1.ConditionTrue, konnectv1alpha2.ReasonReady, "")
}

func TestManualCertificate(t *testing.T) {
	garbage := userSecret(t, "konnect-client-tls", true)
	garbage.Data[corev1.TLSCertKey] = []byte("-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n")
	badDER := userSecret(t, "konnect-client-tls", true)
	badDER.Data[corev1.TLSCertKey] = []byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
	noCert := userSecret(t, "konnect-client-tls", true)
	delete(noCert.Data, corev1.TLSCertKey)

	for name, tc := range map[string]struct {
		secrets, unlabelled []*corev1.Secret
		status              metav1.ConditionStatus
		reason, message     string
		creates             int
	}{
		"good":       {secrets: []*corev1.Secret{userSecret(t, "konnect-client-tls", true)}, status: metav1.ConditionTrue, reason: konnectv1alpha2.ReasonProvisioned, message: konnectv1alpha2.MessageProvisioned, creates: 1},
		"not PEM":    {secrets: []*corev1.Secret{garbage}, status: metav1.ConditionFalse, reason: konnectv1alpha2.ReasonInvalidSecret, message: "no PEM CERTIFICATE"},
		"not a cert": {secrets: []*corev1.Secret{badDER}, status: metav1.ConditionFalse, reason: konnectv1alpha2.ReasonInvalidSecret, message: "does not parse"},
		"no tls.crt": {secrets: []*corev1.Secret{noCert}, status: metav1.ConditionFalse, reason: konnectv1alpha2.ReasonInvalidSecret, message: "tls.crt is missing"},
		"missing":    {status: metav1.ConditionFalse, reason: konnectv1alpha2.ReasonRefNotFound, message: "not found among Secrets labelled konghq.com/konnect-dp-cert=true"},
		"unlabelled": {unlabelled: []*corev1.Secret{userSecret(t, "konnect-client-tls", false)}, status: metav1.ConditionFalse, reason: konnectv1alpha2.ReasonRefNotFound, message: "exists but is not labelled konghq.com/konnect-dp-cert=true"},
	} {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t, fixtureOptions{extensions: []*konnectv1alpha2.KonnectExtension{manualExtension(extName, "konnect-client-tls")},
				secrets: tc.secrets, unlabelled: tc.unlabelled})
			f.sync(extName)
			f.wantCondition(extName, konnectv1alpha2.ConditionDataPlaneCertificateProvisioned, tc.status, tc.reason, tc.message)
			wantReady := metav1.ConditionFalse
			if tc.status == metav1.ConditionTrue {
				wantReady = metav1.ConditionTrue
			}
			if got := f.condition(extName, konnectv1alpha2.ConditionReady).Status; got != wantReady {
				t.Errorf("Ready %s, want %s", got, wantReady)
			}
			if got := f.count(konnecttest.OpCreateCertificate); got != tc.creates {
				t.Errorf("creates %d, want %d", got, tc.creates)
			}
			if tc.creates == 0 && slices.Contains(f.get(extName).Finalizers, konnectv1alpha2.KonnectCleanupFinalizer) {
				t.Error("finalizer added though nothing was registered")
			}
			if f.caSecretCreates() != 0 {
				t.Error("a Manual extension created the cluster CA")
			}
		})
	}
}

func TestChangedManualCertificateReplacesTheOldOne(t *testing.T) {
	f := newFixture(t, fixtureOptions{extensions: []*konnectv1alpha2.KonnectExtension{manualExtension(extName, "konnect-client-tls")},
		secrets: []*corev1.Secret{userSecret(t, "konnect-client-tls", true)}})
	f.sync(extName)
	oldID := parseRegistration(f.get(extName).Annotations[CertificateAnnotation]).certificateID
	if oldID == "" {
		t.Fatal("nothing registered")
	}

	// The user replaces the certificate.
	replacement := f.replaceCertificate("konnect-client-tls")
	f.api.ResetCalls()
	f.sync(extName)
	f.sync(extName)

	if got := f.count(konnecttest.OpCreateCertificate); got != 1 {
		t.Errorf("creates %d, want 1", got)
	}
	deletes := 0
	for _, c := range f.api.Calls() {
		if c.Op == konnecttest.OpDeleteCertificate {
			deletes++
			if c.ID != f.cpID+"/"+oldID {
				t.Errorf("deleted %s, want %s/%s", c.ID, f.cpID, oldID)
			}
		}
	}
	if deletes != 1 {
		t.Errorf("deletes %d, want 1", deletes)
	}
	registered := f.api.Certificates(f.cpID)
	newCert, _ := parseCertificatePEM(replacement.Data[corev1.TLSCertKey])
	if len(registered) != 1 || !sameCertificate(registered[0].Cert, newCert) {
		t.Errorf("Konnect holds %d certificates; want only the new one", len(registered))
	}
	if got := parseRegistration(f.get(extName).Annotations[CertificateAnnotation]).certificateID; got != registered[0].ID {
		t.Errorf("annotation names %q, want %q", got, registered[0].ID)
	}
}

func TestRenewal(t *testing.T) {
	f := newFixture(t, fixtureOptions{extensions: []*konnectv1alpha2.KonnectExtension{automaticExtension(extName)}})
	f.sync(extName)
	first, _ := parseKeyPair(f.secret(namespace, extName+"-client-tls").Data)
	oldID := parseRegistration(f.get(extName).Annotations[CertificateAnnotation]).certificateID

	// Renewal is due when a third of the validity remains; until then the re-sync period rules.
	due := renewAt(first.cert)
	if want := first.cert.NotBefore.Add(first.cert.NotAfter.Sub(first.cert.NotBefore) * 2 / 3); !due.Equal(want) {
		t.Errorf("renewAt %v, want %v", due, want)
	}
	f.Clock.SetTime(due.Add(-30 * time.Second))
	res := f.sync(extName)
	if res.After > 30*time.Second || res.After < time.Second {
		t.Errorf("next look in %v, want the 30s left before renewal", res.After)
	}
	if got, _ := parseKeyPair(f.secret(namespace, extName+"-client-tls").Data); got.cert.SerialNumber.Cmp(first.cert.SerialNumber) != 0 {
		t.Fatal("renewed too early")
	}

	f.Clock.SetTime(due.Add(time.Second))
	f.sync(extName)
	second, err := parseKeyPair(f.secret(namespace, extName+"-client-tls").Data)
	if err != nil {
		t.Fatal(err)
	}
	if second.cert.SerialNumber.Cmp(first.cert.SerialNumber) == 0 || publicKeysEqual(second.cert.PublicKey, first.key.Public()) {
		t.Error("not renewed with a new key and certificate")
	}
	registered := f.api.Certificates(f.cpID)
	if len(registered) != 1 || !sameCertificate(registered[0].Cert, second.cert) || registered[0].ID == oldID {
		t.Errorf("Konnect holds %d certificates; want only the renewed one", len(registered))
	}
}

func TestForeignCASignatureRenews(t *testing.T) {
	// A Secret of the right name, owned by the extension, but signed by another CA.
	ext := automaticExtension(extName)
	stray := userSecret(t, extName+"-client-tls", true)
	f := newFixture(t, fixtureOptions{extensions: []*konnectv1alpha2.KonnectExtension{ext}, secrets: []*corev1.Secret{stray}})
	stray = f.secret(namespace, stray.Name)
	stray.OwnerReferences = f.ctrl.certSecret(ext, stray.Name, &keyPair{}, &keyPair{}).OwnerReferences
	if _, err := f.Kube.CoreV1().Secrets(namespace).Update(f.ctx, stray, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	f.Resync()
	f.sync(extName)
	pair, err := parseKeyPair(f.secret(namespace, stray.Name).Data)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := parseCertificatePEM(f.secret(caNamespace, caName).Data[corev1.TLSCertKey])
	if pair.cert.CheckSignatureFrom(caCert) != nil || pair.cert.Subject.CommonName != extName+"."+namespace {
		t.Error("a certificate not signed by the current CA was kept")
	}
}

func TestForeignSecretIsNotOverwritten(t *testing.T) {
	foreign := userSecret(t, extName+"-client-tls", true)
	f := newFixture(t, fixtureOptions{extensions: []*konnectv1alpha2.KonnectExtension{automaticExtension(extName)}, secrets: []*corev1.Secret{foreign}})
	f.sync(extName)
	if string(f.secret(namespace, foreign.Name).Data[corev1.TLSCertKey]) != string(foreign.Data[corev1.TLSCertKey]) {
		t.Error("a Secret the extension does not own was overwritten")
	}
	f.wantCondition(extName, konnectv1alpha2.ConditionDataPlaneCertificateProvisioned, metav1.ConditionFalse, konnectv1alpha2.ReasonProvisioning, "not owned")
}

func TestControlPlaneNotUsable(t *testing.T) {
	for name, tc := range map[string]struct {
		o      fixtureOptions
		reason string
		msg    string
	}{
		"missing": {o: fixtureOptions{noControlPlane: true}, reason: konnectv1alpha2.ReasonInvalid, msg: "kong/gateway-control-plane not found"},
		"not programmed": {o: fixtureOptions{controlPlane: func(id string) *konnectv1alpha2.KonnectGatewayControlPlane {
			return withProgrammed(programmedControlPlane(id), metav1.Condition{Status: metav1.ConditionFalse,
				Reason: konnectv1alpha2.ReasonFailedToCreate, Message: "name taken"})
		}}, reason: konnectv1alpha2.ReasonNotProgrammed, msg: "is not Programmed yet: name taken"},
		"no id yet": {o: fixtureOptions{controlPlane: func(id string) *konnectv1alpha2.KonnectGatewayControlPlane {
			cp := programmedControlPlane(id)
			cp.Status.ID = ""
			return cp
		}}, reason: konnectv1alpha2.ReasonNotProgrammed, msg: "not Programmed"},
	} {
		t.Run(name, func(t *testing.T) {
			tc.o.extensions = []*konnectv1alpha2.KonnectExtension{automaticExtension(extName)}
			f := newFixture(t, tc.o)
			f.sync(extName)
			f.wantCondition(extName, konnectv1alpha2.ConditionControlPlaneRefValid, metav1.ConditionFalse, tc.reason, tc.msg)
			f.wantCondition(extName, konnectv1alpha2.ConditionReady, metav1.ConditionFalse, konnectv1alpha2.ReasonPending, "ControlPlaneRefValid")
			f.wantCondition(extName, konnectv1alpha2.ConditionDataPlaneCertificateProvisioned, metav1.ConditionFalse, konnectv1alpha2.ReasonProvisioning, "")
			if n := len(f.api.Calls()); n != 0 {
				t.Errorf("%d Konnect calls, want none", n)
			}
			ext := f.get(extName)
			if ext.Status.Konnect != nil {
				t.Errorf("status.konnect %+v, want none", ext.Status.Konnect)
			}
			// The Secret is provisioned anyway: it does not depend on the control plane.
			if ext.Status.DataPlaneClientAuth == nil {
				t.Error("no certificate Secret")
			}
		})
	}
}

func TestTransientFailureKeepsReadyAndWaitsForRetryAfter(t *testing.T) {
	f := newFixture(t, fixtureOptions{extensions: []*konnectv1alpha2.KonnectExtension{automaticExtension(extName)}})
	f.sync(extName)
	f.wantCondition(extName, konnectv1alpha2.ConditionReady, metav1.ConditionTrue, konnectv1alpha2.ReasonReady, "")

	f.Clock.Step(syncPeriod + time.Second)
	tooMany := &konnect.APIError{Op: "listing data-plane certificates", Kind: konnect.ErrorTransient,
		StatusCode: 429, Message: "Konnect answered 429 Too Many Requests", RetryAfter: 42 * time.Second}
	f.api.Fail(konnecttest.OpListCertificates, tooMany)
	res := f.sync(extName)
	if res.Transient == nil {
		t.Fatal("no Konnect failure reported")
	}
	f.wantCondition(extName, konnectv1alpha2.ConditionReady, metav1.ConditionTrue, konnectv1alpha2.ReasonReady, "")
	f.wantCondition(extName, konnectv1alpha2.ConditionDataPlaneCertificateProvisioned, metav1.ConditionTrue, konnectv1alpha2.ReasonProvisioned, "")

	// The loop, meeting the same 429, waits for Retry-After (42s), not the 1s backoff.
	f.api.Fail(konnecttest.OpListCertificates, tooMany)
	f.process(extName)
	f.Clock.Step(41 * time.Second)
	if f.ctrl.loop.Len() != 0 {
		t.Error("re-queued before Retry-After")
	}
	// The step woke the queue's waiting loop (its heartbeat), which re-arms its timer for the
	// second left on its own goroutine: let it, or the next step can slip in between.
	time.Sleep(20 * time.Millisecond)
	f.Clock.Step(2 * time.Second)
	waitFor(t, func() bool { return f.ctrl.loop.Len() == 1 })

	// A first registration that meets Konnect down is Unknown, not False, and nothing is lost.
	g := newFixture(t, fixtureOptions{extensions: []*konnectv1alpha2.KonnectExtension{automaticExtension(extName)}})
	g.api.Fail(konnecttest.OpCreateCertificate, konnecttest.Transient("registering data-plane certificate"))
	g.sync(extName)
	g.wantCondition(extName, konnectv1alpha2.ConditionDataPlaneCertificateProvisioned, metav1.ConditionUnknown, konnectv1alpha2.ReasonKonnectAPIOpFailed, "503")
	g.wantCondition(extName, konnectv1alpha2.ConditionReady, metav1.ConditionUnknown, konnectv1alpha2.ReasonPending, "")
	g.sync(extName)
	g.wantCondition(extName, konnectv1alpha2.ConditionReady, metav1.ConditionTrue, konnectv1alpha2.ReasonReady, "")
	if got := len(g.api.Certificates(g.cpID)); got != 1 {
		t.Errorf("%d certificates registered, want 1", got)
	}
}

func TestDeletion(t *testing.T) {
	f := newFixture(t, fixtureOptions{extensions: []*konnectv1alpha2.KonnectExtension{automaticExtension(extName)}})
	f.sync(extName)
	if len(f.api.Certificates(f.cpID)) != 1 {
		t.Fatal("nothing registered")
	}

	// kubectl delete: the apiserver sets deletionTimestamp; the finalizer holds the object.
	f.markDeleted(extName)

	// Konnect is down: the finalizer stays, and the retry is backed off.
	f.api.Fail(konnecttest.OpDeleteCertificate, konnecttest.Transient("deleting data-plane certificate"))
	res := f.sync(extName)
	if res.Transient == nil {
		t.Error("a failed delete was not retried")
	}
	if !slices.Contains(f.get(extName).Finalizers, konnectv1alpha2.KonnectCleanupFinalizer) {
		t.Fatal("finalizer removed while the certificate is still in Konnect")
	}

	f.sync(extName)
	if got := f.api.Certificates(f.cpID); len(got) != 0 {
		t.Errorf("Konnect still holds %d certificates", len(got))
	}
	if slices.Contains(f.get(extName).Finalizers, konnectv1alpha2.KonnectCleanupFinalizer) {
		t.Error("finalizer kept after the certificate was removed")
	}
}

func TestDeletionOfAlreadyRemovedCertificate(t *testing.T) {
	f := newFixture(t, fixtureOptions{extensions: []*konnectv1alpha2.KonnectExtension{automaticExtension(extName)}})
	f.sync(extName)
	id := parseRegistration(f.get(extName).Annotations[CertificateAnnotation]).certificateID
	if err := f.api.DeleteDataPlaneCertificate(f.ctx, konnect.Auth{Token: token, ServerURL: serverURL}, f.cpID, id); err != nil {
		t.Fatal(err)
	}
	f.markDeleted(extName)
	f.sync(extName)
	if slices.Contains(f.get(extName).Finalizers, konnectv1alpha2.KonnectCleanupFinalizer) {
		t.Error("a 404 did not count as done")
	}
}

func TestGeneratedSecretName(t *testing.T) {
	long := strings.Repeat("a", 253)
	for _, name := range []string{"x", strings.Repeat("b", 242), strings.Repeat("b", 243), long} {
		got := generatedSecretName(name)
		if len(got) > 253 || !strings.HasSuffix(got, "-client-tls") {
			t.Errorf("generatedSecretName(%d chars) = %q (%d chars)", len(name), got, len(got))
		}
		if got != generatedSecretName(name) {
			t.Error("not deterministic")
		}
	}
	if generatedSecretName(long) == generatedSecretName(long[:252]+"c") {
		t.Error("two long names share a Secret")
	}
}

func TestGarbageSecretsDoNotPanic(t *testing.T) {
	ca, err := newCA(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	for _, data := range []map[string][]byte{
		nil, {}, {"tls.crt": nil}, {"tls.crt": []byte("\x00\xff")}, {"tls.crt": ca.certPEM},
		{"tls.crt": ca.certPEM, "tls.key": []byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")},
		{"tls.crt": ca.certPEM, "tls.key": ca.keyPEM, "ca.crt": []byte("x")},
	} {
		if why, _ := clientCertificateProblem(data, ca, "x.y", time.Now()); why == "" {
			t.Errorf("%v accepted", data)
		}
	}
}

// A certificate that changed (a replaced Manual Secret, a renewal) while Konnect is down is not
// registered: the extension must not stay Ready on the strength of the old certificate's
// registration, since a data plane using the Secret now presents the new one. Whether Konnect
// holds the new one is not known while it cannot be asked: Ready is Unknown (a transient fault
// never turns True into False).
func TestChangedCertificateWhileKonnectDownIsNotReady(t *testing.T) {
	f := newFixture(t, fixtureOptions{extensions: []*konnectv1alpha2.KonnectExtension{manualExtension(extName, "konnect-client-tls")},
		secrets: []*corev1.Secret{userSecret(t, "konnect-client-tls", true)}})
	f.sync(extName)
	f.wantCondition(extName, konnectv1alpha2.ConditionReady, metav1.ConditionTrue, konnectv1alpha2.ReasonReady, "")

	replacement := f.replaceCertificate("konnect-client-tls")
	f.api.Fail(konnecttest.OpListCertificates, konnecttest.Transient("listing data-plane certificates"))
	if res := f.sync(extName); res.Transient == nil {
		t.Fatal("no Konnect failure reported")
	}
	f.wantCondition(extName, konnectv1alpha2.ConditionDataPlaneCertificateProvisioned, metav1.ConditionUnknown, konnectv1alpha2.ReasonKonnectAPIOpFailed, "503")
	f.wantCondition(extName, konnectv1alpha2.ConditionReady, metav1.ConditionUnknown, konnectv1alpha2.ReasonPending, "")

	// Konnect back: the new certificate is registered, the old one removed, Ready again.
	f.sync(extName)
	f.wantCondition(extName, konnectv1alpha2.ConditionReady, metav1.ConditionTrue, konnectv1alpha2.ReasonReady, "")
	newCert, _ := parseCertificatePEM(replacement.Data[corev1.TLSCertKey])
	if registered := f.api.Certificates(f.cpID); len(registered) != 1 || !sameCertificate(registered[0].Cert, newCert) {
		t.Errorf("Konnect holds %d certificates; want only the new one", len(registered))
	}
}
