package sdkclient

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/konnect"
)

const testGroupID = "5b1c2a3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"

var groupPath = "/v2/control-planes/" + testGroupID + "/group-memberships"

// cursorKonnect serves a group of total members in pages of page[size], as Konnect does: the
// cursor of the next page (the index of its first member) in meta.page.next, null on the last.
func cursorKonnect(total int) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		size, _ := strconv.Atoi(q.Get("page[size]"))
		from := 0
		if q.Has("page[after]") {
			from, _ = strconv.Atoi(strings.TrimPrefix(q.Get("page[after]"), "c"))
		}
		var items []string
		for i := from; i < from+size && i < total; i++ {
			items = append(items, cpJSON(pagedID(i), "member-"+strconv.Itoa(i)))
		}
		next := "null"
		if from+size < total {
			next = `"` + groupPath + `?page%5Bafter%5D=c` + strconv.Itoa(from+size) + `&page%5Bsize%5D=` + strconv.Itoa(size) + `"`
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"meta":{"page":{"next":` + next + `,"size":` + strconv.Itoa(size) + `}},"data":[` + strings.Join(items, ",") + `]}`))
	}
}

func TestListGroupMembersFollowsTheCursor(t *testing.T) {
	f := newFakeAPI(t)
	c := f.client(5 * time.Second)
	for _, tc := range []struct{ total, wantRequests int }{{0, 1}, {100, 1}, {101, 2}, {230, 3}} {
		t.Run(strconv.Itoa(tc.total), func(t *testing.T) {
			f.set(cursorKonnect(tc.total))
			got, err := c.ListGroupMembers(context.Background(), testAuth, testGroupID)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != tc.total {
				t.Fatalf("%d members, want %d", len(got), tc.total)
			}
			for i, cp := range got {
				if cp.ID != pagedID(i) || cp.Name != "member-"+strconv.Itoa(i) {
					t.Fatalf("member %d = %s %s, want %s", i, cp.ID, cp.Name, pagedID(i))
				}
			}
			reqs := f.requests()
			if len(reqs) != tc.wantRequests {
				t.Fatalf("%d requests, want %d", len(reqs), tc.wantRequests)
			}
			for i, r := range reqs {
				want := url.Values{"page[size]": {"100"}}
				if i > 0 {
					want.Set("page[after]", "c"+strconv.Itoa(100*i))
				}
				checkRequest(t, r, wantRequest{method: "GET", path: groupPath, query: want})
			}
		})
	}
}

func TestListGroupMembersRefusesBadCursors(t *testing.T) {
	f := newFakeAPI(t)
	c := f.client(5 * time.Second)
	page := func(next string) http.HandlerFunc {
		return reply(200, "application/json", `{"meta":{"page":{"next":`+next+`,"size":100}},"data":[`+cpJSON(pagedID(0), "m")+`]}`)
	}
	for _, tc := range []struct {
		name, next string
		kind       konnect.ErrorKind
		requests   int
	}{
		// The same cursor again would never end.
		{"repeated cursor", `"` + groupPath + `?page%5Bafter%5D=same"`, konnect.ErrorRejected, 2},
		{"next without a cursor", `"` + groupPath + `?page%5Bsize%5D=100"`, konnect.ErrorTransient, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f.set(page(tc.next))
			got, err := c.ListGroupMembers(context.Background(), testAuth, testGroupID)
			if got != nil || konnect.KindOf(err) != tc.kind {
				t.Fatalf("got %d members, %v; want none and %v", len(got), err, tc.kind)
			}
			if n := len(f.requests()); n != tc.requests {
				t.Fatalf("%d requests, want %d", n, tc.requests)
			}
		})
	}
}

func TestSetGroupMembers(t *testing.T) {
	f := newFakeAPI(t)
	c := f.client(5 * time.Second)
	for _, tc := range []struct {
		name    string
		members []string
		body    string
	}{
		{"two members", []string{pagedID(1), pagedID(2)}, `{"members":[{"id":"` + pagedID(1) + `"},{"id":"` + pagedID(2) + `"}]}`},
		// Konnect takes an empty list as "no members"; null or no field would be refused.
		{"no members", nil, `{"members":[]}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f.set(reply(204, "", ""))
			if err := c.SetGroupMembers(context.Background(), testAuth, testGroupID, tc.members); err != nil {
				t.Fatal(err)
			}
			reqs := f.requests()
			if len(reqs) != 1 {
				t.Fatalf("%d requests, want 1", len(reqs))
			}
			checkRequest(t, reqs[0], wantRequest{method: "PUT", path: groupPath, body: tc.body})
		})
	}

	t.Run("not a group", func(t *testing.T) {
		f.set(reply(400, "application/problem+json", `{"status":400,"title":"Bad Request","detail":"Control plane is not a control plane group"}`))
		err := c.SetGroupMembers(context.Background(), testAuth, testGroupID, []string{pagedID(1)})
		if e := assertAPIError(t, err, konnect.ErrorRejected, 400); !strings.Contains(e.Message, "not a control plane group") {
			t.Errorf("Message = %q, want Konnect's detail", e.Message)
		}
	})
	t.Run("a malformed member id is not sent", func(t *testing.T) {
		f.set(reply(204, "", ""))
		err := c.SetGroupMembers(context.Background(), testAuth, testGroupID, []string{"../x"})
		assertAPIError(t, err, konnect.ErrorRejected, 0)
		if n := len(f.requests()); n != 0 {
			t.Fatalf("%d requests sent, want none", n)
		}
	})
}
