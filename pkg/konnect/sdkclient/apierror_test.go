package sdkclient

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"k8s.io/klog/v2"
	"k8s.io/klog/v2/ktesting"

	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/konnect"
)

// apiOp is one method of konnect.ControlPlaneAPI, called with fixed arguments.
type apiOp struct {
	name string
	// op is its APIError.Op.
	op string
	// success is the status the SDK decodes as its success, and answer what that carries.
	success int
	answer  string
	call    func(ctx context.Context, c *Client, auth konnect.Auth) error
}

var apiOps = []apiOp{
	{"CreateControlPlane", "creating control plane", 201, "control plane", func(ctx context.Context, c *Client, a konnect.Auth) error {
		_, err := c.CreateControlPlane(ctx, a, konnect.ControlPlaneSpec{Name: "cp"})
		return err
	}},
	{"GetControlPlane", "getting control plane", 200, "control plane", func(ctx context.Context, c *Client, a konnect.Auth) error {
		_, err := c.GetControlPlane(ctx, a, testCPID)
		return err
	}},
	{"ListControlPlanes", "listing control planes", 200, "list of control planes", func(ctx context.Context, c *Client, a konnect.Auth) error {
		_, err := c.ListControlPlanes(ctx, a, konnect.ControlPlaneFilter{Name: "cp"})
		return err
	}},
	{"UpdateControlPlane", "updating control plane", 200, "control plane", func(ctx context.Context, c *Client, a konnect.Auth) error {
		_, err := c.UpdateControlPlane(ctx, a, testCPID, konnect.ControlPlaneSpec{Name: "cp"})
		return err
	}},
	{"DeleteControlPlane", "deleting control plane", 204, "", func(ctx context.Context, c *Client, a konnect.Auth) error {
		return c.DeleteControlPlane(ctx, a, testCPID)
	}},
	{"ListDataPlaneCertificates", "listing data-plane certificates", 200, "list of data-plane certificates", func(ctx context.Context, c *Client, a konnect.Auth) error {
		_, err := c.ListDataPlaneCertificates(ctx, a, testCPID)
		return err
	}},
	{"CreateDataPlaneCertificate", "registering data-plane certificate", 201, "data-plane certificate", func(ctx context.Context, c *Client, a konnect.Auth) error {
		_, err := c.CreateDataPlaneCertificate(ctx, a, testCPID, testCertPEM, "")
		return err
	}},
	{"DeleteDataPlaneCertificate", "deleting data-plane certificate", 204, "", func(ctx context.Context, c *Client, a konnect.Auth) error {
		return c.DeleteDataPlaneCertificate(ctx, a, testCPID, testCertID)
	}},
}

// assertAPIError fails unless err is an *konnect.APIError of that kind and status, whose
// text holds no trace of the token.
func assertAPIError(t *testing.T, err error, kind konnect.ErrorKind, status int) *konnect.APIError {
	t.Helper()
	var e *konnect.APIError
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T) is not an *konnect.APIError", err, err)
	}
	t.Logf("error: %v", err)
	if strings.Contains(err.Error(), "SECRETSECRET") {
		t.Fatalf("error leaks the token: %q", err.Error())
	}
	if e.Kind != kind || e.StatusCode != status {
		t.Fatalf("got %v/%d (%q), want %v/%d", e.Kind, e.StatusCode, e.Message, kind, status)
	}
	if e.Message == "" || len([]rune(e.Message)) > maxMessageRunes {
		t.Errorf("Message has %d runes", len([]rune(e.Message)))
	}
	return e
}

const invalidParameters = `{"status":400,"title":"Bad Request","type":"https://httpstatuses.com/400","instance":"kong:trace:1",` +
	`"detail":"Invalid request","invalid_parameters":[` +
	`{"field":"name","rule":"required","source":"body","reason":"is a required field"},` +
	`{"field":"labels.k8s-x","rule":"is_label","source":"body","reason":"keys must not start with k8s"},` +
	`{"field":"proxy_urls[0].port","rule":"is_integer","source":"body","reason":"must be an integer"},` +
	`{"field":"description","rule":"invalid","source":"body","reason":"too long"}]}`

func TestAPIErrors(t *testing.T) {
	f := newFakeAPI(t)
	c := f.client(5 * time.Second)
	now := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	c.now = func() time.Time { return now }
	echo := "your token " + testToken + " was refused; Authorization: Bearer " + testToken
	const problemJSON = "application/problem+json"

	tests := []struct {
		name       string
		handler    http.HandlerFunc
		kind       konnect.ErrorKind
		status     int
		message    string // exact, when set
		contains   []string
		retryAfter time.Duration
	}{
		{name: "401 problem", handler: reply(401, problemJSON, problem(401, "Unauthorized", "Invalid credentials")),
			kind: konnect.ErrorUnauthorized, status: 401, message: "Konnect answered 401 Unauthorized: Invalid credentials"},
		{name: "401 message", handler: reply(401, "application/json", `{"message":"Unauthorized"}`),
			kind: konnect.ErrorUnauthorized, status: 401, message: "Konnect answered 401 Unauthorized"},
		{name: "403 problem", handler: reply(403, problemJSON, problem(403, "Forbidden", "You do not have permission to perform this action")),
			kind: konnect.ErrorUnauthorized, status: 403, message: "Konnect answered 403 Forbidden: You do not have permission to perform this action"},
		{name: "403 message", handler: reply(403, "application/json", `{"message":"Permission denied"}`),
			kind: konnect.ErrorUnauthorized, status: 403, message: "Konnect answered 403 Forbidden: Permission denied"},
		{name: "404 problem", handler: reply(404, problemJSON, problem(404, "Not Found", "The control plane was not found")),
			kind: konnect.ErrorNotFound, status: 404, message: "Konnect answered 404 Not Found: The control plane was not found"},
		{name: "404 message", handler: reply(404, "application/json", `{"message":"Not found"}`),
			kind: konnect.ErrorNotFound, status: 404, message: "Konnect answered 404 Not Found"},
		{name: "409 problem", handler: reply(409, problemJSON, problem(409, "Conflict", "Key (org_id, name)=(1, cp) already exists.")),
			kind: konnect.ErrorConflict, status: 409, message: "Konnect answered 409 Conflict: Key (org_id, name)=(1, cp) already exists."},
		{name: "409 message", handler: reply(409, "application/json", `{"message":"certificate already exists"}`),
			kind: konnect.ErrorConflict, status: 409, message: "Konnect answered 409 Conflict: certificate already exists"},
		{name: "400 invalid parameters", handler: reply(400, problemJSON, invalidParameters),
			kind: konnect.ErrorRejected, status: 400,
			message: "Konnect answered 400 Bad Request: Invalid request (name: is a required field; " +
				"labels.k8s-x: keys must not start with k8s; proxy_urls[0].port: must be an integer; and 1 more)"},
		{name: "400 message", handler: reply(400, "application/json", `{"message":"cert is not a valid PEM"}`),
			kind: konnect.ErrorRejected, status: 400, message: "Konnect answered 400 Bad Request: cert is not a valid PEM"},
		{name: "400 problem not json", handler: reply(400, problemJSON, "{oops "+testToken),
			kind: konnect.ErrorRejected, status: 400, message: "Konnect answered 400 Bad Request"},
		{name: "422 text", handler: reply(422, "text/plain", echo),
			kind: konnect.ErrorRejected, status: 422, message: "Konnect answered 422 Unprocessable Entity"},
		{name: "408", handler: reply(408, "", ""),
			kind: konnect.ErrorTransient, status: 408, message: "Konnect answered 408 Request Timeout"},
		{name: "429 seconds", handler: reply(429, problemJSON, problem(429, "Too Many Requests", ""), "Retry-After", "30"),
			kind: konnect.ErrorTransient, status: 429, message: "Konnect answered 429 Too Many Requests", retryAfter: 30 * time.Second},
		{name: "429 HTTP-date", handler: reply(429, "", "", "Retry-After", now.Add(2*time.Minute).Format(http.TimeFormat)),
			kind: konnect.ErrorTransient, status: 429, retryAfter: 2 * time.Minute},
		{name: "429 garbage Retry-After", handler: reply(429, "", "", "Retry-After", "soon"),
			kind: konnect.ErrorTransient, status: 429, retryAfter: 0},
		{name: "500", handler: reply(500, "text/html", "<h1>"+echo+"</h1>"),
			kind: konnect.ErrorTransient, status: 500, message: "Konnect answered 500 Internal Server Error"},
		{name: "503 problem", handler: reply(503, problemJSON, `{"status":503,"title":"Service Unavailable","instance":"kong:trace:2","detail":"Down for maintenance"}`, "Retry-After", "7"),
			kind: konnect.ErrorTransient, status: 503, message: "Konnect answered 503 Service Unavailable: Down for maintenance", retryAfter: 7 * time.Second},
		{name: "503 text", handler: reply(503, "text/plain", echo, "Retry-After", "7"),
			kind: konnect.ErrorTransient, status: 503, message: "Konnect answered 503 Service Unavailable", retryAfter: 7 * time.Second},
		{name: "302 not followed", handler: reply(302, "text/html", echo, "Location", "https://evil.example/steal"),
			kind: konnect.ErrorRejected, status: 302, message: "Konnect answered with unexpected status 302 Found"},
		{name: "401 problem echoes token", handler: reply(401, problemJSON, problem(401, "Unauthorized", echo)),
			kind: konnect.ErrorUnauthorized, status: 401, contains: []string{"[redacted]"}},
		{name: "400 message echoes token", handler: reply(400, "application/json", `{"message":"`+echo+`"}`),
			kind: konnect.ErrorRejected, status: 400, contains: []string{"Konnect answered 400 Bad Request: your token [redacted]"}},
		{name: "400 invalid parameter echoes token", handler: reply(400, problemJSON,
			`{"status":400,"title":"Bad Request","instance":"x","detail":"Invalid request","invalid_parameters":[{"field":"`+testToken+`","rule":"invalid","reason":"`+echo+`"}]}`),
			kind: konnect.ErrorRejected, status: 400, contains: []string{"Invalid request ([redacted]: your token [redacted]"}},
		{name: "409 title echoes token", handler: reply(409, problemJSON, `{"status":409,"title":"`+testToken+`"}`),
			kind: konnect.ErrorConflict, status: 409, message: "Konnect answered 409 Conflict: [redacted]"},
	}
	for _, op := range apiOps {
		for _, tc := range tests {
			t.Run(op.name+"/"+tc.name, func(t *testing.T) {
				f.set(tc.handler)
				e := assertAPIError(t, op.call(context.Background(), c, testAuth), tc.kind, tc.status)
				if e.Op != op.op {
					t.Errorf("Op = %q, want %q", e.Op, op.op)
				}
				if tc.message != "" && e.Message != tc.message {
					t.Errorf("Message = %q\nwant      %q", e.Message, tc.message)
				}
				for _, s := range tc.contains {
					if !strings.Contains(e.Message, s) {
						t.Errorf("Message = %q, want it to contain %q", e.Message, s)
					}
				}
				if e.RetryAfter != tc.retryAfter {
					t.Errorf("RetryAfter = %v, want %v", e.RetryAfter, tc.retryAfter)
				}
				if n := len(f.requests()); n != 1 {
					t.Errorf("%d requests, want 1", n)
				}
			})
		}
	}
}

func TestAPIUndecodableSuccess(t *testing.T) {
	f := newFakeAPI(t)
	c := f.client(5 * time.Second)
	for _, op := range apiOps {
		if op.answer == "" {
			continue // a 204 has no body to decode
		}
		tests := []struct {
			name    string
			handler http.HandlerFunc
			message string
		}{
			{"garbage JSON", reply(op.success, "application/json", `{"id": "`+testToken),
				"Konnect answered " + itoa(op.success) + " with a body that is not a valid " + op.answer},
			{"wrong type", reply(op.success, "application/json", `{"id": 42, "data": 1, "items": 2, "item": 3}`),
				"Konnect answered " + itoa(op.success) + " with a body that is not a valid " + op.answer},
			{"html", reply(op.success, "text/html", "<html>"+testToken+"</html>"),
				"Konnect answered " + itoa(op.success) + ` with unexpected content type "text/html"`},
			{"huge body", reply(op.success, "application/json", `{"id":"`+strings.Repeat("a", 2<<20)+`"}`),
				"Konnect answered " + itoa(op.success) + " with a body larger than 1 MiB"},
		}
		for _, tc := range tests {
			t.Run(op.name+"/"+tc.name, func(t *testing.T) {
				f.set(tc.handler)
				e := assertAPIError(t, op.call(context.Background(), c, testAuth), konnect.ErrorTransient, op.success)
				if e.Message != tc.message {
					t.Errorf("Message = %q, want %q", e.Message, tc.message)
				}
			})
		}
	}
}

func TestAPINoAnswer(t *testing.T) {
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedAddr := closed.Addr().String()
	_ = closed.Close()

	f := newFakeAPI(t)
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	hang := func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}
	refused := dialingTransport(f.srv)
	refused.DialContext = func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, closedAddr)
	}

	tests := []struct {
		name    string
		client  *Client
		handler http.HandlerFunc
		message string
	}{
		{"hanging server", f.client(300 * time.Millisecond), hang, "Konnect did not answer in time: timed out after 300ms"},
		{"connection refused", New(Options{Timeout: 5 * time.Second, Transport: refused}), nil, "cannot reach Konnect: connection refused"},
		{"SDK panics", New(Options{Timeout: 5 * time.Second, Transport: panickingTransport{}}), nil, "the Konnect SDK failed while handling Konnect's answer"},
	}
	for _, op := range apiOps {
		for _, tc := range tests {
			t.Run(op.name+"/"+tc.name, func(t *testing.T) {
				f.set(tc.handler)
				start := time.Now()
				e := assertAPIError(t, op.call(context.Background(), tc.client, testAuth), konnect.ErrorTransient, 0)
				if elapsed := time.Since(start); elapsed > 5*time.Second {
					t.Fatalf("the call took %v", elapsed)
				}
				if e.Message != tc.message {
					t.Errorf("Message = %q, want %q", e.Message, tc.message)
				}
				if strings.Contains(e.Message, "127.0.0.1") {
					t.Errorf("Message = %q names an address", e.Message)
				}
			})
		}
	}
}

// panickingTransport panics as a bug in the SDK's handling of an answer would.
type panickingTransport struct{}

func (panickingTransport) RoundTrip(*http.Request) (*http.Response, error) {
	panic("answer with " + testToken)
}

func TestAPICallerContext(t *testing.T) {
	f := newFakeAPI(t)
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	f.set(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	c := f.client(10 * time.Second)
	op := apiOps[1]

	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	e := assertAPIError(t, op.call(ctx, c, testAuth), konnect.ErrorTransient, 0)
	if want := "the request was canceled before Konnect answered"; e.Message != want {
		t.Errorf("canceled: Message = %q, want %q", e.Message, want)
	}

	ctx, cancel = context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	e = assertAPIError(t, op.call(ctx, c, testAuth), konnect.ErrorTransient, 0)
	if want := "Konnect did not answer in time: the caller's deadline passed"; e.Message != want {
		t.Errorf("deadline: Message = %q, want %q", e.Message, want)
	}
}

func TestAPINotSent(t *testing.T) {
	f := newFakeAPI(t)
	c := f.client(5 * time.Second)
	tests := []struct {
		name    string
		auth    konnect.Auth
		kind    konnect.ErrorKind
		message string
	}{
		{"empty token", konnect.Auth{ServerURL: testRegionalURL}, konnect.ErrorUnauthorized, "not sent: the token is empty"},
		{"token with a newline", konnect.Auth{Token: "kpat_a\nb", ServerURL: testRegionalURL}, konnect.ErrorUnauthorized,
			"not sent: the token contains white space or characters that cannot be sent in an HTTP header"},
		{"no server URL", konnect.Auth{Token: testToken}, konnect.ErrorRejected, "not sent: the server URL is not of the form https://host[:port]"},
		{"plain http", konnect.Auth{Token: testToken, ServerURL: "http://us.api.konghq.com"}, konnect.ErrorRejected, "not sent: the server URL is not of the form https://host[:port]"},
		{"server URL with a path", konnect.Auth{Token: testToken, ServerURL: "https://us.api.konghq.com/v3"}, konnect.ErrorRejected, "not sent: the server URL is not of the form https://host[:port]"},
		{"server URL with a query", konnect.Auth{Token: testToken, ServerURL: "https://us.api.konghq.com?x=1"}, konnect.ErrorRejected, "not sent: the server URL is not of the form https://host[:port]"},
	}
	for _, op := range apiOps {
		for _, tc := range tests {
			t.Run(op.name+"/"+tc.name, func(t *testing.T) {
				f.set(reply(200, "application/json", `{}`))
				e := assertAPIError(t, op.call(context.Background(), c, tc.auth), tc.kind, 0)
				if e.Message != tc.message {
					t.Errorf("Message = %q, want %q", e.Message, tc.message)
				}
				if n := len(f.requests()); n != 0 {
					t.Errorf("%d requests were sent", n)
				}
			})
		}
	}
}

func TestAPIMalformedIDsAreNotSent(t *testing.T) {
	f := newFakeAPI(t)
	c := f.client(5 * time.Second)
	ctx := context.Background()
	tests := []struct {
		name    string
		call    func() error
		message string
	}{
		{"get empty id", func() error { _, err := c.GetControlPlane(ctx, testAuth, ""); return err }, "not sent: the control plane id is empty"},
		{"delete empty id", func() error { return c.DeleteControlPlane(ctx, testAuth, "") }, "not sent: the control plane id is empty"},
		{"update id with a path", func() error {
			_, err := c.UpdateControlPlane(ctx, testAuth, "../../v3/users/me", konnect.ControlPlaneSpec{Name: "x"})
			return err
		}, "not sent: the control plane id may only hold letters, digits, '-' and '_'"},
		{"get id with a query", func() error { _, err := c.GetControlPlane(ctx, testAuth, "x?y=1"); return err },
			"not sent: the control plane id may only hold letters, digits, '-' and '_'"},
		{"get id too long", func() error { _, err := c.GetControlPlane(ctx, testAuth, strings.Repeat("a", 129)); return err },
			"not sent: the control plane id is longer than 128 characters"},
		{"list certificates empty id", func() error { _, err := c.ListDataPlaneCertificates(ctx, testAuth, ""); return err },
			"not sent: the control plane id is empty"},
		{"delete certificate empty certificate id", func() error { return c.DeleteDataPlaneCertificate(ctx, testAuth, testCPID, "") },
			"not sent: the certificate id is empty"},
		{"delete certificate id with a slash", func() error { return c.DeleteDataPlaneCertificate(ctx, testAuth, testCPID, "a/b") },
			"not sent: the certificate id may only hold letters, digits, '-' and '_'"},
		{"create empty certificate", func() error { _, err := c.CreateDataPlaneCertificate(ctx, testAuth, testCPID, "", ""); return err },
			"not sent: the certificate is empty"},
		{"label filter with a comma", func() error {
			_, err := c.ListControlPlanes(ctx, testAuth, konnect.ControlPlaneFilter{Labels: map[string]string{"a": "1,b:2"}})
			return err
		}, "not sent: a label filter's key is empty or holds ',' or ':', or its value holds ','"},
		{"label filter with a colon in the key", func() error {
			_, err := c.ListControlPlanes(ctx, testAuth, konnect.ControlPlaneFilter{Labels: map[string]string{"a:b": "1"}})
			return err
		}, "not sent: a label filter's key is empty or holds ',' or ':', or its value holds ','"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f.set(reply(200, "application/json", `{}`))
			e := assertAPIError(t, tc.call(), konnect.ErrorRejected, 0)
			if e.Message != tc.message {
				t.Errorf("Message = %q, want %q", e.Message, tc.message)
			}
			if n := len(f.requests()); n != 0 {
				t.Errorf("%d requests were sent", n)
			}
		})
	}
}

func TestAPILogs(t *testing.T) {
	f := newFakeAPI(t)
	c := f.client(5 * time.Second)
	logger := ktesting.NewLogger(t, ktesting.NewConfig(ktesting.Verbosity(4), ktesting.BufferLogs(true)))
	ctx := klog.NewContext(context.Background(), logger)
	echo := "your token " + testToken + " was refused; Authorization: Bearer " + testToken

	f.set(reply(200, "application/json", cpJSON(testCPID, "cp")))
	if _, err := c.GetControlPlane(ctx, testAuth, testCPID); err != nil {
		t.Fatal(err)
	}
	f.set(reply(401, "application/problem+json", problem(401, "Unauthorized", echo)))
	if err := c.DeleteDataPlaneCertificate(ctx, testAuth, testCPID, testCertID); err == nil {
		t.Fatal("no error")
	}
	f.set(pagingKonnect(150))
	if _, err := c.ListControlPlanes(ctx, testAuth, konnect.ControlPlaneFilter{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetControlPlane(ctx, konnect.Auth{Token: testToken + "\n", ServerURL: testRegionalURL}, testCPID); err == nil {
		t.Fatal("no error")
	}

	logs := logger.GetSink().(ktesting.Underlier).GetBuffer().String()
	t.Logf("log:\n%s", logs)
	hash := konnect.Hashed(testToken, testRegionalURL)[:16]
	for _, want := range []string{
		`Called Konnect op="getting control plane" controlPlaneID="` + testCPID + `" tokenHash="` + hash + `" serverURL="` + testRegionalURL + `" statusCode=200 duration=`,
		`op="deleting data-plane certificate" controlPlaneID="` + testCPID + `" tokenHash="` + hash + `" serverURL="` + testRegionalURL + `" statusCode=401 duration=`,
		`errorKind="unauthorized"`,
		`op="listing control planes" controlPlaneID="" tokenHash="` + hash + `" serverURL="` + testRegionalURL + `" statusCode=200 duration=`,
		`page=1`,
		`page=2`,
		`statusCode=0`,
	} {
		if !strings.Contains(logs, want) {
			t.Errorf("the log lacks %q", want)
		}
	}
	for _, leak := range []string{"SECRETSECRET", "Bearer", "Invalid credentials", "your token"} {
		if strings.Contains(logs, leak) {
			t.Errorf("the log holds %q", leak)
		}
	}
}

// FuzzClassifyCall feeds arbitrary answers (status, Content-Type, body, Retry-After) through
// the SDK and the classification of every ControlPlaneAPI method, and checks the invariants
// the reconcilers rely on.
func FuzzClassifyCall(f *testing.F) {
	f.Add(200, "application/json", []byte(`{"id":"`+testCPID+`"}`), "")
	f.Add(201, "application/json", []byte(`{"item":{"id":"TOKEN"}}`), "")
	f.Add(400, "application/problem+json", []byte(invalidParameters), "")
	f.Add(400, "application/json", []byte(`{"message":"TOKEN"}`), "")
	f.Add(409, "application/problem+json", []byte(`{"status":409,"title":"TOKEN","detail":["TOKEN"]}`), "")
	f.Add(429, "", []byte{}, "30")
	f.Add(503, "application/problem+json", []byte(`{"status":503,"detail":"TOKEN"}`), "Wed, 21 Oct 2015 07:28:00 GMT")
	f.Add(204, "text/plain", []byte("TOKEN"), "")
	f.Add(302, "text/html", []byte("TOKEN"), "")
	c := New(Options{Timeout: 5 * time.Second, Transport: cannedTransport{}})
	f.Fuzz(func(t *testing.T, status int, contentType string, body []byte, retryAfter string) {
		in := &canned{
			status:      status,
			contentType: strings.ReplaceAll(contentType, tokenPlaceholder, testToken),
			retryAfter:  strings.ReplaceAll(retryAfter, tokenPlaceholder, testToken),
			body:        bytes.ReplaceAll(body, []byte(tokenPlaceholder), []byte(testToken)),
		}
		ctx := context.WithValue(context.Background(), cannedKey{}, in)
		for _, op := range apiOps {
			checkCallInvariants(t, op, status, op.call(ctx, c, testAuth))
		}
	})
}

// checkCallInvariants fails unless err is what FuzzClassifyCall promises for an answer of
// that status.
func checkCallInvariants(t *testing.T, op apiOp, status int, err error) {
	t.Helper()
	if err == nil {
		if status != op.success {
			t.Fatalf("%s: success for status %d", op.name, status)
		}
		return
	}
	var e *konnect.APIError
	if !errors.As(err, &e) {
		t.Fatalf("%s: %T is not an *konnect.APIError", op.name, err)
	}
	if strings.Contains(err.Error(), testToken) {
		t.Fatalf("%s: error leaks the token: %q", op.name, err.Error())
	}
	if e.Message == "" || !utf8.ValidString(e.Message) || utf8.RuneCountInString(e.Message) > maxMessageRunes {
		t.Fatalf("%s: bad Message %q", op.name, e.Message)
	}
	if e.StatusCode != status {
		t.Fatalf("%s: StatusCode = %d, want %d", op.name, e.StatusCode, status)
	}
	if e.RetryAfter < 0 || e.RetryAfter > maxRetryAfter || (e.RetryAfter != 0 && e.Kind != konnect.ErrorTransient) {
		t.Fatalf("%s: RetryAfter = %v on a %v error", op.name, e.RetryAfter, e.Kind)
	}
	if status == op.success {
		if e.Kind != konnect.ErrorTransient {
			t.Fatalf("%s: %v for its success status with an unusable body, want transient", op.name, e.Kind)
		}
		return
	}
	if kind := apiStatusKind(status); e.Kind != kind {
		t.Fatalf("%s: status %d gave %v, want %v", op.name, status, e.Kind, kind)
	}
}

// A body cut short by the client's own deadline can reach the SDK as a truncated body that
// fails to decode, with no timeout in the error (the transport's race between the context and
// the connection's close). The call's deadline, not the error's shape, decides.
func TestTruncatedByDeadlineIsATimeout(t *testing.T) {
	truncated := errors.New("error unmarshaling json response body: unexpected end of JSON input")
	base := outcome{success: http.StatusOK, err: truncated, status: http.StatusOK, timeout: 300 * time.Millisecond}

	timedOut := base
	timedOut.timedOut = true
	if r := classify(testToken, timedOut); r.Verdict != konnect.VerdictUnavailable || r.Message != "Konnect did not answer in time: timed out after 300ms" {
		t.Errorf("token check cut short by its deadline: got %+v, want Unavailable timeout", r)
	}
	e := classifyCall(request{op: "GetControlPlane", answer: "control plane"}, testToken, timedOut)
	if e.Kind != konnect.ErrorTransient || !strings.Contains(e.Message, "timed out after 300ms") {
		t.Errorf("call cut short by its deadline: got %+v, want a transient timeout", e)
	}

	// Without the deadline, the same error is a bad answer.
	if r := classify(testToken, base); r.Verdict != konnect.VerdictInvalidResponse {
		t.Errorf("undecodable 200 within the deadline: got %+v, want InvalidResponse", r)
	}
}
