package controlplane

import (
	"context"
	"fmt"
	"testing"
	"time"

	testingclock "k8s.io/utils/clock/testing"

	konnectv1alpha1 "github.com/konnect-auth-controller/konnect-auth-controller/pkg/apis/konnect/v1alpha1"
	konnectv1alpha2 "github.com/konnect-auth-controller/konnect-auth-controller/pkg/apis/konnect/v1alpha2"
	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/konnect"
	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/konnect/konnecttest"
)

// TestCreatesShareOneListing: a create looks for its own k8s-uid label in the account's latest
// listing, so fifty control planes created one after another cost one listing and fifty POSTs,
// not a lookup each (issue 19).
func TestCreatesShareOneListing(t *testing.T) {
	var planes []*konnectv1alpha2.KonnectGatewayControlPlane
	for i := range 50 {
		planes = append(planes, origin(fmt.Sprintf("cp-%d", i), fmt.Sprintf("konnect-%d", i)))
	}
	f := newFixture(t, fixtureOptions{planes: planes, configs: []*konnectv1alpha1.KonnectAPIAuthConfiguration{validConfig(namespace, authName)}})
	for _, p := range planes {
		f.sync(p.Name)
		f.expectProgrammed(p.Name)
	}
	if lists, creates := f.api.Count(konnecttest.OpListControlPlanes), f.api.Count(konnecttest.OpCreateControlPlane); lists != 1 || creates != 50 {
		t.Fatalf("%d listings and %d creates, want 1 and 50", lists, creates)
	}
}

// TestLostCreateIsFoundInALaterListing: a create whose answer was lost (carried out in
// Konnect, but the controller saw a timeout) is looked for in a listing that began after it,
// not in the listing taken before it: the control plane is adopted, not created twice.
func TestLostCreateIsFoundInALaterListing(t *testing.T) {
	f := newFixture(t, standardOptions())
	f.api.Fail(konnecttest.OpCreateControlPlane, konnecttest.Transient("creating control plane"))
	f.sync(objName) // a listing, then the POST whose answer is lost
	// What the lost POST made, as Konnect holds it.
	id := f.api.Seed(serverURL, konnect.ControlPlaneSpec{Name: cpName, Labels: ownershipLabels(f.get(objName))})
	f.sync(objName)
	if n := f.api.Count(konnecttest.OpCreateControlPlane); n != 1 {
		t.Fatalf("%d creates, want the one whose answer was lost: %+v", n, f.api.Calls())
	}
	if got := f.get(objName).Status.ID; got != id {
		t.Fatalf("status.id %q, want the adopted %q", got, id)
	}
	f.expectProgrammed(objName)
}

// TestListingsForgetAccountsNoLongerListed: an account that is not listed again (its token was
// rotated, its auth configuration deleted) is forgotten after three maximum ages, with its
// listing; an account listed meanwhile is kept.
func TestListingsForgetAccountsNoLongerListed(t *testing.T) {
	clk := testingclock.NewFakeClock(time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC))
	api := konnecttest.New()
	l := newListings(api, clk, time.Minute, 0)
	old, kept := konnect.Auth{Token: "kpat_old", ServerURL: serverURL}, konnect.Auth{Token: "kpat_kept", ServerURL: serverURL}
	ctx := context.Background()
	for _, a := range []konnect.Auth{old, kept} {
		if err := l.refresh(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	for range 3 {
		clk.Step(time.Minute)
		if err := l.refresh(ctx, kept); err != nil {
			t.Fatal(err)
		}
	}
	if _, ok := l.accounts[accountKey(old)]; !ok {
		t.Fatalf("the account was forgotten at three maximum ages, want it kept until they have passed")
	}
	clk.Step(time.Second)
	if err := l.refresh(ctx, kept); err != nil {
		t.Fatal(err)
	}
	if _, ok := l.accounts[accountKey(old)]; ok {
		t.Errorf("an account not listed for over three maximum ages is still kept")
	}
	if _, ok := l.accounts[accountKey(kept)]; !ok {
		t.Errorf("the account listed every minute was forgotten")
	}
}

// TestListingsStayWithinTheirBudget: an account whose listing takes more pages than the sync
// period allows within 2.5 % of --konnect-qps is listed less often (issue 19: an idle
// controller's reads within 5 % of --konnect-qps at 10,000 control planes).
func TestListingsStayWithinTheirBudget(t *testing.T) {
	ctx := context.Background()
	auth := konnect.Auth{Token: "kpat_many", ServerURL: serverURL}
	for _, tc := range []struct {
		name    string
		planes  int
		qps     float64
		wantAge time.Duration
	}{
		{"few control planes: the sync period", 10, 1, time.Minute},
		{"no qps: the sync period", 1000, 0, time.Minute},
		// 10 pages at 2.5 % of 1 call a second: once every 400 s.
		{"lengthened for the budget", 1000, 1, 400 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk := testingclock.NewFakeClock(time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC))
			api := konnecttest.New()
			for i := range tc.planes {
				api.Seed(serverURL, konnect.ControlPlaneSpec{Name: fmt.Sprintf("cp-%d", i)})
			}
			l := newListings(api, clk, time.Minute, tc.qps)
			if err := l.refresh(ctx, auth); err != nil {
				t.Fatal(err)
			}
			clk.Step(tc.wantAge)
			if _, _, fresh := l.lookup(auth, 0, "any", false); !fresh {
				t.Fatalf("the listing is stale at %v, want it kept until then", tc.wantAge)
			}
			clk.Step(time.Second)
			if _, _, fresh := l.lookup(auth, 0, "any", false); fresh {
				t.Errorf("the listing is still used after %v, want it taken again", tc.wantAge)
			}
		})
	}
}
