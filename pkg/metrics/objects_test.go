package metrics

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"math/big"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"

	corelisters "k8s.io/client-go/listers/core/v1"

	konnectv1alpha1 "github.com/konnect-auth-controller/konnect-auth-controller/pkg/apis/konnect/v1alpha1"
	konnectv1alpha2 "github.com/konnect-auth-controller/konnect-auth-controller/pkg/apis/konnect/v1alpha2"
	listers "github.com/konnect-auth-controller/konnect-auth-controller/pkg/generated/listers/konnect/v1alpha1"
	listersv1alpha2 "github.com/konnect-auth-controller/konnect-auth-controller/pkg/generated/listers/konnect/v1alpha2"
	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/konnect"
	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/konnect/konnecttest"
)

// secretName is the name of the Secret a configuration takes its token from: it must appear
// in no label.
const secretName = "token-secret-name"

func withConditions(conds ...metav1.Condition) []metav1.Condition {
	var out []metav1.Condition
	for _, c := range conds {
		meta.SetStatusCondition(&out, c)
	}
	return out
}

func cond(t string, status metav1.ConditionStatus, reason string) metav1.Condition {
	return metav1.Condition{Type: t, Status: status, Reason: reason, Message: "a message that is not a label"}
}

// certificatePEM returns a self-signed certificate valid until notAfter, in PEM.
func certificatePEM(t *testing.T, notAfter time.Time) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "dp"},
		NotBefore: notAfter.Add(-24 * time.Hour), NotAfter: notAfter}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func indexer(t *testing.T, objs ...any) cache.Indexer {
	t.Helper()
	idx := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{})
	for _, o := range objs {
		if err := idx.Add(o); err != nil {
			t.Fatal(err)
		}
	}
	return idx
}

// TestObjectMetrics: status_condition has one series per object and condition type with value
// 1 and the condition's status and reason, for all three kinds; objects without conditions
// have none; deletions that wait on our finalizer are listed with why and since when, others
// not; each extension's client certificate's expiry is read from its Secret (and follows a
// renewal); and no label holds the token, the Secret's name or its data.
func TestObjectMetrics(t *testing.T) {
	deleted := metav1.NewTime(time.Unix(1_700_000_000, 0))
	cfgs := indexer(t,
		&konnectv1alpha1.KonnectAPIAuthConfiguration{ObjectMeta: metav1.ObjectMeta{Namespace: "kong", Name: "valid"},
			Spec:   konnectv1alpha1.KonnectAPIAuthConfigurationSpec{Type: "token", Token: token},
			Status: konnectv1alpha1.KonnectAPIAuthConfigurationStatus{OrganizationID: "org-1", Conditions: withConditions(cond(konnectv1alpha1.ConditionAPIAuthValid, metav1.ConditionTrue, konnectv1alpha1.ReasonValid))}},
		&konnectv1alpha1.KonnectAPIAuthConfiguration{ObjectMeta: metav1.ObjectMeta{Namespace: "kong", Name: "revoked"},
			Spec:   konnectv1alpha1.KonnectAPIAuthConfigurationSpec{Type: "secretRef", SecretRef: &konnectv1alpha1.SecretReference{Name: secretName}},
			Status: konnectv1alpha1.KonnectAPIAuthConfigurationStatus{Conditions: withConditions(cond(konnectv1alpha1.ConditionAPIAuthValid, metav1.ConditionFalse, konnectv1alpha1.ReasonInvalid))}},
		&konnectv1alpha1.KonnectAPIAuthConfiguration{ObjectMeta: metav1.ObjectMeta{Namespace: "kong", Name: "new"}},
		&konnectv1alpha1.KonnectAPIAuthConfiguration{ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "in-use",
			DeletionTimestamp: &deleted, Finalizers: []string{konnectv1alpha2.APIAuthInUseFinalizer}},
			Status: konnectv1alpha1.KonnectAPIAuthConfigurationStatus{Conditions: withConditions(cond(konnectv1alpha1.ConditionAPIAuthValid, metav1.ConditionTrue, konnectv1alpha1.ReasonValid))}},
		// Someone else's finalizer: not a deletion the controller holds.
		&konnectv1alpha1.KonnectAPIAuthConfiguration{ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "foreign",
			DeletionTimestamp: &deleted, Finalizers: []string{"example.com/other"}}},
	)
	planes := indexer(t,
		&konnectv1alpha2.KonnectGatewayControlPlane{ObjectMeta: metav1.ObjectMeta{Namespace: "kong", Name: "cp"},
			Status: konnectv1alpha2.KonnectGatewayControlPlaneStatus{Conditions: withConditions(
				cond(konnectv1alpha2.ConditionAPIAuthResolvedRef, metav1.ConditionTrue, konnectv1alpha2.ReasonResolvedRef),
				cond(konnectv1alpha2.ConditionAPIAuthValid, metav1.ConditionTrue, konnectv1alpha2.ReasonValid),
				cond(konnectv1alpha2.ConditionProgrammed, metav1.ConditionTrue, konnectv1alpha2.ReasonProgrammed))}},
		&konnectv1alpha2.KonnectGatewayControlPlane{ObjectMeta: metav1.ObjectMeta{Namespace: "kong", Name: "stuck",
			DeletionTimestamp: &deleted, Finalizers: []string{konnectv1alpha2.KonnectCleanupFinalizer}},
			Status: konnectv1alpha2.KonnectGatewayControlPlaneStatus{Conditions: withConditions(
				cond(konnectv1alpha2.ConditionAPIAuthValid, metav1.ConditionFalse, konnectv1alpha2.ReasonInvalid),
				cond(konnectv1alpha2.ConditionProgrammed, metav1.ConditionFalse, konnectv1alpha2.ReasonConditionWithStatusFalseExists))}},
		&konnectv1alpha2.KonnectGatewayControlPlane{ObjectMeta: metav1.ObjectMeta{Namespace: "kong", Name: "going",
			DeletionTimestamp: &deleted, Finalizers: []string{konnectv1alpha2.KonnectCleanupFinalizer}},
			Status: konnectv1alpha2.KonnectGatewayControlPlaneStatus{Conditions: withConditions(
				cond(konnectv1alpha2.ConditionProgrammed, metav1.ConditionTrue, konnectv1alpha2.ReasonProgrammed))}},
	)
	notAfter := time.Unix(1_800_000_000, 0)
	certPEM := certificatePEM(t, notAfter)
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "kong", Name: "dp-client-tls", ResourceVersion: "1"},
		Data: map[string][]byte{corev1.TLSCertKey: certPEM, corev1.TLSPrivateKeyKey: []byte("-----BEGIN PRIVATE KEY-----\nS3CR3TKEYDATA\n-----END PRIVATE KEY-----\n")}}
	broken := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "kong", Name: "broken-tls", ResourceVersion: "1"},
		Data: map[string][]byte{corev1.TLSCertKey: []byte("not a certificate")}}
	secrets := indexer(t, secret, broken)
	withSecret := func(name string) *konnectv1alpha2.DataPlaneClientAuthStatus {
		return &konnectv1alpha2.DataPlaneClientAuthStatus{CertificateSecretRef: &konnectv1alpha2.SecretRef{Name: name}}
	}
	exts := indexer(t,
		&konnectv1alpha2.KonnectExtension{ObjectMeta: metav1.ObjectMeta{Namespace: "kong", Name: "dp"},
			Status: konnectv1alpha2.KonnectExtensionStatus{DataPlaneClientAuth: withSecret("dp-client-tls"), Conditions: withConditions(
				cond(konnectv1alpha2.ConditionDataPlaneCertificateProvisioned, metav1.ConditionTrue, konnectv1alpha2.ReasonProvisioned),
				cond(konnectv1alpha2.ConditionReady, metav1.ConditionTrue, konnectv1alpha2.ReasonReady))}},
		&konnectv1alpha2.KonnectExtension{ObjectMeta: metav1.ObjectMeta{Namespace: "kong", Name: "waiting"},
			Status: konnectv1alpha2.KonnectExtensionStatus{Conditions: withConditions(
				cond(konnectv1alpha2.ConditionControlPlaneRefValid, metav1.ConditionFalse, konnectv1alpha2.ReasonNotProgrammed),
				cond(konnectv1alpha2.ConditionReady, metav1.ConditionFalse, konnectv1alpha2.ReasonPending))}},
		// Names a Secret that is missing, and one that holds no certificate: no expiry series.
		&konnectv1alpha2.KonnectExtension{ObjectMeta: metav1.ObjectMeta{Namespace: "kong", Name: "gone-secret"},
			Status: konnectv1alpha2.KonnectExtensionStatus{DataPlaneClientAuth: withSecret("missing-tls")}},
		&konnectv1alpha2.KonnectExtension{ObjectMeta: metav1.ObjectMeta{Namespace: "kong", Name: "broken-secret",
			DeletionTimestamp: &deleted, Finalizers: []string{konnectv1alpha2.KonnectCleanupFinalizer}},
			Status: konnectv1alpha2.KonnectExtensionStatus{DataPlaneClientAuth: withSecret("broken-tls")}},
	)

	m := New("v1.2.3")
	m.RegisterObjects(Objects{
		AuthConfigurations: listers.NewKonnectAPIAuthConfigurationLister(cfgs),
		ControlPlanes:      listersv1alpha2.NewKonnectGatewayControlPlaneLister(planes),
		Extensions:         listersv1alpha2.NewKonnectExtensionLister(exts),
		CertificateSecrets: corelisters.NewSecretLister(secrets),
	})
	out := scrape(t, m)
	const sc = "konnect_auth_controller_status_condition"
	const dw = "konnect_auth_controller_deletion_waiting_timestamp_seconds"
	const ce = "konnect_auth_controller_client_certificate_expiration_timestamp_seconds"
	want := []string{
		sc + `{kind="KonnectAPIAuthConfiguration",name="valid",namespace="kong",reason="Valid",status="True",type="APIAuthValid"} 1`,
		sc + `{kind="KonnectAPIAuthConfiguration",name="revoked",namespace="kong",reason="Invalid",status="False",type="APIAuthValid"} 1`,
		sc + `{kind="KonnectAPIAuthConfiguration",name="in-use",namespace="team-a",reason="Valid",status="True",type="APIAuthValid"} 1`,
		sc + `{kind="KonnectGatewayControlPlane",name="cp",namespace="kong",reason="ResolvedRef",status="True",type="APIAuthResolvedRef"} 1`,
		sc + `{kind="KonnectGatewayControlPlane",name="cp",namespace="kong",reason="Programmed",status="True",type="Programmed"} 1`,
		sc + `{kind="KonnectGatewayControlPlane",name="stuck",namespace="kong",reason="ConditionWithStatusFalseExists",status="False",type="Programmed"} 1`,
		sc + `{kind="KonnectExtension",name="dp",namespace="kong",reason="Ready",status="True",type="Ready"} 1`,
		sc + `{kind="KonnectExtension",name="waiting",namespace="kong",reason="NotProgrammed",status="False",type="ControlPlaneRefValid"} 1`,
		sc + `{kind="KonnectExtension",name="waiting",namespace="kong",reason="Pending",status="False",type="Ready"} 1`,
		dw + `{kind="KonnectAPIAuthConfiguration",name="in-use",namespace="team-a",reason="InUse"} 1.7e+09`,
		dw + `{kind="KonnectGatewayControlPlane",name="stuck",namespace="kong",reason="ConditionWithStatusFalseExists"} 1.7e+09`,
		dw + `{kind="KonnectGatewayControlPlane",name="going",namespace="kong",reason="Deleting"} 1.7e+09`,
		dw + `{kind="KonnectExtension",name="broken-secret",namespace="kong",reason="Deleting"} 1.7e+09`,
		ce + `{name="dp",namespace="kong"} 1.8e+09`,
	}
	for _, w := range want {
		if !strings.Contains(out, w) {
			t.Errorf("metrics lack %s", w)
		}
	}
	// One series per object and condition type: 3 configurations with a condition, 3 + 2 + 1
	// control-plane conditions, 2 + 2 extension conditions.
	if n := strings.Count(out, "\n"+sc+"{"); n != 13 {
		t.Errorf("%d status_condition series, want 13:\n%s", n, grep(out, sc+"{"))
	}
	if n := strings.Count(out, "\n"+dw+"{"); n != 4 {
		t.Errorf("%d deletion_waiting series, want 4:\n%s", n, grep(out, dw+"{"))
	}
	if n := strings.Count(out, "\n"+ce+"{"); n != 1 {
		t.Errorf("%d certificate expiry series, want 1:\n%s", n, grep(out, ce+"{"))
	}
	for _, absent := range []string{`name="new"`, `name="foreign"`, `name="gone-secret"`} {
		if strings.Contains(out, absent) {
			t.Errorf("metrics mention %s:\n%s", absent, grep(out, absent))
		}
	}
	checkNoSecrets(t, out, token, secretName, "dp-client-tls", "S3CR3TKEYDATA", "a message that is not a label",
		base64.StdEncoding.EncodeToString(certPEM)[:40], string(certPEM[28:60]))

	// A renewal (a new resourceVersion with a new certificate) moves the expiry at the next
	// scrape; a deleted object's series are gone.
	renewed := secret.DeepCopy()
	renewed.ResourceVersion = "2"
	renewed.Data[corev1.TLSCertKey] = certificatePEM(t, time.Unix(1_900_000_000, 0))
	if err := secrets.Update(renewed); err != nil {
		t.Fatal(err)
	}
	revoked, _, _ := cfgs.GetByKey("kong/revoked")
	if err := cfgs.Delete(revoked); err != nil {
		t.Fatal(err)
	}
	out = scrape(t, m)
	if w := ce + `{name="dp",namespace="kong"} 1.9e+09`; !strings.Contains(out, w) {
		t.Errorf("after the renewal metrics lack %s:\n%s", w, grep(out, ce))
	}
	if strings.Contains(out, `name="revoked"`) {
		t.Errorf("a deleted configuration still has series:\n%s", grep(out, `name="revoked"`))
	}
}

// TestObjectMetricsWithoutConnect: with only the auth configurations' lister (the API server
// serves no control planes or extensions) the collector still works.
func TestObjectMetricsWithoutConnect(t *testing.T) {
	m := New("v1.2.3")
	m.RegisterObjects(Objects{AuthConfigurations: listers.NewKonnectAPIAuthConfigurationLister(indexer(t,
		&konnectv1alpha1.KonnectAPIAuthConfiguration{ObjectMeta: metav1.ObjectMeta{Namespace: "kong", Name: "a"},
			Status: konnectv1alpha1.KonnectAPIAuthConfigurationStatus{Conditions: withConditions(cond(konnectv1alpha1.ConditionAPIAuthValid, metav1.ConditionUnknown, konnectv1alpha1.ReasonKonnectUnavailable))}}))})
	out := scrape(t, m)
	if w := `konnect_auth_controller_status_condition{kind="KonnectAPIAuthConfiguration",name="a",namespace="kong",reason="KonnectUnavailable",status="Unknown",type="APIAuthValid"} 1`; !strings.Contains(out, w) {
		t.Errorf("metrics lack %s", w)
	}
}

// TestResponsesByClassAndOrganization: every answer from Konnect, token check or control-plane
// call, is counted once under its class and under the organization of its token (learnt from a
// valid check; kept when the token is later refused; "unknown" for a token never accepted),
// with its latency by class; no label holds a token or its hash.
func TestResponsesByClassAndOrganization(t *testing.T) {
	m := New("v1.2.3")
	const server = "https://us.api.konghq.com"
	const stranger = "kpat_STRANGERstrangerSTRANGER0123456789ab"
	answers := map[string][]konnect.Result{
		token: {
			{Verdict: konnect.VerdictValid, OrganizationID: "org-1", StatusCode: 200},
			{Verdict: konnect.VerdictUnavailable, StatusCode: 429},
			{Verdict: konnect.VerdictUnavailable, StatusCode: 503},
			{Verdict: konnect.VerdictUnavailable},
			{Verdict: konnect.VerdictInvalid, StatusCode: 401}, // revoked: still org-1's token
		},
		stranger: {
			{Verdict: konnect.VerdictForbidden, StatusCode: 403},
			{Verdict: konnect.VerdictInvalidResponse, StatusCode: 200},
		},
	}
	validator := m.InstrumentValidator(konnect.ValidatorFunc(func(_ context.Context, tok, _ string) konnect.Result {
		r := answers[tok][0]
		answers[tok] = answers[tok][1:]
		return r
	}))
	for range 5 {
		validator.Validate(context.Background(), token, server)
	}
	for range 2 {
		validator.Validate(context.Background(), stranger, server)
	}

	fake := konnecttest.New()
	api := m.InstrumentControlPlaneAPI(fake)
	auth := konnect.Auth{Token: token, ServerURL: server}
	ctx := context.Background()
	if _, err := api.CreateControlPlane(ctx, auth, konnect.ControlPlaneSpec{Name: "cp"}); err != nil {
		t.Fatal(err)
	}
	fake.Fail(konnecttest.OpListControlPlanes,
		&konnect.APIError{Op: "listing", Kind: konnect.ErrorUnauthorized, StatusCode: 403},
		&konnect.APIError{Op: "listing", Kind: konnect.ErrorUnauthorized, StatusCode: 401},
		&konnect.APIError{Op: "listing", Kind: konnect.ErrorTransient, StatusCode: 429},
		&konnect.APIError{Op: "listing", Kind: konnect.ErrorConflict, StatusCode: 409},
		context.DeadlineExceeded)
	for range 5 {
		_, _ = api.ListControlPlanes(ctx, auth, konnect.ControlPlaneFilter{})
	}
	if _, err := api.GetControlPlane(ctx, konnect.Auth{Token: stranger, ServerURL: server}, "00000000-0000-4000-8000-999999999999"); !konnect.IsNotFound(err) {
		t.Fatalf("get: %v, want not found", err)
	}

	out := scrape(t, m)
	const r = "konnect_auth_controller_konnect_responses_total"
	for _, want := range []string{
		r + `{class="ok",organization="org-1"} 2`,
		r + `{class="rate_limited",organization="org-1"} 2`,
		r + `{class="transient",organization="org-1"} 3`,
		r + `{class="unauthorized",organization="org-1"} 2`,
		r + `{class="forbidden",organization="org-1"} 1`,
		r + `{class="rejected",organization="org-1"} 1`,
		r + `{class="forbidden",organization="unknown"} 1`,
		r + `{class="rejected",organization="unknown"} 2`,
		`konnect_auth_controller_konnect_response_duration_seconds_count{class="ok"} 2`,
		`konnect_auth_controller_konnect_response_duration_seconds_count{class="rate_limited"} 2`,
		`konnect_auth_controller_konnect_response_duration_seconds_count{class="rejected"} 3`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("metrics lack %s:\n%s", want, grep(out, r))
		}
	}
	checkNoSecrets(t, out, token, stranger, konnect.Hashed(token, server), konnect.Hashed(stranger, server))
}

// TestOrganizationsBounded: the memory of tokens' organizations never holds more than its
// bound, and a token learnt last is remembered.
func TestOrganizationsBounded(t *testing.T) {
	o := newOrganizations()
	for i := range maxOrganizations + 50 {
		o.learn(fmt.Sprintf("kpat_%040d", i), "https://us.api.konghq.com", "org")
	}
	if n := len(o.byToken); n > maxOrganizations {
		t.Errorf("%d organizations remembered, bound %d", n, maxOrganizations)
	}
	o.learn(token, "https://us.api.konghq.com", "org-last")
	if got := o.of(token, "https://us.api.konghq.com"); got != "org-last" {
		t.Errorf("of(last token) = %q", got)
	}
	if got := o.of(token, "https://eu.api.konghq.com"); got != unknownOrganization {
		t.Errorf("of(token on another server) = %q, want %q", got, unknownOrganization)
	}
}

// TestCountEvents: renewals and failed renewals are counted from the Events the reconcilers
// record, which still reach the recorder underneath; other Events are not counted.
func TestCountEvents(t *testing.T) {
	m := New("v1.2.3")
	fake := record.NewFakeRecorder(10)
	rec := m.CountEvents(fake)
	ext := &konnectv1alpha2.KonnectExtension{ObjectMeta: metav1.ObjectMeta{Namespace: "kong", Name: "dp"}}
	rec.Eventf(ext, corev1.EventTypeNormal, EventCertificateRenewed, "Renewed the certificate in Secret %s: %s", "dp-client-tls", "due")
	rec.Event(ext, corev1.EventTypeNormal, EventCertificateRenewed, "Renewed")
	rec.AnnotatedEventf(ext, nil, corev1.EventTypeWarning, EventCertificateRenewalFailed, "Renewing failed (%s)", "Forbidden")
	rec.Event(ext, corev1.EventTypeNormal, "CertificateRegistered", "Registered")
	if n := len(fake.Events); n != 4 {
		t.Errorf("the recorder underneath got %d Events, want 4", n)
	}
	out := scrape(t, m)
	for _, want := range []string{
		"konnect_auth_controller_client_certificate_renewals_total 2",
		"konnect_auth_controller_client_certificate_renewal_failures_total 1",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

// grep returns the lines of text that contain s.
func grep(text, s string) string {
	var lines []string
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, s) {
			lines = append(lines, l)
		}
	}
	return strings.Join(lines, "\n")
}

// checkNoSecrets fails if any of secrets appears in the metrics text.
func checkNoSecrets(t *testing.T, text string, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		if strings.Contains(text, s) {
			t.Errorf("metrics contain %q:\n%s", s, grep(text, s))
		}
	}
	if strings.Contains(text, "kpat_") {
		t.Errorf("metrics contain a token prefix:\n%s", grep(text, "kpat_"))
	}
}
