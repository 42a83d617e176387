package metrics

import (
	"context"
	"strings"
	"testing"

	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/konnect"
	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/konnect/konnecttest"
)

// TestInstrumentControlPlaneAPI: each real call is counted once under its operation and
// outcome (ok or the error kind), the calls still reach the client, and no label carries the
// token, a name or an id.
func TestInstrumentControlPlaneAPI(t *testing.T) {
	m := New("v1.2.3")
	fake := konnecttest.New()
	api := m.InstrumentControlPlaneAPI(fake)
	auth := konnect.Auth{Token: token, ServerURL: "https://us.api.konghq.com"}
	ctx := context.Background()

	cp, err := api.CreateControlPlane(ctx, auth, konnect.ControlPlaneSpec{Name: "secret-name-cp"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := api.CreateControlPlane(ctx, auth, konnect.ControlPlaneSpec{Name: "secret-name-cp"}); !konnect.IsConflict(err) {
		t.Fatalf("second create: %v, want a conflict", err)
	}
	fake.Fail(konnecttest.OpGetControlPlane, konnecttest.Transient("getting control plane"))
	if _, err := api.GetControlPlane(ctx, auth, cp.ID); !konnect.IsTransient(err) {
		t.Fatalf("get: %v, want transient", err)
	}
	if _, err := api.CreateDataPlaneCertificate(ctx, auth, cp.ID, "-----BEGIN CERTIFICATE-----", ""); err != nil {
		t.Fatal(err)
	}
	if err := api.DeleteControlPlane(ctx, auth, "00000000-0000-4000-8000-999999999999"); !konnect.IsNotFound(err) {
		t.Fatalf("delete: %v, want not found", err)
	}
	if n := fake.Count(konnecttest.OpCreateControlPlane); n != 2 {
		t.Fatalf("the client saw %d creates, want 2", n)
	}

	body := scrape(t, m)
	for _, want := range []string{
		`konnect_auth_controller_konnect_api_requests_total{operation="create_control_plane",outcome="ok"} 1`,
		`konnect_auth_controller_konnect_api_requests_total{operation="create_control_plane",outcome="conflict"} 1`,
		`konnect_auth_controller_konnect_api_requests_total{operation="get_control_plane",outcome="transient"} 1`,
		`konnect_auth_controller_konnect_api_requests_total{operation="create_dp_certificate",outcome="ok"} 1`,
		`konnect_auth_controller_konnect_api_requests_total{operation="delete_control_plane",outcome="not_found"} 1`,
		`konnect_auth_controller_konnect_api_requests_total{operation="list_dp_certificates",outcome="ok"} 0`,
		`konnect_auth_controller_konnect_api_request_duration_seconds_count{operation="create_control_plane"} 2`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	for _, secret := range []string{token, "secret-name-cp", cp.ID} {
		if strings.Contains(body, secret) {
			t.Errorf("metrics contain %q", secret)
		}
	}
}
