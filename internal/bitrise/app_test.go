package bitrise_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/bitrise-webhook-operator/operator/internal/bitrise"
	"github.com/bitrise-webhook-operator/operator/internal/bitrise/bitrisefake"
)

// newApp returns a started fake with testApp usable by testToken, and the
// App testApp as seen with testToken, sharing obs.
func newApp(t *testing.T, obs *bitrise.Observations, appSlug string, sensitive ...string) (*bitrisefake.Server, *bitrise.App) {
	t.Helper()
	fake, baseURL := startFake(t)
	c, err := bitrise.NewClient(baseURL, bitrise.WithRateLimit(0, 0))
	if err != nil {
		t.Fatal(err)
	}
	return fake, c.App(testToken, appSlug, obs, sensitive...)
}

func slugs(webhooks []bitrise.Webhook) []string {
	out := make([]string, 0, len(webhooks))
	for _, w := range webhooks {
		out = append(out, w.Slug)
	}
	return out
}

// The App's own writes are in the shared observation: a List with a max
// age right after them sees them without asking Bitrise.
func TestAppOwnWritesVisibleInNextList(t *testing.T) {
	obs := bitrise.NewObservations()
	fake, app := newApp(t, obs, testApp)
	ctx := context.Background()
	if _, _, err := app.List(ctx, time.Hour); err != nil {
		t.Fatal(err)
	}
	created, err := app.Create(ctx, bitrise.CreateParams{URL: "https://a.example/hook", Events: []string{"build"}})
	if err != nil {
		t.Fatal(err)
	}
	got, _, err := app.List(ctx, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Slug != created.Slug {
		t.Fatalf("after create: listed %v, want [%s]", slugs(got), created.Slug)
	}

	if _, err := app.Update(ctx, created.Slug, bitrise.UpdateParams{URL: "https://b.example/hook", Events: []string{"pipeline"}}); err != nil {
		t.Fatal(err)
	}
	got, _, err = app.List(ctx, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].URL != "https://b.example/hook" {
		t.Fatalf("after update: listed %+v, want the updated URL", got)
	}

	if err := app.Delete(ctx, created.Slug); err != nil {
		t.Fatal(err)
	}
	got, _, err = app.List(ctx, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 0 {
		t.Fatalf("after delete: listed %v, want none", slugs(got))
	}
	if n := fake.CountRequests(http.MethodGet); n != 1 {
		t.Errorf("%d lists, want 1: the App's own writes must be applied to the shared observation", n)
	}
}

// A write whose outcome is unknown drops the observation: the next List
// asks Bitrise and sees what the lost create made.
func TestAppUnknownOutcomeInvalidatesObservation(t *testing.T) {
	obs := bitrise.NewObservations()
	fake, app := newApp(t, obs, testApp)
	ctx := context.Background()
	if _, _, err := app.List(ctx, time.Hour); err != nil {
		t.Fatal(err)
	}
	fake.AddFault(bitrisefake.Fault{Method: http.MethodPost, LoseResponse: true, Times: 1})
	if _, err := app.Create(ctx, bitrise.CreateParams{URL: "https://a.example/hook", Events: []string{"build"}}); err == nil {
		t.Fatal("create with a lost response: want an error")
	}
	got, _, err := app.List(ctx, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].URL != "https://a.example/hook" {
		t.Fatalf("listed %+v after a lost create, want the webhook it made", got)
	}
	if n := fake.CountRequests(http.MethodGet); n != 2 {
		t.Errorf("%d lists, want 2: an unknown outcome must force a fresh list", n)
	}
}

// Delete confirms a 404 with a fresh list: gone, still listed, or the app
// invisible.
func TestAppDeleteConfirmsNotFound(t *testing.T) {
	ctx := context.Background()

	t.Run("gone", func(t *testing.T) {
		fake, app := newApp(t, bitrise.NewObservations(), testApp)
		if err := app.Delete(ctx, "no-such-webhook"); err != nil {
			t.Fatalf("Delete of a webhook already gone: %v, want nil", err)
		}
		if n := fake.CountRequests(http.MethodGet); n != 1 {
			t.Errorf("%d lists, want 1 to confirm the 404", n)
		}
	})

	t.Run("still listed", func(t *testing.T) {
		fake, app := newApp(t, bitrise.NewObservations(), testApp)
		w := fake.Seed(testApp, bitrise.Webhook{URL: "https://a.example/hook", Events: []string{"build"}}, "")
		fake.AddFault(bitrisefake.Fault{Method: http.MethodDelete, Status: http.StatusNotFound, Times: 1})
		err := app.Delete(ctx, w.Slug)
		var listed *bitrise.StillListedError
		if !errors.As(err, &listed) || listed.Slug != w.Slug {
			t.Fatalf("Delete answered 404 for a listed webhook: %v, want a *StillListedError for %s", err, w.Slug)
		}
		if len(fake.Webhooks(testApp)) != 1 {
			t.Fatal("the fault should have kept the webhook")
		}
	})

	t.Run("app invisible", func(t *testing.T) {
		_, app := newApp(t, bitrise.NewObservations(), "an-app-the-token-cannot-see")
		err := app.Delete(ctx, "some-webhook")
		if !bitrise.IsNotFound(err) {
			t.Fatalf("Delete on an invisible app: %v, want the list's 404", err)
		}
		var listed *bitrise.StillListedError
		if errors.As(err, &listed) {
			t.Fatalf("Delete on an invisible app: %v, want the list's error, not StillListedError", err)
		}
	})
}

// No error of an App quotes the token, the sensitive values it was made
// with, or the secret of a create, even when the server echoes them.
func TestAppErrorsRedactSecrets(t *testing.T) {
	const stored, header, secret = "stored-hdr-value-1", "hdr-value-2", "whsec-3"
	fake, app := newApp(t, nil, testApp, stored)
	fake.AddFault(bitrisefake.Fault{
		Method: http.MethodPost, Status: http.StatusUnprocessableEntity,
		Body: `{"message":"bad: ` + testToken + " " + stored + " " + header + " " + secret + `"}`,
	})
	_, err := app.Create(context.Background(), bitrise.CreateParams{
		URL: "https://a.example/hook", Events: []string{"build"},
		Secret: secret, Headers: map[string]string{"X-A": header},
	})
	if err == nil {
		t.Fatal("want an error")
	}
	for _, v := range []string{testToken, stored, header, secret} {
		if strings.Contains(err.Error(), v) {
			t.Errorf("error %q quotes %q", err, v)
		}
	}
}
