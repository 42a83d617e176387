package sdkclient

import (
	"context"
	"encoding/json"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/konnect"
)

const (
	testRegionalURL  = "https://us.api.konghq.com"
	testRegionalHost = "us.api.konghq.com"
	testCPID         = "7f9fd312-a987-4628-b4c5-bb4f4fddd5f7"
	testCertID       = "0b5d8f8e-6c3c-4b7f-9a61-3f0b6f1d2e4a"
)

var testAuth = konnect.Auth{Token: testToken, ServerURL: testRegionalURL}

// fakeAPI is a TLS server standing in for Konnect's regional API: it answers every request
// with the handler and records what each request carried.
type fakeAPI struct {
	srv *httptest.Server

	mu      sync.Mutex
	handler http.HandlerFunc
	reqs    []recorded
}

// recorded is what one request to fakeAPI carried.
type recorded struct {
	method, host, path string
	query              url.Values
	header             http.Header
	body               string
}

func newFakeAPI(t *testing.T) *fakeAPI {
	t.Helper()
	f := &fakeAPI{}
	f.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		f.reqs = append(f.reqs, recorded{method: r.Method, host: r.Host, path: r.URL.Path,
			query: r.URL.Query(), header: r.Header.Clone(), body: string(body)})
		h := f.handler
		f.mu.Unlock()
		if h == nil {
			http.Error(w, "no handler", http.StatusTeapot)
			return
		}
		h(w, r)
	}))
	f.srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	f.srv.StartTLS()
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeAPI) set(h http.HandlerFunc) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.handler = h
	f.reqs = nil
}

func (f *fakeAPI) requests() []recorded {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]recorded(nil), f.reqs...)
}

func (f *fakeAPI) client(timeout time.Duration) *Client {
	return New(Options{Timeout: timeout, UserAgent: testUserAgent, Transport: dialingTransport(f.srv)})
}

// cpJSON is a control plane as Konnect answers it.
func cpJSON(id, name string) string {
	return `{"id":"` + id + `","name":"` + name + `","description":"the gateway","labels":{"team":"edge","k8s-uid":"u-1"},` +
		`"config":{"control_plane_endpoint":"https://acfe5f253f.cp.konghq.com","telemetry_endpoint":"https://acfe5f253f.tp0.konghq.com",` +
		`"cluster_type":"CLUSTER_TYPE_K8S_INGRESS_CONTROLLER","auth_type":"pinned_client_certs","cloud_gateway":true,` +
		`"proxy_urls":[{"host":"proxy.example.com","port":443,"protocol":"https"}]},` +
		`"created_at":"2024-01-01T00:00:00Z","updated_at":"2024-01-02T00:00:00Z"}`
}

// cpDecoded is cpJSON as the client returns it.
func cpDecoded(id, name string) *konnect.ControlPlane {
	return &konnect.ControlPlane{
		ID: id, Name: name, Description: "the gateway",
		Labels:               map[string]string{"team": "edge", "k8s-uid": "u-1"},
		ClusterType:          konnect.ClusterTypeK8sIngressController,
		AuthType:             "pinned_client_certs",
		CloudGateway:         true,
		ProxyURLs:            []konnect.ProxyURL{{Host: "proxy.example.com", Port: 443, Protocol: "https"}},
		ControlPlaneEndpoint: "https://acfe5f253f.cp.konghq.com",
		TelemetryEndpoint:    "https://acfe5f253f.tp0.konghq.com",
	}
}

// wantRequest is what a test expects one request to carry.
type wantRequest struct {
	method, path string
	query        url.Values // exact; nil means none
	body         string     // JSON, compared as decoded values; "" means no body
}

// checkRequest fails unless got is want, sent to the regional host with the token and our
// User-Agent.
func checkRequest(t *testing.T, got recorded, want wantRequest) {
	t.Helper()
	if got.method != want.method || got.path != want.path {
		t.Errorf("request = %s %s, want %s %s", got.method, got.path, want.method, want.path)
	}
	if got.host != testRegionalHost {
		t.Errorf("Host = %q, want the regional host %q", got.host, testRegionalHost)
	}
	if a := got.header.Get("Authorization"); a != "Bearer "+testToken {
		t.Errorf("Authorization = %q", a)
	}
	if ua := got.header.Get("User-Agent"); ua != testUserAgent {
		t.Errorf("User-Agent = %q, want %q", ua, testUserAgent)
	}
	if len(got.query) != 0 || len(want.query) != 0 {
		if !reflect.DeepEqual(got.query, want.query) {
			t.Errorf("query = %v, want %v", got.query, want.query)
		}
	}
	if want.body == "" {
		if got.body != "" {
			t.Errorf("body = %s, want none", got.body)
		}
		return
	}
	if ct := got.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q", ct)
	}
	var gotBody, wantBody any
	if err := json.Unmarshal([]byte(got.body), &gotBody); err != nil {
		t.Fatalf("body %q is not JSON: %v", got.body, err)
	}
	if err := json.Unmarshal([]byte(want.body), &wantBody); err != nil {
		t.Fatalf("test's body %q is not JSON: %v", want.body, err)
	}
	if !reflect.DeepEqual(gotBody, wantBody) {
		t.Errorf("body = %s\nwant   %s", got.body, want.body)
	}
}

func TestControlPlaneCalls(t *testing.T) {
	f := newFakeAPI(t)
	c := f.client(5 * time.Second)
	no := false
	full := konnect.ControlPlaneSpec{
		Name:         "gateway-control-plane",
		Description:  "the gateway",
		ClusterType:  konnect.ClusterTypeK8sIngressController,
		AuthType:     "pinned_client_certs",
		CloudGateway: &no,
		ProxyURLs:    []konnect.ProxyURL{{Host: "proxy.example.com", Port: 443, Protocol: "https"}},
		Labels:       map[string]string{"team": "edge", "k8s-uid": "u-1"},
	}
	cpPath := "/v2/control-planes/" + testCPID
	firstPage := url.Values{"page[size]": {"100"}, "page[number]": {"1"}}

	tests := []struct {
		name    string
		handler http.HandlerFunc
		call    func() (any, error)
		want    wantRequest
		result  any
	}{
		{
			name:    "create with every field",
			handler: reply(201, "application/json", cpJSON(testCPID, "gateway-control-plane")),
			call:    func() (any, error) { return c.CreateControlPlane(context.Background(), testAuth, full) },
			want: wantRequest{method: "POST", path: "/v2/control-planes", body: `{"name":"gateway-control-plane",
				"description":"the gateway","cluster_type":"CLUSTER_TYPE_K8S_INGRESS_CONTROLLER","auth_type":"pinned_client_certs",
				"cloud_gateway":false,"proxy_urls":[{"host":"proxy.example.com","port":443,"protocol":"https"}],
				"labels":{"team":"edge","k8s-uid":"u-1"}}`},
			result: cpDecoded(testCPID, "gateway-control-plane"),
		},
		{
			name:    "create with only a name sends only the name",
			handler: reply(201, "application/json", cpJSON(testCPID, "cp")),
			call: func() (any, error) {
				return c.CreateControlPlane(context.Background(), testAuth, konnect.ControlPlaneSpec{Name: "cp"})
			},
			want:   wantRequest{method: "POST", path: "/v2/control-planes", body: `{"name":"cp"}`},
			result: cpDecoded(testCPID, "cp"),
		},
		{
			name:    "get",
			handler: reply(200, "application/json", cpJSON(testCPID, "cp")),
			call:    func() (any, error) { return c.GetControlPlane(context.Background(), testAuth, testCPID) },
			want:    wantRequest{method: "GET", path: cpPath},
			result:  cpDecoded(testCPID, "cp"),
		},
		{
			name:    "get with charset and unknown fields",
			handler: reply(200, "application/json; charset=utf-8", `{"id":"`+testCPID+`","name":"cp","extra":{"x":1},"config":{"cluster_type":"CLUSTER_TYPE_SERVERLESS"}}`),
			call:    func() (any, error) { return c.GetControlPlane(context.Background(), testAuth, testCPID) },
			want:    wantRequest{method: "GET", path: cpPath},
			result:  &konnect.ControlPlane{ID: testCPID, Name: "cp", ClusterType: "CLUSTER_TYPE_SERVERLESS"},
		},
		{
			name:    "update sends neither cluster type nor cloud gateway",
			handler: reply(200, "application/json", cpJSON(testCPID, "gateway-control-plane")),
			call: func() (any, error) {
				return c.UpdateControlPlane(context.Background(), testAuth, testCPID, full)
			},
			want: wantRequest{method: "PATCH", path: cpPath, body: `{"name":"gateway-control-plane","description":"the gateway",
				"auth_type":"pinned_client_certs","proxy_urls":[{"host":"proxy.example.com","port":443,"protocol":"https"}],
				"labels":{"team":"edge","k8s-uid":"u-1"}}`},
			result: cpDecoded(testCPID, "gateway-control-plane"),
		},
		{
			name:    "update leaves out what is empty",
			handler: reply(200, "application/json", cpJSON(testCPID, "cp")),
			call: func() (any, error) {
				return c.UpdateControlPlane(context.Background(), testAuth, testCPID, konnect.ControlPlaneSpec{Labels: map[string]string{"a": "1"}})
			},
			want:   wantRequest{method: "PATCH", path: cpPath, body: `{"labels":{"a":"1"}}`},
			result: cpDecoded(testCPID, "cp"),
		},
		{
			name:    "delete",
			handler: reply(204, "", ""),
			call:    func() (any, error) { return nil, c.DeleteControlPlane(context.Background(), testAuth, testCPID) },
			want:    wantRequest{method: "DELETE", path: cpPath},
		},
		{
			name:    "list without a filter",
			handler: reply(200, "application/json", `{"meta":{"page":{"number":1,"size":100,"total":1}},"data":[`+cpJSON(testCPID, "cp")+`]}`),
			call: func() (any, error) {
				return c.ListControlPlanes(context.Background(), testAuth, konnect.ControlPlaneFilter{})
			},
			want:   wantRequest{method: "GET", path: "/v2/control-planes", query: firstPage},
			result: []konnect.ControlPlane{*cpDecoded(testCPID, "cp")},
		},
		{
			name:    "list with every filter",
			handler: reply(200, "application/json", `{"meta":{"page":{"number":1,"size":100,"total":1}},"data":[`+cpJSON(testCPID, "cp")+`]}`),
			call: func() (any, error) {
				return c.ListControlPlanes(context.Background(), testAuth, konnect.ControlPlaneFilter{
					ID: testCPID, Name: "cp", Labels: map[string]string{"k8s-uid": "u-1", "b": "2", "a": "1"}})
			},
			want: wantRequest{method: "GET", path: "/v2/control-planes", query: url.Values{
				"page[size]": {"100"}, "page[number]": {"1"},
				"filter[id][eq]": {testCPID}, "filter[name][eq]": {"cp"},
				"labels": {"a:1,b:2,k8s-uid:u-1"}}},
			result: []konnect.ControlPlane{*cpDecoded(testCPID, "cp")},
		},
		{
			name:    "list of none",
			handler: reply(200, "application/json", `{"meta":{"page":{"number":1,"size":100,"total":0}},"data":[]}`),
			call: func() (any, error) {
				return c.ListControlPlanes(context.Background(), testAuth, konnect.ControlPlaneFilter{Name: "nope"})
			},
			want:   wantRequest{method: "GET", path: "/v2/control-planes", query: url.Values{"page[size]": {"100"}, "page[number]": {"1"}, "filter[name][eq]": {"nope"}}},
			result: []konnect.ControlPlane(nil),
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f.set(tc.handler)
			got, err := tc.call()
			if err != nil {
				t.Fatalf("error: %v", err)
			}
			reqs := f.requests()
			if len(reqs) != 1 {
				t.Fatalf("%d requests, want 1", len(reqs))
			}
			checkRequest(t, reqs[0], tc.want)
			if !reflect.DeepEqual(got, tc.result) {
				t.Errorf("result = %#v\nwant     %#v", got, tc.result)
			}
		})
	}
}

// pagingKonnect answers a listing of total control planes page by page, as Konnect does:
// page[number] and page[size] choose the slice.
func pagingKonnect(total int) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		size, _ := strconv.Atoi(r.URL.Query().Get("page[size]"))
		number, _ := strconv.Atoi(r.URL.Query().Get("page[number]"))
		if size <= 0 || number <= 0 {
			http.Error(w, "bad paging", http.StatusBadRequest)
			return
		}
		var items []string
		for i := (number - 1) * size; i < number*size && i < total; i++ {
			items = append(items, cpJSON(pagedID(i), "cp-"+strconv.Itoa(i)))
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"meta":{"page":{"number":` + strconv.Itoa(number) + `,"size":` + strconv.Itoa(size) +
			`,"total":` + strconv.Itoa(total) + `}},"data":[` + strings.Join(items, ",") + `]}`))
	}
}

func pagedID(i int) string {
	return "00000000-0000-0000-0000-" + strconv.FormatInt(int64(100000000000+i), 10)
}

func TestListControlPlanesReadsEveryPage(t *testing.T) {
	f := newFakeAPI(t)
	c := f.client(5 * time.Second)
	tests := []struct {
		total, wantRequests int
	}{
		{0, 1},
		{1, 1},
		{99, 1},
		// A full page may be the last; only a short one says so.
		{100, 2},
		{101, 2},
		{230, 3},
	}
	for _, tc := range tests {
		t.Run(strconv.Itoa(tc.total), func(t *testing.T) {
			f.set(pagingKonnect(tc.total))
			got, err := c.ListControlPlanes(context.Background(), testAuth, konnect.ControlPlaneFilter{Labels: map[string]string{"managed-by": "us"}})
			if err != nil {
				t.Fatalf("error: %v", err)
			}
			if len(got) != tc.total {
				t.Fatalf("%d control planes, want %d", len(got), tc.total)
			}
			for i, cp := range got {
				if cp.ID != pagedID(i) || cp.Name != "cp-"+strconv.Itoa(i) {
					t.Fatalf("item %d = %s %s, want %s", i, cp.ID, cp.Name, pagedID(i))
				}
			}
			reqs := f.requests()
			if len(reqs) != tc.wantRequests {
				t.Fatalf("%d requests, want %d", len(reqs), tc.wantRequests)
			}
			for i, r := range reqs {
				checkRequest(t, r, wantRequest{method: "GET", path: "/v2/control-planes", query: url.Values{
					"page[size]": {"100"}, "page[number]": {strconv.Itoa(i + 1)}, "labels": {"managed-by:us"}}})
			}
		})
	}
}

func TestListControlPlanesDropsRepeats(t *testing.T) {
	f := newFakeAPI(t)
	c := f.client(5 * time.Second)
	// Page 2 starts with the last item of page 1 again, as when a control plane is deleted
	// between the two requests.
	paged := pagingKonnect(150)
	f.set(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("page[number]") == "2" {
			items := []string{cpJSON(pagedID(99), "cp-99")}
			for i := 100; i < 150; i++ {
				items = append(items, cpJSON(pagedID(i), "cp-"+strconv.Itoa(i)))
			}
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"meta":{"page":{"number":2,"size":100,"total":150}},"data":[` + strings.Join(items, ",") + `]}`))
			return
		}
		paged(w, r)
	})
	got, err := c.ListControlPlanes(context.Background(), testAuth, konnect.ControlPlaneFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 150 {
		t.Fatalf("%d control planes, want 150", len(got))
	}
	for i, cp := range got {
		if cp.ID != pagedID(i) {
			t.Fatalf("item %d = %s, want %s", i, cp.ID, pagedID(i))
		}
	}
}

func TestListControlPlanesStopsOnEndlessPages(t *testing.T) {
	f := newFakeAPI(t)
	c := f.client(5 * time.Second)
	f.set(pagingKonnect(1 << 30))
	got, err := c.ListControlPlanes(context.Background(), testAuth, konnect.ControlPlaneFilter{})
	if got != nil || konnect.KindOf(err) != konnect.ErrorRejected {
		t.Fatalf("got %d items, %v; want ErrorRejected", len(got), err)
	}
	if n := len(f.requests()); n != maxListPages {
		t.Fatalf("%d requests, want %d", n, maxListPages)
	}
}

func TestListControlPlanesFailsOnAFailedPage(t *testing.T) {
	f := newFakeAPI(t)
	c := f.client(5 * time.Second)
	paged := pagingKonnect(250)
	f.set(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("page[number]") == "2" {
			reply(503, "text/plain", "busy", "Retry-After", "5")(w, r)
			return
		}
		paged(w, r)
	})
	got, err := c.ListControlPlanes(context.Background(), testAuth, konnect.ControlPlaneFilter{})
	if got != nil || konnect.KindOf(err) != konnect.ErrorTransient || konnect.RetryAfterOf(err) != 5*time.Second {
		t.Fatalf("got %d items, %v; want nothing and a transient error with Retry-After 5s", len(got), err)
	}
	if n := len(f.requests()); n != 2 {
		t.Fatalf("%d requests, want 2: none after the failed page", n)
	}
}

func TestControlPlaneUnusableAnswers(t *testing.T) {
	f := newFakeAPI(t)
	c := f.client(5 * time.Second)
	get := func() error { _, err := c.GetControlPlane(context.Background(), testAuth, testCPID); return err }
	create := func() error {
		_, err := c.CreateControlPlane(context.Background(), testAuth, konnect.ControlPlaneSpec{Name: "cp"})
		return err
	}
	list := func() error {
		_, err := c.ListControlPlanes(context.Background(), testAuth, konnect.ControlPlaneFilter{})
		return err
	}
	tests := []struct {
		name    string
		call    func() error
		handler http.HandlerFunc
		status  int
		message string
	}{
		{"get without id", get, reply(200, "application/json", `{}`), 200, "Konnect answered 200 without a control plane id"},
		{"create without id", create, reply(201, "application/json", `{"name":"cp"}`), 201, "Konnect answered 201 without a control plane id"},
		{"create with a path in the id", create, reply(201, "application/json", `{"id":"../../v3/users"}`), 201, "Konnect answered 201 with a malformed control plane id"},
		{"create with the token as id", create, reply(201, "application/json", `{"id":"`+testToken+`"}`), 201, "Konnect answered 201 with a malformed control plane id"},
		{"list item without id", list, reply(200, "application/json", `{"data":[{"name":"cp"}]}`), 200, "Konnect answered 200 without a control plane id"},
		{"list that is not a list", list, reply(200, "application/json", `{"data":{"id":"x"}}`), 200, "Konnect answered 200 with a body that is not a valid list of control planes"},
		// Create answers 201; a 200 is a status it does not define.
		{"create answered 200", create, reply(200, "application/json", cpJSON(testCPID, "cp")), 200, "Konnect answered with unexpected status 200 OK"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f.set(tc.handler)
			err := tc.call()
			// A success that cannot be used is transient: a second look tells.
			e := assertAPIError(t, err, konnect.ErrorTransient, tc.status)
			if e.Message != tc.message {
				t.Errorf("Message = %q, want %q", e.Message, tc.message)
			}
		})
	}
}
