package soak

// The front: a wrapper around the fake Konnect's API (fakekonnect.Options.Wrap), served by the
// fake's own TLS server behind its CONNECT proxy, so that every write a controller sends is
// recorded with what its body says — the k8s-uid label of a created control plane, the
// fingerprint of a registered certificate — which the fake's own request log does not keep.
// Everything else (behaviors, counts, the request log) is the fake's, unchanged. The front
// can also lose the answer of a write after the write took effect (the connection is cut),
// which the fake's spoiling modes cannot do for the 204 of a DELETE.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/konnect-auth-controller/konnect-auth-controller/test/fakekonnect"
)

// konnectWrite is one write a controller sent to Konnect, as the front saw it.
type konnectWrite struct {
	At     time.Time
	Method string
	Host   string
	Path   string
	// Token is fakekonnect.ShortTokenHash of the bearer token.
	Token string
	// Status is the status code the fake answered (before the front cut the answer, if it
	// did); 0 when it never answered (a hang the client gave up on).
	Status int
	// Cut says the front cut the connection after the fake answered (an answer lost).
	Cut bool
	// UID and Name are the k8s-uid label and the name of a POST /v2/control-planes.
	UID, Name string
	// Existing are the control planes that carried UID (in any organization) just before a
	// POST /v2/control-planes; Created are those that carried it after it and not before.
	Existing, Created []string
	// CPID is the control plane a path below /v2/control-planes/{id} names.
	CPID string
	// CertFP is the SHA-256 of the DER of a registered certificate; CertID the certificate
	// a DELETE names.
	CertFP, CertID string
}

func (w konnectWrite) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s%s -> %d", w.Method, w.Host, w.Path, w.Status)
	if w.Cut {
		b.WriteString(" (answer lost: connection cut after the change took effect)")
	}
	if w.UID != "" {
		fmt.Fprintf(&b, " k8s-uid=%s name=%q", w.UID, w.Name)
	}
	if len(w.Existing) > 0 {
		fmt.Fprintf(&b, " existing-before=%v", w.Existing)
	}
	if len(w.Created) > 0 {
		fmt.Fprintf(&b, " created=%v", w.Created)
	}
	if w.CertFP != "" {
		fmt.Fprintf(&b, " cert=%s", w.CertFP[:12])
	}
	fmt.Fprintf(&b, " token=%s", w.Token)
	return b.String()
}

// successful reports whether the fake carried the write out (2xx), whatever the client saw.
func (w konnectWrite) successful() bool { return w.Status >= 200 && w.Status <= 299 }

// cutRule makes the front cut the connection after the fake answered a matching write
// successfully: the change took effect, the answer is lost.
type cutRule struct {
	Method string // "" for any write
	Path   string // a fakekonnect path pattern ("*" = one segment), "" for any
}

func (r cutRule) matches(method, path string) bool {
	return isWriteMethod(method) && (r.Method == "" || r.Method == method) && (r.Path == "" || fakekonnect.PathMatches(r.Path, path))
}

// front wraps the fake's API, recording writes.
type front struct {
	fake  *fakekonnect.Server
	api   http.Handler
	admin http.Handler

	onWrite func(konnectWrite)

	mu     sync.Mutex
	writes []konnectWrite
	cut    *cutRule
}

// startFakeKonnect starts the fake Konnect in this process, its CA written into dir, with the
// front wrapped around its API.
func startFakeKonnect(dir string) (*fakekonnect.Server, *front, error) {
	f := &front{}
	fake, err := fakekonnect.Start(fakekonnect.Options{Dir: dir, Wrap: func(api http.Handler) http.Handler {
		f.api = api
		return f
	}})
	if err != nil {
		return nil, nil, err
	}
	f.fake, f.admin = fake, fake.AdminHandler()
	return fake, f, nil
}

// setCut sets (nil: clears) the rule by which answers to writes are lost.
func (f *front) setCut(r *cutRule) {
	f.mu.Lock()
	f.cut = r
	f.mu.Unlock()
}

// Writes returns a copy of the writes recorded so far, oldest first.
func (f *front) Writes() []konnectWrite {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.writes)
}

// ServeHTTP records a write around the fake's API handler.
func (f *front) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !isWriteMethod(r.Method) || !strings.HasPrefix(r.URL.Path, "/v2/control-planes") {
		f.api.ServeHTTP(w, r)
		return
	}
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	r.Body = io.NopCloser(bytes.NewReader(body))
	rec := konnectWrite{
		At: time.Now(), Method: r.Method, Host: r.Host, Path: r.URL.Path,
		Token: fakekonnect.ShortTokenHash(fakekonnect.BearerToken(r.Header.Get("Authorization"))),
	}
	seg := strings.Split(strings.TrimPrefix(r.URL.Path, "/v2/control-planes"), "/")
	if len(seg) >= 2 {
		rec.CPID = seg[1]
	}
	if len(seg) == 4 && seg[2] == "dp-client-certificates" {
		rec.CertID = seg[3]
	}
	switch {
	case r.Method == http.MethodPost && r.URL.Path == "/v2/control-planes":
		var req struct {
			Name   string            `json:"name"`
			Labels map[string]string `json:"labels"`
		}
		_ = json.Unmarshal(body, &req)
		rec.UID, rec.Name = req.Labels["k8s-uid"], req.Name
		if rec.UID != "" {
			rec.Existing = f.idsWithUID(rec.UID)
		}
	case r.Method == http.MethodPost && len(seg) == 3 && seg[2] == "dp-client-certificates":
		var req struct {
			Cert string `json:"cert"`
		}
		_ = json.Unmarshal(body, &req)
		rec.CertFP = pemFingerprint(req.Cert)
	}

	f.mu.Lock()
	cut := f.cut != nil && f.cut.matches(r.Method, r.URL.Path)
	f.mu.Unlock()

	if cut {
		// Carry the write out, then lose the answer: cut the connection (an HTTP/2 stream
		// reset), as a proxy or a network failure does after the change took effect.
		buf := httptest.NewRecorder()
		f.api.ServeHTTP(buf, r)
		rec.Status = buf.Code
		if rec.successful() {
			rec.Cut = true
		}
		f.finish(&rec)
		if rec.Cut {
			panic(http.ErrAbortHandler)
		}
		for k, v := range buf.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(buf.Code)
		_, _ = w.Write(buf.Body.Bytes())
		return
	}
	sw := &fakekonnect.StatusWriter{ResponseWriter: w}
	defer func() {
		rec.Status = sw.Status()
		f.finish(&rec)
	}()
	f.api.ServeHTTP(sw, r)
}

// finish completes and stores a write record.
func (f *front) finish(rec *konnectWrite) {
	if rec.UID != "" && rec.successful() {
		for _, id := range f.idsWithUID(rec.UID) {
			if !slices.Contains(rec.Existing, id) {
				rec.Created = append(rec.Created, id)
			}
		}
	}
	f.mu.Lock()
	f.writes = append(f.writes, *rec)
	onWrite := f.onWrite
	f.mu.Unlock()
	if onWrite != nil {
		onWrite(*rec)
	}
}

// idsWithUID returns the control planes, in any organization and region, whose k8s-uid label
// is uid.
func (f *front) idsWithUID(uid string) []string {
	var ids []string
	for _, e := range f.snapshot() {
		if e.ControlPlane.Labels["k8s-uid"] == uid {
			ids = append(ids, e.ControlPlane.ID)
		}
	}
	return ids
}

// snapshot returns every control plane the fake holds, with its certificates, from the fake's
// admin API in this process.
func (f *front) snapshot() []fakekonnect.ControlPlaneEntry {
	rec := httptest.NewRecorder()
	f.admin.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/admin/control-planes", nil))
	var rep fakekonnect.ControlPlanesReport
	_ = json.Unmarshal(rec.Body.Bytes(), &rep)
	return rep.Items
}

// call sends one API request to the fake in this process (not through the front's recorder),
// as a person or another tool acting in Konnect would; it is subject to the fake's behaviors.
func (f *front) call(method, region, path, token string, body any) (int, []byte) {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	// Bounded: a hanging fault would otherwise hold the call for good.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req := httptest.NewRequest(method, "https://"+region+".api.konghq.com"+path, rd).WithContext(ctx)
	req.Host = region + ".api.konghq.com"
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	f.api.ServeHTTP(rec, req)
	return rec.Code, rec.Body.Bytes()
}

// pemFingerprint is the hex SHA-256 of the DER of the first PEM block, "" if there is none.
func pemFingerprint(p string) string {
	block, _ := pem.Decode([]byte(p))
	if block == nil {
		return ""
	}
	sum := sha256.Sum256(block.Bytes)
	return hex.EncodeToString(sum[:])
}

func isWriteMethod(m string) bool {
	switch m {
	case http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
		return true
	}
	return false
}
