package fakekonnect

import (
	"encoding/pem"
	"net/http"
	"strings"
	"testing"
	"time"
)

// newCertPEM makes a self-signed client certificate like a data plane's, in PEM.
func newCertPEM(t *testing.T, cn string) []byte {
	t.Helper()
	certPEM, _, _, err := ClientCertificate(cn)
	if err != nil {
		t.Fatal(err)
	}
	return certPEM
}

// checkMessage checks a certificate endpoint's error: application/json {"message": "…"}.
func checkMessage(t *testing.T, resp *http.Response, body []byte, wantStatus int) string {
	t.Helper()
	m := checkJSON(t, resp, body, wantStatus)
	checkKeys(t, "error body", m, "message")
	msg, _ := m["message"].(string)
	if msg == "" {
		t.Errorf("message is empty in %s", body)
	}
	return msg
}

func certsURL(cpID string) string {
	return usAPI + "/v2/control-planes/" + cpID + "/dp-client-certificates"
}

// createCert registers certPEM and returns the new certificate's ID.
func createCert(t *testing.T, a *api, cpID, certPEM string) string {
	t.Helper()
	resp, body := a.do("POST", certsURL(cpID), map[string]string{"cert": certPEM})
	m := checkJSON(t, resp, body, http.StatusCreated)
	checkKeys(t, "create answer", m, "item")
	item, _ := m["item"].(map[string]any)
	checkCertItem(t, item, certPEM)
	return item["id"].(string)
}

func checkCertItem(t *testing.T, item map[string]any, certPEM string) {
	t.Helper()
	checkKeys(t, "certificate", item, "id", "cert", "created_at", "updated_at")
	if id, _ := item["id"].(string); !uuidRE.MatchString(id) {
		t.Errorf("id = %v, want a UUID", item["id"])
	}
	if item["cert"] != certPEM {
		t.Errorf("cert = %v, want the PEM as registered", item["cert"])
	}
	// Unix seconds, as the SDK's *int64 fields want them.
	for _, k := range []string{"created_at", "updated_at"} {
		f, ok := item[k].(float64)
		if !ok || f != float64(int64(f)) || time.Since(time.Unix(int64(f), 0)) > time.Minute || time.Until(time.Unix(int64(f), 0)) > time.Minute {
			t.Errorf("%s = %v, want the Unix time now", k, item[k])
		}
	}
}

// listCerts lists a control plane's certificates, checking the envelope.
func listCerts(t *testing.T, a *api, cpID string) []map[string]any {
	t.Helper()
	resp, body := a.do("GET", certsURL(cpID), nil)
	m := checkJSON(t, resp, body, http.StatusOK)
	checkKeys(t, "list answer", m, "items", "page")
	page, _ := m["page"].(map[string]any)
	checkKeys(t, "page", page, "total_count")
	raw, ok := m["items"].([]any)
	if !ok {
		t.Fatalf("items = %v, want an array", m["items"])
	}
	if page["total_count"] != float64(len(raw)) {
		t.Errorf("total_count = %v with %d items", page["total_count"], len(raw))
	}
	var out []map[string]any
	for _, x := range raw {
		out = append(out, x.(map[string]any))
	}
	return out
}

func TestDataPlaneCertificates(t *testing.T) {
	srv := start(t, Options{})
	a := newAPI(t, srv, tokenA)
	cpID := a.create(usAPI, map[string]any{"name": "cp"})["id"].(string)
	otherID := a.create(usAPI, map[string]any{"name": "other"})["id"].(string)

	if got := listCerts(t, a, cpID); len(got) != 0 {
		t.Errorf("a new control plane has certificates %v", got)
	}
	pem1, pem2 := string(newCertPEM(t, "ext-1.kong")), string(newCertPEM(t, "ext-2.kong"))
	id1 := createCert(t, a, cpID, pem1)
	id2 := createCert(t, a, cpID, pem2)
	if id1 == id2 {
		t.Fatalf("two certificates share the ID %s", id1)
	}

	// The same certificate again is a conflict, even with other whitespace around it.
	for _, again := range []string{pem1, "\n" + pem1 + "\n"} {
		resp, body := a.do("POST", certsURL(cpID), map[string]string{"cert": again})
		checkMessage(t, resp, body, http.StatusConflict)
	}
	// On another control plane it is fine.
	createCert(t, a, otherID, pem1)

	// What is not a PEM certificate is refused.
	keyPEM := "-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg\n-----END PRIVATE KEY-----\n"
	garbled := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte("not DER at all")}))
	for name, body := range map[string]any{
		"not PEM":     map[string]string{"cert": "hello"},
		"a key":       map[string]string{"cert": keyPEM},
		"garbled DER": map[string]string{"cert": garbled},
		"no cert":     map[string]string{},
		"not JSON":    "{cert",
	} {
		resp, got := a.do("POST", certsURL(cpID), body)
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%s: status %d, want 400", name, resp.StatusCode)
			continue
		}
		checkMessage(t, resp, got, http.StatusBadRequest)
	}

	items := listCerts(t, a, cpID)
	if len(items) != 2 || items[0]["id"] != id1 || items[1]["id"] != id2 {
		t.Fatalf("list = %v, want the two, oldest first", items)
	}
	checkCertItem(t, items[0], pem1)
	if got := srv.Certificates(cpID); len(got) != 2 || got[0].ID != id1 || got[0].Cert != pem1 || got[1].ID != id2 {
		t.Errorf("Certificates = %+v", got)
	}

	// Get one.
	resp, body := a.do("GET", certsURL(cpID)+"/"+id2, nil)
	m := checkJSON(t, resp, body, http.StatusOK)
	checkCertItem(t, m["item"].(map[string]any), pem2)
	resp, body = a.do("GET", certsURL(cpID)+"/"+newUUID(), nil)
	checkMessage(t, resp, body, http.StatusNotFound)

	// Delete: 204, then 404 {"message"}; the other certificate and control plane stay.
	resp, body = a.do("DELETE", certsURL(cpID)+"/"+id1, nil)
	if resp.StatusCode != http.StatusNoContent || len(body) != 0 {
		t.Errorf("DELETE: %d %q, want 204 and no body", resp.StatusCode, body)
	}
	resp, body = a.do("DELETE", certsURL(cpID)+"/"+id1, nil)
	checkMessage(t, resp, body, http.StatusNotFound)
	resp, body = a.do("DELETE", certsURL(otherID)+"/"+id2, nil) // someone else's certificate
	checkMessage(t, resp, body, http.StatusNotFound)
	if items = listCerts(t, a, cpID); len(items) != 1 || items[0]["id"] != id2 {
		t.Errorf("after the delete: %v", items)
	}
	if len(listCerts(t, a, otherID)) != 1 {
		t.Error("deleting on one control plane touched another")
	}
	// Deleted, it can be registered again.
	createCert(t, a, cpID, pem1)

	// A missing control plane: 404 {"message"} everywhere.
	missing := newUUID()
	for _, c := range []struct {
		method, url string
		body        any
	}{
		{"GET", certsURL(missing), nil},
		{"POST", certsURL(missing), map[string]string{"cert": pem1}},
		{"GET", certsURL(missing) + "/" + id2, nil},
		{"DELETE", certsURL(missing) + "/" + id2, nil},
	} {
		resp, body := a.do(c.method, c.url, c.body)
		checkMessage(t, resp, body, http.StatusNotFound)
	}
	resp, body = a.do("PUT", certsURL(cpID)+"/"+id2, map[string]string{"cert": pem1})
	checkProblem(t, resp, body, http.StatusMethodNotAllowed)

	// Deleting the control plane deletes its certificates.
	resp, _ = a.do("DELETE", usAPI+"/v2/control-planes/"+cpID, nil)
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("DELETE control plane: %d", resp.StatusCode)
	}
	if got := srv.Certificates(cpID); len(got) != 0 {
		t.Errorf("the deleted control plane keeps certificates %+v", got)
	}
	resp, body = a.do("GET", certsURL(cpID), nil)
	checkMessage(t, resp, body, http.StatusNotFound)
	if got := srv.Certificates(otherID); len(got) != 1 {
		t.Errorf("the other control plane lost its certificate: %+v", got)
	}
}

func TestSeeding(t *testing.T) {
	srv := start(t, Options{})
	a := newAPI(t, srv, tokenA)
	const mirrorID = "3b0b8a9e-1f7c-4d2a-9c1e-5a6b7c8d9e0f"

	id, err := srv.AddControlPlane(tokenA, "eu", ControlPlaneSpec{
		ID: mirrorID, Name: "made-in-the-ui", Description: "by hand",
		Labels: map[string]string{"env": "prod"}, ClusterType: "CLUSTER_TYPE_K8S_INGRESS_CONTROLLER",
	})
	if err != nil || id != mirrorID {
		t.Fatalf("AddControlPlane = %q, %v", id, err)
	}
	resp, body := a.do("GET", euAPI+"/v2/control-planes/"+mirrorID, nil)
	cp := checkJSON(t, resp, body, http.StatusOK)
	checkControlPlaneObject(t, cp)
	config := cp["config"].(map[string]any)
	if cp["name"] != "made-in-the-ui" || cp["description"] != "by hand" || config["cluster_type"] != "CLUSTER_TYPE_K8S_INGRESS_CONTROLLER" ||
		config["auth_type"] != DefaultAuthType || cp["labels"].(map[string]any)["env"] != "prod" {
		t.Errorf("seeded control plane = %s", body)
	}
	// A foreign control plane holds its name: the API's create conflicts.
	resp, body = a.do("POST", euAPI+"/v2/control-planes", map[string]string{"name": "made-in-the-ui"})
	checkProblem(t, resp, body, http.StatusConflict)

	generated, err := srv.AddControlPlane(tokenB, "us", ControlPlaneSpec{Name: "made-in-the-ui"})
	if err != nil || !uuidRE.MatchString(generated) {
		t.Errorf("AddControlPlane in another organization = %q, %v", generated, err)
	}

	for name, c := range map[string]struct {
		token, region string
		spec          ControlPlaneSpec
	}{
		"unknown token":  {"kpat_unknown", "us", ControlPlaneSpec{Name: "x"}},
		"unknown region": {tokenA, "xx", ControlPlaneSpec{Name: "x"}},
		"global":         {tokenA, "global", ControlPlaneSpec{Name: "x"}},
		"name taken":     {tokenA, "eu", ControlPlaneSpec{Name: "made-in-the-ui"}},
		"id taken":       {tokenA, "us", ControlPlaneSpec{ID: mirrorID, Name: "x"}},
		"id not a UUID":  {tokenA, "us", ControlPlaneSpec{ID: "cp-1", Name: "x"}},
		"no name":        {tokenA, "us", ControlPlaneSpec{}},
		"reserved label": {tokenA, "us", ControlPlaneSpec{Name: "x", Labels: map[string]string{"kong.x": "1"}}},
		"bad auth type":  {tokenA, "us", ControlPlaneSpec{Name: "x", AuthType: "password"}},
	} {
		if id, err := srv.AddControlPlane(c.token, c.region, c.spec); err == nil {
			t.Errorf("%s: AddControlPlane = %q, want an error", name, id)
		} else if strings.Contains(err.Error(), c.token) && c.token != "" {
			t.Errorf("%s: the error quotes the token: %v", name, err)
		}
	}
	if got := srv.ControlPlanes(tokenA, "us"); len(got) != 0 {
		t.Errorf("refused seeds stored %+v", got)
	}

	// Certificates can be seeded too.
	certPEM := string(newCertPEM(t, "seeded"))
	certID, err := srv.AddCertificate(mirrorID, certPEM)
	if err != nil || !uuidRE.MatchString(certID) {
		t.Fatalf("AddCertificate = %q, %v", certID, err)
	}
	if _, err := srv.AddCertificate(mirrorID, certPEM); err == nil {
		t.Error("AddCertificate accepted a duplicate")
	}
	if _, err := srv.AddCertificate(mirrorID, "junk"); err == nil {
		t.Error("AddCertificate accepted junk")
	}
	if _, err := srv.AddCertificate(newUUID(), string(newCertPEM(t, "x"))); err == nil {
		t.Error("AddCertificate accepted a missing control plane")
	}
	resp, body = a.do("GET", euAPI+"/v2/control-planes/"+mirrorID+"/dp-client-certificates", nil)
	if m := checkJSON(t, resp, body, http.StatusOK); len(m["items"].([]any)) != 1 {
		t.Errorf("the seeded certificate is not listed: %s", body)
	}

	// A deletion in Konnect's UI: the API then answers 404, and the certificates are gone.
	if !srv.DeleteControlPlaneDirect(mirrorID) {
		t.Fatal("DeleteControlPlaneDirect found nothing")
	}
	if srv.DeleteControlPlaneDirect(mirrorID) {
		t.Error("DeleteControlPlaneDirect deleted twice")
	}
	resp, body = a.do("GET", euAPI+"/v2/control-planes/"+mirrorID, nil)
	checkProblem(t, resp, body, http.StatusNotFound)
	if len(srv.Certificates(mirrorID)) != 0 || len(srv.ControlPlanes(tokenA, "eu")) != 0 {
		t.Error("the directly deleted control plane left something behind")
	}
	// Snapshots are copies.
	snap := srv.ControlPlanes(tokenB, "us")
	snap[0].Labels["x"] = "y"
	snap[0].Name = "changed"
	if again := srv.ControlPlanes(tokenB, "us"); again[0].Name != "made-in-the-ui" || len(again[0].Labels) != 0 {
		t.Errorf("changing a snapshot changed the store: %+v", again[0])
	}
}

// A registration may carry a title (Kong's SDK sends it when set); the list, the get and the
// create answer return it, and a certificate registered without one has none.
func TestDataPlaneCertificateTitle(t *testing.T) {
	srv := start(t, Options{})
	a := newAPI(t, srv, tokenA)
	cpID := a.create(usAPI, map[string]any{"name": "cp"})["id"].(string)
	titledPEM, plainPEM := string(newCertPEM(t, "titled")), string(newCertPEM(t, "plain"))
	const title = "k8s-uid:6f1c0d3e-5b7a-4c2e-9a1d-2b3c4d5e6f70"

	resp, body := a.do("POST", certsURL(cpID), map[string]string{"cert": titledPEM, "title": title})
	created := checkJSON(t, resp, body, http.StatusCreated)["item"].(map[string]any)
	if created["title"] != title {
		t.Errorf("create answer title = %v, want %q", created["title"], title)
	}
	plainID := createCert(t, a, cpID, plainPEM)

	items := listCerts(t, a, cpID)
	if len(items) != 2 || items[0]["title"] != title {
		t.Fatalf("list = %v, want the titled certificate first, with its title", items)
	}
	if got, ok := items[1]["title"]; ok && got != "" {
		t.Errorf("a certificate registered without a title lists title %v", got)
	}
	resp, body = a.do("GET", certsURL(cpID)+"/"+created["id"].(string), nil)
	if got := checkJSON(t, resp, body, http.StatusOK)["item"].(map[string]any)["title"]; got != title {
		t.Errorf("get title = %v, want %q", got, title)
	}
	if got := srv.Certificates(cpID); got[0].Title != title || got[1].ID != plainID || got[1].Title != "" {
		t.Errorf("Certificates = %+v", got)
	}
}
