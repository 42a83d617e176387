package extension

import (
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	konnectv1alpha2 "github.com/konnect-auth-controller/konnect-auth-controller/pkg/apis/konnect/v1alpha2"
	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/konnect"
	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/konnect/konnecttest"
)

// TestDeletionAfterItsControlPlaneIsGone: an extension deleted after its control plane object (a
// Mirror deleted first: the control plane stays in Konnect) still removes its certificate, with
// the credentials its status recorded.
func TestDeletionAfterItsControlPlaneIsGone(t *testing.T) {
	f := newFixture(t, fixtureOptions{extensions: []*konnectv1alpha2.KonnectExtension{automaticExtension(extName)}})
	f.sync(extName)
	if len(f.api.Certificates(f.cpID)) != 1 {
		t.Fatal("nothing registered")
	}
	if err := f.Client.KonnectV1alpha2().KonnectGatewayControlPlanes(namespace).Delete(f.ctx, cpName, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	f.Resync()
	// A sync in between clears status.konnect (the control plane is gone): the credentials
	// that registered the certificate are recorded beside the registration.
	f.sync(extName)
	if f.get(extName).Status.Konnect != nil {
		t.Fatal("status.konnect kept the endpoints of a control plane that is gone")
	}
	f.markDeleted(extName)
	f.sync(extName)
	if got := f.api.Certificates(f.cpID); len(got) != 0 {
		t.Fatalf("Konnect still holds %d certificates: a credential that admits a data plane", len(got))
	}
	if slices.Contains(f.get(extName).Finalizers, konnectv1alpha2.KonnectCleanupFinalizer) {
		t.Error("finalizer kept after the certificate was removed")
	}
}

// TestSharedManualSecret: two extensions on one control plane name the same Manual Secret, so
// they share one registration; deleting the first leaves it registered for the second, which
// stays Ready; deleting the second removes it.
func TestSharedManualSecret(t *testing.T) {
	secret := userSecret(t, "shared-tls", true)
	f := newFixture(t, fixtureOptions{
		extensions: []*konnectv1alpha2.KonnectExtension{manualExtension("first", "shared-tls"), manualExtension("second", "shared-tls")},
		secrets:    []*corev1.Secret{secret},
	})
	f.sync("first")
	f.sync("second")
	if got := f.api.Certificates(f.cpID); len(got) != 1 {
		t.Fatalf("%d certificates registered for one shared Secret, want 1", len(got))
	}
	f.markDeleted("first")
	f.sync("first")
	if got := f.api.Certificates(f.cpID); len(got) != 1 {
		t.Fatal("deleting one extension unpinned the certificate the other still uses")
	}
	f.sync("second")
	f.wantCondition("second", konnectv1alpha2.ConditionReady, metav1.ConditionTrue, konnectv1alpha2.ReasonReady, "")
	f.markDeleted("second")
	f.sync("second")
	if got := f.api.Certificates(f.cpID); len(got) != 0 {
		t.Errorf("Konnect holds %d certificates after both extensions went", len(got))
	}
}

// TestRegistrationForgottenWithItsControlPlane: an extension whose control plane was deleted
// (object and Konnect control plane, and its certificates with it) forgets its registration,
// so that the auth configuration it names is no longer held for a removal that cannot happen;
// while the control plane is still in Konnect (a Mirror's object deleted), it keeps it.
func TestRegistrationForgottenWithItsControlPlane(t *testing.T) {
	f := newFixture(t, fixtureOptions{extensions: []*konnectv1alpha2.KonnectExtension{automaticExtension(extName)}})
	f.sync(extName)
	if err := f.Client.KonnectV1alpha2().KonnectGatewayControlPlanes(namespace).Delete(f.ctx, cpName, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	f.Resync()
	f.sync(extName)
	if f.get(extName).Annotations[CertificateAnnotation] == "" {
		t.Fatal("the registration was forgotten while its control plane is still in Konnect")
	}
	f.api.Remove(serverURL, f.cpID)
	// The informer's object is never written to: the index of the auth configurations it names
	// is computed from it (a mutated one left a stale index entry, and a nil object for the
	// in-use loop).
	cached, err := f.ctrl.extensions.KonnectExtensions(namespace).Get(extName)
	if err != nil {
		t.Fatal(err)
	}
	before := cached.DeepCopy()
	f.sync(extName)
	if !equality.Semantic.DeepEqual(cached, before) {
		t.Errorf("the reconcile changed the informer's cached object: annotations %v → %v, resourceVersion %s → %s", before.Annotations, cached.Annotations, before.ResourceVersion, cached.ResourceVersion)
	}
	got := f.get(extName).Annotations
	if got[CertificateAnnotation] != "" || got[konnectv1alpha2.DataPlaneCertificateAuthAnnotation] != "" {
		t.Fatalf("annotations %v still record a registration on a control plane gone from Konnect", got)
	}
}

// TestMovedRegistrationRemovedFromTheOldControlPlane: when the control plane the extension names
// is now another one in Konnect (a Mirror pointed elsewhere, a control plane re-created), the
// certificate is registered with the new one and removed from the old one, with the credentials
// that registered it; a removal Konnect refuses for now is tried again, and the registration
// record keeps naming the old certificate until it is gone.
func TestMovedRegistrationRemovedFromTheOldControlPlane(t *testing.T) {
	for _, kind := range []string{"automatic", "manual"} {
		t.Run(kind, func(t *testing.T) {
			ext, secrets := automaticExtension(extName), []*corev1.Secret(nil)
			if kind == "manual" {
				ext, secrets = manualExtension(extName, "konnect-client-tls"), []*corev1.Secret{userSecret(t, "konnect-client-tls", true)}
			}
			f := newFixture(t, fixtureOptions{extensions: []*konnectv1alpha2.KonnectExtension{ext}, secrets: secrets})
			f.sync(extName)
			oldID := parseRegistration(f.get(extName).Annotations[CertificateAnnotation]).certificateID
			if len(f.api.Certificates(f.cpID)) != 1 || oldID == "" {
				t.Fatalf("registered %+v (annotation %q), want one certificate", f.api.Certificates(f.cpID), oldID)
			}

			// The control plane object now stands for another control plane in Konnect.
			movedTo := f.api.Seed(serverURL, konnect.ControlPlaneSpec{Name: "elsewhere"})
			moved := programmedControlPlane(movedTo)
			moved.ResourceVersion = ""
			if _, err := f.Client.KonnectV1alpha2().KonnectGatewayControlPlanes(namespace).UpdateStatus(f.ctx, moved, metav1.UpdateOptions{}); err != nil {
				t.Fatal(err)
			}
			f.Resync()
			f.Events()

			// The first removal fails for now: the old record stays, and the removal is retried.
			f.api.Fail(konnecttest.OpDeleteCertificate, konnecttest.Transient("deleting data-plane certificate"))
			if res := f.sync(extName); res.Transient == nil {
				t.Fatalf("sync = %+v: want the failed removal retried with backoff", res)
			}
			if got := parseRegistration(f.get(extName).Annotations[CertificateAnnotation]); got.controlPlaneID != f.cpID || got.certificateID != oldID {
				t.Fatalf("the record names %+v before the old certificate is removed; want %s/%s", got, f.cpID, oldID)
			}
			f.sync(extName)

			if got := f.api.Certificates(f.cpID); len(got) != 0 {
				t.Errorf("the old control plane still holds %d certificates: a credential that admits a data plane", len(got))
			}
			registered := f.api.Certificates(movedTo)
			if len(registered) != 1 {
				t.Fatalf("the new control plane holds %d certificates, want 1", len(registered))
			}
			if got := parseRegistration(f.get(extName).Annotations[CertificateAnnotation]); got.controlPlaneID != movedTo || got.certificateID != registered[0].ID {
				t.Errorf("the record names %+v, want %s/%s", got, movedTo, registered[0].ID)
			}
			if creates := f.count(konnecttest.OpCreateCertificate); creates != 2 {
				t.Errorf("%d registrations in all, want 2 (one a control plane)", creates)
			}
			if events := strings.Join(f.Events(), "\n"); !strings.Contains(events, "Removed the replaced certificate "+oldID+" from control plane "+f.cpID) {
				t.Errorf("events %q: want the removal from the old control plane", events)
			}
			f.wantCondition(extName, konnectv1alpha2.ConditionReady, metav1.ConditionTrue, konnectv1alpha2.ReasonReady, "")
		})
	}
}
