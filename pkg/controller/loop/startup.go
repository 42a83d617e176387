package loop

import "k8s.io/client-go/tools/cache"

// The start-up backlog. When the caches first fill, every object's event handler adds its key
// at once: ten thousand keys before a single worker runs. Put straight into client-go's queue,
// they would size its maps (the dirty set, the metrics' add times, the queue itself) for ten
// thousand keys for the rest of the run: Go maps do not shrink. So the keys added before the
// workers start wait in a backlog of their own, in the order they came and without
// duplicates, and go into the queue a few at a time as the workers take them; the backlog is
// released once it is empty. A key added while it is still waiting in the backlog (an edit
// made during the start) goes into the queue at once and leaves the backlog: a user's change
// does not wait behind the start-up's thousands.
//
// A burst of keys after the start — the configurations woken together when a Konnect check
// ends, ten thousand within a second or two — takes the same way (AddBatch).
//
// Len and the queue's depth metric (workqueue_depth) count the backlog too.

// minFeedAhead is how many keys, at least, the queue holds while the backlog has more: enough
// that no worker waits on an empty queue between two feeds. Run raises it to four per worker.
const minFeedAhead = 64

// Add queues key, or keeps it in the backlog until the workers start.
func (l *Loop) Add(key cache.ObjectName) {
	l.backlogMu.Lock()
	if !l.started {
		l.toBacklogLocked(key)
		l.backlogMu.Unlock()
		return
	}
	// Fed from the backlog later, it would be reconciled twice.
	l.leaveBacklog(key)
	l.backlogMu.Unlock()
	l.TypedRateLimitingInterface.Add(key)
}

// AddBatch queues keys that come back together, through the backlog: they enter client-go's
// queue as the workers take them, in order, once each. A key among them that is added on its
// own meanwhile goes in at once, as at the start.
func (l *Loop) AddBatch(keys []cache.ObjectName) {
	l.backlogMu.Lock()
	defer l.backlogMu.Unlock()
	for _, key := range keys {
		l.toBacklogLocked(key)
	}
	if l.started {
		// Wakes a worker that waits in Get on an empty queue.
		l.feedLocked()
	}
}

// toBacklogLocked puts key at the end of the backlog, unless it waits there already (under
// backlogMu).
func (l *Loop) toBacklogLocked(key cache.ObjectName) {
	if _, dup := l.inBacklog[key]; !dup {
		l.inBacklog[key] = struct{}{}
		l.backlog = append(l.backlog, key)
		l.backlogDepth.Inc()
	}
}

// Get starts the workers' phase (what Add adds from now on is queued at once), tops the queue
// up from the backlog and takes the next key; it blocks while there is none.
func (l *Loop) Get() (cache.ObjectName, bool) {
	l.feed()
	return l.TypedRateLimitingInterface.Get()
}

// Len is the number of keys waiting: in the queue and in the backlog.
func (l *Loop) Len() int {
	l.backlogMu.Lock()
	waiting := len(l.inBacklog)
	l.backlogMu.Unlock()
	return l.TypedRateLimitingInterface.Len() + waiting
}

// feed starts the workers' phase and tops the queue up from the backlog.
func (l *Loop) feed() {
	l.backlogMu.Lock()
	defer l.backlogMu.Unlock()
	l.started = true
	l.feedLocked()
}

// feedLocked moves keys from the backlog into the queue until the queue holds feedAhead of
// them or the backlog is empty (under backlogMu).
func (l *Loop) feedLocked() {
	if len(l.backlog) == 0 {
		return
	}
	for len(l.backlog) > 0 && l.TypedRateLimitingInterface.Len() < l.feedAhead {
		key := l.backlog[0]
		l.backlog = l.backlog[1:]
		if l.leaveBacklog(key) {
			l.TypedRateLimitingInterface.Add(key)
		}
	}
	if len(l.backlog) == 0 {
		// Let the slice and the map go: an empty map keeps its size.
		l.backlog, l.inBacklog = nil, map[cache.ObjectName]struct{}{}
	}
}

// leaveBacklog takes key out of the backlog's set, if it is there (otherwise it was queued
// directly meanwhile), and reports whether it was. backlogMu is held.
func (l *Loop) leaveBacklog(key cache.ObjectName) bool {
	if _, waiting := l.inBacklog[key]; !waiting {
		return false
	}
	delete(l.inBacklog, key)
	l.backlogDepth.Dec()
	return true
}

// noDepth is the depth metric of a loop without metrics.
type noDepth struct{}

func (noDepth) Inc() {}
func (noDepth) Dec() {}

// setFeedAhead sizes the feed for workers workers.
func (l *Loop) setFeedAhead(workers int) {
	l.backlogMu.Lock()
	defer l.backlogMu.Unlock()
	l.feedAhead = max(minFeedAhead, 4*workers)
}
