// Package controllertest is what the reconcilers' unit tests are built on: a controller.Context
// on fake clientsets (Fakes), informer caches preloaded as if synced, log capture, the test
// tokens and the objects the tests start from. Only tests import it.
package controllertest

import (
	"context"
	"errors"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	k8sfake "k8s.io/client-go/kubernetes/fake"
	metadatafake "k8s.io/client-go/metadata/fake"
	clienttesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	testingclock "k8s.io/utils/clock/testing"

	configurationv1alpha1 "github.com/konnect-auth-controller/konnect-auth-controller/pkg/apis/configuration/v1alpha1"
	konnectv1alpha1 "github.com/konnect-auth-controller/konnect-auth-controller/pkg/apis/konnect/v1alpha1"
	konnectv1alpha2 "github.com/konnect-auth-controller/konnect-auth-controller/pkg/apis/konnect/v1alpha2"
	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/controller"
	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/controller/indexes"
	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/controller/loop"
	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/generated/clientset/versioned/fake"
)

// Start is when the fake clock starts.
var Start = time.Date(2026, 11, 29, 9, 0, 0, 0, time.UTC)

// Fakes is a controller.Context on fake clientsets, a fake clock and a fake event recorder.
type Fakes struct {
	T testing.TB
	// Clock starts at Start.
	Clock *testingclock.FakeClock
	// Client holds this project's kinds, Kube the Secrets, Metadata the Secrets' metadata.
	Client   *fake.Clientset
	Kube     *k8sfake.Clientset
	Metadata *metadatafake.FakeMetadataClient
	// Recorder receives the Events of every reconciler built on Context.
	Recorder *record.FakeRecorder
	// Context holds the fakes above; a test sets what else its reconciler needs (the Konnect
	// API, the token checker, tunables) before Build completes it.
	Context *controller.Context
}

// NewFakes makes fakes whose apiservers hold objects: Secrets in Kube (and their metadata in
// Metadata), everything else in Client. The caches stay empty until Preload or StartInformers.
func NewFakes(t testing.TB, ctx context.Context, objects ...runtime.Object) *Fakes {
	t.Helper()
	var crdObjs, kubeObjs, metaObjs []runtime.Object
	for _, o := range objects {
		if s, ok := o.(*corev1.Secret); ok {
			kubeObjs = append(kubeObjs, s)
			metaObjs = append(metaObjs, SecretMetadata(s))
		} else {
			crdObjs = append(crdObjs, o)
		}
	}
	metaScheme := metadatafake.NewTestScheme()
	if err := metav1.AddMetaToScheme(metaScheme); err != nil {
		t.Fatal(err)
	}
	f := &Fakes{
		T:        t,
		Clock:    testingclock.NewFakeClock(Start),
		Client:   fake.NewSimpleClientset(crdObjs...),
		Kube:     k8sfake.NewSimpleClientset(kubeObjs...),
		Metadata: metadatafake.NewSimpleMetadataClient(metaScheme, metaObjs...),
		Recorder: record.NewFakeRecorder(100),
	}
	f.Context = &controller.Context{
		RootContext:    ctx,
		KubeClient:     f.Kube,
		CRDClient:      f.Client,
		MetadataClient: f.Metadata,
		Clock:          f.Clock,
		Recorder:       func(string) record.EventRecorder { return f.Recorder },
	}
	return f
}

// Reconciler is what a reconciler's New returns.
type Reconciler interface {
	Loops() []*loop.Loop
}

// Build completes the fakes' Context and builds a reconciler on it with newReconciler (its
// package's New); its loops are shut down when the test ends.
func Build[R Reconciler](f *Fakes, newReconciler func(*controller.Context) (R, error)) R {
	f.T.Helper()
	f.Complete()
	r, err := newReconciler(f.Context)
	if err != nil {
		f.T.Fatalf("New: %v", err)
	}
	for _, l := range r.Loops() {
		f.T.Cleanup(l.ShutDown)
	}
	return r
}

// Complete completes the Context: what the fakes do not fake is built as in production.
func (f *Fakes) Complete() {
	f.T.Helper()
	if err := f.Context.Complete(); err != nil {
		f.T.Fatalf("Complete: %v", err)
	}
}

// Preload puts objects into the caches of the informers that would list them, as synced
// informers hold them: each kind into its own, a Secret into each Secret informer whose
// selector takes it (credential label, data-plane certificate label, the CA Secret's name), an
// unlabelled Secret nowhere, a KongReferenceGrant nowhere when confined to a namespace.
func (f *Fakes) Preload(objects ...runtime.Object) {
	f.T.Helper()
	credentials := f.Context.CredentialSecrets.Core().V1().Secrets().Informer().GetIndexer()
	for _, o := range objects {
		for _, indexer := range f.indexersFor(o) {
			if indexer == credentials {
				// As the informer's transform makes it (a copy: it trims what it is given).
				MustAdd(f.T, indexer, CredentialSecret(f.T, o.(*corev1.Secret)))
				continue
			}
			MustAdd(f.T, indexer, o)
		}
	}
}

// CredentialSecret is s as the credential Secrets' cache holds it (indexes.TrimCredentialSecret).
func CredentialSecret(t testing.TB, s *corev1.Secret) *indexes.CredentialSecret {
	t.Helper()
	trimmed, err := indexes.TrimCredentialSecret(s.DeepCopy())
	if err != nil {
		t.Fatal(err)
	}
	return trimmed.(*indexes.CredentialSecret)
}

// Resync makes every informer cache hold what the fake apiservers hold now, as the informers
// would once the watch events have arrived.
func (f *Fakes) Resync() {
	f.T.Helper()
	ctx, all := context.Background(), metav1.ListOptions{}
	var objs []runtime.Object
	configs, err := f.Client.KonnectV1alpha1().KonnectAPIAuthConfigurations("").List(ctx, all)
	f.must(err)
	planes, err := f.Client.KonnectV1alpha2().KonnectGatewayControlPlanes("").List(ctx, all)
	f.must(err)
	extensions, err := f.Client.KonnectV1alpha2().KonnectExtensions("").List(ctx, all)
	f.must(err)
	grants, err := f.Client.ConfigurationV1alpha1().KongReferenceGrants("").List(ctx, all)
	f.must(err)
	secrets, err := f.Kube.CoreV1().Secrets("").List(ctx, all)
	f.must(err)
	objs = append(objs, Objects(pointers(configs.Items))...)
	objs = append(objs, Objects(pointers(planes.Items))...)
	objs = append(objs, Objects(pointers(extensions.Items))...)
	objs = append(objs, Objects(pointers(grants.Items))...)
	objs = append(objs, Objects(pointers(secrets.Items))...)
	for _, indexer := range f.indexers() {
		f.must(indexer.Replace(nil, ""))
	}
	f.Preload(objs...)
}

// StartInformers starts the informers the reconcilers asked for on the fake clientsets, instead
// of a Preload, and waits until the loops' caches have synced. They are shut down when the test
// ends, which waits for ctx to end first.
func (f *Fakes) StartInformers(ctx context.Context, loops []*loop.Loop) {
	f.T.Helper()
	f.Context.Start(ctx.Done())
	f.T.Cleanup(f.Context.Shutdown)
	if !cache.WaitForCacheSync(ctx.Done(), loop.AllSynced(loops)) {
		f.T.Fatal("caches did not sync")
	}
}

// Events takes the Events recorded so far.
func (f *Fakes) Events() []string {
	var out []string
	for {
		select {
		case e := <-f.Recorder.Events:
			out = append(out, e)
		default:
			return out
		}
	}
}

// indexersFor returns the caches of the informers that would list obj.
func (f *Fakes) indexersFor(obj runtime.Object) []cache.Indexer {
	c := f.Context
	switch o := obj.(type) {
	case *konnectv1alpha1.KonnectAPIAuthConfiguration:
		return []cache.Indexer{c.CRDInformers.Konnect().V1alpha1().KonnectAPIAuthConfigurations().Informer().GetIndexer()}
	case *konnectv1alpha2.KonnectGatewayControlPlane:
		return []cache.Indexer{c.CRDInformers.Konnect().V1alpha2().KonnectGatewayControlPlanes().Informer().GetIndexer()}
	case *konnectv1alpha2.KonnectExtension:
		return []cache.Indexer{c.CRDInformers.Konnect().V1alpha2().KonnectExtensions().Informer().GetIndexer()}
	case *configurationv1alpha1.KongReferenceGrant:
		if grants := c.GrantInformer(); grants != nil {
			return []cache.Indexer{grants.Informer().GetIndexer()}
		}
		return nil
	case *corev1.Secret:
		var out []cache.Indexer
		if o.Labels[konnectv1alpha1.SecretCredentialLabel] == konnectv1alpha1.SecretCredentialLabelValue {
			out = append(out, c.CredentialSecrets.Core().V1().Secrets().Informer().GetIndexer())
		}
		if o.Labels[konnectv1alpha2.DataPlaneCertificateLabel] == "true" {
			out = append(out, c.CertificateSecrets.Core().V1().Secrets().Informer().GetIndexer())
		}
		if o.Namespace == c.CASecret.Namespace && o.Name == c.CASecret.Name {
			out = append(out, c.CASecrets.Core().V1().Secrets().Informer().GetIndexer())
		}
		return out
	}
	f.T.Fatalf("no informer lists a %T", obj)
	return nil
}

// indexers returns the cache of every informer Preload fills.
func (f *Fakes) indexers() []cache.Indexer {
	c := f.Context
	out := []cache.Indexer{
		c.CRDInformers.Konnect().V1alpha1().KonnectAPIAuthConfigurations().Informer().GetIndexer(),
		c.CRDInformers.Konnect().V1alpha2().KonnectGatewayControlPlanes().Informer().GetIndexer(),
		c.CRDInformers.Konnect().V1alpha2().KonnectExtensions().Informer().GetIndexer(),
		c.CredentialSecrets.Core().V1().Secrets().Informer().GetIndexer(),
		c.CertificateSecrets.Core().V1().Secrets().Informer().GetIndexer(),
		c.CASecrets.Core().V1().Secrets().Informer().GetIndexer(),
	}
	if grants := c.GrantInformer(); grants != nil {
		out = append(out, grants.Informer().GetIndexer())
	}
	return out
}

func (f *Fakes) must(err error) {
	f.T.Helper()
	if err != nil {
		f.T.Fatal(err)
	}
}

// MustAdd adds obj to a cache, failing the test if it cannot.
func MustAdd(t testing.TB, indexer cache.Indexer, obj any) {
	t.Helper()
	if err := indexer.Add(obj); err != nil {
		t.Fatal(err)
	}
}

// SecretMetadata is a Secret as the metadata client holds it.
func SecretMetadata(s *corev1.Secret) *metav1.PartialObjectMetadata {
	return &metav1.PartialObjectMetadata{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
		ObjectMeta: *s.ObjectMeta.DeepCopy(),
	}
}

// Objects gathers lists of one kind for NewFakes and Preload.
func Objects[T runtime.Object](lists ...[]T) []runtime.Object {
	var out []runtime.Object
	for _, list := range lists {
		for _, o := range list {
			out = append(out, o)
		}
	}
	return out
}

func pointers[T any](items []T) []*T {
	out := make([]*T, len(items))
	for i := range items {
		out[i] = &items[i]
	}
	return out
}

// Get reads one object through a fake clientset's get, failing the test if it cannot.
func Get[T any](t testing.TB, get func(context.Context, string, metav1.GetOptions) (T, error), name string) T {
	t.Helper()
	obj, err := get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get %s: %v", name, err)
	}
	return obj
}

// Reactor is a fake clientset.
type Reactor interface {
	PrependReactor(verb, resource string, reaction clienttesting.ReactionFunc)
}

// ConflictOnPatch has every patch of resource through client refused with a Conflict, as the
// apiserver refuses a patch whose resourceVersion precondition no longer holds.
func ConflictOnPatch(client Reactor, resource schema.GroupResource, name string) {
	client.PrependReactor("patch", resource.Resource, func(clienttesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewConflict(resource, name, errors.New("the object has been modified"))
	})
}

// SetConfigVerdict gives the stored auth configuration ns/name another APIAuthValid condition,
// as its reconciler would write it, and resyncs the caches.
func (f *Fakes) SetConfigVerdict(ns, name string, status metav1.ConditionStatus, reason string) {
	f.T.Helper()
	ctx := context.Background()
	cfg, err := f.Client.KonnectV1alpha1().KonnectAPIAuthConfigurations(ns).Get(ctx, name, metav1.GetOptions{})
	f.must(err)
	meta.SetStatusCondition(&cfg.Status.Conditions, metav1.Condition{Type: konnectv1alpha1.ConditionAPIAuthValid,
		Status: status, Reason: reason, Message: "set by the test", ObservedGeneration: cfg.Generation})
	_, err = f.Client.KonnectV1alpha1().KonnectAPIAuthConfigurations(ns).UpdateStatus(ctx, cfg, metav1.UpdateOptions{})
	f.must(err)
	f.Resync()
}
