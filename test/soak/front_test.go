package soak

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestFrontRecordsWrites: the front records what the oracle's create check reads — the k8s-uid
// of a create, the control planes with that UID before it and the one it made — and loses an
// answer after the change took effect when told to.
func TestFrontRecordsWrites(t *testing.T) {
	dir := t.TempDir()
	fake, fr, err := startFakeKonnect(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer fake.Close()
	fake.AddToken(testToken, orgA)

	create := func(name string) (code int, panicked bool) {
		defer func() {
			if r := recover(); r != nil {
				if r != http.ErrAbortHandler {
					panic(r)
				}
				panicked = true
			}
		}()
		body, _ := json.Marshal(map[string]any{"name": name, "labels": map[string]string{labelManagedBy: managedByValue, labelUIDKey: "uid-1"}})
		req := httptest.NewRequest(http.MethodPost, "https://us.api.konghq.com/v2/control-planes", bytes.NewReader(body))
		req.Host = "us.api.konghq.com"
		req.Header.Set("Authorization", "Bearer "+testToken)
		rec := httptest.NewRecorder()
		fr.ServeHTTP(rec, req)
		return rec.Code, false
	}

	if code, _ := create("first"); code != http.StatusCreated {
		t.Fatalf("first create: %d", code)
	}
	fr.setCut(&cutRule{Method: http.MethodPost, Path: "/v2/control-planes"})
	if _, panicked := create("second"); !panicked {
		t.Fatal("the second create's answer was not cut")
	}
	fr.setCut(nil)

	writes := fr.Writes()
	if len(writes) != 2 {
		t.Fatalf("%d writes recorded, want 2: %+v", len(writes), writes)
	}
	first, second := writes[0], writes[1]
	if first.UID != "uid-1" || first.Name != "first" || len(first.Existing) != 0 || len(first.Created) != 1 || first.Status != http.StatusCreated {
		t.Errorf("first create recorded as %+v", first)
	}
	if !second.Cut || !second.successful() || len(second.Existing) != 1 || second.Existing[0] != first.Created[0] || len(second.Created) != 1 {
		t.Errorf("second create recorded as %+v; want cut, successful, with the first one existing", second)
	}
	if got := len(fake.ControlPlanes(testToken, "us")); got != 2 {
		t.Errorf("the fake holds %d control planes, want 2 (the cut create took effect)", got)
	}

	// And the oracle counts the second as a duplicate create.
	s, _ := healthyWorld(t)
	s.Writes = writes
	if r := Check(s); r.Count(checkDuplicate) == 0 {
		t.Errorf("no duplicate for a create while one existed: %+v", r.Violations)
	}
}
