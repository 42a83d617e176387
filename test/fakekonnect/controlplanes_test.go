package fakekonnect

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	usAPI     = "https://us.api.konghq.com"
	euAPI     = "https://eu.api.konghq.com"
	globalAPI = "https://global.api.konghq.com"
)

var (
	cpEndpointRE = regexp.MustCompile(`^https://([0-9a-f]{10})\.cp\.konghq\.com$`)
	tpEndpointRE = regexp.MustCompile(`^https://([0-9a-f]{10})\.tp0\.konghq\.com$`)
)

// api drives the fake's API over TLS through Transport, with one token.
type api struct {
	t     *testing.T
	c     *http.Client
	token string
}

func newAPI(t *testing.T, srv *Server, token string) *api {
	t.Helper()
	tr := srv.Transport()
	t.Cleanup(tr.CloseIdleConnections)
	return &api{t: t, c: &http.Client{Transport: tr, Timeout: 10 * time.Second}, token: token}
}

// as returns a client like a that sends another token.
func (a *api) as(token string) *api { return &api{t: a.t, c: a.c, token: token} }

// do sends a request (body marshalled to JSON unless it is a string or nil) and returns
// the answer with its body read.
func (a *api) do(method, rawURL string, body any) (*http.Response, []byte) {
	a.t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(b)
	default:
		buf, err := json.Marshal(b)
		if err != nil {
			a.t.Fatal(err)
		}
		r = bytes.NewReader(buf)
	}
	req, err := http.NewRequest(method, rawURL, r)
	if err != nil {
		a.t.Fatal(err)
	}
	if a.token != "" {
		req.Header.Set("Authorization", "Bearer "+a.token)
	}
	req.Header.Set("Accept", "application/json")
	if r != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := a.c.Do(req)
	if err != nil {
		a.t.Fatalf("%s %s: %v", method, rawURL, err)
	}
	defer resp.Body.Close()
	got, err := io.ReadAll(resp.Body)
	if err != nil {
		a.t.Fatalf("%s %s: reading the body: %v", method, rawURL, err)
	}
	return resp, got
}

// create posts a control plane and fails the test unless it is created.
func (a *api) create(base string, body map[string]any) map[string]any {
	a.t.Helper()
	resp, got := a.do("POST", base+"/v2/control-planes", body)
	if resp.StatusCode != http.StatusCreated {
		a.t.Fatalf("POST /v2/control-planes %v: status %d, want 201; body %s", body, resp.StatusCode, got)
	}
	return checkControlPlane(a.t, resp, got)
}

// checkJSON checks an application/json answer and decodes its object.
func checkJSON(t *testing.T, resp *http.Response, body []byte, wantStatus int) map[string]any {
	t.Helper()
	return checkAnswer(t, resp, body, wantStatus, "application/json")
}

// checkAnswer checks an answer's status and Content-Type and decodes its object.
func checkAnswer(t *testing.T, resp *http.Response, body []byte, wantStatus int, contentType string) map[string]any {
	t.Helper()
	if resp.StatusCode != wantStatus {
		t.Fatalf("status = %d, want %d; body %s", resp.StatusCode, wantStatus, body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != contentType {
		t.Errorf("Content-Type = %q, want %s", ct, contentType)
	}
	return decodeObject(t, body)
}

// checkKeys fails unless m has exactly the keys want: the SDK's field names, nothing else.
func checkKeys(t *testing.T, what string, m map[string]any, want ...string) {
	t.Helper()
	var got []string
	for k := range m {
		got = append(got, k)
	}
	sort.Strings(got)
	sort.Strings(want)
	if !slices.Equal(got, want) {
		t.Errorf("%s has keys %v, want %v", what, got, want)
	}
}

// checkControlPlane checks the shape of a ControlPlane answer and returns it decoded.
func checkControlPlane(t *testing.T, resp *http.Response, body []byte) map[string]any {
	t.Helper()
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}
	cp := decodeObject(t, body)
	checkControlPlaneObject(t, cp)
	return cp
}

func checkControlPlaneObject(t *testing.T, cp map[string]any) {
	t.Helper()
	checkKeys(t, "control plane", cp, "id", "name", "description", "labels", "config", "created_at", "updated_at")
	if id, _ := cp["id"].(string); !uuidRE.MatchString(id) {
		t.Errorf("id = %v, want a UUID", cp["id"])
	}
	if _, ok := cp["labels"].(map[string]any); !ok {
		t.Errorf("labels = %v, want an object", cp["labels"])
	}
	for _, k := range []string{"created_at", "updated_at"} {
		s, _ := cp[k].(string)
		if _, err := time.Parse(time.RFC3339, s); err != nil {
			t.Errorf("%s = %v, want RFC 3339: %v", k, cp[k], err)
		}
	}
	config, _ := cp["config"].(map[string]any)
	checkKeys(t, "config", config, "control_plane_endpoint", "telemetry_endpoint", "cluster_type", "auth_type", "cloud_gateway", "proxy_urls")
	cpEP, _ := config["control_plane_endpoint"].(string)
	tpEP, _ := config["telemetry_endpoint"].(string)
	m1, m2 := cpEndpointRE.FindStringSubmatch(cpEP), tpEndpointRE.FindStringSubmatch(tpEP)
	if m1 == nil || m2 == nil || m1[1] != m2[1] {
		t.Errorf("endpoints %q, %q; want https://<10 hex>.cp.konghq.com and the same digits .tp0.konghq.com", cpEP, tpEP)
	}
	if _, ok := config["proxy_urls"].([]any); !ok {
		t.Errorf("proxy_urls = %v, want an array", config["proxy_urls"])
	}
	if _, ok := config["cloud_gateway"].(bool); !ok {
		t.Errorf("cloud_gateway = %v, want a boolean", config["cloud_gateway"])
	}
}

// checkInvalidParameter fails unless a 400 problem lists an invalid parameter for field
// with rule.
func checkInvalidParameter(t *testing.T, p map[string]any, field, rule string) {
	t.Helper()
	params, ok := p["invalid_parameters"].([]any)
	if !ok {
		t.Fatalf("problem %v has no invalid_parameters array", p)
	}
	for _, x := range params {
		ip, _ := x.(map[string]any)
		if ip["field"] == field && ip["rule"] == rule {
			if r, _ := ip["reason"].(string); r == "" {
				t.Errorf("invalid parameter %v has no reason", ip)
			}
			return
		}
	}
	t.Errorf("invalid_parameters %v lack field %q with rule %q", params, field, rule)
}

func TestCreateControlPlane(t *testing.T) {
	srv := start(t, Options{})
	a := newAPI(t, srv, tokenA)

	before := time.Now().Add(-time.Second)
	labels := map[string]any{
		"env": "prod", "k8s-uid": "2f9c1a4e-0000-4000-8000-000000000001", "k8s-name": "gateway-control-plane",
		"k8s-namespace": "kong", "k8s-kind": "KonnectGatewayControlPlane", "k8s-group": "konnect.konghq.com",
		"k8s-version": "v1alpha2", "k8s-generation": "1", "managed-by": "konnect-auth-controller",
	}
	cp := a.create(usAPI, map[string]any{"name": "gateway-control-plane", "description": "the one", "labels": labels})
	if cp["name"] != "gateway-control-plane" || cp["description"] != "the one" {
		t.Errorf("name, description = %v, %v", cp["name"], cp["description"])
	}
	if got, _ := json.Marshal(cp["labels"]); string(got) != string(mustJSON(labels)) {
		t.Errorf("labels = %s, want %s", got, mustJSON(labels))
	}
	config := cp["config"].(map[string]any)
	if config["cluster_type"] != "CLUSTER_TYPE_CONTROL_PLANE" || config["auth_type"] != "pinned_client_certs" ||
		config["cloud_gateway"] != false || len(config["proxy_urls"].([]any)) != 0 {
		t.Errorf("config defaults = %v", config)
	}
	created, _ := time.Parse(time.RFC3339, cp["created_at"].(string))
	if created.Before(before) || created.After(time.Now().Add(time.Second)) || cp["created_at"] != cp["updated_at"] {
		t.Errorf("created_at %v, updated_at %v; want now and equal", cp["created_at"], cp["updated_at"])
	}

	// Everything given is kept.
	cp2 := a.create(usAPI, map[string]any{
		"name": "ingress", "cluster_type": "CLUSTER_TYPE_K8S_INGRESS_CONTROLLER", "auth_type": "pki_client_certs",
		"cloud_gateway": true, "proxy_urls": []map[string]any{{"host": "proxy.example.com", "port": 443, "protocol": "https"}},
	})
	config2 := cp2["config"].(map[string]any)
	if config2["cluster_type"] != "CLUSTER_TYPE_K8S_INGRESS_CONTROLLER" || config2["auth_type"] != "pki_client_certs" || config2["cloud_gateway"] != true {
		t.Errorf("config = %v", config2)
	}
	if got, _ := json.Marshal(config2["proxy_urls"]); string(got) != `[{"host":"proxy.example.com","port":443,"protocol":"https"}]` {
		t.Errorf("proxy_urls = %s", got)
	}
	if cp2["id"] == cp["id"] || config2["control_plane_endpoint"] == config["control_plane_endpoint"] {
		t.Errorf("two control planes share id %v or endpoint %v", cp["id"], config["control_plane_endpoint"])
	}

	// What the API answered is what is stored.
	stored := srv.ControlPlanes(tokenA, "us")
	if len(stored) != 2 || stored[0].ID != cp["id"] || stored[1].ID != cp2["id"] ||
		stored[0].Config.ControlPlaneEndpoint != config["control_plane_endpoint"] || stored[0].Labels["k8s-uid"] != labels["k8s-uid"] {
		t.Errorf("ControlPlanes = %+v", stored)
	}
}

func TestCreateControlPlaneDuplicateName(t *testing.T) {
	srv := start(t, Options{})
	a := newAPI(t, srv, tokenA)
	first := a.create(usAPI, map[string]any{"name": "cp"})

	resp, body := a.do("POST", usAPI+"/v2/control-planes", map[string]any{"name": "cp", "labels": map[string]string{"k8s-uid": "other"}})
	p := checkProblem(t, resp, body, http.StatusConflict)
	checkKeys(t, "409 problem", p, "status", "title", "type", "instance", "detail")
	if d, _ := p["detail"].(string); !strings.Contains(d, "cp") {
		t.Errorf("detail %q does not name the control plane", d)
	}
	if got := srv.ControlPlanes(tokenA, "us"); len(got) != 1 || got[0].ID != first["id"] || len(got[0].Labels) != 0 {
		t.Errorf("after the 409: %+v, want only the first, unchanged", got)
	}

	// A name is unique per organization and region only.
	a.create(euAPI, map[string]any{"name": "cp"})
	a.as(tokenB).create(usAPI, map[string]any{"name": "cp"})
	// And exactly: another case is another name.
	a.create(usAPI, map[string]any{"name": "CP"})
}

func TestCreateControlPlaneConcurrentSameName(t *testing.T) {
	srv := start(t, Options{})
	a := newAPI(t, srv, tokenA)
	const n = 8
	codes := make(chan int, n)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			resp, _ := a.do("POST", usAPI+"/v2/control-planes", map[string]any{"name": "race"})
			codes <- resp.StatusCode
		})
	}
	wg.Wait()
	close(codes)
	count := map[int]int{}
	for c := range codes {
		count[c]++
	}
	if count[201] != 1 || count[409] != n-1 || len(srv.ControlPlanes(tokenA, "us")) != 1 {
		t.Errorf("statuses %v, %d stored; want one 201 and %d 409s", count, len(srv.ControlPlanes(tokenA, "us")), n-1)
	}
}

func TestCreateControlPlaneInvalid(t *testing.T) {
	srv := start(t, Options{})
	a := newAPI(t, srv, tokenA)
	tests := []struct {
		name        string
		body        any
		field, rule string // "" for a body that is not JSON
	}{
		{"no name", map[string]any{"description": "x"}, "name", "required"},
		{"empty name", map[string]any{"name": ""}, "name", "required"},
		{"label prefix kong", map[string]any{"name": "a", "labels": map[string]string{"kong-x": "1"}}, "labels", "is_label"},
		{"label prefix konnect", map[string]any{"name": "a", "labels": map[string]string{"konnectx": "1"}}, "labels", "is_label"},
		{"label prefix mesh", map[string]any{"name": "a", "labels": map[string]string{"mesh.y": "1"}}, "labels", "is_label"},
		{"label prefix kic", map[string]any{"name": "a", "labels": map[string]string{"kic": "1"}}, "labels", "is_label"},
		{"label key shape", map[string]any{"name": "a", "labels": map[string]string{"-x": "1"}}, "labels", "is_label"},
		{"label key too long", map[string]any{"name": "a", "labels": map[string]string{strings.Repeat("k", 64): "1"}}, "labels", "is_label"},
		{"label value empty", map[string]any{"name": "a", "labels": map[string]string{"env": ""}}, "labels", "is_label"},
		{"label value too long", map[string]any{"name": "a", "labels": map[string]string{"env": strings.Repeat("v", 64)}}, "labels", "is_label"},
		{"cluster type", map[string]any{"name": "a", "cluster_type": "CLUSTER_TYPE_NOPE"}, "cluster_type", "enum"},
		{"auth type", map[string]any{"name": "a", "auth_type": "password"}, "auth_type", "enum"},
		{"not JSON", "{name: a", "", ""},
		{"labels not strings", `{"name":"a","labels":{"n":1}}`, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := a.do("POST", usAPI+"/v2/control-planes", tt.body)
			p := checkProblem(t, resp, body, http.StatusBadRequest)
			if _, ok := p["invalid_parameters"].([]any); !ok {
				t.Errorf("problem %v has no invalid_parameters array", p)
			}
			if tt.field != "" {
				checkInvalidParameter(t, p, tt.field, tt.rule)
			}
		})
	}
	if got := srv.ControlPlanes(tokenA, "us"); len(got) != 0 {
		t.Errorf("refused creates stored %+v", got)
	}
	// The enum problem lists the choices, as the SDK's InvalidParameterChoiceItem has them.
	resp, body := a.do("POST", usAPI+"/v2/control-planes", map[string]any{"name": "a", "auth_type": "password"})
	p := checkProblem(t, resp, body, http.StatusBadRequest)
	ip := p["invalid_parameters"].([]any)[0].(map[string]any)
	if choices, _ := ip["choices"].([]any); len(choices) != 2 || ip["source"] != "body" {
		t.Errorf("invalid parameter = %v, want the two auth types as choices", ip)
	}
}

// listCPs returns one page of GET /v2/control-planes, checking the envelope.
func listCPs(t *testing.T, a *api, base, query string) (data []map[string]any, number, size, total int) {
	t.Helper()
	resp, body := a.do("GET", base+"/v2/control-planes"+query, nil)
	m := checkJSON(t, resp, body, http.StatusOK)
	checkKeys(t, "list answer", m, "meta", "data")
	meta, _ := m["meta"].(map[string]any)
	checkKeys(t, "meta", meta, "page")
	page, _ := meta["page"].(map[string]any)
	checkKeys(t, "meta.page", page, "number", "size", "total")
	raw, ok := m["data"].([]any)
	if !ok {
		t.Fatalf("data = %v, want an array", m["data"])
	}
	for _, x := range raw {
		cp, _ := x.(map[string]any)
		checkControlPlaneObject(t, cp)
		data = append(data, cp)
	}
	num, _ := page["number"].(float64)
	sz, _ := page["size"].(float64)
	tot, _ := page["total"].(float64)
	return data, int(num), int(sz), int(tot)
}

func names(data []map[string]any) []string {
	var out []string
	for _, cp := range data {
		out = append(out, cp["name"].(string))
	}
	return out
}

func TestListControlPlanes(t *testing.T) {
	srv := start(t, Options{})
	a := newAPI(t, srv, tokenA)

	data, number, size, total := listCPs(t, a, usAPI, "")
	if len(data) != 0 || number != 1 || size != 10 || total != 0 {
		t.Errorf("empty list: %d items, page %d/%d/%d", len(data), number, size, total)
	}

	ids := map[string]string{}
	for i := range 12 {
		name := fmt.Sprintf("cp-%02d", i)
		labels := map[string]string{"k8s-uid": fmt.Sprintf("uid-%d", i), "team": []string{"red", "blue"}[i%2]}
		if i%3 == 0 {
			labels["tier"] = "gold"
		}
		ids[name] = a.create(usAPI, map[string]any{"name": name, "labels": labels})["id"].(string)
	}
	a.create(euAPI, map[string]any{"name": "elsewhere"})

	// Default page: the first 10, oldest first, with the total.
	data, number, size, total = listCPs(t, a, usAPI, "")
	if got := names(data); len(got) != 10 || got[0] != "cp-00" || got[9] != "cp-09" || number != 1 || size != 10 || total != 12 {
		t.Errorf("default page: %v, page %d size %d total %d", got, number, size, total)
	}
	// Paging.
	var all []string
	for n := 1; n <= 3; n++ {
		data, number, size, total = listCPs(t, a, usAPI, fmt.Sprintf("?page%%5Bsize%%5D=5&page%%5Bnumber%%5D=%d", n))
		if number != n || size != 5 || total != 12 {
			t.Errorf("page %d: meta %d/%d/%d", n, number, size, total)
		}
		all = append(all, names(data)...)
	}
	if len(all) != 12 || all[5] != "cp-05" || all[11] != "cp-11" {
		t.Errorf("pages of 5 gave %v", all)
	}
	if data, _, _, total = listCPs(t, a, usAPI, "?page[size]=5&page[number]=9"); len(data) != 0 || total != 12 {
		t.Errorf("a page past the end: %d items, total %d", len(data), total)
	}
	if data, _, size, _ = listCPs(t, a, usAPI, "?page[size]=100"); len(data) != 12 || size != 100 {
		t.Errorf("page[size]=100: %d items, size %d", len(data), size)
	}

	// Filters.
	filters := []struct {
		query string
		want  []string
	}{
		{"?filter[id][eq]=" + ids["cp-03"], []string{"cp-03"}},
		{"?filter[id][oeq]=" + ids["cp-03"] + "," + ids["cp-07"], []string{"cp-03", "cp-07"}},
		{"?filter[name][eq]=cp-07", []string{"cp-07"}},
		{"?filter[name]=cp-07", []string{"cp-07"}},
		{"?filter[name][eq]=elsewhere", nil},
		{"?filter[name][contains]=-1", []string{"cp-10", "cp-11"}},
		{"?labels=k8s-uid:uid-4", []string{"cp-04"}},
		{"?labels=" + url.QueryEscape("k8s-uid:uid-4"), []string{"cp-04"}},
		{"?labels=team:red,tier:gold", []string{"cp-00", "cp-06"}},
		{"?labels=team:blue,tier:gold", []string{"cp-03", "cp-09"}},
		{"?labels=team:RED,tier:gold", []string{"cp-00", "cp-06"}},
		{"?labels=team:green", nil},
		{"?labels=k8s-uid:uid-4&filter[name][eq]=cp-05", nil},
		{"?labels=tier:gold&page[size]=2&page[number]=2", []string{"cp-06", "cp-09"}},
		{"?filter[cluster_type][eq]=CLUSTER_TYPE_CONTROL_PLANE&page[size]=1", []string{"cp-00"}},
		{"?filter[cloud_gateway]=true", nil},
		{"?labels=tier:gold&sort=-created_at", []string{"cp-09", "cp-06", "cp-03", "cp-00"}},
		// The forms of Konnect's API reference: filter[field] alone is [eq]; a bare label key
		// asks that the label exists; sort takes "attribute asc|desc", comma-separated.
		{"?filter[id]=" + ids["cp-08"], []string{"cp-08"}},
		{"?filter[cluster_type]=CLUSTER_TYPE_CONTROL_PLANE&labels=k8s-uid:uid-2", []string{"cp-02"}},
		{"?labels=tier", []string{"cp-00", "cp-03", "cp-06", "cp-09"}},
		{"?labels=team:red,tier", []string{"cp-00", "cp-06"}},
		{"?labels=" + url.QueryEscape("tier, team:blue"), []string{"cp-03", "cp-09"}},
		{"?labels=colour", nil},
		{"?labels=tier&sort=" + url.QueryEscape("created_at desc"), []string{"cp-09", "cp-06", "cp-03", "cp-00"}},
		{"?labels=tier&sort=" + url.QueryEscape("created_at asc"), []string{"cp-00", "cp-03", "cp-06", "cp-09"}},
		{"?labels=tier&sort=" + url.QueryEscape("created_at desc") + "&page[size]=3&page[number]=2", []string{"cp-00"}},
		{"?labels=team:blue&sort=" + url.QueryEscape("name desc,created_at") + "&page[size]=2", []string{"cp-11", "cp-09"}},
	}
	for _, f := range filters {
		data, _, _, total := listCPs(t, a, usAPI, f.query)
		if got := names(data); !slices.Equal(got, f.want) {
			t.Errorf("%s: %v, want %v", f.query, got, f.want)
		}
		if f.query == "?labels=tier:gold&page[size]=2&page[number]=2" && total != 4 {
			t.Errorf("%s: total %d, want 4 (all that match)", f.query, total)
		}
	}

	// What Konnect refuses.
	for _, q := range []string{"?page[size]=0", "?page[size]=101", "?page[size]=x", "?page[number]=0", "?filter[color][eq]=red", "?filter[name][gt]=a", "?labels=novalue:", "?labels=:x", "?sort=color", "?sort=" + url.QueryEscape("created_at up"), "?sort=" + url.QueryEscape("created_at desc extra")} {
		resp, body := a.do("GET", usAPI+"/v2/control-planes"+q, nil)
		p := checkProblem(t, resp, body, http.StatusBadRequest)
		if ips, _ := p["invalid_parameters"].([]any); len(ips) == 0 {
			t.Errorf("%s: no invalid_parameters in %v", q, p)
		}
	}
}

func TestGetUpdateDeleteControlPlane(t *testing.T) {
	srv := start(t, Options{})
	a := newAPI(t, srv, tokenA)
	cp := a.create(usAPI, map[string]any{
		"name": "cp", "description": "d", "labels": map[string]string{"a": "1", "b": "2"},
		"proxy_urls": []map[string]any{{"host": "p1", "port": 80, "protocol": "http"}},
	})
	id := cp["id"].(string)
	a.create(usAPI, map[string]any{"name": "taken"})
	one := usAPI + "/v2/control-planes/" + id

	resp, body := a.do("GET", one, nil)
	got := checkJSON(t, resp, body, http.StatusOK)
	checkControlPlaneObject(t, got)
	if string(mustJSON(got)) != string(mustJSON(cp)) {
		t.Errorf("GET = %s, want what the create answered, %s", mustJSON(got), mustJSON(cp))
	}

	missing := usAPI + "/v2/control-planes/" + newUUID()
	for _, m := range []string{"GET", "PATCH", "DELETE"} {
		resp, body := a.do(m, missing, map[string]any{"description": "x"})
		checkProblem(t, resp, body, http.StatusNotFound)
	}

	// A PATCH changes only what it names; labels and proxy_urls are replaced as a whole.
	time.Sleep(5 * time.Millisecond)
	resp, body = a.do("PATCH", one, map[string]any{"description": "new", "labels": map[string]string{"b": "3", "c": "4"}})
	got = checkJSON(t, resp, body, http.StatusOK)
	checkControlPlaneObject(t, got)
	if got["name"] != "cp" || got["description"] != "new" || string(mustJSON(got["labels"])) != `{"b":"3","c":"4"}` ||
		got["created_at"] != cp["created_at"] || got["updated_at"] == cp["updated_at"] || got["id"] != id {
		t.Errorf("after PATCH: %s", body)
	}
	config := got["config"].(map[string]any)
	if config["auth_type"] != "pinned_client_certs" || len(config["proxy_urls"].([]any)) != 1 ||
		config["control_plane_endpoint"] != cp["config"].(map[string]any)["control_plane_endpoint"] {
		t.Errorf("PATCH changed config it did not name: %v", config)
	}
	resp, body = a.do("PATCH", one, map[string]any{"name": "renamed", "auth_type": "pki_client_certs", "proxy_urls": []map[string]any{}})
	got = checkJSON(t, resp, body, http.StatusOK)
	config = got["config"].(map[string]any)
	if got["name"] != "renamed" || config["auth_type"] != "pki_client_certs" || len(config["proxy_urls"].([]any)) != 0 || got["description"] != "new" {
		t.Errorf("after the second PATCH: %s", body)
	}
	resp, body = a.do("GET", one, nil)
	if got = checkJSON(t, resp, body, http.StatusOK); got["name"] != "renamed" {
		t.Errorf("GET after PATCH: %s", body)
	}
	// The old name is free again; a taken one is a conflict; keeping one's own is fine.
	a.create(usAPI, map[string]any{"name": "cp"})
	resp, body = a.do("PATCH", one, map[string]any{"name": "taken"})
	checkProblem(t, resp, body, http.StatusConflict)
	resp, body = a.do("PATCH", one, map[string]any{"name": "renamed", "description": "same name"})
	checkJSON(t, resp, body, http.StatusOK)
	for _, bad := range []any{map[string]any{"labels": map[string]string{"konnect-x": "1"}}, map[string]any{"auth_type": "nope"}, map[string]any{"name": ""}, "not json"} {
		resp, body = a.do("PATCH", one, bad)
		checkProblem(t, resp, body, http.StatusBadRequest)
	}
	if cps := srv.ControlPlanes(tokenA, "us"); cps[0].Name != "renamed" || cps[0].Description != "same name" {
		t.Errorf("refused PATCHes changed it: %+v", cps[0])
	}

	// DELETE: 204 without a body, then gone.
	resp, body = a.do("DELETE", one, nil)
	if resp.StatusCode != http.StatusNoContent || len(body) != 0 {
		t.Errorf("DELETE: %d %q, want 204 and no body", resp.StatusCode, body)
	}
	resp, body = a.do("GET", one, nil)
	checkProblem(t, resp, body, http.StatusNotFound)
	resp, body = a.do("DELETE", one, nil)
	checkProblem(t, resp, body, http.StatusNotFound)
	if data, _, _, total := listCPs(t, a, usAPI, "?filter[id][eq]="+id); len(data) != 0 || total != 0 {
		t.Errorf("the deleted control plane is still listed")
	}

	// Methods the API lacks.
	for _, m := range []struct{ method, url string }{{"PUT", one}, {"DELETE", usAPI + "/v2/control-planes"}, {"PATCH", usAPI + "/v2/control-planes"}} {
		resp, body = a.do(m.method, m.url, nil)
		checkProblem(t, resp, body, http.StatusMethodNotAllowed)
		if resp.Header.Get("Allow") == "" {
			t.Errorf("%s %s: no Allow header", m.method, m.url)
		}
	}
	for _, u := range []string{usAPI + "/v2/control-planes/", usAPI + "/v2/control-planes/" + id + "/nodes", usAPI + "/v2/control-planes//x"} {
		resp, body = a.do("GET", u, nil)
		checkProblem(t, resp, body, http.StatusNotFound)
	}
}

func TestControlPlanesPerRegionAndOrganization(t *testing.T) {
	const tokenA2 = "kpat_a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a"
	srv := start(t, Options{Tokens: map[string]string{tokenA: orgA, tokenA2: orgA, tokenB: orgB}})
	a := newAPI(t, srv, tokenA)
	id := a.create(usAPI, map[string]any{"name": "cp"})["id"].(string)

	// Every region is its own; the Host header decides, whatever the port.
	for _, base := range []string{euAPI, "https://au.api.konghq.com", "https://me.api.konghq.com", "https://in.api.konghq.com", "https://sg.api.konghq.com"} {
		if data, _, _, total := listCPs(t, a, base, ""); len(data) != 0 || total != 0 {
			t.Errorf("%s lists %d control planes, want none", base, total)
		}
		resp, body := a.do("GET", base+"/v2/control-planes/"+id, nil)
		checkProblem(t, resp, body, http.StatusNotFound)
		resp, body = a.do("POST", base+"/v2/control-planes/"+id+"/dp-client-certificates", map[string]string{"cert": string(newCertPEM(t, "x"))})
		checkMessage(t, resp, body, http.StatusNotFound)
	}
	if data, _, _, _ := listCPs(t, a, "https://US.API.KONGHQ.COM:443", ""); len(data) != 1 {
		t.Errorf("us.api.konghq.com:443 in capitals lists %d, want 1", len(data))
	}
	eu := a.create(euAPI, map[string]any{"name": "cp"})
	if len(srv.ControlPlanes(tokenA, "us")) != 1 || len(srv.ControlPlanes(tokenA, "eu")) != 1 || srv.ControlPlanes(tokenA, "eu")[0].ID != eu["id"] {
		t.Errorf("ControlPlanes us %+v, eu %+v", srv.ControlPlanes(tokenA, "us"), srv.ControlPlanes(tokenA, "eu"))
	}
	resp, body := a.do("DELETE", euAPI+"/v2/control-planes/"+id, nil)
	checkProblem(t, resp, body, http.StatusNotFound)
	if len(srv.ControlPlanes(tokenA, "us")) != 1 {
		t.Error("a DELETE in eu deleted the us control plane")
	}

	// Another organization does not see it; another token of the same one does.
	b := a.as(tokenB)
	if data, _, _, _ := listCPs(t, b, usAPI, ""); len(data) != 0 {
		t.Errorf("organization B lists %v", names(data))
	}
	resp, body = b.do("GET", usAPI+"/v2/control-planes/"+id, nil)
	checkProblem(t, resp, body, http.StatusNotFound)
	resp, body = b.do("PATCH", usAPI+"/v2/control-planes/"+id, map[string]string{"name": "stolen"})
	checkProblem(t, resp, body, http.StatusNotFound)
	if data, _, _, _ := listCPs(t, a.as(tokenA2), usAPI, ""); len(data) != 1 || data[0]["id"] != id {
		t.Errorf("another token of organization A lists %v", names(data))
	}

	// The global host does not route control planes, nor does an unknown region.
	for _, base := range []string{globalAPI, "https://xx.api.konghq.com", "https://cloud.konghq.com"} {
		for _, path := range []string{"/v2/control-planes", "/v2/control-planes/" + id, "/v2/control-planes/" + id + "/dp-client-certificates"} {
			resp, body := a.do("GET", base+path, nil)
			checkProblem(t, resp, body, http.StatusNotFound)
		}
		resp, body := a.do("POST", base+"/v2/control-planes", map[string]string{"name": "x"})
		checkProblem(t, resp, body, http.StatusNotFound)
	}
	// The token check still works on every host.
	resp, body = getMe(t, a.c, usAPI+mePath, tokenA)
	checkOrg(t, resp, body, orgA)
}

func TestControlPlanesUnknownToken(t *testing.T) {
	srv := start(t, Options{})
	a := newAPI(t, srv, tokenA)
	id := a.create(usAPI, map[string]any{"name": "cp"})["id"].(string)
	certPEM := string(newCertPEM(t, "dp"))
	certID := createCert(t, a, id, certPEM)

	for _, token := range []string{"kpat_unknown", ""} {
		u := a.as(token)
		for _, c := range []struct {
			method, path string
			body         any
		}{
			{"GET", "/v2/control-planes", nil},
			{"POST", "/v2/control-planes", map[string]string{"name": "x"}},
			{"GET", "/v2/control-planes/" + id, nil},
			{"PATCH", "/v2/control-planes/" + id, map[string]string{"name": "x"}},
			{"DELETE", "/v2/control-planes/" + id, nil},
		} {
			resp, body := u.do(c.method, usAPI+c.path, c.body)
			checkProblem(t, resp, body, http.StatusUnauthorized)
		}
		// The certificate endpoints answer as Konnect's older API there: {"message": …}.
		for _, c := range []struct {
			method, path string
			body         any
		}{
			{"GET", "/v2/control-planes/" + id + "/dp-client-certificates", nil},
			{"POST", "/v2/control-planes/" + id + "/dp-client-certificates", map[string]string{"cert": string(newCertPEM(t, "y"))}},
			{"DELETE", "/v2/control-planes/" + id + "/dp-client-certificates/" + certID, nil},
		} {
			resp, body := u.do(c.method, usAPI+c.path, c.body)
			checkMessage(t, resp, body, http.StatusUnauthorized)
		}
	}
	cps := srv.ControlPlanes(tokenA, "us")
	if len(cps) != 1 || cps[0].Name != "cp" || len(srv.Certificates(id)) != 1 {
		t.Errorf("unauthorised requests changed something: %+v, %d certificates", cps, len(srv.Certificates(id)))
	}
	if srv.ControlPlanes("kpat_unknown", "us") != nil {
		t.Error("ControlPlanes answers for an unknown token")
	}
}
