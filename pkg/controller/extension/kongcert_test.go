package extension

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	konnectv1alpha2 "github.com/konnect-auth-controller/konnect-auth-controller/pkg/apis/konnect/v1alpha2"
	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/konnect"
	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/konnect/konnecttest"
)

// TestKongCertificateKept: the certificate Kong's operator generated for an Automatic extension
// (in a Secret of its own naming, owned by the extension, named by the extension's status,
// registered in Konnect) is taken over as it is: no Secret generated, no cluster CA made, no
// registration. Once it is due for renewal the generated Secret replaces it.
func TestKongCertificateKept(t *testing.T) {
	for name, tc := range map[string]struct {
		issued   time.Duration // how long ago Kong's operator issued its one-year certificate
		wantKept bool
	}{
		"fresh":   {issued: time.Hour, wantKept: true},
		"due":     {issued: 300 * 24 * time.Hour, wantKept: false},
		"unowned": {issued: time.Hour, wantKept: false},
	} {
		t.Run(name, func(t *testing.T) {
			ext := automaticExtension(extName)
			const kongSecret = extName + "-x7k2p"
			ext.Status.DataPlaneClientAuth = &konnectv1alpha2.DataPlaneClientAuthStatus{CertificateSecretRef: &konnectv1alpha2.SecretRef{Name: kongSecret}}
			kongCA, err := newCA(time.Now().Add(-tc.issued))
			if err != nil {
				t.Fatal(err)
			}
			pair, err := newClientCertificate(kongCA, commonNameOf(ext), time.Now().Add(-tc.issued))
			if err != nil {
				t.Fatal(err)
			}
			secret := &corev1.Secret{
				ObjectMeta: metav1.ObjectMeta{Name: kongSecret, Namespace: namespace, ResourceVersion: "1", Labels: certSecretLabels()},
				Type:       corev1.SecretTypeTLS,
				Data:       map[string][]byte{corev1.TLSCertKey: pair.certPEM, corev1.TLSPrivateKeyKey: pair.keyPEM, corev1.ServiceAccountRootCAKey: kongCA.certPEM},
			}
			if name != "unowned" {
				secret.OwnerReferences = []metav1.OwnerReference{{APIVersion: "konnect.konghq.com/v1alpha2", Kind: "KonnectExtension",
					Name: ext.Name, UID: ext.UID, Controller: ptr.To(true)}}
			}
			f := newFixture(t, fixtureOptions{extensions: []*konnectv1alpha2.KonnectExtension{ext}, secrets: []*corev1.Secret{secret}})
			if _, err := f.api.CreateDataPlaneCertificate(f.ctx, konnect.Auth{Token: "kpat_x", ServerURL: serverURL}, f.cpID, string(pair.certPEM), ""); err != nil {
				t.Fatal(err)
			}
			f.api.ResetCalls()

			f.sync(extName)
			got := f.get(extName)
			kept := got.Status.DataPlaneClientAuth != nil && got.Status.DataPlaneClientAuth.CertificateSecretRef.Name == kongSecret
			if kept != tc.wantKept {
				t.Errorf("status.dataPlaneClientAuth = %+v, want Kong's Secret kept: %v", got.Status.DataPlaneClientAuth, tc.wantKept)
			}
			registrations, caCreates := f.count(konnecttest.OpCreateCertificate), f.caSecretCreates()
			if tc.wantKept && (registrations != 0 || caCreates != 0) {
				t.Errorf("taking Kong's certificate over registered %d certificates and created %d CA Secrets, want none", registrations, caCreates)
			}
			if !tc.wantKept && registrations != 1 {
				t.Errorf("replacing Kong's certificate registered %d certificates, want 1", registrations)
			}
			f.wantCondition(extName, konnectv1alpha2.ConditionReady, metav1.ConditionTrue, konnectv1alpha2.ReasonReady, konnectv1alpha2.MessageReady)
		})
	}
}
