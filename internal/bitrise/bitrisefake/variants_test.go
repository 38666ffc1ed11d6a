package bitrisefake_test

import (
	"testing"

	"github.com/bitrise-webhook-operator/operator/internal/bitrise/bitrisefake"
)

func TestNormalizationStoresAnotherURLForm(t *testing.T) {
	tests := []struct {
		name string
		norm bitrisefake.Normalization
		sent string
		want string
	}{
		{"as sent", bitrisefake.Normalization{}, "https://Hooks.Example.com:443/A/", "https://Hooks.Example.com:443/A/"},
		{"lower-cased host", bitrisefake.Normalization{LowerCaseHost: true}, "HTTPS://Hooks.Example.COM/Path?Q=1", "https://hooks.example.com/Path?Q=1"},
		{"default port dropped", bitrisefake.Normalization{DropDefaultPort: true}, "https://h.test:443/a", "https://h.test/a"},
		{"other port kept", bitrisefake.Normalization{DropDefaultPort: true}, "https://h.test:8443/a", "https://h.test:8443/a"},
		{"trailing slash stripped", bitrisefake.Normalization{StripTrailingSlash: true}, "https://h.test/a/", "https://h.test/a"},
		{"trailing slash added", bitrisefake.Normalization{AddTrailingSlash: true}, "https://h.test/a?x=1", "https://h.test/a/?x=1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := start(t)
			f.fake.SetNormalization(app, tt.norm)
			_, body := f.call("POST", hooks, token, `{"url":"`+tt.sent+`","events":["build"]}`)
			if got := body["data"].(map[string]any)["url"]; got != tt.want {
				t.Errorf("create answered url %v, want %s", got, tt.want)
			}
			if got := f.fake.Webhooks(app)[0].URL; got != tt.want {
				t.Errorf("stored url %s, want %s", got, tt.want)
			}
		})
	}
}

func TestNormalizationMasksAndOmitsHeaders(t *testing.T) {
	const create = `{"url":"https://h.test/a","events":["build"],"headers":{"Authorization":"tok","X-Api-Key":"k","X-Team":"t"}}`
	for _, onlyInLists := range []bool{false, true} {
		f := start(t)
		f.fake.SetNormalization(app, bitrisefake.Normalization{
			MaskHeaders: []string{"authorization"}, OmitHeaders: []string{"X-API-KEY"}, OnlyInLists: onlyInLists,
		})
		_, body := f.call("POST", hooks, token, create)
		answered := body["data"].(map[string]any)["headers"].(map[string]any)
		_, listed := f.call("GET", hooks, token, "")
		inList := listed["data"].([]any)[0].(map[string]any)["headers"].(map[string]any)

		if inList["Authorization"] != bitrisefake.Mask || inList["X-Team"] != "t" || inList["X-Api-Key"] != nil {
			t.Errorf("onlyInLists=%v: list answered headers %v", onlyInLists, inList)
		}
		wantCreate := map[string]any{"Authorization": bitrisefake.Mask, "X-Team": "t"}
		if onlyInLists {
			wantCreate = map[string]any{"Authorization": "tok", "X-Api-Key": "k", "X-Team": "t"}
		}
		if len(answered) != len(wantCreate) {
			t.Errorf("onlyInLists=%v: create answered headers %v, want %v", onlyInLists, answered, wantCreate)
		}
		for k, v := range wantCreate {
			if answered[k] != v {
				t.Errorf("onlyInLists=%v: create answered %s=%v, want %v", onlyInLists, k, answered[k], v)
			}
		}
		if stored := f.fake.Webhooks(app)[0].Headers; stored["Authorization"] != "tok" || stored["X-Api-Key"] != "k" {
			t.Errorf("the stored values changed: %v", stored)
		}
	}
}

func TestHiddenAppsAnswerNotFound(t *testing.T) {
	f := start(t)
	f.fake.AddApp("app-2", "tok-2")
	f.fake.AddToken("tok-hider", app)
	f.fake.HideApps("tok-hider")
	if status, _ := f.call("GET", "/apps/app-2/outgoing-webhooks", "tok-2", ""); status != 200 {
		t.Fatalf("own app: %d", status)
	}
	if status, _ := f.call("GET", "/apps/app-2/outgoing-webhooks", "tok-hider", ""); status != 404 {
		t.Errorf("another workspace's app: %d, want 404", status)
	}
	if status, _ := f.call("GET", hooks, "tok-hider", ""); status != 200 {
		t.Errorf("its own app: %d, want 200", status)
	}
	f.fake.RevokeAccess("tok-hider", app)
	if status, _ := f.call("DELETE", hooks+"/SOME", "tok-hider", ""); status != 404 {
		t.Errorf("revoked app: %d, want 404", status)
	}
	f.fake.RevokeAccess("tok-1", app) // without HideApps: 403
	if status, _ := f.call("GET", hooks, token, ""); status != 403 {
		t.Errorf("revoked app of a token that does not hide: %d, want 403", status)
	}
}
