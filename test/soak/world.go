package soak

// The world: what the soak has made — namespaces, token Secrets, auth configurations, grants,
// control planes, extensions, certificate Secrets, tokens — as the soak means it to be, so
// that the seeded workload picks its targets from its own records (the same choices for the
// same seed, whatever the timing) rather than from a cache.

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	clientset "github.com/konnect-auth-controller/konnect-auth-controller/pkg/generated/clientset/versioned"
	"github.com/konnect-auth-controller/konnect-auth-controller/test/fakekonnect"
)

// The two Konnect organizations.
var orgIDs = []string{"0a0a0a0a-0000-4000-8000-00000000000a", "0b0b0b0b-0000-4000-8000-00000000000b"}

// regions the auth configurations name.
var regions = []string{"us", "eu"}

// errSkip: an operation found nothing to act on; another is chosen.
var errSkip = errors.New("nothing to act on")

type tokenRec struct {
	token, org string
	registered bool
}

// deletable is embedded in the records of the objects the workload deletes, which makes them
// records.
type deletable struct{ deleted bool }

func (d *deletable) isDeleted() bool { return d.deleted }
func (d *deletable) markDeleted()    { d.deleted = true }

type record interface {
	isDeleted() bool
	markDeleted()
}

type tokenSecretRec struct {
	ns, name, token, org string
	deletable
}

type configRec struct {
	ns, name             string
	inline               bool
	token                string // inline
	secretNs, secretName string // secretRef
	org, region          string
	deletable
}

type grantRec struct {
	ns, name                    string
	fromGroup, fromKind, fromNs string
	toGroup, toKind, toName     string // toName "" permits every name
	deletable
}

// grantNeed is a cross-namespace reference the workload made, which a grant must permit.
type grantNeed struct {
	ns                          string // where the grant lives: the referenced object's namespace
	fromGroup, fromKind, fromNs string
	toGroup, toKind, toName     string
}

type planeRec struct {
	ns, name    string
	uid         string
	mirror      bool
	mirrorID    string
	konnectName string
	configNs    string
	configName  string
	org, region string
	deletable
}

type extRec struct {
	ns, name, plane string
	manual          string // the Manual Secret, "" for Automatic
	deletable
}

type certSecretRec struct {
	ns, name string
	deletable
}

type mirrorRec struct {
	id, org, region, name string
	deleted               bool
}

type squatter struct {
	id, org, region, name string
}

// world holds the soak's records and its clients. Its methods lock mu.
type world struct {
	j      *journal
	kube   kubernetes.Interface
	client clientset.Interface
	fake   *fakekonnect.Server
	front  *front

	mu         sync.Mutex
	rng        *rand.Rand
	seq        int
	cpNameSeq  int
	namespaces []string          // live namespaces the soak made (not the system one)
	observers  map[string]string // org → a token of it no object uses, never revoked
	tokens     map[string]*tokenRec
	secrets    map[string]*tokenSecretRec
	configs    map[string]*configRec
	grants     map[string]*grantRec
	needs      []grantNeed
	planes     map[string]*planeRec
	exts       map[string]*extRec
	certs      map[string]*certSecretRec
	mirrors    []*mirrorRec
	squatters  []squatter
	// directDeletes: when the soak deleted a control plane of the controller out of band, by
	// its k8s-uid.
	directDeletes map[string][]time.Time
	issued        []string

	ops, opsFailed, faults, oobs int
	opCounts                     map[string]int

	// changed, if set, is called (without mu held) after every change the soak makes.
	changed func()
}

func (w *world) notify() {
	if w.changed != nil {
		w.changed()
	}
}

func newWorld(j *journal, seed uint64, kube kubernetes.Interface, client clientset.Interface, fake *fakekonnect.Server, f *front) *world {
	w := &world{
		j: j, kube: kube, client: client, fake: fake, front: f,
		rng:       rand.New(rand.NewPCG(seed, 0x50a4)),
		observers: map[string]string{}, tokens: map[string]*tokenRec{}, secrets: map[string]*tokenSecretRec{},
		configs: map[string]*configRec{}, grants: map[string]*grantRec{}, planes: map[string]*planeRec{},
		exts: map[string]*extRec{}, certs: map[string]*certSecretRec{}, directDeletes: map[string][]time.Time{},
		opCounts: map[string]int{},
	}
	for _, org := range orgIDs {
		w.observers[org] = w.newTokenLocked(org)
	}
	return w
}

// newTokenLocked issues a fresh token that the fake accepts for org. It is drawn from the
// seeded generator (a well-formed personal access token, kpat_ and 40 hex digits), so that the
// same seed makes the same choices among tokens, which are ordered by their text.
func (w *world) newTokenLocked(org string) string {
	b := make([]byte, 20)
	for i := range b {
		b[i] = byte(w.rng.UintN(256))
	}
	t := "kpat_" + hex.EncodeToString(b)
	w.fake.AddToken(t, org)
	w.tokens[t] = &tokenRec{token: t, org: org, registered: true}
	w.issued = append(w.issued, t)
	return t
}

// tokenInfos returns what the oracle needs to know about every token.
func (w *world) tokenInfos() map[string]TokenInfo {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make(map[string]TokenInfo, len(w.tokens))
	for t, r := range w.tokens {
		out[fakekonnect.TokenHash(t)] = TokenInfo{Org: r.org, Registered: r.registered}
	}
	return out
}

// issuedTokens returns every token issued.
func (w *world) issuedTokens() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.issued)
}

func (w *world) directDeleteTimes() map[string][]time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make(map[string][]time.Time, len(w.directDeletes))
	for k, v := range w.directDeletes {
		out[k] = slices.Clone(v)
	}
	return out
}

func (w *world) counts() (ops, failed, faults, oobs int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.ops, w.opsFailed, w.faults, w.oobs
}

func (w *world) next(prefix string) string {
	w.seq++
	return fmt.Sprintf("%s-%d", prefix, w.seq)
}

// nextCPName is the next name a control plane gets in Konnect; peekCPName the one after the
// current (for squatting a name before the workload uses it).
func (w *world) nextCPName() string {
	w.cpNameSeq++
	return fmt.Sprintf("soak-cp-%d", w.cpNameSeq)
}

func (w *world) peekCPName() string { return fmt.Sprintf("soak-cp-%d", w.cpNameSeq+1) }

func (w *world) chance(p float64) bool { return w.rng.Float64() < p }

func pick[T any](w *world, xs []T) T { return xs[w.rng.IntN(len(xs))] }

// live returns the sorted keys of the records of m that are not deleted and (ns != "") in ns.
func live[R record](m map[string]R, ns string) []string {
	var out []string
	for k, r := range m {
		if r.isDeleted() {
			continue
		}
		if ns != "" {
			if rns, _ := splitNsName(k); rns != ns {
				continue
			}
		}
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// pickLive picks one of the records of m that live (ns != "": in ns), and returns it with its
// key.
func pickLive[R record](w *world, m map[string]R, ns string) (string, R) {
	k := pick(w, live(m, ns))
	return k, m[k]
}

// pickInNamespace picks a namespace with live records of m, then one of them; ok is false when
// there are none.
func pickInNamespace[R record](w *world, m map[string]R) (ns string, r R, ok bool) {
	nss := slices.DeleteFunc(slices.Clone(w.namespaces), func(ns string) bool { return len(live(m, ns)) == 0 })
	if len(nss) == 0 {
		return "", r, false
	}
	ns = pick(w, nss)
	_, r = pickLive(w, m, ns)
	return ns, r, true
}

// dropIn marks the live records of m in ns deleted (with their namespace) and returns their
// keys.
func dropIn[R record](m map[string]R, ns string) []string {
	ks := live(m, ns)
	for _, k := range ks {
		m[k].markDeleted()
	}
	return ks
}

// tokensOf returns the registered tokens of org that the workload uses (not the observers).
func (w *world) tokensOf(org string, registered bool) []string {
	var out []string
	for t, r := range w.tokens {
		if r.org == org && r.registered == registered && w.observers[org] != t {
			out = append(out, t)
		}
	}
	sort.Strings(out)
	return out
}

// tokenFor returns a token of org for a new user: mostly a fresh one, sometimes one already
// in use (tokens shared by several configurations).
func (w *world) tokenFor(org string) string {
	if existing := w.tokensOf(org, true); len(existing) > 0 && w.chance(0.35) {
		return pick(w, existing)
	}
	return w.newTokenLocked(org)
}

// holders returns the journal keys of the live Secrets and inline configurations that hold
// token.
func (w *world) holders(token string) []string {
	var keys []string
	for _, k := range live(w.secrets, "") {
		if w.secrets[k].token == token {
			keys = append(keys, keySecret(splitNsName(k)))
		}
	}
	for _, k := range live(w.configs, "") {
		if c := w.configs[k]; c.inline && c.token == token {
			keys = append(keys, keyConfig(splitNsName(k)))
		}
	}
	return keys
}

// heldTokens returns the registered tokens some live Secret or inline configuration holds.
func (w *world) heldTokens(registered bool) []string {
	var out []string
	for t, r := range w.tokens {
		if r.registered == registered && len(w.holders(t)) > 0 {
			out = append(out, t)
		}
	}
	sort.Strings(out)
	return out
}

// grantSatisfied reports whether a live grant permits need.
func (w *world) grantSatisfied(n grantNeed) bool {
	for _, k := range live(w.grants, n.ns) {
		g := w.grants[k]
		if g.fromGroup == n.fromGroup && g.fromKind == n.fromKind && g.fromNs == n.fromNs &&
			g.toGroup == n.toGroup && g.toKind == n.toKind && (g.toName == "" || g.toName == n.toName) {
			return true
		}
	}
	return false
}

// nsLive reports whether ns is one of the live namespaces.
func (w *world) nsLive(ns string) bool { return slices.Contains(w.namespaces, ns) }

// planeKeyByUID returns the journal key of the control plane object with this UID, "".
func (w *world) planeKeyByUID(uid string) string {
	for k, p := range w.planes {
		if p.uid == uid {
			return keyPlane(splitNsName(k))
		}
	}
	return ""
}

// opContext bounds one API call of the workload.
func opContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, 30*time.Second)
}

// create, remove and mergePatch are the workload's API calls, each within opContext; they take
// a typed client's Create, Delete or Patch.

// create creates obj.
func create[T any](ctx context.Context, call func(context.Context, T, metav1.CreateOptions) (T, error), obj T) (T, error) {
	c, cancel := opContext(ctx)
	defer cancel()
	return call(c, obj, metav1.CreateOptions{})
}

// remove deletes the object name and, once the apiserver has accepted that, marks its record
// deleted.
func remove(ctx context.Context, del func(context.Context, string, metav1.DeleteOptions) error, name string, deleted *bool) error {
	c, cancel := opContext(ctx)
	defer cancel()
	err := del(c, name, metav1.DeleteOptions{})
	if err == nil {
		*deleted = true
	}
	return err
}

// mergePatch applies body, as a JSON merge patch, to the object name.
func mergePatch[T any](ctx context.Context, patch func(context.Context, string, types.PatchType, []byte, metav1.PatchOptions, ...string) (T, error), name string, body any) error {
	data, _ := json.Marshal(body)
	c, cancel := opContext(ctx)
	defer cancel()
	_, err := patch(c, name, types.MergePatchType, data, metav1.PatchOptions{})
	return err
}
