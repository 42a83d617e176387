package soak

// Every check of the oracle is shown to pass on a healthy world and to fail on a world that
// breaks its invariant: a check that cannot fail is a defect.

import (
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	configurationv1alpha1 "github.com/konnect-auth-controller/konnect-auth-controller/pkg/apis/configuration/v1alpha1"
	konnectv1alpha1 "github.com/konnect-auth-controller/konnect-auth-controller/pkg/apis/konnect/v1alpha1"
	konnectv1alpha2 "github.com/konnect-auth-controller/konnect-auth-controller/pkg/apis/konnect/v1alpha2"
	"github.com/konnect-auth-controller/konnect-auth-controller/test/fakekonnect"
)

var (
	orgA, orgB = orgIDs[0], orgIDs[1]
	testToken  = "kpat_" + strings.Repeat("a1", 20)
	otherToken = "kpat_" + strings.Repeat("b2", 20)
)

func newCert(t *testing.T, cn string) string {
	t.Helper()
	certPEM, _, _, err := fakekonnect.ClientCertificate(cn)
	if err != nil {
		t.Fatal(err)
	}
	return string(certPEM)
}

func cond(typ string, status metav1.ConditionStatus) metav1.Condition {
	return metav1.Condition{Type: typ, Status: status, Reason: "Test"}
}

// healthyWorld is one namespace "a" with a token Secret, a secretRef configuration, an Origin
// control plane programmed in Konnect (organization A, region us) and a Manual extension whose
// certificate is registered there; plus a second certificate PEM for the tests to use.
func healthyWorld(t *testing.T) (*Snapshot, string) {
	t.Helper()
	cert, other := newCert(t, "ext.a"), newCert(t, "other.a")
	v := newView()
	v.Namespaces["a"] = &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "a"}}
	v.Secrets["a/token"] = &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "token", Namespace: "a", Finalizers: []string{finalizerSecret},
		Labels: map[string]string{konnectv1alpha1.SecretCredentialLabel: konnectv1alpha1.SecretCredentialLabelValue}},
		Data: map[string][]byte{"token": []byte(testToken + "\n")}}
	v.Secrets["a/dp"] = &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "dp", Namespace: "a",
		Labels: map[string]string{konnectv1alpha2.DataPlaneCertificateLabel: "true"}},
		Data: map[string][]byte{corev1.TLSCertKey: []byte(cert)}}
	v.Configs["a/auth"] = &konnectv1alpha1.KonnectAPIAuthConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: "auth", Namespace: "a", UID: "cfg-uid", Finalizers: []string{finalizerAuthInUse}},
		Spec: konnectv1alpha1.KonnectAPIAuthConfigurationSpec{Type: konnectv1alpha1.KonnectAPIAuthTypeSecretRef,
			SecretRef: &konnectv1alpha1.SecretReference{Name: "token"}, ServerURL: "us.api.konghq.com"},
		Status: konnectv1alpha1.KonnectAPIAuthConfigurationStatus{OrganizationID: orgA,
			Conditions: []metav1.Condition{cond(konnectv1alpha1.ConditionAPIAuthValid, metav1.ConditionTrue)}},
	}
	v.Planes["a/cp"] = &konnectv1alpha2.KonnectGatewayControlPlane{
		ObjectMeta: metav1.ObjectMeta{Name: "cp", Namespace: "a", UID: "uid-1", Finalizers: []string{finalizerCleanup}},
		Spec: konnectv1alpha2.KonnectGatewayControlPlaneSpec{
			Source:                    ptr.To(konnectv1alpha2.EntitySourceOrigin),
			CreateControlPlaneRequest: &konnectv1alpha2.CreateControlPlaneRequest{Name: ptr.To("n1")},
			KonnectConfiguration:      konnectv1alpha2.KonnectConfiguration{APIAuthConfigurationRef: konnectv1alpha2.KonnectAPIAuthConfigurationRef{Name: "auth"}},
		},
		Status: konnectv1alpha2.KonnectGatewayControlPlaneStatus{KonnectEntityStatus: konnectv1alpha2.KonnectEntityStatus{ID: "cp-1"},
			Conditions: []metav1.Condition{cond(konnectv1alpha2.ConditionProgrammed, metav1.ConditionTrue)}},
	}
	v.Exts["a/ext"] = &konnectv1alpha2.KonnectExtension{
		ObjectMeta: metav1.ObjectMeta{Name: "ext", Namespace: "a", UID: "ext-uid", Finalizers: []string{finalizerCleanup},
			Annotations: map[string]string{annotationDPCert: "cp-1/c1/x"}},
		Spec: konnectv1alpha2.KonnectExtensionSpec{
			Konnect: konnectv1alpha2.KonnectExtensionKonnectSpec{ControlPlane: konnectv1alpha2.KonnectExtensionControlPlane{Ref: konnectv1alpha2.ControlPlaneRef{
				Type: konnectv1alpha2.ControlPlaneRefKonnectNamespacedRef, KonnectNamespacedRef: &konnectv1alpha2.KonnectNamespacedRef{Name: "cp"}}}},
			ClientAuth: &konnectv1alpha2.KonnectExtensionClientAuth{CertificateSecret: konnectv1alpha2.CertificateSecret{
				Provisioning: ptr.To(konnectv1alpha2.ProvisioningManual), CertificateSecretRef: &konnectv1alpha2.SecretRef{Name: "dp"}}},
		},
		Status: konnectv1alpha2.KonnectExtensionStatus{Conditions: []metav1.Condition{cond(konnectv1alpha2.ConditionReady, metav1.ConditionTrue)},
			Konnect: &konnectv1alpha2.KonnectExtensionControlPlaneStatus{ControlPlaneID: "cp-1", AuthRef: &konnectv1alpha2.NamespacedRef{Name: "auth", Namespace: ptr.To("a")}}},
	}
	v.Tokens[fakekonnect.TokenHash(testToken)] = TokenInfo{Org: orgA, Registered: true}
	v.Tokens[fakekonnect.TokenHash(otherToken)] = TokenInfo{Org: orgB, Registered: true}
	v.Konnect = []fakekonnect.ControlPlaneEntry{{OrgID: orgA, Region: "us",
		ControlPlane: fakekonnect.ControlPlane{ID: "cp-1", Name: "n1", Labels: map[string]string{labelManagedBy: managedByValue, labelUIDKey: "uid-1"}},
		Certificates: []fakekonnect.DataPlaneCertificate{{ID: "c1", Cert: cert}}}}
	return &Snapshot{View: v, Issued: []string{testToken, otherToken}, StuckBefore: time.Now(), Logs: map[string][]byte{"replica-0": []byte("I0101 all good\n")}}, other
}

func TestOracleHealthyWorldPasses(t *testing.T) {
	s, _ := healthyWorld(t)
	r := Check(s)
	if len(r.Violations) != 0 {
		t.Fatalf("violations on a healthy world: %+v", r.Violations)
	}
	if r.ControlPlanes != 1 || r.Certificates != 1 {
		t.Errorf("counted %d control planes and %d certificates, want 1 and 1", r.ControlPlanes, r.Certificates)
	}
	if !r.converged() {
		t.Error("a healthy world is not converged")
	}
}

// crossNamespacePlane moves the control plane of the healthy world (and no extension) into
// namespace "b", its authRef still naming the configuration in "a", and returns it.
func crossNamespacePlane(s *Snapshot) *konnectv1alpha2.KonnectGatewayControlPlane {
	p := s.Planes["a/cp"]
	delete(s.Planes, "a/cp")
	p.Namespace = "b"
	p.Spec.KonnectConfiguration.APIAuthConfigurationRef.Namespace = ptr.To("a")
	s.Planes["b/cp"] = p
	delete(s.Exts, "a/ext")
	s.Konnect[0].Certificates = nil
	s.Namespaces["b"] = &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "b"}}
	return p
}

// TestOracleCatches breaks one invariant at a time and expects its check to fail.
func TestOracleCatches(t *testing.T) {
	old := metav1.NewTime(time.Now().Add(-time.Hour))
	cases := []struct {
		name   string
		check  string
		detail string // a part of the violation's detail
		break_ func(s *Snapshot, otherCert string)
	}{
		{"a control plane no object owns", checkLeaked, "no KonnectGatewayControlPlane with UID", func(s *Snapshot, _ string) {
			s.Konnect = append(s.Konnect, fakekonnect.ControlPlaneEntry{OrgID: orgA, Region: "us",
				ControlPlane: fakekonnect.ControlPlane{ID: "cp-9", Name: "n9", Labels: map[string]string{labelManagedBy: managedByValue, labelUIDKey: "uid-9"}}})
		}},
		{"managed-by without a k8s-uid", checkLeaked, "without a k8s-uid", func(s *Snapshot, _ string) {
			s.Konnect = append(s.Konnect, fakekonnect.ControlPlaneEntry{OrgID: orgA, Region: "us",
				ControlPlane: fakekonnect.ControlPlane{ID: "cp-9", Name: "n9", Labels: map[string]string{labelManagedBy: managedByValue}}})
		}},
		{"the control plane in the wrong organization", checkLeaked, "credentials are of organization", func(s *Snapshot, _ string) {
			s.Konnect[0].OrgID = orgB
		}},
		{"a Mirror that created a control plane", checkLeaked, "a Mirror", func(s *Snapshot, _ string) {
			p := s.Planes["a/cp"]
			p.Spec.Source = ptr.To(konnectv1alpha2.EntitySourceMirror)
			p.Spec.Mirror = &konnectv1alpha2.MirrorSpec{Konnect: konnectv1alpha2.MirrorKonnect{ID: "cp-1"}}
		}},
		{"two control planes for one object", checkDuplicate, "has 2 control planes", func(s *Snapshot, _ string) {
			dup := s.Konnect[0]
			dup.ControlPlane.ID, dup.ControlPlane.Name, dup.Certificates = "cp-2", "n1-again", nil
			s.Konnect = append(s.Konnect, dup)
		}},
		{"no control plane for a healthy object", checkMissing, "has no control plane in Konnect", func(s *Snapshot, _ string) {
			s.Konnect = nil
		}},
		{"status.id names another", checkMissing, "status.id is", func(s *Snapshot, _ string) {
			s.Planes["a/cp"].Status.ID = "cp-0"
		}},
		{"a healthy object not Programmed", checkMissing, "Programmed is", func(s *Snapshot, _ string) {
			s.Planes["a/cp"].Status.Conditions = []metav1.Condition{cond(konnectv1alpha2.ConditionProgrammed, metav1.ConditionFalse)}
		}},
		{"a valid token not Valid", checkMissing, "APIAuthValid is", func(s *Snapshot, _ string) {
			s.Configs["a/auth"].Status.Conditions = []metav1.Condition{cond(konnectv1alpha1.ConditionAPIAuthValid, metav1.ConditionUnknown)}
		}},
		{"a certificate no extension provides", checkLeaked, "current certificate of no live extension", func(s *Snapshot, other string) {
			s.Konnect[0].Certificates = append(s.Konnect[0].Certificates, fakekonnect.DataPlaneCertificate{ID: "c2", Cert: other})
		}},
		{"a replaced certificate left behind", checkLeaked, "current certificate of no live extension", func(s *Snapshot, other string) {
			s.Secrets["a/dp"].Data[corev1.TLSCertKey] = []byte(other)
			s.Konnect[0].Certificates = append(s.Konnect[0].Certificates, fakekonnect.DataPlaneCertificate{ID: "c2", Cert: other})
		}},
		{"a certificate of a deleted extension", checkLeaked, "current certificate of no live extension", func(s *Snapshot, _ string) {
			delete(s.Exts, "a/ext")
		}},
		{"one certificate twice", checkDuplicate, "registered twice", func(s *Snapshot, _ string) {
			c := s.Konnect[0].Certificates[0]
			c.ID = "c1-again"
			s.Konnect[0].Certificates = append(s.Konnect[0].Certificates, c)
		}},
		{"a healthy extension's certificate not registered", checkMissing, "is not registered", func(s *Snapshot, _ string) {
			s.Konnect[0].Certificates = nil
		}},
		{"a healthy extension not Ready", checkMissing, "Ready is", func(s *Snapshot, _ string) {
			s.Exts["a/ext"].Status.Conditions = nil
		}},
		{"two successful creates for one UID", checkDuplicate, "successful create #2", func(s *Snapshot, _ string) {
			now := time.Now()
			s.Writes = []konnectWrite{
				{At: now.Add(-time.Minute), Method: "POST", Path: "/v2/control-planes", Status: 201, UID: "uid-1"},
				{At: now, Method: "POST", Path: "/v2/control-planes", Status: 201, UID: "uid-1"},
			}
		}},
		{"a create while one existed", checkDuplicate, "existed when it was sent", func(s *Snapshot, _ string) {
			s.Writes = []konnectWrite{{At: time.Now(), Method: "POST", Path: "/v2/control-planes", Status: 201, UID: "uid-1", Existing: []string{"cp-1"}}}
		}},
		{"a control plane stuck Terminating", checkStuck, "Terminating since", func(s *Snapshot, _ string) {
			s.Planes["a/cp"].DeletionTimestamp = &old
		}},
		{"an extension stuck Terminating", checkStuck, "Terminating since", func(s *Snapshot, _ string) {
			s.Exts["a/ext"].DeletionTimestamp = &old
		}},
		{"a configuration stuck with nothing using it", checkStuck, "konnectapiauth-in-use", func(s *Snapshot, _ string) {
			delete(s.Planes, "a/cp")
			delete(s.Exts, "a/ext")
			s.Konnect = nil
			s.Configs["a/auth"].DeletionTimestamp = &old
		}},
		{"a configuration held across namespaces without a grant", checkStuck, "konnectapiauth-in-use", func(s *Snapshot, _ string) {
			// A control plane that never made anything in Konnect owes no clean-up.
			crossNamespacePlane(s).Finalizers = nil
			s.Configs["a/auth"].DeletionTimestamp = &old
		}},
		{"a configuration held for a registration on a control plane gone from Konnect", checkStuck, "konnectapiauth-in-use", func(s *Snapshot, _ string) {
			delete(s.Planes, "a/cp")
			s.Konnect = nil
			s.Configs["a/auth"].DeletionTimestamp = &old
		}},
		{"a token Secret stuck", checkStuck, "secret-in-use", func(s *Snapshot, _ string) {
			s.Configs["a/auth"].Spec.SecretRef.Name = "elsewhere"
			s.Secrets["a/token"].DeletionTimestamp = &old
		}},
		{"a namespace stuck Terminating", checkStuck, "left in it", func(s *Snapshot, _ string) {
			s.Namespaces["a"].DeletionTimestamp = &old
		}},
		{"a condition turned False by nothing", checkFalseFlip, "turned True→False", func(s *Snapshot, _ string) {
			s.Flips = []flip{{At: time.Now(), Kind: "KonnectAPIAuthConfiguration", Namespace: "a", Name: "auth", Type: "APIAuthValid", Legit: false}}
		}},
		{"a token in a log", checkTokenLeaks, "token(s) in the log", func(s *Snapshot, _ string) {
			s.Logs["replica-1"] = []byte(`I0101 "calling Konnect" header="Bearer ` + otherToken + `"`)
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, other := healthyWorld(t)
			tc.break_(s, other)
			r := Check(s)
			if r.Count(tc.check) == 0 {
				t.Fatalf("no %s violation; got %+v", tc.check, r.Violations)
			}
			found := false
			for _, v := range r.Violations {
				found = found || (v.Check == tc.check && strings.Contains(v.Detail, tc.detail))
			}
			if !found {
				t.Errorf("no %s violation says %q; got %+v", tc.check, tc.detail, r.Violations)
			}
		})
	}
}

// TestOracleAccepts: what the controller may legitimately leave, the oracle accepts (and notes).
func TestOracleAccepts(t *testing.T) {
	old := metav1.NewTime(time.Now().Add(-time.Hour))
	cases := []struct {
		name   string
		change func(s *Snapshot)
		note   string
	}{
		{"a create after an out-of-band deletion", func(s *Snapshot) {
			now := time.Now()
			s.Writes = []konnectWrite{
				{At: now.Add(-time.Minute), Method: "POST", Path: "/v2/control-planes", Status: 201, UID: "uid-1"},
				{At: now, Method: "POST", Path: "/v2/control-planes", Status: 201, UID: "uid-1"},
			}
			s.DirectDeletes = map[string][]time.Time{"uid-1": {now.Add(-30 * time.Second)}}
		}, ""},
		{"failed creates", func(s *Snapshot) {
			s.Writes = []konnectWrite{
				{At: time.Now(), Method: "POST", Path: "/v2/control-planes", Status: 503, UID: "uid-1"},
				{At: time.Now(), Method: "POST", Path: "/v2/control-planes", Status: 409, UID: "uid-1"},
			}
		}, ""},
		{"a configuration in use by a live control plane", func(s *Snapshot) {
			s.Configs["a/auth"].DeletionTimestamp = &old
		}, "is held"},
		{"a Secret in use by a held configuration", func(s *Snapshot) {
			s.Configs["a/auth"].DeletionTimestamp = &old
			s.Secrets["a/token"].DeletionTimestamp = &old
		}, "Secret a/token is held"},
		{"a certificate of an extension that cannot reach Konnect", func(s *Snapshot) {
			s.Tokens[fakekonnect.TokenHash(testToken)] = TokenInfo{Org: orgA, Registered: false}
			s.Configs["a/auth"].Status.Conditions = []metav1.Condition{cond(konnectv1alpha1.ConditionAPIAuthValid, metav1.ConditionFalse)}
		}, "cannot act"},
		{"a legitimate flip", func(s *Snapshot) {
			s.Flips = []flip{{Kind: "KonnectAPIAuthConfiguration", Namespace: "a", Name: "auth", Legit: true}}
		}, ""},
		// A revoked grant stops new use, not the clean-up a control plane owes in Konnect.
		{"a cross-namespace control plane that owes a clean-up, without a grant", func(s *Snapshot) {
			crossNamespacePlane(s)
			s.Configs["a/auth"].DeletionTimestamp = &old
		}, "is held"},
		{"a cross-namespace Secret of a configuration that owes a clean-up, without a grant", func(s *Snapshot) {
			s.Configs["a/auth"].Spec.SecretRef.Namespace = "vault"
			s.Secrets["vault/token"] = s.Secrets["a/token"]
			s.Secrets["vault/token"].Namespace = "vault"
			delete(s.Secrets, "a/token")
			s.Secrets["vault/token"].DeletionTimestamp = &old
		}, "Secret vault/token is held"},
		{"a namespace whose configuration a control plane elsewhere owes a clean-up with", func(s *Snapshot) {
			crossNamespacePlane(s)
			delete(s.Secrets, "a/dp") // no finalizer: gone with the namespace
			s.Configs["a/auth"].DeletionTimestamp = &old
			s.Secrets["a/token"].DeletionTimestamp = &old
			s.Namespaces["a"].DeletionTimestamp = &old
		}, "Namespace a waits for what holds its content"},
		{"a grant that permits a cross-namespace control plane", func(s *Snapshot) {
			crossNamespacePlane(s)
			s.Grants["a"] = []*configurationv1alpha1.KongReferenceGrant{{ObjectMeta: metav1.ObjectMeta{Name: "g", Namespace: "a"},
				Spec: configurationv1alpha1.KongReferenceGrantSpec{
					From: []configurationv1alpha1.ReferenceGrantFrom{{Group: groupKonnect, Kind: "KonnectGatewayControlPlane", Namespace: "b"}},
					To:   []configurationv1alpha1.ReferenceGrantTo{{Group: groupKonnect, Kind: "KonnectAPIAuthConfiguration"}}}}}
			s.Configs["a/auth"].DeletionTimestamp = &old
		}, "is held"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, _ := healthyWorld(t)
			tc.change(s)
			r := Check(s)
			if len(r.Violations) > 0 {
				t.Fatalf("violations: %+v", r.Violations)
			}
			if tc.note != "" && !strings.Contains(strings.Join(r.Notes, "\n"), tc.note) {
				t.Errorf("no note says %q: %v", tc.note, r.Notes)
			}
		})
	}
}

// TestClassifyFlip: a flip is legitimate only when the object is being deleted or its chain is
// broken, now or within the window before; a change that left the chain healthy (a rotation to
// another valid token) does not explain it, nor do faults and kills.
func TestClassifyFlip(t *testing.T) {
	start := time.Now().Add(-10 * time.Minute)
	cases := []struct {
		name      string
		setup     func(s *Snapshot, j *journal, broken map[string]brokenAt)
		wantLegit bool
		why       string
	}{
		{"nothing changed", func(*Snapshot, *journal, map[string]brokenAt) {}, false, "nothing on its chain changed"},
		{"the token was revoked", func(s *Snapshot, _ *journal, _ map[string]brokenAt) {
			s.View.Tokens[fakekonnect.TokenHash(testToken)] = TokenInfo{Org: orgA, Registered: false}
		}, true, "revoked"},
		{"the chain was broken shortly before, and repaired", func(_ *Snapshot, _ *journal, broken map[string]brokenAt) {
			broken["uid-1"] = brokenAt{At: time.Now().Add(-30 * time.Second), Why: "the token was revoked"}
		}, true, "was broken"},
		{"the chain was broken long before", func(_ *Snapshot, _ *journal, broken map[string]brokenAt) {
			broken["uid-1"] = brokenAt{At: time.Now().Add(-5 * time.Minute), Why: "the token was revoked"}
		}, false, "nothing on its chain changed"},
		{"the Secret was rotated to another valid token just before", func(_ *Snapshot, j *journal, _ map[string]brokenAt) {
			j.add(kindOp, []string{keySecret("a", "token")}, "rotate-token-secret")
		}, false, "changed without breaking"},
		{"a fault just before explains nothing", func(_ *Snapshot, j *journal, _ map[string]brokenAt) {
			j.add(kindFault, nil, "outage")
			j.add(kindKill, nil, "SIGKILL replica-0")
		}, false, "outage"},
		{"the object is being deleted", func(s *Snapshot, _ *journal, _ map[string]brokenAt) {
			now := metav1.Now()
			s.Planes["a/cp"].DeletionTimestamp = &now
		}, true, "being deleted"},
		{"a grant missing on the chain", func(s *Snapshot, _ *journal, _ map[string]brokenAt) {
			s.Planes["a/cp"].Spec.KonnectConfiguration.APIAuthConfigurationRef.Namespace = ptr.To("z")
			s.Configs["z/auth"] = s.Configs["a/auth"].DeepCopy()
			s.Configs["z/auth"].Namespace = "z"
			s.Secrets["z/token"] = s.Secrets["a/token"].DeepCopy()
		}, true, "no KongReferenceGrant"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, _ := healthyWorld(t)
			j := newJournal(start)
			broken := map[string]brokenAt{}
			tc.setup(s, j, broken)
			f := flip{At: time.Now().Add(time.Second), Kind: "KonnectGatewayControlPlane", Namespace: "a", Name: "cp", UID: string(types.UID("uid-1")), Type: "Programmed"}
			classifyFlip(s.View, j, func(uid string) (brokenAt, bool) { b, ok := broken[uid]; return b, ok }, &f, 90*time.Second)
			if f.Legit != tc.wantLegit || !strings.Contains(f.Why, tc.why) {
				t.Errorf("legit=%v why=%q; want legit=%v and a why with %q", f.Legit, f.Why, tc.wantLegit, tc.why)
			}
		})
	}
}

// TestSampleRecordsBrokenChains: the sampler remembers which objects' chains were broken.
func TestSampleRecordsBrokenChains(t *testing.T) {
	s, _ := healthyWorld(t)
	w := newWatcher(newJournal(time.Now()), 90*time.Second, nil)
	w.sample(s.View, time.Now())
	if _, ok := w.brokenSince("uid-1"); ok {
		t.Fatal("a healthy control plane recorded as broken")
	}
	s.View.Tokens[fakekonnect.TokenHash(testToken)] = TokenInfo{Org: orgA, Registered: false}
	at := time.Now()
	w.sample(s.View, at)
	for _, uid := range []string{"cfg-uid", "uid-1", "ext-uid"} {
		if b, ok := w.brokenSince(uid); !ok || !b.At.Equal(at) || !strings.Contains(b.Why, "revoked") {
			t.Errorf("%s: brokenSince = %+v, %v; want broken at %v (revoked)", uid, b, ok, at)
		}
	}
}
