package sdkclient

import (
	"context"
	"encoding/json"
	"net/http"
	"reflect"
	"testing"
	"time"

	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/konnect"
)

const testCertPEM = "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIUQ2VydGlmaWNhdGUgZm9yIHRlc3Rz\n-----END CERTIFICATE-----\n"

// certJSON is a data-plane certificate as Konnect answers it.
func certJSON(id string) string {
	cert, _ := json.Marshal(testCertPEM)
	return `{"id":"` + id + `","cert":` + string(cert) + `,"created_at":1706745600,"updated_at":1706745600}`
}

// testTitle is a registration's title as the extension reconciler gives it.
const testTitle = "k8s-uid:6f1c0d3e-5b7a-4c2e-9a1d-2b3c4d5e6f70"

// titledCertJSON is a data-plane certificate registered with a title, as Konnect answers it.
func titledCertJSON(id, title string) string {
	cert, _ := json.Marshal(testCertPEM)
	t, _ := json.Marshal(title)
	return `{"id":"` + id + `","cert":` + string(cert) + `,"title":` + string(t) + `,"created_at":1706745600,"updated_at":1706745600}`
}

func TestCertificateCalls(t *testing.T) {
	f := newFakeAPI(t)
	c := f.client(5 * time.Second)
	ctx := context.Background()
	certsPath := "/v2/control-planes/" + testCPID + "/dp-client-certificates"
	const otherID = "5c1e2f3a-0000-4000-8000-000000000002"

	tests := []struct {
		name    string
		handler http.HandlerFunc
		call    func() (any, error)
		want    wantRequest
		result  any
	}{
		{
			name:    "create",
			handler: reply(201, "application/json", `{"item":`+certJSON(testCertID)+`}`),
			call:    func() (any, error) { return c.CreateDataPlaneCertificate(ctx, testAuth, testCPID, testCertPEM, "") },
			want:    wantRequest{method: "POST", path: certsPath, body: `{"cert":` + mustJSON(t, testCertPEM) + `}`},
			result:  &konnect.DataPlaneCertificate{ID: testCertID, Cert: testCertPEM},
		},
		{
			name:    "create with a title",
			handler: reply(201, "application/json", `{"item":`+titledCertJSON(testCertID, testTitle)+`}`),
			call: func() (any, error) {
				return c.CreateDataPlaneCertificate(ctx, testAuth, testCPID, testCertPEM, testTitle)
			},
			want: wantRequest{method: "POST", path: certsPath,
				body: `{"cert":` + mustJSON(t, testCertPEM) + `,"title":` + mustJSON(t, testTitle) + `}`},
			result: &konnect.DataPlaneCertificate{ID: testCertID, Cert: testCertPEM, Title: testTitle},
		},
		{
			name:    "list with a title",
			handler: reply(200, "application/json", `{"items":[`+titledCertJSON(testCertID, testTitle)+`,`+certJSON(otherID)+`]}`),
			call:    func() (any, error) { return c.ListDataPlaneCertificates(ctx, testAuth, testCPID) },
			want:    wantRequest{method: "GET", path: certsPath},
			result:  []konnect.DataPlaneCertificate{{ID: testCertID, Cert: testCertPEM, Title: testTitle}, {ID: otherID, Cert: testCertPEM}},
		},
		{
			name:    "list",
			handler: reply(200, "application/json", `{"items":[`+certJSON(testCertID)+`,`+certJSON(otherID)+`],"page":{"total_count":2}}`),
			call:    func() (any, error) { return c.ListDataPlaneCertificates(ctx, testAuth, testCPID) },
			want:    wantRequest{method: "GET", path: certsPath},
			result:  []konnect.DataPlaneCertificate{{ID: testCertID, Cert: testCertPEM}, {ID: otherID, Cert: testCertPEM}},
		},
		{
			name:    "list without a page",
			handler: reply(200, "application/json", `{"items":[`+certJSON(testCertID)+`]}`),
			call:    func() (any, error) { return c.ListDataPlaneCertificates(ctx, testAuth, testCPID) },
			want:    wantRequest{method: "GET", path: certsPath},
			result:  []konnect.DataPlaneCertificate{{ID: testCertID, Cert: testCertPEM}},
		},
		{
			name:    "list of none",
			handler: reply(200, "application/json", `{"items":[],"page":{"total_count":0}}`),
			call:    func() (any, error) { return c.ListDataPlaneCertificates(ctx, testAuth, testCPID) },
			want:    wantRequest{method: "GET", path: certsPath},
			result:  []konnect.DataPlaneCertificate{},
		},
		{
			name:    "delete",
			handler: reply(204, "", ""),
			call:    func() (any, error) { return nil, c.DeleteDataPlaneCertificate(ctx, testAuth, testCPID, testCertID) },
			want:    wantRequest{method: "DELETE", path: certsPath + "/" + testCertID},
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

func TestCertificateUnusableAnswers(t *testing.T) {
	f := newFakeAPI(t)
	c := f.client(5 * time.Second)
	ctx := context.Background()
	create := func() error {
		_, err := c.CreateDataPlaneCertificate(ctx, testAuth, testCPID, testCertPEM, "")
		return err
	}
	list := func() error { _, err := c.ListDataPlaneCertificates(ctx, testAuth, testCPID); return err }
	tests := []struct {
		name    string
		call    func() error
		handler http.HandlerFunc
		status  int
		message string
	}{
		{"create without item", create, reply(201, "application/json", `{}`), 201, "Konnect answered 201 without a data-plane certificate id"},
		{"create without id", create, reply(201, "application/json", `{"item":{"cert":"x"}}`), 201, "Konnect answered 201 without a data-plane certificate id"},
		{"create with a malformed id", create, reply(201, "application/json", `{"item":{"id":"a/../b"}}`), 201, "Konnect answered 201 with a malformed data-plane certificate id"},
		{"list item without id", list, reply(200, "application/json", `{"items":[{"cert":"x"}]}`), 200, "Konnect answered 200 without a data-plane certificate id"},
		// The SDK has no paging for this endpoint: an answer that says it holds only part of
		// the list must not pass for the whole of it.
		{"list that says it is incomplete", list, reply(200, "application/json", `{"items":[`+certJSON(testCertID)+`],"page":{"total_count":3}}`), 200,
			"Konnect answered 200 with 1 of 3 data-plane certificates, and the SDK cannot ask for more"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f.set(tc.handler)
			// A success that cannot be used is transient: a second look tells.
			e := assertAPIError(t, tc.call(), konnect.ErrorTransient, tc.status)
			if e.Message != tc.message {
				t.Errorf("Message = %q, want %q", e.Message, tc.message)
			}
		})
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
