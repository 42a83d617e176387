package soak

// Faults from Konnect (the fake's behaviors, and answers the front cuts after the change took
// effect), out-of-band changes in Konnect, and the heal at the end of the chaos.

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sort"
	"time"

	"github.com/konnect-auth-controller/konnect-auth-controller/test/fakekonnect"
)

// writePaths are the write endpoints a lost answer may hit ("" is every write).
var writePaths = []string{
	"/v2/control-planes",                            // create
	"/v2/control-planes/*",                          // update, delete
	"/v2/control-planes/*/dp-client-certificates",   // registration
	"/v2/control-planes/*/dp-client-certificates/*", // removal
	"",
}

type faultKind struct {
	name   string
	weight int
	// apply starts the fault and returns how long it lasts, what it is and how to end it.
	apply func(w *world, rng *rand.Rand) (time.Duration, string, func())
}

func between(rng *rand.Rand, lo, hi time.Duration) time.Duration {
	return lo + time.Duration(rng.Int64N(int64(hi-lo)+1))
}

func pickR[T any](rng *rand.Rand, xs []T) T { return xs[rng.IntN(len(xs))] }

var scopes = []fakekonnect.Scope{fakekonnect.ScopeAll, fakekonnect.ScopeReads, fakekonnect.ScopeWrites}

var faultKinds = []faultKind{
	{"5xx", 4, func(w *world, rng *rand.Rand) (time.Duration, string, func()) {
		b := fakekonnect.Behavior{Mode: fakekonnect.ModeServerError, Status: pickR(rng, []int{500, 502, 503, 504}), Scope: pickR(rng, scopes)}
		w.fake.SetBehavior(b)
		return between(rng, 2*time.Second, 15*time.Second), fmt.Sprintf("every %s answers %d", b.Scope, b.Status), func() { w.fake.SetBehavior(fakekonnect.BehaviorNormal) }
	}},
	{"429", 3, func(w *world, rng *rand.Rand) (time.Duration, string, func()) {
		b := fakekonnect.Behavior{Mode: fakekonnect.ModeRateLimited, RetryAfter: between(rng, time.Second, 5*time.Second), Scope: pickR(rng, scopes)}
		w.fake.SetBehavior(b)
		return between(rng, 2*time.Second, 15*time.Second), fmt.Sprintf("every %s answers 429 Retry-After %v", b.Scope, b.RetryAfter.Round(time.Second)),
			func() { w.fake.SetBehavior(fakekonnect.BehaviorNormal) }
	}},
	{"hang", 2, func(w *world, rng *rand.Rand) (time.Duration, string, func()) {
		b := fakekonnect.Behavior{Mode: fakekonnect.ModeHang, Scope: pickR(rng, scopes)}
		w.fake.SetBehavior(b)
		return between(rng, 2*time.Second, 12*time.Second), fmt.Sprintf("every %s hangs", b.Scope), func() { w.fake.SetBehavior(fakekonnect.BehaviorNormal) }
	}},
	{"answer-spoiled", 4, func(w *world, rng *rand.Rand) (time.Duration, string, func()) {
		b := fakekonnect.Behavior{Mode: pickR(rng, []fakekonnect.Mode{fakekonnect.ModeEmptyOK, fakekonnect.ModeBadJSON, fakekonnect.ModeWrongContentType}),
			Scope: fakekonnect.ScopeWrites, Path: pickR(rng, writePaths)}
		w.fake.SetBehavior(b)
		return between(rng, 5*time.Second, 20*time.Second), fmt.Sprintf("writes to %q take effect, their answers are %s", b.Path, b.Mode),
			func() { w.fake.SetBehavior(fakekonnect.BehaviorNormal) }
	}},
	{"answer-cut", 4, func(w *world, rng *rand.Rand) (time.Duration, string, func()) {
		r := &cutRule{Method: pickR(rng, []string{"", http.MethodPost, http.MethodDelete, http.MethodPatch}), Path: pickR(rng, writePaths)}
		w.front.setCut(r)
		return between(rng, 5*time.Second, 20*time.Second), fmt.Sprintf("writes %q to %q take effect, then the connection is cut", r.Method, r.Path),
			func() { w.front.setCut(nil) }
	}},
	{"outage", 2, func(w *world, rng *rand.Rand) (time.Duration, string, func()) {
		w.fake.SetBehavior(fakekonnect.Behavior{Mode: fakekonnect.ModeServerError, Status: http.StatusServiceUnavailable})
		return between(rng, 5*time.Second, 60*time.Second), "outage: everything answers 503", func() { w.fake.SetBehavior(fakekonnect.BehaviorNormal) }
	}},
	{"token-fault", 3, func(w *world, rng *rand.Rand) (time.Duration, string, func()) {
		w.mu.Lock()
		held := w.heldTokens(true)
		w.mu.Unlock()
		if len(held) == 0 {
			return 0, "", nil
		}
		t := pickR(rng, held)
		b := fakekonnect.Behavior{Mode: pickR(rng, []fakekonnect.Mode{fakekonnect.ModeServerError, fakekonnect.ModeRateLimited, fakekonnect.ModeHang}), RetryAfter: 2 * time.Second}
		w.fake.SetTokenBehavior(t, b)
		return between(rng, 5*time.Second, 30*time.Second), fmt.Sprintf("requests with token %s: %s", fakekonnect.ShortTokenHash(t), b.Mode),
			func() { w.fake.SetTokenBehavior(t, fakekonnect.BehaviorNormal) }
	}},
}

// faultLoop starts one fault at a time, with quiet gaps between, until ctx ends.
func (w *world) faultLoop(ctx context.Context, rng *rand.Rand) {
	total := 0
	for _, k := range faultKinds {
		total += k.weight
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(between(rng, 5*time.Second, 25*time.Second)):
		}
		n := rng.IntN(total)
		var kind faultKind
		for _, k := range faultKinds {
			if n < k.weight {
				kind = k
				break
			}
			n -= k.weight
		}
		d, what, end := kind.apply(w, rng)
		if end == nil {
			continue
		}
		w.mu.Lock()
		w.faults++
		w.mu.Unlock()
		e := w.j.add(kindFault, nil, "%s for %v: %s", kind.name, d.Round(100*time.Millisecond), what)
		select {
		case <-ctx.Done():
		case <-time.After(d):
		}
		end()
		w.j.add(kindFault, nil, "end of fault #%d (%s)", e.Seq, kind.name)
		if ctx.Err() != nil {
			return
		}
	}
}

// oobLoop makes out-of-band changes in Konnect until ctx ends: a control plane of the
// controller deleted, a certificate removed, a name taken, a mirrored control plane deleted.
func (w *world) oobLoop(ctx context.Context, rng *rand.Rand) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(between(rng, 10*time.Second, 40*time.Second)):
		}
		var keys []string
		var text string
		switch r := rng.IntN(10); {
		case r < 4:
			keys, text = w.oobDeleteControlPlane(rng)
		case r < 7:
			keys, text = w.oobRemoveCertificate(rng)
		case r < 9:
			keys, text = w.oobTakeName(rng)
		default:
			keys, text = w.oobDeleteMirrored(rng)
		}
		if text == "" {
			continue
		}
		w.mu.Lock()
		w.oobs++
		w.mu.Unlock()
		w.j.add(kindOOB, keys, "%s", text)
		w.notify()
	}
}

// ownedEntries returns the controller's control planes in Konnect whose object the soak
// believes alive, in a stable order.
func (w *world) ownedEntries() []fakekonnect.ControlPlaneEntry {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []fakekonnect.ControlPlaneEntry
	for _, e := range w.front.snapshot() {
		if owned(e.ControlPlane) {
			if key := w.planeKeyByUID(e.ControlPlane.Labels[labelUIDKey]); key != "" {
				out = append(out, e)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ControlPlane.ID < out[j].ControlPlane.ID })
	return out
}

// deleteOwned deletes in Konnect one of the control planes of ownedEntries, and records when;
// it returns that control plane, the journal key of its object and the keys to journal the
// deletion with (nil when nothing was deleted).
func (w *world) deleteOwned(rng *rand.Rand) (e fakekonnect.ControlPlaneEntry, key string, keys []string) {
	entries := w.ownedEntries()
	if len(entries) == 0 {
		return e, "", nil
	}
	e = pickR(rng, entries)
	uid := e.ControlPlane.Labels[labelUIDKey]
	if !w.fake.DeleteControlPlaneDirect(e.ControlPlane.ID) {
		return e, "", nil
	}
	w.mu.Lock()
	w.directDeletes[uid] = append(w.directDeletes[uid], time.Now())
	key = w.planeKeyByUID(uid)
	w.mu.Unlock()
	return e, key, []string{keyUID(uid), keyKonnectCP(e.ControlPlane.ID), key}
}

func (w *world) oobDeleteControlPlane(rng *rand.Rand) ([]string, string) {
	e, key, keys := w.deleteOwned(rng)
	if keys == nil {
		return nil, ""
	}
	return keys, fmt.Sprintf("deleted in Konnect: control plane %s %q of %s (with its %d certificates)", e.ControlPlane.ID, e.ControlPlane.Name, key, len(e.Certificates))
}

func (w *world) oobRemoveCertificate(rng *rand.Rand) ([]string, string) {
	var withCerts []fakekonnect.ControlPlaneEntry
	for _, e := range w.front.snapshot() {
		if len(e.Certificates) > 0 {
			withCerts = append(withCerts, e)
		}
	}
	if len(withCerts) == 0 {
		return nil, ""
	}
	sort.Slice(withCerts, func(i, j int) bool { return withCerts[i].ControlPlane.ID < withCerts[j].ControlPlane.ID })
	e := pickR(rng, withCerts)
	cert := pickR(rng, e.Certificates)
	w.mu.Lock()
	token := w.observers[e.OrgID]
	w.mu.Unlock()
	code, _ := w.front.call(http.MethodDelete, e.Region, "/v2/control-planes/"+e.ControlPlane.ID+"/dp-client-certificates/"+cert.ID, token, nil)
	if code != http.StatusNoContent {
		return nil, "" // a fault refused it: nothing changed
	}
	return []string{keyKonnectCP(e.ControlPlane.ID), keyUID(e.ControlPlane.Labels[labelUIDKey])},
		fmt.Sprintf("removed in Konnect: certificate %s (SHA-256 %s…) from control plane %s %q", cert.ID, short(pemFingerprint(cert.Cert)), e.ControlPlane.ID, e.ControlPlane.Name)
}

// oobTakeName makes a control plane in Konnect (not the controller's) with a name the
// workload is about to give one of its own, or — deleting that one's control plane first — the
// name of one that exists; the heal removes these.
func (w *world) oobTakeName(rng *rand.Rand) ([]string, string) {
	w.mu.Lock()
	next := w.peekCPName()
	w.mu.Unlock()
	if rng.IntN(2) == 0 {
		org, region := pickR(rng, orgIDs), pickR(rng, regions)
		return w.squat(org, region, next, nil, "a name the workload will use next")
	}
	e, key, keys := w.deleteOwned(rng)
	if keys == nil {
		return nil, ""
	}
	return w.squat(e.OrgID, e.Region, e.ControlPlane.Name, keys,
		fmt.Sprintf("the name of %s, whose control plane %s was deleted in Konnect first", key, e.ControlPlane.ID))
}

func (w *world) squat(org, region, name string, keys []string, why string) ([]string, string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	id, err := w.fake.AddControlPlane(w.observers[org], region, fakekonnect.ControlPlaneSpec{Name: name})
	if err != nil {
		return nil, ""
	}
	w.squatters = append(w.squatters, squatter{id: id, org: org, region: region, name: name})
	return append(keys, keyKonnectCP(id)), fmt.Sprintf("name taken in Konnect: control plane %s %q made in organization %s, region %s (%s)", id, name, org, region, why)
}

func (w *world) oobDeleteMirrored(rng *rand.Rand) ([]string, string) {
	w.mu.Lock()
	var targets []*mirrorRec
	for _, m := range w.mirrors {
		if !m.deleted {
			targets = append(targets, m)
		}
	}
	w.mu.Unlock()
	if len(targets) == 0 {
		return nil, ""
	}
	m := pickR(rng, targets)
	if !w.fake.DeleteControlPlaneDirect(m.id) {
		return nil, ""
	}
	w.mu.Lock()
	m.deleted = true
	w.mu.Unlock()
	return []string{keyKonnectCP(m.id)}, fmt.Sprintf("deleted in Konnect: mirrored control plane %s %q", m.id, m.name)
}

// heal ends the chaos: no more faults, every revoked token valid again, every name taken
// out of band free again. What users did (deletions, grants revoked, Secrets rotated) stays.
func (w *world) heal() {
	w.fake.SetBehavior(fakekonnect.BehaviorNormal)
	w.front.setCut(nil)
	w.mu.Lock()
	defer w.mu.Unlock()
	for t, r := range w.tokens {
		w.fake.SetTokenBehavior(t, fakekonnect.BehaviorNormal)
		if !r.registered {
			w.fake.AddToken(t, r.org)
			r.registered = true
			w.j.add(kindHeal, append([]string{keyToken(fakekonnect.ShortTokenHash(t))}, w.holders(t)...), "token %s valid again", fakekonnect.ShortTokenHash(t))
		}
	}
	for _, s := range w.squatters {
		if w.fake.DeleteControlPlaneDirect(s.id) {
			w.j.add(kindHeal, []string{keyKonnectCP(s.id)}, "removed control plane %s %q that took a name (organization %s, region %s)", s.id, s.name, s.org, s.region)
		}
	}
	w.squatters = nil
	w.j.add(kindHeal, nil, "faults cleared")
	go w.notify() // mu is held here
}
