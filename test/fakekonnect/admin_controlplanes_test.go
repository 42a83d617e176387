package fakekonnect

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// adminClient drives AdminHandler over plain HTTP, as test/cmd/fakekonnect serves it.
type adminClient struct {
	t   *testing.T
	srv *httptest.Server
}

func newAdmin(t *testing.T, srv *Server) *adminClient {
	t.Helper()
	hs := httptest.NewServer(srv.AdminHandler())
	t.Cleanup(hs.Close)
	return &adminClient{t: t, srv: hs}
}

// do sends an admin request and returns its status and body, failing if the answer quotes
// a token.
func (c *adminClient) do(method, path, body string) (int, []byte) {
	c.t.Helper()
	req, _ := http.NewRequest(method, c.srv.URL+path, strings.NewReader(body))
	resp, err := c.srv.Client().Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	got, _ := io.ReadAll(resp.Body)
	for _, token := range []string{tokenA, tokenB} {
		if strings.Contains(string(got), token) {
			c.t.Errorf("%s %s: the answer quotes a token: %s", method, path, got)
		}
	}
	return resp.StatusCode, got
}

func (c *adminClient) expect(method, path, body string, want int) []byte {
	c.t.Helper()
	code, got := c.do(method, path, body)
	if code != want {
		c.t.Fatalf("%s %s: status %d, want %d; body %s", method, path, code, want, got)
	}
	return got
}

func TestAdminControlPlanes(t *testing.T) {
	srv := start(t, Options{})
	admin := newAdmin(t, srv)
	a := newAPI(t, srv, tokenA)
	const id = "5d4c3b2a-1f0e-4d9c-8b7a-6f5e4d3c2b1a"

	// Seed one as Konnect's UI would, then see it through the API.
	body := admin.expect("POST", "/admin/control-planes", `{"token":"`+tokenA+`","region":"us","id":"`+id+`","name":"ui-made",
		"description":"d","labels":{"env":"prod"},"cluster_type":"CLUSTER_TYPE_K8S_INGRESS_CONTROLLER",
		"proxy_urls":[{"host":"p","port":443,"protocol":"https"}]}`, http.StatusCreated)
	var created ControlPlane
	if err := json.Unmarshal(body, &created); err != nil || created.ID != id || created.Name != "ui-made" ||
		created.Config.ClusterType != "CLUSTER_TYPE_K8S_INGRESS_CONTROLLER" || len(created.Config.ProxyURLs) != 1 {
		t.Fatalf("created = %s (%v)", body, err)
	}
	checkControlPlaneObject(t, decodeObject(t, body))
	resp, got := a.do("GET", usAPI+"/v2/control-planes/"+id, nil)
	if m := checkJSON(t, resp, got, http.StatusOK); m["name"] != "ui-made" {
		t.Errorf("GET through the API = %s", got)
	}
	admin.expect("POST", "/admin/control-planes", `{"token":"`+tokenB+`","region":"eu","name":"b's"}`, http.StatusCreated)

	// Mistakes: 400 with a reason, never quoting the token (checked by do).
	for _, bad := range []string{
		`{"token":"` + tokenA + `","region":"us","name":"ui-made"}`,      // name taken
		`{"token":"` + tokenA + `","region":"global","name":"x"}`,        // not a region
		`{"token":"kpat_nobody","region":"us","name":"x"}`,               // unknown token
		`{"region":"us","name":"x"}`,                                     // no token
		`{"token":"` + tokenA + `","region":"us","name":"x","colour":1}`, // unknown field
		`{"token":"` + tokenA + `"`,                                      // not JSON
		`{"token":"` + tokenA + `","region":"us","name":"x","labels":{"kong-x":"1"}}`,
	} {
		admin.expect("POST", "/admin/control-planes", bad, http.StatusBadRequest)
	}

	// Certificates through the admin endpoints.
	pemText := string(newCertPEM(t, "admin"))
	certBody, _ := json.Marshal(map[string]string{"cert": pemText})
	got = admin.expect("POST", "/admin/control-planes/"+id+"/dp-client-certificates", string(certBody), http.StatusCreated)
	var certRef struct{ ID string }
	if err := json.Unmarshal(got, &certRef); err != nil || !uuidRE.MatchString(certRef.ID) {
		t.Fatalf("certificate answer = %s", got)
	}
	admin.expect("POST", "/admin/control-planes/"+id+"/dp-client-certificates", string(certBody), http.StatusBadRequest) // duplicate
	admin.expect("POST", "/admin/control-planes/"+id+"/dp-client-certificates", `{"cert":"junk"}`, http.StatusBadRequest)
	admin.expect("POST", "/admin/control-planes/"+newUUID()+"/dp-client-certificates", string(certBody), http.StatusBadRequest)
	got = admin.expect("GET", "/admin/control-planes/"+id+"/dp-client-certificates", "", http.StatusOK)
	var certs struct{ Items []DataPlaneCertificate }
	if err := json.Unmarshal(got, &certs); err != nil || len(certs.Items) != 1 || certs.Items[0].ID != certRef.ID || certs.Items[0].Cert != pemText {
		t.Errorf("certificates = %s", got)
	}
	admin.expect("GET", "/admin/control-planes/"+newUUID()+"/dp-client-certificates", "", http.StatusNotFound)
	if items := listCerts(t, a, id); len(items) != 1 {
		t.Errorf("the API lists %d certificates, want the seeded one", len(items))
	}

	// The listing, whole and filtered.
	report := func(query string) ControlPlanesReport {
		t.Helper()
		var r ControlPlanesReport
		if err := json.Unmarshal(admin.expect("GET", "/admin/control-planes"+query, "", http.StatusOK), &r); err != nil {
			t.Fatal(err)
		}
		return r
	}
	all := report("")
	if len(all.Items) != 2 || all.Items[0].OrgID != orgA || all.Items[0].Region != "us" || all.Items[0].ControlPlane.ID != id ||
		len(all.Items[0].Certificates) != 1 || all.Items[1].OrgID != orgB || all.Items[1].Region != "eu" || all.Items[1].Certificates == nil {
		t.Errorf("report = %+v", all)
	}
	if r := report("?orgID=" + orgB); len(r.Items) != 1 || r.Items[0].ControlPlane.Name != "b's" {
		t.Errorf("report for orgB = %+v", r)
	}
	if r := report("?region=us"); len(r.Items) != 1 || r.Items[0].ControlPlane.ID != id {
		t.Errorf("report for us = %+v", r)
	}
	if r := report("?orgID=" + orgB + "&region=us"); r.Items == nil || len(r.Items) != 0 {
		t.Errorf("report for orgB in us = %+v, want an empty list", r)
	}

	// The request log.
	a.do("GET", usAPI+"/v2/control-planes?labels=env:prod", nil)
	a.do("POST", usAPI+"/v2/control-planes", map[string]string{"name": "via api"})
	var reqs RequestsReport
	if err := json.Unmarshal(admin.expect("GET", "/admin/requests?method=POST&path=/v2/control-planes", "", http.StatusOK), &reqs); err != nil {
		t.Fatal(err)
	}
	if reqs.Count != 1 || len(reqs.Requests) != 1 || reqs.Requests[0].Status != 201 || reqs.Requests[0].Host != "us.api.konghq.com" ||
		reqs.Requests[0].TokenHash != ShortTokenHash(tokenA) {
		t.Errorf("POST requests = %+v", reqs)
	}
	raw := admin.expect("GET", "/admin/requests", "", http.StatusOK)
	if err := json.Unmarshal(raw, &reqs); err != nil || reqs.Count != 4 { // GET one, list certs, list, create
		t.Errorf("all requests = %s (%v)", raw, err)
	}
	if !strings.Contains(string(raw), `"query":"labels=env:prod"`) || !strings.Contains(string(raw), `"tokenHash":"sha256:`) {
		t.Errorf("the request log lacks the query or the token hash: %s", raw)
	}
	admin.expect("DELETE", "/admin/requests", "", http.StatusNoContent)
	if err := json.Unmarshal(admin.expect("GET", "/admin/requests", "", http.StatusOK), &reqs); err != nil || reqs.Count != 0 || reqs.Requests == nil {
		t.Errorf("after DELETE /admin/requests: %+v (%v)", reqs, err)
	}

	// A behavior scoped to writes on one path, through the admin endpoint.
	admin.expect("POST", "/behavior?mode=outage&scope=writes&path=/v2/control-planes/*", "", http.StatusNoContent)
	resp, got = a.do("PATCH", usAPI+"/v2/control-planes/"+id, map[string]string{"description": "x"})
	checkProblem(t, resp, got, http.StatusServiceUnavailable)
	resp, got = a.do("GET", usAPI+"/v2/control-planes/"+id, nil)
	checkJSON(t, resp, got, http.StatusOK)
	a.create(usAPI, map[string]any{"name": "another"})
	admin.expect("POST", "/behavior?mode=ratelimited&scope=reads", `{"token":"`+tokenA+`"}`, http.StatusNoContent)
	resp, got = a.do("GET", usAPI+"/v2/control-planes/"+id, nil)
	checkProblem(t, resp, got, http.StatusTooManyRequests) // the token's; the global one is for writes
	admin.expect("POST", "/behavior?mode=outage&scope=sideways", "", http.StatusBadRequest)
	admin.expect("POST", "/behavior?mode=normal", "", http.StatusNoContent)
	admin.expect("POST", "/behavior?mode=normal", `{"token":"`+tokenA+`"}`, http.StatusNoContent)

	// A deletion in Konnect's UI.
	admin.expect("DELETE", "/admin/control-planes/"+id, "", http.StatusNoContent)
	admin.expect("DELETE", "/admin/control-planes/"+id, "", http.StatusNotFound)
	resp, got = a.do("GET", usAPI+"/v2/control-planes/"+id, nil)
	checkProblem(t, resp, got, http.StatusNotFound)
	if r := report("?region=us"); len(r.Items) != 2 { // "via api" and "another"
		t.Errorf("after the deletion: %+v", r)
	}
}
