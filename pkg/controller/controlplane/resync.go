package controlplane

// Drift detection by the page (issue 19): a control plane in line with Konnect is not queued
// again every sync period. Each account (server URL and token) whose control planes are in line
// is itself a key of its own small loop, the re-sync loop: every period (or longer, within the
// listings' share of --konnect-qps) it lists the account once, compares every such control
// plane with its object locally, and queues only those that drifted or vanished. A vanished one
// is confirmed by a GET in its reconcile (current) before anything is re-created.

import (
	"context"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"

	konnectv1alpha2 "github.com/konnect-auth-controller/konnect-auth-controller/pkg/apis/konnect/v1alpha2"
	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/controller/loop"
	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/konnect"
)

// resyncQueueName is the re-sync loop's name: its workqueue in the metrics, its log lines.
const resyncQueueName = Name + "-resyncs"

// maxResyncWorkers: accounts are listed a few at a time; the limiter paces their pages anyway.
const maxResyncWorkers = 4

// watch hands the control plane key, in line with Konnect through auth, to the re-sync of that
// account (and takes it from any other account's): from now on it is queued when a listing
// shows it drifted or gone. The account's re-sync is scheduled when it is the first.
func (c *Controller) watch(key cache.ObjectName, auth konnect.Auth) {
	if account, first := c.listings.watch(key, auth); first {
		c.resyncs.AddAfter(cache.ObjectName{Name: account}, c.listings.maxAge())
	}
}

// resync lists one account's control planes (when its latest listing is due) and queues those
// of its watched objects that drifted. The key's name is the account's hash: no token.
func (c *Controller) resync(ctx context.Context, key cache.ObjectName) (loop.Result, error) {
	logger := klog.FromContext(ctx)
	account := key.Name
	auth, due, ok := c.listings.resyncDue(account)
	if !ok {
		logger.V(4).Info("No control plane left to re-sync in the account")
		return loop.Result{}, nil
	}
	if due {
		// A re-sync's listing gives way to user-driven calls (konnect.Resync).
		if err := c.listings.refresh(konnect.Resync(ctx), auth); err != nil {
			if konnect.IsTransient(err) {
				return loop.Result{Transient: err}, nil
			}
			// Refused (a revoked token, a role that may no longer read control planes): the
			// listing says nothing of them, so each goes back to its own reconcile, which
			// asks Konnect about it and reports the answer in its conditions. The re-sync
			// ends; the first of them back in line schedules it again.
			released := c.listings.release(account)
			for _, obj := range released {
				c.loop.Add(obj)
			}
			logger.V(2).Info("Listing the account's control planes was refused; each goes back to its own reconcile", "controlPlanes", len(released), "err", err.Error())
			return loop.Result{}, nil
		}
	}
	drifted, watched := c.listings.compare(account, c.drifted)
	for _, obj := range drifted {
		c.loop.Add(obj)
	}
	logger.V(2).Info("Re-synced an account's control planes", "watched", watched, "drifted", len(drifted))
	return loop.Result{After: wait.Jitter(c.listings.maxAge(), syncJitter)}, nil
}

// drifted says whether the control plane key, as the cache holds it, differs from what the
// listing says of it: gone from the listing, a spec the listing does not match, or a status
// the listing would change. A key whose object is gone, or no longer in line (its reconcile
// took it back), is forgotten (forget).
func (c *Controller) drifted(key cache.ObjectName, byID map[string]konnect.ControlPlane) (drift, forget bool) {
	cp, err := c.planes.KonnectGatewayControlPlanes(key.Namespace).Get(key.Name)
	if apierrors.IsNotFound(err) || (err == nil && cp.DeletionTimestamp != nil) {
		return false, true
	}
	if err != nil {
		return true, false
	}
	var id string
	if isMirror(cp) {
		if cp.Spec.Mirror != nil {
			id = string(cp.Spec.Mirror.Konnect.ID)
		}
	} else {
		id = c.konnectID(cp)
	}
	listed, found := byID[id]
	if id == "" || !found {
		return true, false
	}
	if !isMirror(cp) && (cp.Spec.CreateControlPlaneRequest == nil || cp.Spec.CreateControlPlaneRequest.Name == nil || !matches(&listed, desiredSpec(cp))) {
		return true, false
	}
	var want konnectv1alpha2.KonnectGatewayControlPlaneStatus
	setFromKonnect(&want, &listed)
	return cp.Status.ClusterType != want.ClusterType || !equality.Semantic.DeepEqual(cp.Status.Endpoints, want.Endpoints), false
}

// watch files key under auth's account, taking it from any other; first is true when the
// account's re-sync is not scheduled yet (it is from now on).
func (l *listings) watch(key cache.ObjectName, auth konnect.Auth) (account string, first bool) {
	account = accountKey(auth)
	l.mu.Lock()
	defer l.mu.Unlock()
	if prev, ok := l.watchedIn[key]; ok && prev != account {
		if a := l.accounts[prev]; a != nil {
			delete(a.watched, key)
		}
	}
	l.watchedIn[key] = account
	a := l.accountLocked(account)
	a.auth = auth
	a.watched[key] = struct{}{}
	first = !a.scheduled
	a.scheduled = true
	return account, first
}

// resyncGroup counts key, a group in line with Konnect, among the re-sync reads (its reconcile
// reads its members, which no listing shows) and takes it out of any account's re-sync. It
// returns when the group's reconcile is due again: with the listings, at their maximum age.
func (l *listings) resyncGroup(key cache.ObjectName) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.unwatchLocked(key)
	l.groups[key] = struct{}{}
	return l.maxAgeLocked()
}

// unwatch takes key out of its account's re-sync, and out of the groups' re-sync reads: its
// reconcile looks at it on its own schedule (a failure, a deletion) or it is gone.
func (l *listings) unwatch(key cache.ObjectName) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.unwatchLocked(key)
	delete(l.groups, key)
}

// unwatchLocked takes key out of its account's re-sync (under mu).
func (l *listings) unwatchLocked(key cache.ObjectName) {
	if account, ok := l.watchedIn[key]; ok {
		delete(l.watchedIn, key)
		if a := l.accounts[account]; a != nil {
			delete(a.watched, key)
		}
	}
}

// release takes every key the account watches out of its re-sync, which ends (it is
// scheduled again by the next watch), and returns them.
func (l *listings) release(account string) []cache.ObjectName {
	l.mu.Lock()
	defer l.mu.Unlock()
	a := l.accounts[account]
	if a == nil {
		return nil
	}
	out := make([]cache.ObjectName, 0, len(a.watched))
	for key := range a.watched {
		out = append(out, key)
		delete(l.watchedIn, key)
	}
	clear(a.watched)
	a.scheduled = false
	return out
}

// resyncDue says with what auth to list the account and whether its latest listing is older
// than its maximum age; ok is false, and the re-sync ends, when the account watches nothing.
func (l *listings) resyncDue(account string) (auth konnect.Auth, due, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	a := l.accounts[account]
	if a == nil || len(a.watched) == 0 {
		if a != nil {
			a.scheduled = false
		}
		return konnect.Auth{}, false, false
	}
	due = a.latest == nil || l.clock.Since(a.latest.started) >= l.maxAgeLocked()
	return a.auth, due, true
}

// compare runs drifted on every key the account watches against its latest listing, forgets
// those it says to, and returns those that drifted and how many it looked at.
func (l *listings) compare(account string, drifted func(cache.ObjectName, map[string]konnect.ControlPlane) (bool, bool)) ([]cache.ObjectName, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	a := l.accounts[account]
	if a == nil || a.latest == nil {
		return nil, 0
	}
	var out []cache.ObjectName
	looked := len(a.watched)
	for key := range a.watched {
		drift, forget := drifted(key, a.latest.byID)
		if drift || forget {
			delete(a.watched, key)
			delete(l.watchedIn, key)
		}
		if drift {
			out = append(out, key)
		}
	}
	return out, looked
}

// maxAge is maxAgeLocked for callers outside mu.
func (l *listings) maxAge() time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.maxAgeLocked()
}

// accountLocked is the account under key, made when there is none (under mu).
func (l *listings) accountLocked(key string) *account {
	a := l.accounts[key]
	if a == nil {
		a = &account{changes: map[string]change{}, watched: map[cache.ObjectName]struct{}{}}
		l.accounts[key] = a
	}
	return a
}
