package fakekonnect

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestRequestLog(t *testing.T) {
	srv := start(t, Options{})
	a := newAPI(t, srv, tokenA)

	before := time.Now()
	getMe(t, a.c, meURL, tokenA)
	id := a.create(usAPI, map[string]any{"name": "cp", "labels": map[string]string{"k8s-uid": "u-1"}})["id"].(string)
	a.do("POST", usAPI+"/v2/control-planes", map[string]string{"name": "cp"}) // 409
	a.do("GET", usAPI+"/v2/control-planes?labels=k8s-uid:u-1&page[size]=100", nil)
	a.as("kpat_unknown").do("GET", euAPI+"/v2/control-planes/"+id, nil)
	createCert(t, a, id, string(newCertPEM(t, "x")))
	a.do("DELETE", usAPI+"/v2/control-planes/"+id, nil)
	a.do("GET", globalAPI+"/v2/control-planes", nil)
	after := time.Now()

	want := []Request{
		{Method: "GET", Host: "global.api.konghq.com", Path: mePath, Status: 200},
		{Method: "POST", Host: "us.api.konghq.com", Path: "/v2/control-planes", Status: 201},
		{Method: "POST", Host: "us.api.konghq.com", Path: "/v2/control-planes", Status: 409},
		{Method: "GET", Host: "us.api.konghq.com", Path: "/v2/control-planes", Query: "labels=k8s-uid:u-1&page[size]=100", Status: 200},
		{Method: "GET", Host: "eu.api.konghq.com", Path: "/v2/control-planes/" + id, Status: 401},
		{Method: "POST", Host: "us.api.konghq.com", Path: "/v2/control-planes/" + id + "/dp-client-certificates", Status: 201},
		{Method: "DELETE", Host: "us.api.konghq.com", Path: "/v2/control-planes/" + id, Status: 204},
		{Method: "GET", Host: "global.api.konghq.com", Path: "/v2/control-planes", Status: 404},
	}
	got := srv.Requests()
	if len(got) != len(want) {
		t.Fatalf("Requests = %+v, want %d entries", got, len(want))
	}
	for i, w := range want {
		g := got[i]
		w.TokenHash = ShortTokenHash(tokenA)
		if i == 4 {
			w.TokenHash = ShortTokenHash("kpat_unknown")
		}
		w.At = g.At
		if g != w {
			t.Errorf("request %d = %+v, want %+v", i, g, w)
		}
		if g.At.Before(before) || g.At.After(after) || (i > 0 && g.At.Before(got[i-1].At)) {
			t.Errorf("request %d at %v, want in order within [%v, %v]", i, g.At, before, after)
		}
	}
	if p := got[3].Params(); p.Get("labels") != "k8s-uid:u-1" || p.Get("page[size]") != "100" {
		t.Errorf("Params = %v", p)
	}
	if !strings.HasPrefix(got[0].TokenHash, "sha256:") || len(got[0].TokenHash) != len("sha256:")+12 ||
		!strings.HasPrefix(TokenHash(tokenA), strings.TrimPrefix(got[0].TokenHash, "sha256:")) {
		t.Errorf("TokenHash = %q, want sha256: and the first 12 hex digits of TokenHash", got[0].TokenHash)
	}

	// The log never holds a token, in any form a test could print.
	dump, _ := json.Marshal(got)
	for _, token := range []string{tokenA, strings.TrimPrefix(tokenA, "kpat_"), "kpat_unknown"} {
		if strings.Contains(string(dump), token) {
			t.Errorf("the request log holds the token %.8s…: %s", token, dump)
		}
	}

	counts := map[[2]string]int{
		{"POST", "/v2/control-planes"}:                            2,
		{"post", "/v2/control-planes"}:                            2,
		{"GET", "/v2/control-planes"}:                             2,
		{"", "/v2/control-planes"}:                                4,
		{"", "/v2/control-planes/*"}:                              2,
		{"DELETE", "/v2/control-planes/*"}:                        1,
		{"POST", "/v2/control-planes/*/dp-client-certificates"}:   1,
		{"POST", "/v2/control-planes/*/dp-client-certificates/*"}: 0,
		{"GET", mePath}:                                           1,
		{"", ""}:                                                  8,
		{"PATCH", ""}:                                             0,
		{"", "/v2/*"}:                                             4,
		{"", "/v2/c*"}:                                            0,
		{"", "/v2/**"}:                                            0,
		{"", "/v2/contro"}:                                        0,
	}
	for k, n := range counts {
		if got := srv.CountRequests(k[0], k[1]); got != n {
			t.Errorf("CountRequests(%q, %q) = %d, want %d", k[0], k[1], got, n)
		}
	}
	wantKinds := map[RequestKind]int{KindTokenCheck: 1, KindCreate: 2, KindListPage: 2, KindGet: 1, KindRegistration: 1, KindDelete: 1}
	if byKind := srv.CountByKind(); !maps.Equal(byKind, wantKinds) {
		t.Errorf("CountByKind = %v, want %v", byKind, wantKinds)
	}
	if got[4].IsWrite() || !got[1].IsWrite() || !got[6].IsWrite() {
		t.Errorf("IsWrite: GET %v, POST %v, DELETE %v", got[4].IsWrite(), got[1].IsWrite(), got[6].IsWrite())
	}
	if m := srv.RequestsMatching("POST", "/v2/control-planes"); len(m) != 2 || m[0].Status != 201 || m[1].Status != 409 {
		t.Errorf("RequestsMatching = %+v", m)
	}

	// The counters go on counting every request too.
	if srv.Calls() != 8 || srv.CallsFor(tokenA) != 7 || srv.CallsFor("kpat_unknown") != 1 {
		t.Errorf("Calls %d, CallsFor A %d, unknown %d", srv.Calls(), srv.CallsFor(tokenA), srv.CallsFor("kpat_unknown"))
	}

	// ResetRequests empties the log only; ResetCounts both.
	srv.ResetRequests()
	if len(srv.Requests()) != 0 || srv.Calls() != 8 {
		t.Errorf("after ResetRequests: %d logged, %d calls", len(srv.Requests()), srv.Calls())
	}
	a.do("GET", usAPI+"/v2/control-planes", nil)
	if srv.CountRequests("GET", "/v2/control-planes") != 1 {
		t.Errorf("the log does not go on after ResetRequests: %+v", srv.Requests())
	}
	srv.ResetCounts()
	if len(srv.Requests()) != 0 || srv.Calls() != 0 {
		t.Errorf("after ResetCounts: %d logged, %d calls", len(srv.Requests()), srv.Calls())
	}
}

func TestRequestLogHangingRequest(t *testing.T) {
	srv := start(t, Options{})
	srv.SetBehavior(Behavior{Mode: ModeHang, Path: "/v2/control-planes"})
	a := newAPI(t, srv, tokenA)
	a.c.Timeout = 0

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		req, _ := http.NewRequestWithContext(ctx, "POST", usAPI+"/v2/control-planes", strings.NewReader(`{"name":"cp"}`))
		req.Header.Set("Authorization", "Bearer "+tokenA)
		resp, err := a.c.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		done <- err
	}()
	waitFor(t, "the request to be logged", func() bool { return srv.CountRequests("POST", "/v2/control-planes") == 1 })
	if r := srv.Requests()[0]; r.Status != 0 {
		t.Errorf("a hanging request is logged with status %d, want 0", r.Status)
	}
	// Other paths are answered meanwhile.
	resp, body := getMe(t, a.c, meURL, tokenA)
	checkOrg(t, resp, body, orgA)
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("the hanging request ended with %v, want context.Canceled", err)
	}
	if len(srv.ControlPlanes(tokenA, "us")) != 0 {
		t.Error("a hanging create created the control plane")
	}
	if r := srv.Requests()[0]; r.Status != 0 {
		t.Errorf("a request that got no answer is logged with status %d", r.Status)
	}
}

func TestRequestLogIsBounded(t *testing.T) {
	req, _ := http.NewRequest("GET", meURL, nil)
	fill := func(srv *Server, n int) (int, int64) {
		srv.mu.Lock()
		defer srv.mu.Unlock()
		for range n {
			srv.logRequest(req, TokenHash(""), time.Now())
		}
		return len(srv.requests), srv.droppedRequests
	}

	srv := start(t, Options{})
	n, dropped := fill(srv, DefaultMaxLoggedRequests+5)
	if n != DefaultMaxLoggedRequests-DefaultMaxLoggedRequests/10+5 || dropped != DefaultMaxLoggedRequests/10 || srv.DroppedRequests() != dropped {
		t.Errorf("after %d requests the log holds %d and dropped %d", DefaultMaxLoggedRequests+5, n, dropped)
	}
	srv.ResetRequests()
	if len(srv.Requests()) != 0 || srv.DroppedRequests() != 0 {
		t.Error("ResetRequests left entries or the dropped count")
	}

	small := start(t, Options{MaxLoggedRequests: 20})
	if n, dropped := fill(small, 25); n != 19 || dropped != 6 { // drops 2 at the 21st, 23rd and 25th
		t.Errorf("a log of 20 after 25 requests holds %d and dropped %d", n, dropped)
	}

	// Without a log the API still answers and counts.
	off := start(t, Options{MaxLoggedRequests: -1})
	resp, body := getMe(t, clientFor(t, off), meURL, tokenA)
	checkOrg(t, resp, body, orgA)
	if len(off.Requests()) != 0 || off.CallsFor(tokenA) != 1 {
		t.Errorf("with the log off: %d logged, %d counted", len(off.Requests()), off.CallsFor(tokenA))
	}
}

func TestRequestKind(t *testing.T) {
	const cp, certs = "/v2/control-planes/c1", "/v2/control-planes/c1/dp-client-certificates"
	for _, c := range []struct {
		method, path string
		want         RequestKind
	}{
		{"GET", mePath, KindTokenCheck},
		{"POST", "/v2/control-planes", KindCreate},
		{"GET", "/v2/control-planes", KindListPage},
		{"GET", cp, KindGet},
		{"PATCH", cp, KindUpdate},
		{"DELETE", cp, KindDelete},
		{"POST", certs, KindRegistration},
		{"GET", certs, KindCertList},
		{"DELETE", certs + "/k1", KindCertDelete},
		{"GET", certs + "/k1", KindOther},
		{"PUT", cp, KindOther},
		{"GET", "/v2/control-planes/", KindOther},
	} {
		if got := (Request{Method: c.method, Path: c.path}).Kind(); got != c.want {
			t.Errorf("%s %s: Kind %q, want %q", c.method, c.path, got, c.want)
		}
	}
}

func TestPathMatches(t *testing.T) {
	for _, c := range []struct {
		pattern, path string
		want          bool
	}{
		{"/v2/control-planes", "/v2/control-planes", true},
		{"/v2/control-planes", "/v2/control-planes/", false},
		{"/v2/control-planes/*", "/v2/control-planes/abc", true},
		{"/v2/control-planes/*", "/v2/control-planes/", false},
		{"/v2/control-planes/*", "/v2/control-planes/abc/dp-client-certificates", false},
		{"/v2/control-planes/*/dp-client-certificates/*", "/v2/control-planes/a/dp-client-certificates/b", true},
		{"/v2/control-planes/*/dp-client-certificates/*", "/v2/control-planes/a/dp-client-certificates", false},
		{"*", "x", true},
		{"/v3/organizations/me", "/v3/organizations/me", true},
		{"/v3/organizations/me", "/v3/organizations/you", false},
	} {
		if got := PathMatches(c.pattern, c.path); got != c.want {
			t.Errorf("PathMatches(%q, %q) = %t, want %t", c.pattern, c.path, got, c.want)
		}
	}
}

func TestControlPlaneBehaviors(t *testing.T) {
	certPEM := func(t *testing.T) string { return string(newCertPEM(t, "b")) }
	// Each step a controller takes, with a body where it needs one; ids are filled in.
	type step struct {
		name, method, path string
		body               func(t *testing.T) any
		legacy             bool
	}
	steps := []step{
		{"list", "GET", "/v2/control-planes", nil, false},
		{"create", "POST", "/v2/control-planes", func(*testing.T) any { return map[string]string{"name": "new"} }, false},
		{"get", "GET", "/v2/control-planes/{cp}", nil, false},
		{"update", "PATCH", "/v2/control-planes/{cp}", func(*testing.T) any { return map[string]string{"description": "changed"} }, false},
		{"delete", "DELETE", "/v2/control-planes/{cp}", nil, false},
		{"list certificates", "GET", "/v2/control-planes/{cp}/dp-client-certificates", nil, true},
		{"create certificate", "POST", "/v2/control-planes/{cp}/dp-client-certificates", func(t *testing.T) any { return map[string]string{"cert": certPEM(t)} }, true},
		{"delete certificate", "DELETE", "/v2/control-planes/{cp}/dp-client-certificates/{cert}", nil, true},
	}
	// setup makes a control plane with a certificate, and returns a step's URL and body.
	setup := func(t *testing.T, srv *Server) func(st step) (string, any) {
		t.Helper()
		cpID, err := srv.AddControlPlane(tokenA, "us", ControlPlaneSpec{Name: "cp"})
		if err != nil {
			t.Fatal(err)
		}
		certID, err := srv.AddCertificate(cpID, certPEM(t))
		if err != nil {
			t.Fatal(err)
		}
		return func(st step) (string, any) {
			u := usAPI + strings.NewReplacer("{cp}", cpID, "{cert}", certID).Replace(st.path)
			var body any
			if st.body != nil {
				body = st.body(t)
			}
			return u, body
		}
	}
	// unchanged fails if a refused request changed the store.
	unchanged := func(t *testing.T, srv *Server) {
		t.Helper()
		cps := srv.ControlPlanes(tokenA, "us")
		if len(cps) != 1 || cps[0].Name != "cp" || cps[0].Description != "" || len(srv.Certificates(cps[0].ID)) != 1 {
			t.Errorf("a refused request changed the store: %+v", cps)
		}
	}

	t.Run("outage", func(t *testing.T) {
		for _, st := range steps {
			t.Run(st.name, func(t *testing.T) {
				srv := start(t, Options{})
				urlOf := setup(t, srv)
				srv.SetBehavior(Behavior{Mode: ModeServerError})
				u, body := urlOf(st)
				resp, got := newAPI(t, srv, tokenA).do(st.method, u, body)
				checkProblem(t, resp, got, http.StatusServiceUnavailable)
				unchanged(t, srv)
				// An unknown token gets the outage too: nothing is checked while Konnect is down.
				resp, got = newAPI(t, srv, "kpat_unknown").do(st.method, u, body)
				checkProblem(t, resp, got, http.StatusServiceUnavailable)
			})
		}
	})

	t.Run("rate limited", func(t *testing.T) {
		for _, st := range steps {
			t.Run(st.name, func(t *testing.T) {
				srv := start(t, Options{})
				urlOf := setup(t, srv)
				srv.SetTokenBehavior(tokenA, Behavior{Mode: ModeRateLimited, RetryAfter: 3 * time.Second})
				u, body := urlOf(st)
				resp, got := newAPI(t, srv, tokenA).do(st.method, u, body)
				checkProblem(t, resp, got, http.StatusTooManyRequests)
				if ra := resp.Header.Get("Retry-After"); ra != "3" {
					t.Errorf("Retry-After = %q, want 3", ra)
				}
				unchanged(t, srv)
			})
		}
	})

	t.Run("forbidden", func(t *testing.T) {
		for _, st := range steps {
			t.Run(st.name, func(t *testing.T) {
				srv := start(t, Options{})
				urlOf := setup(t, srv)
				srv.SetTokenBehavior(tokenA, Behavior{Mode: ModeForbidden})
				u, body := urlOf(st)
				resp, got := newAPI(t, srv, tokenA).do(st.method, u, body)
				if st.legacy {
					checkMessage(t, resp, got, http.StatusForbidden)
				} else {
					checkProblem(t, resp, got, http.StatusForbidden)
				}
				unchanged(t, srv)
			})
		}
	})

	t.Run("hang", func(t *testing.T) {
		srv := start(t, Options{})
		urlOf := setup(t, srv)
		srv.SetBehavior(Behavior{Mode: ModeHang, Path: "/v2/control-planes/*"})
		a := newAPI(t, srv, tokenA)
		a.c.Timeout = 300 * time.Millisecond
		u, body := urlOf(steps[3]) // update
		buf, _ := json.Marshal(body)
		req, _ := http.NewRequest("PATCH", u, strings.NewReader(string(buf)))
		req.Header.Set("Authorization", "Bearer "+tokenA)
		_, err := a.c.Do(req)
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() {
			t.Fatalf("err = %v, want a timeout", err)
		}
		unchanged(t, srv)
		a.c.Timeout = 10 * time.Second
		a.create(usAPI, map[string]any{"name": "other path"}) // not under the pattern
	})

	t.Run("writes only", func(t *testing.T) {
		srv := start(t, Options{})
		urlOf := setup(t, srv)
		srv.SetBehavior(Behavior{Mode: ModeServerError, Scope: ScopeWrites})
		a := newAPI(t, srv, tokenA)
		for _, st := range steps {
			u, body := urlOf(st)
			resp, got := a.do(st.method, u, body)
			if isWrite(st.method) {
				checkProblem(t, resp, got, http.StatusServiceUnavailable)
			} else if resp.StatusCode != http.StatusOK {
				t.Errorf("%s: status %d during a write outage, want 200", st.name, resp.StatusCode)
			}
		}
		resp, body := getMe(t, a.c, meURL, tokenA)
		checkOrg(t, resp, body, orgA)
		unchanged(t, srv)

		srv.SetBehavior(Behavior{Mode: ModeServerError, Scope: ScopeReads})
		resp, body = a.do("GET", usAPI+"/v2/control-planes", nil)
		checkProblem(t, resp, body, http.StatusServiceUnavailable)
		a.create(usAPI, map[string]any{"name": "written while reads fail"})
	})

	t.Run("one step only", func(t *testing.T) {
		srv := start(t, Options{})
		urlOf := setup(t, srv)
		// Certificate registration fails; everything else works.
		srv.SetBehavior(Behavior{Mode: ModeServerError, Status: 500, Scope: ScopeWrites, Path: "/v2/control-planes/*/dp-client-certificates"})
		a := newAPI(t, srv, tokenA)
		u, body := urlOf(steps[6])
		resp, got := a.do("POST", u, body)
		checkProblem(t, resp, got, http.StatusInternalServerError)
		listCerts(t, a, srv.ControlPlanes(tokenA, "us")[0].ID)
		a.create(usAPI, map[string]any{"name": "fine"})
		// A token behavior applies where the global one does not.
		srv.SetTokenBehavior(tokenA, Behavior{Mode: ModeForbidden})
		resp, got = a.do("GET", usAPI+"/v2/control-planes", nil)
		checkProblem(t, resp, got, http.StatusForbidden)
		resp, got = a.do("POST", u, body)
		checkProblem(t, resp, got, http.StatusInternalServerError)
	})

	t.Run("spoiled answers", func(t *testing.T) {
		// The work is done; only the answer is lost, as when Konnect created the control
		// plane but the answer never arrived intact.
		for _, b := range []Behavior{{Mode: ModeEmptyOK}, {Mode: ModeBadJSON}, {Mode: ModeWrongContentType}, {Mode: ModeSlowBody, Delay: 200 * time.Millisecond}} {
			t.Run(b.Mode.String(), func(t *testing.T) {
				srv := start(t, Options{})
				a := newAPI(t, srv, tokenA)
				srv.SetTokenBehavior(tokenA, b)
				resp, body := a.do("POST", usAPI+"/v2/control-planes", map[string]string{"name": "cp"})
				if resp.StatusCode != http.StatusCreated {
					t.Fatalf("status %d, want 201", resp.StatusCode)
				}
				ct := resp.Header.Get("Content-Type")
				switch b.Mode {
				case ModeEmptyOK:
					if string(body) != "{}" || ct != "application/json" {
						t.Errorf("body %q %q, want {}", ct, body)
					}
				case ModeBadJSON:
					if json.Valid(body) || ct != "application/json" || len(body) == 0 {
						t.Errorf("body %q %q, want invalid JSON", ct, body)
					}
				case ModeWrongContentType:
					if !strings.HasPrefix(ct, "text/html") {
						t.Errorf("Content-Type %q, want text/html", ct)
					}
				case ModeSlowBody:
					checkControlPlane(t, resp, body)
				}
				cps := srv.ControlPlanes(tokenA, "us")
				if len(cps) != 1 {
					t.Fatalf("stored %+v, want the control plane created", cps)
				}
				// Errors and 204s are not spoiled.
				resp, body = a.do("POST", usAPI+"/v2/control-planes", map[string]string{"name": "cp"})
				checkProblem(t, resp, body, http.StatusConflict)
				resp, _ = a.do("DELETE", usAPI+"/v2/control-planes/"+cps[0].ID, nil)
				if resp.StatusCode != http.StatusNoContent {
					t.Errorf("DELETE: %d, want 204", resp.StatusCode)
				}
			})
		}
	})
}

func TestParseScope(t *testing.T) {
	for sc := ScopeAll; sc <= ScopeReads; sc++ {
		if got, err := ParseScope(sc.String()); err != nil || got != sc {
			t.Errorf("ParseScope(%q) = %v, %v", sc.String(), got, err)
		}
	}
	if got, err := ParseScope(" Writes "); err != nil || got != ScopeWrites {
		t.Errorf("ParseScope(Writes) = %v, %v", got, err)
	}
	if got, err := ParseScope(""); err != nil || got != ScopeAll {
		t.Errorf("ParseScope(\"\") = %v, %v", got, err)
	}
	if _, err := ParseScope("sideways"); err == nil {
		t.Error("ParseScope(sideways) succeeded")
	}
}
