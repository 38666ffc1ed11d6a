package bitrise_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bitrise-webhook-operator/operator/internal/bitrise"
)

// countingAPI counts list calls, and can hold them until released.
type countingAPI struct {
	bitrise.API
	lists atomic.Int64
	hold  chan struct{}
}

func (c *countingAPI) ListWebhooks(ctx context.Context, app string) ([]bitrise.Webhook, error) {
	c.lists.Add(1)
	if c.hold != nil {
		<-c.hold
	}
	return c.API.ListWebhooks(ctx, app)
}

func TestObservationsShareOneList(t *testing.T) {
	fake, api := newFake(t)
	fake.AddApp(testApp, testToken)
	counting := &countingAPI{API: api, hold: make(chan struct{})}
	obs := bitrise.NewObservations()
	ctx := context.Background()

	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, _, err := obs.List(ctx, counting, testToken, testApp, time.Minute); err != nil {
				t.Error(err)
			}
		}()
	}
	time.Sleep(50 * time.Millisecond)
	close(counting.hold)
	wg.Wait()
	if _, _, err := obs.List(ctx, counting, testToken, testApp, time.Minute); err != nil {
		t.Fatal(err)
	}
	if n := counting.lists.Load(); n != 1 {
		t.Fatalf("21 observations within the max age made %d list calls, want 1", n)
	}
	if _, _, err := obs.List(ctx, counting, testToken, testApp, 0); err != nil {
		t.Fatal(err)
	}
	if n := counting.lists.Load(); n != 2 {
		t.Fatalf("a zero max age must list afresh: %d calls", n)
	}
	// The key is the token: another token lists for itself.
	if _, _, err := obs.List(ctx, counting, "other-token", testApp, time.Minute); err != nil || counting.lists.Load() != 3 {
		t.Fatal("another token must not see this token's observation")
	}
}

func TestObservationsFollowOwnWrites(t *testing.T) {
	fake, api := newFake(t)
	fake.AddApp(testApp, testToken)
	counting := &countingAPI{API: api}
	obs := bitrise.NewObservations()
	ctx := context.Background()
	list := func() []bitrise.Webhook {
		t.Helper()
		w, _, err := obs.List(ctx, counting, testToken, testApp, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		return w
	}
	if len(list()) != 0 {
		t.Fatal("want an empty app")
	}
	created, err := api.CreateWebhook(ctx, testApp, bitrise.CreateParams{URL: "https://a.test", Events: []string{"all"}})
	if err != nil {
		t.Fatal(err)
	}
	obs.Put(testApp, *created)
	if got := list(); len(got) != 1 || got[0].Slug != created.Slug {
		t.Fatalf("own create not in the observation: %+v", got)
	}
	obs.Remove(testApp, created.Slug)
	if len(list()) != 0 {
		t.Fatal("own delete not in the observation")
	}
	if n := counting.lists.Load(); n != 1 {
		t.Fatalf("own writes cost %d lists, want 1", n)
	}
	obs.Invalidate(testApp)
	list()
	if n := counting.lists.Load(); n != 2 {
		t.Fatal("an invalidated observation was served")
	}
}

func TestObservationsDropListsRacingAWrite(t *testing.T) {
	fake, api := newFake(t)
	fake.AddApp(testApp, testToken)
	counting := &countingAPI{API: api, hold: make(chan struct{})}
	obs := bitrise.NewObservations()
	ctx := context.Background()
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _, _ = obs.List(ctx, counting, testToken, testApp, time.Minute)
	}()
	time.Sleep(20 * time.Millisecond)
	obs.Invalidate(testApp) // a write while the list is in flight
	close(counting.hold)
	<-done
	counting.hold = nil
	if _, _, err := obs.List(ctx, counting, testToken, testApp, time.Minute); err != nil {
		t.Fatal(err)
	}
	if n := counting.lists.Load(); n != 2 {
		t.Fatalf("a list begun before a write was stored and served (%d lists)", n)
	}
}
