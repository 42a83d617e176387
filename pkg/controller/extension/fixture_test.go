package extension

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2/ktesting"
	"k8s.io/utils/ptr"

	konnectv1alpha1 "github.com/konnect-auth-controller/konnect-auth-controller/pkg/apis/konnect/v1alpha1"
	konnectv1alpha2 "github.com/konnect-auth-controller/konnect-auth-controller/pkg/apis/konnect/v1alpha2"
	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/controller"
	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/controller/controllertest"
	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/controller/loop"
	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/konnect"
	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/konnect/konnecttest"
)

const (
	namespace   = controllertest.Namespace
	serverURL   = controllertest.ServerURL
	token       = controllertest.TokenValid
	extName     = "my-konnect-config"
	cpName      = "gateway-control-plane"
	authName    = "konnect-api-auth"
	syncPeriod  = time.Minute
	caNamespace = "konnect-system"
	caName      = "konnect-auth-controller-ca"
)

type fixture struct {
	*controllertest.Fakes
	ctx  context.Context
	api  *konnecttest.API
	ctrl *Controller
	cpID string
}

type fixtureOptions struct {
	// ctx is what the fixture runs in: by default a context logging to the test.
	ctx        context.Context
	extensions []*konnectv1alpha2.KonnectExtension
	// controlPlane: nil means a Programmed one named cpName, seeded in Konnect.
	controlPlane   func(id string) *konnectv1alpha2.KonnectGatewayControlPlane
	noControlPlane bool
	// secrets are labelled konghq.com/konnect-dp-cert=true; unlabelled are not.
	secrets    []*corev1.Secret
	unlabelled []*corev1.Secret
	// tune, if set, changes the context before the reconciler is built.
	tune func(*controller.Context)
}

func newFixture(t *testing.T, o fixtureOptions) *fixture {
	t.Helper()
	ctx := o.ctx
	if ctx == nil {
		_, ctx = ktesting.NewTestContext(t)
	}
	api := konnecttest.New()
	cpID := api.Seed(serverURL, konnect.ControlPlaneSpec{Name: cpName})
	objs := append(controllertest.Objects(o.extensions), authConfig())
	if !o.noControlPlane {
		if o.controlPlane != nil {
			objs = append(objs, o.controlPlane(cpID))
		} else {
			objs = append(objs, programmedControlPlane(cpID))
		}
	}
	objs = append(objs, controllertest.Objects(o.secrets, o.unlabelled)...)
	f := &fixture{Fakes: controllertest.NewFakes(t, ctx, objs...), ctx: ctx, api: api, cpID: cpID}
	// The auth configurations' tokens are inline: the credentials resolver Complete builds
	// reads them without a Secret (its Secret resolution is tested in package credentials).
	f.Context.KonnectAPI = f.api
	f.Context.KonnectSyncPeriod = syncPeriod
	f.Context.CASecret = types.NamespacedName{Namespace: caNamespace, Name: caName}
	if o.tune != nil {
		o.tune(f.Context)
	}
	f.ctrl = controllertest.Build(f.Fakes, New)
	f.Preload(objs...)
	return f
}

// sync runs one reconcile of the extension and resyncs the listers.
func (f *fixture) sync(name string) loop.Result {
	f.T.Helper()
	res, err := f.ctrl.reconcile(f.ctx, cache.ObjectName{Namespace: namespace, Name: name})
	if err != nil {
		f.T.Fatalf("sync: %v", err)
	}
	f.Resync()
	return res
}

// process has the loop take the extension's key, reconcile it and schedule its next look, as a
// worker does, and resyncs the listers.
func (f *fixture) process(name string) {
	f.T.Helper()
	f.ctrl.loop.Add(cache.ObjectName{Namespace: namespace, Name: name})
	if !f.ctrl.loop.ProcessNextWorkItem(f.ctx) {
		f.T.Fatal("the loop took no work")
	}
	f.Resync()
}

func (f *fixture) get(name string) *konnectv1alpha2.KonnectExtension {
	f.T.Helper()
	return controllertest.Get(f.T, f.Client.KonnectV1alpha2().KonnectExtensions(namespace).Get, name)
}

// markDeleted sets the extension's deletion timestamp, as the apiserver does for an object
// with finalizers (kubectl delete), and resyncs the listers.
func (f *fixture) markDeleted(name string) {
	f.T.Helper()
	ext := f.get(name)
	now := metav1.NewTime(f.Clock.Now())
	ext.DeletionTimestamp = &now
	if _, err := f.Client.KonnectV1alpha2().KonnectExtensions(namespace).Update(f.ctx, ext, metav1.UpdateOptions{}); err != nil {
		f.T.Fatal(err)
	}
	f.Resync()
}

// replaceCertificate puts a new self-signed certificate into the Manual Secret name, as a user
// replacing it does, resyncs the listers and returns the Secret it was taken from.
func (f *fixture) replaceCertificate(name string) *corev1.Secret {
	f.T.Helper()
	replacement := userSecret(f.T, name, true)
	stored := f.secret(namespace, name)
	stored.Data = replacement.Data
	if _, err := f.Kube.CoreV1().Secrets(namespace).Update(f.ctx, stored, metav1.UpdateOptions{}); err != nil {
		f.T.Fatal(err)
	}
	f.Resync()
	return replacement
}

func (f *fixture) secret(ns, name string) *corev1.Secret {
	f.T.Helper()
	return controllertest.Get(f.T, f.Kube.CoreV1().Secrets(ns).Get, name)
}

func (f *fixture) condition(name, t string) metav1.Condition {
	f.T.Helper()
	c := meta.FindStatusCondition(f.get(name).Status.Conditions, t)
	if c == nil {
		f.T.Fatalf("%s has no condition %s; conditions: %+v", name, t, f.get(name).Status.Conditions)
	}
	return *c
}

func (f *fixture) wantCondition(name, t string, status metav1.ConditionStatus, reason, messagePart string) {
	f.T.Helper()
	c := f.condition(name, t)
	if c.Status != status || c.Reason != reason || !strings.Contains(c.Message, messagePart) {
		f.T.Errorf("%s: got %s/%s %q, want %s/%s containing %q", t, c.Status, c.Reason, c.Message, status, reason, messagePart)
	}
	if c.ObservedGeneration != f.get(name).Generation {
		f.T.Errorf("%s: observedGeneration %d, want %d", t, c.ObservedGeneration, f.get(name).Generation)
	}
}

// creates counts certificate registrations made by the controller.
func (f *fixture) count(op string) int { return f.api.Count(op) }

func (f *fixture) caSecretCreates() int {
	n := 0
	for _, a := range f.Kube.Actions() {
		if a.GetVerb() == "create" && a.GetResource().Resource == "secrets" && a.GetNamespace() == caNamespace {
			n++
		}
	}
	return n
}

// objects

func authConfig() *konnectv1alpha1.KonnectAPIAuthConfiguration {
	return controllertest.ValidConfig(namespace, authName, token)
}

func programmedControlPlane(id string) *konnectv1alpha2.KonnectGatewayControlPlane {
	cp := &konnectv1alpha2.KonnectGatewayControlPlane{
		ObjectMeta: metav1.ObjectMeta{Name: cpName, Namespace: namespace, Generation: 1, ResourceVersion: "1"},
		Spec: konnectv1alpha2.KonnectGatewayControlPlaneSpec{
			CreateControlPlaneRequest: &konnectv1alpha2.CreateControlPlaneRequest{Name: ptr.To(cpName)},
			KonnectConfiguration:      konnectv1alpha2.KonnectConfiguration{APIAuthConfigurationRef: konnectv1alpha2.KonnectAPIAuthConfigurationRef{Name: authName}},
		},
		Status: konnectv1alpha2.KonnectGatewayControlPlaneStatus{
			KonnectEntityStatus: konnectv1alpha2.KonnectEntityStatus{ID: id, ServerURL: serverURL, OrgID: "org"},
			ClusterType:         konnect.ClusterTypeControlPlane,
			Endpoints:           &konnectv1alpha2.KonnectEndpoints{ControlPlaneEndpoint: "https://abc.cp.konghq.com", TelemetryEndpoint: "https://abc.tp0.konghq.com"},
		},
	}
	return withProgrammed(cp, metav1.Condition{Status: metav1.ConditionTrue, Reason: konnectv1alpha2.ReasonProgrammed, ObservedGeneration: 1})
}

// withProgrammed sets the control plane's Programmed condition to cond.
func withProgrammed(cp *konnectv1alpha2.KonnectGatewayControlPlane, cond metav1.Condition) *konnectv1alpha2.KonnectGatewayControlPlane {
	cond.Type = konnectv1alpha2.ConditionProgrammed
	meta.SetStatusCondition(&cp.Status.Conditions, cond)
	return cp
}

func automaticExtension(name string) *konnectv1alpha2.KonnectExtension {
	return &konnectv1alpha2.KonnectExtension{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace, Generation: 1, ResourceVersion: "1", UID: types.UID("uid-" + name)},
		Spec: konnectv1alpha2.KonnectExtensionSpec{
			Konnect: konnectv1alpha2.KonnectExtensionKonnectSpec{ControlPlane: konnectv1alpha2.KonnectExtensionControlPlane{
				Ref: konnectv1alpha2.ControlPlaneRef{Type: konnectv1alpha2.ControlPlaneRefKonnectNamespacedRef,
					KonnectNamespacedRef: &konnectv1alpha2.KonnectNamespacedRef{Name: cpName}}}},
			ClientAuth: &konnectv1alpha2.KonnectExtensionClientAuth{CertificateSecret: konnectv1alpha2.CertificateSecret{
				Provisioning: ptr.To(konnectv1alpha2.ProvisioningAutomatic)}},
		},
	}
}

func manualExtension(name, secret string) *konnectv1alpha2.KonnectExtension {
	ext := automaticExtension(name)
	ext.Spec.ClientAuth.CertificateSecret = konnectv1alpha2.CertificateSecret{
		Provisioning: ptr.To(konnectv1alpha2.ProvisioningManual), CertificateSecretRef: &konnectv1alpha2.SecretRef{Name: secret}}
	return ext
}

// userSecret is a Manual certificate Secret as `kubectl create secret tls` makes it, with a
// self-signed certificate.
func userSecret(t testing.TB, name string, labelled bool) *corev1.Secret {
	t.Helper()
	ca, err := newCA(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	pair, err := newClientCertificate(ca, "user-dp", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	s := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace, ResourceVersion: "1"},
		Type:       corev1.SecretTypeTLS,
		Data:       map[string][]byte{corev1.TLSCertKey: pair.certPEM, corev1.TLSPrivateKeyKey: pair.keyPEM},
	}
	if labelled {
		s.Labels = certSecretLabels()
	}
	return s
}
