package controlplane

// Konnect by the page: one listing per account (server URL and token) of its control planes,
// taken every sync period (less often when the pages would take more than their share of
// --konnect-qps), answers what one GET per control plane and one lookup per create used to
// (issue 19). The account's re-sync compares each object with it locally and queues only those
// that drifted (resync.go); creates look in it for their own k8s-uid label.

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/clock"

	konnectv1alpha2 "github.com/konnect-auth-controller/konnect-auth-controller/pkg/apis/konnect/v1alpha2"
	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/konnect"
)

// listing is what one listing of an account said.
type listing struct {
	// started is when the listing began, for its age; seq numbers the listings begun by this
	// process (Mark): a control plane created before the listing began is in it, one created
	// after may not be.
	started time.Time
	seq     uint64
	// pages is how many pages the listing took.
	pages int
	byID  map[string]konnect.ControlPlane
	byUID map[string]konnect.ControlPlane
}

// listings keeps the latest listing of every account, and what this process changed in
// Konnect since, so that a listing agrees with the creates, updates and deletes it missed.
type listings struct {
	api   konnect.ControlPlaneAPI
	clock clock.Clock
	// period is the sync period: a listing is taken again once it is older (maxAgeLocked).
	period time.Duration
	// qps is --konnect-qps, or 0: see maxAgeLocked.
	qps float64

	flight singleflight.Group
	begun  atomic.Uint64

	mu       sync.Mutex
	accounts map[string]*account
	// watchedIn is the account each watched control plane is filed under (resync.go).
	watchedIn map[cache.ObjectName]string
	// groups are the control plane groups in line with Konnect: no listing shows their
	// members, so each reads its own at every sync, a re-sync read like a listing's page
	// (resyncGroup).
	groups map[cache.ObjectName]struct{}
}

// account is one account's listing and the changes this process made after it began.
type account struct {
	latest *listing
	// changes since latest.started, by control-plane id: nil for a deletion.
	changes map[string]change

	// auth lists the account in its re-sync; watched are the control planes in line with it,
	// which its re-sync compares with each listing; scheduled: the re-sync loop holds the
	// account (resync.go).
	auth      konnect.Auth
	watched   map[cache.ObjectName]struct{}
	scheduled bool
}

type change struct {
	at time.Time
	cp *konnect.ControlPlane
}

func newListings(api konnect.ControlPlaneAPI, clk clock.Clock, period time.Duration, qps float64) *listings {
	return &listings{api: api, clock: clk, period: period, qps: qps, accounts: map[string]*account{},
		watchedIn: map[cache.ObjectName]string{}, groups: map[cache.ObjectName]struct{}{}}
}

// maxAgeLocked is how old a listing may be before it is taken again, and how often a group in
// line reads its members: the sync period, lengthened so that listing every account and
// reading every group's members once in that time stays within the listings' share of
// --konnect-qps (konnect.ResyncInterval; under mu). At --konnect-qps=20 that is up to 30 reads
// a minute: 3,000 control planes listed every minute; 10,000 every 3 m 20 s.
func (l *listings) maxAgeLocked() time.Duration {
	reads := len(l.groups)
	for _, a := range l.accounts {
		if a.latest != nil {
			reads += a.latest.pages
		}
	}
	return konnect.ResyncInterval(l.period, reads, l.qps)
}

func accountKey(auth konnect.Auth) string { return konnect.Hashed(auth.Token, auth.ServerURL) }

// Mark numbers the listings begun so far. Taken once the answer to a create is given up on, it
// is the point a listing must have begun after to show what that create may have made.
func (l *listings) Mark() uint64 { return l.begun.Load() }

// lookup says what the account's latest listing says of a control plane, by id (or, with
// byUID, by k8s-uid label): fresh is false when there is no listing begun after mark that is
// younger than the maximum age (then found means nothing). What this process changed in
// Konnect after the listing began is applied.
func (l *listings) lookup(auth konnect.Auth, mark uint64, key string, byUID bool) (cp konnect.ControlPlane, found, fresh bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	a := l.accounts[accountKey(auth)]
	if a == nil || a.latest == nil || a.latest.seq <= mark || l.clock.Since(a.latest.started) > l.maxAgeLocked() {
		return konnect.ControlPlane{}, false, false
	}
	index := a.latest.byID
	if byUID {
		index = a.latest.byUID
	}
	cp, found = index[key]
	return cp, found, true
}

// refresh lists the account's control planes now, page by page; callers that ask while a
// listing of the same account is under way share it.
func (l *listings) refresh(ctx context.Context, auth konnect.Auth) error {
	key := accountKey(auth)
	_, err, _ := l.flight.Do(key, func() (any, error) {
		started, seq := l.clock.Now(), l.begun.Add(1)
		// Every control plane of the account, not only those with our managed-by label: one
		// made by Kong's operator (managed-by=kong-operator) is adopted by its k8s-uid too.
		cps, err := l.api.ListControlPlanes(ctx, auth, konnect.ControlPlaneFilter{})
		if err != nil {
			return nil, err
		}
		l.install(key, started, seq, cps)
		return nil, nil
	})
	return err
}

// install makes a listing that began at started the account's latest, with the changes this
// process made since applied, and forgets older changes.
func (l *listings) install(key string, started time.Time, seq uint64, cps []konnect.ControlPlane) {
	next := &listing{started: started, seq: seq, pages: max(1, (len(cps)+konnect.ListPageSize-1)/konnect.ListPageSize),
		byID: map[string]konnect.ControlPlane{}, byUID: map[string]konnect.ControlPlane{}}
	for _, cp := range cps {
		next.add(cp)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	a := l.accountLocked(key)
	if a.latest != nil && a.latest.seq > seq {
		return // a later listing won the race
	}
	for id, ch := range a.changes {
		if ch.at.Before(started) {
			delete(a.changes, id)
			continue
		}
		next.apply(id, ch.cp)
	}
	a.latest = next
	l.pruneLocked(key)
}

// forgottenAfter is how many sync periods an account's listing is kept without being listed
// again: an account nobody lists any more (its token rotated, its auth configuration deleted)
// is forgotten, with its listing, after that (or after three maximum ages, when longer).
const forgottenAfter = 3

// pruneLocked forgets the accounts, other than keep and those with control planes to re-sync
// (whose listings are due each period), that were neither listed nor changed for
// forgottenAfter maximum ages (under mu; run at each listing, so its cost is a sweep of the
// accounts once per account per sync period).
func (l *listings) pruneLocked(keep string) {
	cutoff := l.clock.Now().Add(-forgottenAfter * l.maxAgeLocked())
	for key, a := range l.accounts {
		if key == keep || len(a.watched) > 0 || (a.latest != nil && !a.latest.started.Before(cutoff)) {
			continue
		}
		recent := false
		for _, ch := range a.changes {
			recent = recent || !ch.at.Before(cutoff)
		}
		if !recent {
			delete(l.accounts, key)
		}
	}
}

// record notes that this process created or updated cp (or deleted id, cp nil) in the account:
// the latest listing, and any that began before now, agree.
func (l *listings) record(auth konnect.Auth, id string, cp *konnect.ControlPlane) {
	l.mu.Lock()
	defer l.mu.Unlock()
	a := l.accountLocked(accountKey(auth))
	a.changes[id] = change{at: l.clock.Now(), cp: cp}
	if a.latest != nil {
		a.latest.apply(id, cp)
	}
}

func (s *listing) add(cp konnect.ControlPlane) {
	s.byID[cp.ID] = cp
	if uid := cp.Labels[labelUID]; uid != "" {
		s.byUID[uid] = cp
	}
}

// apply sets id to cp, or removes it when cp is nil (under listings.mu, as every read).
func (s *listing) apply(id string, cp *konnect.ControlPlane) {
	if old, ok := s.byID[id]; ok {
		delete(s.byID, id)
		if uid := old.Labels[labelUID]; uid != "" && s.byUID[uid].ID == id {
			delete(s.byUID, uid)
		}
	}
	if cp != nil {
		s.add(*cp)
	}
}

// current is the control plane id of the account, as the latest listing says (listing the
// account again when that is older than its maximum age), or, when the listing does not have
// it, as Konnect answers a GET of it: a control plane that is not listed has vanished, and a GET
// confirms it before it is created again. A missing one is ErrorNotFound.
func (c *Controller) current(ctx context.Context, auth konnect.Auth, id string) (*konnect.ControlPlane, error) {
	// The listing is a re-sync's: it gives way to user-driven calls (konnect.Resync).
	cp, found, err := c.listed(konnect.Resync(ctx), auth, 0, id, false)
	if err != nil {
		return nil, err
	}
	if found {
		return &cp, nil
	}
	return c.api.GetControlPlane(ctx, auth, id)
}

// ownInKonnect is the control plane that carries cp's k8s-uid label, or nil: found in a
// listing of the account that began after any create of cp whose answer this process did not
// get (uncertain), so that a create whose answer was lost is found, and at most one POST per
// object succeeds. The listing is shared: a thousand creates cost one listing, not a thousand
// lookups.
func (c *Controller) ownInKonnect(ctx context.Context, cp *konnectv1alpha2.KonnectGatewayControlPlane, auth konnect.Auth) (*konnect.ControlPlane, error) {
	var mark uint64
	if v, ok := c.uncertain.Load(cp.UID); ok {
		mark = v.(uint64)
	}
	own, found, err := c.listed(ctx, auth, mark, string(cp.UID), true)
	if err != nil || !found {
		return nil, err
	}
	return &own, nil
}

// listed looks key up in the account's latest listing begun after mark, listing the account
// (again) when there is none.
func (c *Controller) listed(ctx context.Context, auth konnect.Auth, mark uint64, key string, byUID bool) (konnect.ControlPlane, bool, error) {
	// A listing under way may have begun before mark: then one more.
	for range 2 {
		if cp, found, fresh := c.listings.lookup(auth, mark, key, byUID); fresh {
			return cp, found, nil
		}
		if err := c.listings.refresh(ctx, auth); err != nil {
			return konnect.ControlPlane{}, false, err
		}
	}
	return konnect.ControlPlane{}, false, &konnect.APIError{Op: "listing control planes", Kind: konnect.ErrorTransient,
		Message: "no listing of the control planes began after the last create whose answer was lost"}
}
