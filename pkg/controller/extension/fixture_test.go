package extension

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	kubeinformers "k8s.io/client-go/informers"
	k8sfake "k8s.io/client-go/kubernetes/fake"
	metadatafake "k8s.io/client-go/metadata/fake"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	testingclock "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"

	konnectv1alpha1 "github.com/konnect-auth-controller/konnect-auth-controller/pkg/apis/konnect/v1alpha1"
	konnectv1alpha2 "github.com/konnect-auth-controller/konnect-auth-controller/pkg/apis/konnect/v1alpha2"
	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/controller"
	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/controller/loop"
	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/generated/clientset/versioned/fake"
	informers "github.com/konnect-auth-controller/konnect-auth-controller/pkg/generated/informers/externalversions"
	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/konnect"
	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/konnect/konnecttest"
)

const (
	namespace   = "kong"
	serverURL   = "https://us.api.konghq.com"
	token       = "kpat_EXTENSIONtokenEXTENSION0123456789abcd"
	extName     = "my-konnect-config"
	cpName      = "gateway-control-plane"
	authName    = "konnect-api-auth"
	syncPeriod  = time.Minute
	caNamespace = "konnect-system"
	caName      = "konnect-auth-controller-ca"
)

type fixture struct {
	t       testing.TB
	ctx     context.Context
	clock   *testingclock.FakeClock
	client  *fake.Clientset
	kube    *k8sfake.Clientset
	api     *konnecttest.API
	ctrl    *Controller
	events  *record.FakeRecorder
	cpID    string
	factory informers.SharedInformerFactory
	secrets kubeinformers.SharedInformerFactory
	ca      kubeinformers.SharedInformerFactory
}

type fixtureOptions struct {
	extensions []*konnectv1alpha2.KonnectExtension
	// controlPlane: nil means a Programmed one named cpName, seeded in Konnect.
	controlPlane   func(id string) *konnectv1alpha2.KonnectGatewayControlPlane
	noControlPlane bool
	// secrets are labelled konghq.com/konnect-dp-cert=true; unlabelled are not.
	secrets    []*corev1.Secret
	unlabelled []*corev1.Secret
}

func newFixture(t *testing.T, ctx context.Context, o fixtureOptions) *fixture {
	t.Helper()
	f := &fixture{t: t, ctx: ctx, clock: testingclock.NewFakeClock(time.Date(2026, 11, 29, 9, 0, 0, 0, time.UTC)), api: konnecttest.New()}
	f.cpID = f.api.Seed(serverURL, konnect.ControlPlaneSpec{Name: cpName})

	var objs []runtime.Object
	for _, e := range o.extensions {
		objs = append(objs, e)
	}
	cfg := authConfig()
	objs = append(objs, cfg)
	var cp *konnectv1alpha2.KonnectGatewayControlPlane
	if !o.noControlPlane {
		if o.controlPlane != nil {
			cp = o.controlPlane(f.cpID)
		} else {
			cp = programmedControlPlane(f.cpID)
		}
		objs = append(objs, cp)
	}
	f.client = fake.NewSimpleClientset(objs...)
	var kubeObjs, metaObjs []runtime.Object
	for _, s := range append(append([]*corev1.Secret{}, o.secrets...), o.unlabelled...) {
		kubeObjs = append(kubeObjs, s)
		metaObjs = append(metaObjs, &metav1.PartialObjectMetadata{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"}, ObjectMeta: *s.ObjectMeta.DeepCopy()})
	}
	f.kube = k8sfake.NewSimpleClientset(kubeObjs...)
	metaScheme := metadatafake.NewTestScheme()
	if err := metav1.AddMetaToScheme(metaScheme); err != nil {
		t.Fatal(err)
	}
	metaClient := metadatafake.NewSimpleMetadataClient(metaScheme, metaObjs...)

	f.factory = informers.NewSharedInformerFactory(f.client, 0)
	f.secrets = kubeinformers.NewSharedInformerFactory(f.kube, 0)
	f.ca = kubeinformers.NewSharedInformerFactory(f.kube, 0)
	f.events = record.NewFakeRecorder(100)
	// The auth configurations' tokens are inline: the credentials resolver Complete builds
	// reads them without a Secret (its Secret resolution is tested in package credentials).
	cc := &controller.Context{
		RootContext:        ctx,
		KubeClient:         f.kube,
		CRDClient:          f.client,
		MetadataClient:     metaClient,
		KonnectAPI:         f.api,
		KonnectSyncPeriod:  syncPeriod,
		CASecret:           types.NamespacedName{Namespace: caNamespace, Name: caName},
		Clock:              f.clock,
		CRDInformers:       f.factory,
		CertificateSecrets: f.secrets,
		CASecrets:          f.ca,
		Recorder:           func(string) record.EventRecorder { return f.events },
	}
	if err := cc.Complete(); err != nil {
		t.Fatalf("Complete: %v", err)
	}
	ctrl, err := New(cc)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	f.ctrl = ctrl
	t.Cleanup(ctrl.loop.ShutDown)

	for _, e := range o.extensions {
		f.add(f.factory.Konnect().V1alpha2().KonnectExtensions().Informer().GetIndexer(), e)
	}
	if cp != nil {
		f.add(f.factory.Konnect().V1alpha2().KonnectGatewayControlPlanes().Informer().GetIndexer(), cp)
	}
	f.add(f.factory.Konnect().V1alpha1().KonnectAPIAuthConfigurations().Informer().GetIndexer(), cfg)
	for _, s := range o.secrets {
		f.add(f.secrets.Core().V1().Secrets().Informer().GetIndexer(), s)
	}
	return f
}

func (f *fixture) add(indexer cache.Indexer, obj any) {
	f.t.Helper()
	if err := indexer.Add(obj); err != nil {
		f.t.Fatal(err)
	}
}

// refresh copies what the fake apiservers hold into the listers, as the informers would.
func (f *fixture) refresh() {
	f.t.Helper()
	exts, err := f.client.KonnectV1alpha2().KonnectExtensions(namespace).List(f.ctx, metav1.ListOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	extIndexer := f.factory.Konnect().V1alpha2().KonnectExtensions().Informer().GetIndexer()
	for _, o := range extIndexer.List() {
		_ = extIndexer.Delete(o)
	}
	for i := range exts.Items {
		f.add(extIndexer, &exts.Items[i])
	}
	secrets, err := f.kube.CoreV1().Secrets("").List(f.ctx, metav1.ListOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	certIndexer := f.secrets.Core().V1().Secrets().Informer().GetIndexer()
	caIndexer := f.ca.Core().V1().Secrets().Informer().GetIndexer()
	for _, idx := range []cache.Indexer{certIndexer, caIndexer} {
		for _, o := range idx.List() {
			_ = idx.Delete(o)
		}
	}
	for i := range secrets.Items {
		s := &secrets.Items[i]
		if s.Labels[konnectv1alpha2.DataPlaneCertificateLabel] == "true" {
			f.add(certIndexer, s)
		}
		if s.Namespace == caNamespace && s.Name == caName {
			f.add(caIndexer, s)
		}
	}
}

// sync runs one reconcile of the extension and refreshes the listers.
func (f *fixture) sync(name string) loop.Result {
	f.t.Helper()
	res, err := f.ctrl.reconcile(f.ctx, cache.ObjectName{Namespace: namespace, Name: name})
	if err != nil {
		f.t.Fatalf("sync: %v", err)
	}
	f.refresh()
	return res
}

// process has the loop take the extension's key, reconcile it and schedule its next look, as a
// worker does, and refreshes the listers.
func (f *fixture) process(name string) {
	f.t.Helper()
	f.ctrl.loop.Add(cache.ObjectName{Namespace: namespace, Name: name})
	if !f.ctrl.loop.ProcessNextWorkItem(f.ctx) {
		f.t.Fatal("the loop took no work")
	}
	f.refresh()
}

func (f *fixture) get(name string) *konnectv1alpha2.KonnectExtension {
	f.t.Helper()
	ext, err := f.client.KonnectV1alpha2().KonnectExtensions(namespace).Get(f.ctx, name, metav1.GetOptions{})
	if err != nil {
		f.t.Fatalf("get %s: %v", name, err)
	}
	return ext
}

func (f *fixture) secret(ns, name string) *corev1.Secret {
	f.t.Helper()
	s, err := f.kube.CoreV1().Secrets(ns).Get(f.ctx, name, metav1.GetOptions{})
	if err != nil {
		f.t.Fatalf("get Secret %s/%s: %v", ns, name, err)
	}
	return s
}

func (f *fixture) condition(name, t string) metav1.Condition {
	f.t.Helper()
	c := meta.FindStatusCondition(f.get(name).Status.Conditions, t)
	if c == nil {
		f.t.Fatalf("%s has no condition %s; conditions: %+v", name, t, f.get(name).Status.Conditions)
	}
	return *c
}

func (f *fixture) wantCondition(name, t string, status metav1.ConditionStatus, reason, messagePart string) {
	f.t.Helper()
	c := f.condition(name, t)
	if c.Status != status || c.Reason != reason || !strings.Contains(c.Message, messagePart) {
		f.t.Errorf("%s: got %s/%s %q, want %s/%s containing %q", t, c.Status, c.Reason, c.Message, status, reason, messagePart)
	}
	if c.ObservedGeneration != f.get(name).Generation {
		f.t.Errorf("%s: observedGeneration %d, want %d", t, c.ObservedGeneration, f.get(name).Generation)
	}
}

// creates counts certificate registrations made by the controller.
func (f *fixture) count(op string) int { return f.api.Count(op) }

func (f *fixture) caSecretCreates() int {
	n := 0
	for _, a := range f.kube.Actions() {
		if a.GetVerb() == "create" && a.GetResource().Resource == "secrets" && a.GetNamespace() == caNamespace {
			n++
		}
	}
	return n
}

// objects

func authConfig() *konnectv1alpha1.KonnectAPIAuthConfiguration {
	cfg := &konnectv1alpha1.KonnectAPIAuthConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: authName, Namespace: namespace, Generation: 1, ResourceVersion: "1"},
		Spec: konnectv1alpha1.KonnectAPIAuthConfigurationSpec{
			Type: konnectv1alpha1.KonnectAPIAuthTypeToken, Token: token, ServerURL: "us.api.konghq.com",
		},
		Status: konnectv1alpha1.KonnectAPIAuthConfigurationStatus{ServerURL: serverURL, OrganizationID: "org"},
	}
	meta.SetStatusCondition(&cfg.Status.Conditions, metav1.Condition{Type: konnectv1alpha1.ConditionAPIAuthValid,
		Status: metav1.ConditionTrue, Reason: konnectv1alpha1.ReasonValid, Message: "Token is valid", ObservedGeneration: 1})
	return cfg
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
	meta.SetStatusCondition(&cp.Status.Conditions, metav1.Condition{Type: konnectv1alpha2.ConditionProgrammed,
		Status: metav1.ConditionTrue, Reason: konnectv1alpha2.ReasonProgrammed, ObservedGeneration: 1})
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
