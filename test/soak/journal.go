package soak

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
)

// Entry kinds. Only causeKinds can explain a condition turning False.
const (
	kindOp       = "op"        // a workload operation on the cluster or on the tokens
	kindOpFailed = "op-failed" // one the apiserver refused (it changed nothing)
	kindOOB      = "oob"       // an out-of-band change in Konnect
	kindFault    = "fault"     // a Konnect fault started or ended
	kindKill     = "kill"      // a controller was killed or started
	kindKonnect  = "konnect"   // a write a controller sent to Konnect
	kindFlip     = "flip"      // a condition turned from True to False
	kindHeal     = "heal"      // the end of the chaos: credentials restored, faults cleared
	kindInject   = "inject"    // a violation injected on purpose (SOAK_INJECT)
)

// causeKinds are the entries that change what an object depends on.
var causeKinds = []string{kindOp, kindOOB, kindHeal}

// entry is one line of the journal. Keys name what it touched: "Kind/namespace/name" for
// Kubernetes objects, "Namespace/ns", "Grants/ns" (any grant in ns), "UID/uid",
// "KonnectCP/id", "Token/hash".
type entry struct {
	Seq  int
	At   time.Time
	Kind string
	Keys []string
	Text string
}

// journal is everything that happened in a run, in order, indexed by key, so that a
// violation can be shown with the history that led to it.
type journal struct {
	start time.Time

	mu      sync.Mutex
	entries []entry
	byKey   map[string][]int
}

func newJournal(start time.Time) *journal {
	return &journal{start: start, byKey: map[string][]int{}}
}

// add appends an entry and returns it.
func (j *journal) add(kind string, keys []string, format string, args ...any) entry {
	j.mu.Lock()
	defer j.mu.Unlock()
	e := entry{Seq: len(j.entries), At: time.Now(), Kind: kind, Keys: dedupe(keys), Text: fmt.Sprintf(format, args...)}
	j.entries = append(j.entries, e)
	for _, k := range e.Keys {
		j.byKey[k] = append(j.byKey[k], e.Seq)
	}
	return e
}

// history returns the entries that touched any of keys, in order.
func (j *journal) history(keys ...string) []entry {
	j.mu.Lock()
	defer j.mu.Unlock()
	var seqs []int
	for _, k := range keys {
		seqs = append(seqs, j.byKey[k]...)
	}
	slices.Sort(seqs)
	seqs = slices.Compact(seqs)
	out := make([]entry, len(seqs))
	for i, s := range seqs {
		out[i] = j.entries[s]
	}
	return out
}

// lastCause returns the latest cause entry (causeKinds) that touched any of keys at or after
// since.
func (j *journal) lastCause(keys []string, since time.Time) (entry, bool) {
	var best entry
	found := false
	for _, e := range j.history(keys...) {
		if e.At.Before(since) || !slices.Contains(causeKinds, e.Kind) {
			continue
		}
		if !found || e.Seq > best.Seq {
			best, found = e, true
		}
	}
	return best, found
}

// between returns the entries of kinds between from and to (both inclusive).
func (j *journal) between(from, to time.Time, kinds ...string) []entry {
	j.mu.Lock()
	defer j.mu.Unlock()
	var out []entry
	for _, e := range j.entries {
		if !e.At.Before(from) && !e.At.After(to) && (len(kinds) == 0 || slices.Contains(kinds, e.Kind)) {
			out = append(out, e)
		}
	}
	return out
}

// count returns how many entries of kind there are.
func (j *journal) count(kind string) int {
	j.mu.Lock()
	defer j.mu.Unlock()
	n := 0
	for _, e := range j.entries {
		if e.Kind == kind {
			n++
		}
	}
	return n
}

// format renders entries one per line, relative to the start of the run, at most max of
// them (the latest), with an indent.
func (j *journal) format(entries []entry, max int, indent string) string {
	var b strings.Builder
	if len(entries) > max {
		fmt.Fprintf(&b, "%s… %d earlier entries left out\n", indent, len(entries)-max)
		entries = entries[len(entries)-max:]
	}
	for _, e := range entries {
		fmt.Fprintf(&b, "%s%8.1fs %-9s %s\n", indent, e.At.Sub(j.start).Seconds(), e.Kind, e.Text)
	}
	return b.String()
}

func dedupe(keys []string) []string {
	out := make([]string, 0, len(keys))
	for _, k := range keys {
		if k != "" && !slices.Contains(out, k) {
			out = append(out, k)
		}
	}
	return out
}

// Journal keys.
func keySecret(ns, name string) string      { return "Secret/" + ns + "/" + name }
func keyConfig(ns, name string) string      { return "KonnectAPIAuthConfiguration/" + ns + "/" + name }
func keyPlane(ns, name string) string       { return "KonnectGatewayControlPlane/" + ns + "/" + name }
func keyExt(ns, name string) string         { return "KonnectExtension/" + ns + "/" + name }
func keyGrant(ns, name string) string       { return "KongReferenceGrant/" + ns + "/" + name }
func keyGrants(ns string) string            { return "Grants/" + ns }
func keyNamespace(ns string) string         { return "Namespace/" + ns }
func keyUID(uid string) string              { return "UID/" + uid }
func keyKonnectCP(id string) string         { return "KonnectCP/" + id }
func keyToken(shortHash string) string      { return "Token/" + shortHash }
func nsName(ns, name string) string         { return ns + "/" + name }
func splitNsName(s string) (string, string) { ns, n, _ := strings.Cut(s, "/"); return ns, n }
