package apiauth

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2/ktesting"

	konnectv1alpha1 "github.com/konnect-auth-controller/konnect-auth-controller/pkg/apis/konnect/v1alpha1"
	konnectv1alpha2 "github.com/konnect-auth-controller/konnect-auth-controller/pkg/apis/konnect/v1alpha2"
	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/controller/controllertest"
	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/controller/objpatch"
	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/konnect"
)

// verdictCase is one row of the README's "Status and reasons" table: an input and the
// condition it must produce.
type verdictCase struct {
	name       string
	config     *konnectv1alpha1.KonnectAPIAuthConfiguration
	secrets    []*corev1.Secret
	unlabelled []*corev1.Secret

	wantStatus  metav1.ConditionStatus
	wantReason  string
	wantMessage string // substring
	wantOrgID   string
	wantRetry   bool
}

func verdictCases() []verdictCase {
	crossNamespace := secretConfig("cross", "konnect-api-auth-secret")
	crossNamespace.Spec.SecretRef.Namespace = "other"
	badServer := inlineConfig("bad-server", tokenValid)
	badServer.Spec.ServerURL = "api.us.konghq.com"
	badPrefix := inlineConfig("bad-prefix", tokenBadPrefix)

	return []verdictCase{
		{name: "inline token accepted", config: inlineConfig("konnect-api-auth", tokenValid),
			wantStatus: metav1.ConditionTrue, wantReason: konnectv1alpha1.ReasonValid, wantMessage: "Token is valid", wantOrgID: orgID},
		{name: "secret token accepted", config: secretConfig("konnect-api-auth", "konnect-api-auth-secret"),
			secrets:    []*corev1.Secret{tokenSecret("konnect-api-auth-secret", map[string][]byte{"token": []byte(tokenValid)})},
			wantStatus: metav1.ConditionTrue, wantReason: konnectv1alpha1.ReasonValid, wantMessage: "Token from Secret kong/konnect-api-auth-secret is valid", wantOrgID: orgID},
		{name: "secret token with trailing newline", config: secretConfig("newline", "nl"),
			secrets:    []*corev1.Secret{tokenSecret("nl", map[string][]byte{"token": []byte(tokenValid + "\n")})},
			wantStatus: metav1.ConditionTrue, wantReason: konnectv1alpha1.ReasonValid, wantOrgID: orgID},
		{name: "401 is Invalid", config: inlineConfig("revoked", tokenRevoked),
			wantStatus: metav1.ConditionFalse, wantReason: konnectv1alpha1.ReasonInvalid, wantMessage: "Invalid credentials"},
		{name: "403 is Forbidden", config: inlineConfig("forbidden", tokenForbidden),
			wantStatus: metav1.ConditionFalse, wantReason: konnectv1alpha1.ReasonForbidden, wantMessage: "403"},
		{name: "200 without organization is InvalidResponse", config: inlineConfig("no-org", tokenEmptyOrg),
			wantStatus: metav1.ConditionFalse, wantReason: konnectv1alpha1.ReasonInvalidResponse, wantMessage: "without an organization id"},
		{name: "inline token with a wrong prefix is InvalidToken", config: badPrefix,
			wantStatus: metav1.ConditionFalse, wantReason: konnectv1alpha1.ReasonInvalidToken, wantMessage: "spec.token must start with kpat_"},
		{name: "secret token with a wrong prefix is InvalidToken", config: secretConfig("secret-bad-prefix", "s"),
			secrets:    []*corev1.Secret{tokenSecret("s", map[string][]byte{"token": []byte(tokenBadPrefix)})},
			wantStatus: metav1.ConditionFalse, wantReason: konnectv1alpha1.ReasonInvalidToken, wantMessage: "Secret kong/s must start with kpat_"},
		{name: "secret token of binary junk is InvalidToken", config: secretConfig("junk", "junk"),
			secrets:    []*corev1.Secret{tokenSecret("junk", map[string][]byte{"token": {'k', 'p', 'a', 't', '_', 0, 0xff, 0xfe, 7}})},
			wantStatus: metav1.ConditionFalse, wantReason: konnectv1alpha1.ReasonInvalidToken, wantMessage: "characters that cannot be part of a Konnect token"},
		{name: "secret token of 1 MiB is InvalidToken", config: secretConfig("huge", "huge"),
			secrets:    []*corev1.Secret{tokenSecret("huge", map[string][]byte{"token": []byte("kpat_" + strings.Repeat("a", 1<<20))})},
			wantStatus: metav1.ConditionFalse, wantReason: konnectv1alpha1.ReasonInvalidToken, wantMessage: "Konnect tokens are at most 1024"},
		{name: "missing Secret is SecretNotFound", config: secretConfig("missing", "nowhere"),
			wantStatus: metav1.ConditionFalse, wantReason: konnectv1alpha1.ReasonSecretNotFound, wantMessage: "Secret kong/nowhere not found among Secrets labelled konghq.com/credential=konnect"},
		{name: "unlabelled Secret is SecretNotFound naming the label", config: secretConfig("unlabelled", "plain"),
			unlabelled: []*corev1.Secret{{ObjectMeta: metav1.ObjectMeta{Name: "plain", Namespace: namespace}, Data: map[string][]byte{"token": []byte(tokenValid)}}},
			wantStatus: metav1.ConditionFalse, wantReason: konnectv1alpha1.ReasonSecretNotFound, wantMessage: "exists but is not labelled konghq.com/credential=konnect"},
		{name: "Secret without token key is InvalidSecret", config: secretConfig("no-key", "nokey"),
			secrets:    []*corev1.Secret{tokenSecret("nokey", map[string][]byte{"password": []byte(tokenValid)})},
			wantStatus: metav1.ConditionFalse, wantReason: konnectv1alpha1.ReasonInvalidSecret, wantMessage: `Secret kong/nokey has no key "token"`},
		{name: "Secret with white space only is InvalidSecret", config: secretConfig("blank", "blank"),
			secrets:    []*corev1.Secret{tokenSecret("blank", map[string][]byte{"token": []byte(" \n\t ")})},
			wantStatus: metav1.ConditionFalse, wantReason: konnectv1alpha1.ReasonInvalidSecret, wantMessage: "is empty"},
		{name: "cross-namespace reference is RefNotPermitted", config: crossNamespace,
			wantStatus: metav1.ConditionFalse, wantReason: konnectv1alpha1.ReasonRefNotPermitted, wantMessage: `no KongReferenceGrant in namespace "other" permits it`},
		{name: "Konnect unavailable without an earlier verdict is Unknown", config: inlineConfig("down", tokenDown),
			wantStatus: metav1.ConditionUnknown, wantReason: konnectv1alpha1.ReasonKonnectUnavailable, wantMessage: "503", wantRetry: true},
		{name: "server URL that admission would refuse", config: badServer,
			wantStatus: metav1.ConditionFalse, wantReason: ReasonInvalidServerURL, wantMessage: "must start with the region"},
	}
}

func TestSyncVerdicts(t *testing.T) {
	for _, tc := range verdictCases() {
		t.Run(tc.name, func(t *testing.T) {
			_, ctx := ktesting.NewTestContext(t)
			f := newFixture(t, ctx, fixtureOptions{configs: []*konnectv1alpha1.KonnectAPIAuthConfiguration{tc.config}, secrets: tc.secrets, unlabelled: tc.unlabelled})

			next, err := f.ctrl.sync(ctx, cache.MetaObjectToName(tc.config))
			if err != nil {
				t.Fatalf("sync: %v", err)
			}
			got := f.get(tc.config.Name)
			cond := conditionOf(got)
			if cond == nil {
				t.Fatalf("no APIAuthValid condition in %+v", got.Status)
			}
			if cond.Status != tc.wantStatus || cond.Reason != tc.wantReason {
				t.Errorf("condition = %s/%s (%q), want %s/%s", cond.Status, cond.Reason, cond.Message, tc.wantStatus, tc.wantReason)
			}
			if !strings.Contains(cond.Message, tc.wantMessage) {
				t.Errorf("message = %q, want it to contain %q", cond.Message, tc.wantMessage)
			}
			if cond.ObservedGeneration != tc.config.Generation {
				t.Errorf("observedGeneration = %d, want %d", cond.ObservedGeneration, tc.config.Generation)
			}
			if got.Status.OrganizationID != tc.wantOrgID {
				t.Errorf("organizationID = %q, want %q", got.Status.OrganizationID, tc.wantOrgID)
			}
			if tc.wantReason != ReasonInvalidServerURL && got.Status.ServerURL != "https://us.api.konghq.com" {
				t.Errorf("serverURL = %q, want https://us.api.konghq.com", got.Status.ServerURL)
			}
			if tc.wantRetry && next != time.Second {
				t.Errorf("looks again after %v, want the checker's 1s", next)
			}
			if !tc.wantRetry && (next < time.Hour || next > time.Hour*11/10) {
				t.Errorf("re-validation after %v, want within [1h, 1h6m]", next)
			}
			assertNoToken(t, "condition message", cond.Message)
		})
	}
}

func TestSyncWritesOnlyWhenSomethingChanged(t *testing.T) {
	ctx, f, key := newConfigFixture(t, inlineConfig("konnect-api-auth", tokenValid))
	f.mustSync(ctx, key)
	if n := f.statusPatches(); n != 1 {
		t.Fatalf("first sync made %d status writes, want 1", n)
	}
	f.refresh(key.Name)
	f.Clock.Step(time.Minute)
	for range 3 {
		f.mustSync(ctx, key)
	}
	if n := f.statusPatches(); n != 1 {
		t.Errorf("syncs of an unchanged configuration wrote status: %d writes in all, want 1", n)
	}
}

func TestTransientFailureKeepsTrue(t *testing.T) {
	transient := map[string]konnect.Result{
		"503":     {Verdict: konnect.VerdictUnavailable, StatusCode: 503, Message: "Konnect answered 503 Service Unavailable"},
		"429":     {Verdict: konnect.VerdictUnavailable, StatusCode: 429, Message: "Konnect answered 429 Too Many Requests", RetryAfter: 30 * time.Second},
		"timeout": {Verdict: konnect.VerdictUnavailable, Message: "timed out after 10s"},
	}
	for name, result := range transient {
		t.Run(name, func(t *testing.T) {
			ctx, f, key := newConfigFixture(t, withCondition(inlineConfig("konnect-api-auth", tokenValid), metav1.ConditionTrue, konnectv1alpha1.ReasonValid, 1))
			f.konnect.set(tokenValid, result)

			next := f.mustSync(ctx, key)
			if n := f.statusPatches(); n != 0 {
				t.Errorf("a transient failure wrote status %d times", n)
			}
			if cond := conditionOf(f.get(key.Name)); cond.Status != metav1.ConditionTrue || f.get(key.Name).Status.OrganizationID != orgID {
				t.Errorf("True verdict did not survive: %+v", cond)
			}
			if want := max(result.RetryAfter, time.Second); next != want {
				t.Errorf("looks again after %v, want the checker's %v", next, want)
			}
		})
	}

	// kubectl delete bumps the generation of an object held by finalizers (the in-use one,
	// while a control plane still needs the token to delete what it made in Konnect): the
	// token did not change, and neither does the verdict.
	t.Run("a deletion keeps True", func(t *testing.T) {
		cfg := withCondition(inlineConfig("deleted", tokenDown), metav1.ConditionTrue, konnectv1alpha1.ReasonValid, 1)
		cfg.Generation = 2
		cfg.DeletionTimestamp = &metav1.Time{}
		cfg.Finalizers = []string{konnectv1alpha2.APIAuthInUseFinalizer}
		ctx, f, key := newConfigFixture(t, cfg)
		f.mustSync(ctx, key)
		if cond := conditionOf(f.get(cfg.Name)); cond.Status != metav1.ConditionTrue {
			t.Errorf("condition = %+v, want the True verdict kept", cond)
		}
	})

	t.Run("True about an older generation becomes Unknown", func(t *testing.T) {
		cfg := withCondition(inlineConfig("changed", tokenDown), metav1.ConditionTrue, konnectv1alpha1.ReasonValid, 1)
		cfg.Generation = 2
		ctx, f, key := newConfigFixture(t, cfg)
		f.mustSync(ctx, key)
		got := f.get(cfg.Name)
		if cond := conditionOf(got); cond.Status != metav1.ConditionUnknown || cond.Reason != konnectv1alpha1.ReasonKonnectUnavailable || cond.ObservedGeneration != 2 {
			t.Errorf("condition = %+v, want Unknown/KonnectUnavailable for generation 2", cond)
		}
		if got.Status.OrganizationID != "" {
			t.Errorf("organizationID = %q, want it cleared", got.Status.OrganizationID)
		}
	})
}

func TestLastTransitionTimeMovesOnlyOnFlip(t *testing.T) {
	ctx, f, key := newConfigFixture(t, inlineConfig("konnect-api-auth", tokenValid))
	f.mustSync(ctx, key)
	first := conditionOf(f.refresh(key.Name)).LastTransitionTime

	// Revoked: True → False moves the time and clears the organization.
	f.Clock.Step(time.Hour)
	f.konnect.set(tokenValid, konnect.Result{Verdict: konnect.VerdictInvalid, StatusCode: 401, Message: "Konnect refused the token (401 Unauthorized): Invalid credentials"})
	f.mustSync(ctx, key)
	got := f.refresh(key.Name)
	second := conditionOf(got).LastTransitionTime
	if !second.After(first.Time) {
		t.Errorf("lastTransitionTime did not move on True→False: %v then %v", first, second)
	}
	if got.Status.OrganizationID != "" {
		t.Errorf("organizationID = %q after the token was refused, want it cleared", got.Status.OrganizationID)
	}

	// Still False with another message: the time stays.
	f.Clock.Step(time.Hour)
	f.konnect.set(tokenValid, konnect.Result{Verdict: konnect.VerdictInvalid, StatusCode: 401, Message: "Konnect refused the token (401 Unauthorized): expired"})
	f.mustSync(ctx, key)
	third := conditionOf(f.refresh(key.Name))
	if !third.LastTransitionTime.Equal(&second) || !strings.Contains(third.Message, "expired") {
		t.Errorf("False→False moved lastTransitionTime (%v → %v) or kept the old message %q", second, third.LastTransitionTime, third.Message)
	}
}

func TestConflictIsRetriedWithoutBackoff(t *testing.T) {
	ctx, f, key := newConfigFixture(t, inlineConfig("konnect-api-auth", tokenValid))
	controllertest.ConflictOnPatch(f.Client, konnectv1alpha1.Resource("konnectapiauthconfigurations"), key.Name)
	f.process(ctx, key.Name)
	if n := f.ctrl.loop.NumRequeues(key); n != 0 {
		t.Errorf("a Conflict counted as %d failures, want 0", n)
	}
	f.Clock.Step(objpatch.ConflictRetryDelay)
	waitForQueueLen(t, f, 1)
}

// TestLooksAgainWhenTheCheckerSays: an Unavailable answer is looked at again exactly when the
// checker says it would ask Konnect again (here a 429's Retry-After), not on a backoff of the
// queue's own.
func TestLooksAgainWhenTheCheckerSays(t *testing.T) {
	ctx, f, key := newConfigFixture(t, inlineConfig("limited", tokenDown))
	f.konnect.set(tokenDown, konnect.Result{Verdict: konnect.VerdictUnavailable, StatusCode: 429, RetryAfter: 30 * time.Second, Message: "Konnect answered 429 Too Many Requests"})
	f.process(ctx, key.Name)
	if n := f.ctrl.loop.NumRequeues(key); n != 0 {
		t.Errorf("an Unavailable answer counted as %d failures in the queue", n)
	}
	f.Clock.Step(29 * time.Second)
	assertQueueStaysEmpty(t, f)
	f.Clock.Step(time.Second)
	waitForQueueLen(t, f, 1)
}

// TestOutageBackoffIsPerToken runs the production Checker: while Konnect keeps failing, the
// configuration is looked at after 1s, 2s, 4s, 8s, and Konnect is asked once each time; every
// look in between (as its own status write's Update event would cause) is answered from memory.
func TestOutageBackoffIsPerToken(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	cfg := inlineConfig("down", tokenDown)
	f := newFixture(t, ctx, fixtureOptions{configs: []*konnectv1alpha1.KonnectAPIAuthConfiguration{cfg}, checker: realChecker(ctx)})
	key := cache.MetaObjectToName(cfg)

	for attempt, delay := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second} {
		// The look that finds the backoff over starts a call and is woken when it ends.
		f.ctrl.loop.Add(key)
		processOne(t, f, ctx)
		waitForQueueLen(t, f, 1)
		processOne(t, f, ctx)
		f.refresh(cfg.Name)
		if got := f.konnect.callsFor(tokenDown); got != attempt+1 {
			t.Fatalf("after attempt %d Konnect saw %d calls", attempt+1, got)
		}
		// Syncs in between (an Update event) neither call Konnect nor bring the next look forward.
		for range 3 {
			if next, err := f.ctrl.sync(ctx, key); err != nil || next != delay {
				t.Fatalf("a sync during the backoff: next look after %v (%v), want %v", next, err, delay)
			}
		}
		f.Clock.Step(delay - time.Millisecond)
		assertQueueStaysEmpty(t, f)
		f.Clock.Step(time.Millisecond)
		waitForQueueLen(t, f, 1)
		item, _ := f.ctrl.loop.Get()
		f.ctrl.loop.Done(item)
	}
	if cond := conditionOf(f.get(cfg.Name)); cond == nil || cond.Reason != konnectv1alpha1.ReasonKonnectUnavailable {
		t.Errorf("condition %+v, want Unknown/KonnectUnavailable", cond)
	}
}

// processOne takes one item and syncs it, failing the test if none is queued.
func processOne(t testing.TB, f *fixture, ctx context.Context) {
	t.Helper()
	waitForQueueLen(t, f, 1)
	f.ctrl.loop.ProcessNextWorkItem(ctx)
}

func TestRevalidationIsScheduled(t *testing.T) {
	ctx, f, key := newConfigFixture(t, inlineConfig("konnect-api-auth", tokenValid))
	f.process(ctx, key.Name)
	f.Clock.Step(59 * time.Minute)
	assertQueueStaysEmpty(t, f)
	f.Clock.Step(7 * time.Minute) // past 1h plus the largest jitter
	waitForQueueLen(t, f, 1)
}

func TestFortyConfigurationsWithOneTokenMakeOneCall(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	var configs []*konnectv1alpha1.KonnectAPIAuthConfiguration
	var secrets []*corev1.Secret
	for i := range 40 {
		if i%2 == 0 {
			configs = append(configs, inlineConfig(fmt.Sprintf("inline-%d", i), tokenValid))
			continue
		}
		secrets = append(secrets, tokenSecret(fmt.Sprintf("secret-%d", i), map[string][]byte{"token": []byte(tokenValid + "\n")}))
		configs = append(configs, secretConfig(fmt.Sprintf("ref-%d", i), fmt.Sprintf("secret-%d", i)))
	}
	f := newFixture(t, ctx, fixtureOptions{configs: configs, secrets: secrets, checker: realChecker(ctx)})
	f.konnect.block = make(chan struct{})
	counting := f.konnect

	// Every sync returns at once, while the one call is out.
	var wg sync.WaitGroup
	for _, cfg := range configs {
		wg.Go(func() {
			if next, err := f.ctrl.sync(ctx, cache.MetaObjectToName(cfg)); err != nil || next != 0 {
				t.Errorf("sync while the check is out: next %v, err %v; want 0 and no error", next, err)
			}
		})
	}
	wg.Wait()
	if n := f.statusPatches(); n != 0 {
		t.Errorf("%d status writes while the check was pending, want none", n)
	}
	// The call ends and wakes exactly the forty.
	close(counting.block)
	waitForQueueLen(t, f, len(configs))
	for range configs {
		f.ctrl.loop.ProcessNextWorkItem(ctx)
	}

	if n := counting.callsFor(tokenValid); n != 1 {
		t.Errorf("40 configurations sharing a token made %d Konnect calls, want 1", n)
	}
	for _, cfg := range configs {
		if cond := conditionOf(f.get(cfg.Name)); cond == nil || cond.Status != metav1.ConditionTrue {
			t.Errorf("%s: condition %+v, want True", cfg.Name, cond)
		}
	}
}

func TestSecretEventRequeuesOnlyItsConfigurations(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	shared := tokenSecret("shared", map[string][]byte{"token": []byte(tokenValid)})
	other := tokenSecret("other", map[string][]byte{"token": []byte(tokenValid2)})
	f := newFixture(t, ctx, fixtureOptions{
		informers: true,
		configs: []*konnectv1alpha1.KonnectAPIAuthConfiguration{
			secretConfig("a", "shared"), secretConfig("b", "shared"), secretConfig("c", "other"), inlineConfig("d", tokenValid),
		},
		secrets: []*corev1.Secret{shared, other},
	})
	// The informers' initial adds queue every configuration; take them out first.
	waitForQueueLen(t, f, 4)
	drain(f)

	rotated := shared.DeepCopy()
	rotated.Data["token"] = []byte(tokenValid2)
	rotated.ResourceVersion = "2"
	if _, err := f.Kube.CoreV1().Secrets(namespace).Update(ctx, rotated, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitForQueueLen(t, f, 2)
	if got, want := drain(f), sets.New("a", "b"); !got.Equal(want) {
		t.Errorf("updating Secret shared queued %v, want %v", sets.List(got), sets.List(want))
	}

	if err := f.Kube.CoreV1().Secrets(namespace).Delete(ctx, "other", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitForQueueLen(t, f, 1)
	if got, want := drain(f), sets.New("c"); !got.Equal(want) {
		t.Errorf("deleting Secret other queued %v, want %v", sets.List(got), sets.List(want))
	}
}

// waitForQueueLen waits until the queue holds n items (delays run on the fake clock but
// in the queue's own goroutine).
func waitForQueueLen(t testing.TB, f *fixture, n int) {
	t.Helper()
	err := wait.PollUntilContextTimeout(context.Background(), time.Millisecond, 5*time.Second, true, func(context.Context) (bool, error) {
		return f.ctrl.loop.Len() == n, nil
	})
	if err != nil {
		t.Fatalf("queue holds %d items, want %d", f.ctrl.loop.Len(), n)
	}
}

// assertQueueStaysEmpty checks that nothing arrives in the queue for a moment.
func assertQueueStaysEmpty(t testing.TB, f *fixture) {
	t.Helper()
	time.Sleep(50 * time.Millisecond)
	if n := f.ctrl.loop.Len(); n != 0 {
		t.Fatalf("queue holds %d items, want none yet", n)
	}
}

// drain takes every queued item out and returns their names.
func drain(f *fixture) sets.Set[string] {
	names := sets.New[string]()
	for f.ctrl.loop.Len() > 0 {
		key, _ := f.ctrl.loop.Get()
		names.Insert(key.Name)
		f.ctrl.loop.Done(key)
		f.ctrl.loop.Forget(key)
	}
	return names
}

// TestPendingLeavesStatusAloneUntilWoken: while a check of the token is out, sync writes nothing
// and schedules nothing: the checker's wake-up brings the configuration back.
func TestPendingLeavesStatusAloneUntilWoken(t *testing.T) {
	ctx, f, key := newConfigFixture(t, inlineConfig("waiting", tokenValid))
	f.konnect.set(tokenValid, konnect.Result{Verdict: konnect.VerdictPending, Message: "the token is being checked with Konnect"})
	f.process(ctx, key.Name)
	if n := f.statusPatches(); n != 0 {
		t.Errorf("a pending check wrote status %d times", n)
	}
	if n := f.ctrl.loop.NumRequeues(key); n != 0 {
		t.Errorf("a pending check counted as %d failures", n)
	}
	f.Clock.Step(time.Hour)
	assertQueueStaysEmpty(t, f)
	f.ctrl.Wake([]types.NamespacedName{{Namespace: key.Namespace, Name: key.Name}})
	waitForQueueLen(t, f, 1)
}

// TestWakeGoesThroughTheBacklog: the configurations a finished check wakes, thousands at once
// at a start, wait in the loop's backlog, not in client-go's queue, whose maps would keep their
// size for the rest of the run (issue 19's memory).
func TestWakeGoesThroughTheBacklog(t *testing.T) {
	ctx, f, key := newConfigFixture(t, inlineConfig("waiting", tokenValid))
	f.process(ctx, key.Name) // the workers' phase has begun
	askers := make([]types.NamespacedName, 10000)
	for i := range askers {
		askers[i] = types.NamespacedName{Namespace: namespace, Name: fmt.Sprintf("cfg-%05d", i)}
	}
	f.ctrl.Wake(askers)
	if n := f.ctrl.loop.Len(); n != len(askers) {
		t.Fatalf("%d keys waiting after the wake-up, want %d", n, len(askers))
	}
	// The backlog's feed is 64 keys before the workers' Run sizes it.
	if n := f.ctrl.loop.TypedRateLimitingInterface.Len(); n > 64 {
		t.Fatalf("client-go's queue holds %d keys after the wake-up, want the backlog's feed (64)", n)
	}
}
