package controller

import "testing"

func TestSameWebhookURL(t *testing.T) {
	tests := []struct {
		a, b string
		same bool
	}{
		{"https://hooks.example.com/x", "https://hooks.example.com/x", true},
		{"https://Hooks.Example.COM/x", "https://hooks.example.com/x", true},
		{"HTTPS://hooks.example.com/x", "https://hooks.example.com/x", true},
		{"https://hooks.example.com:443/x", "https://hooks.example.com/x", true},
		{"http://hooks.example.com:80/x", "http://hooks.example.com/x", true},
		{"https://hooks.example.com/x/", "https://hooks.example.com/x", true},
		{"https://hooks.example.com/", "https://hooks.example.com", true},
		{"https://HOOKS.example.com:443/x/", "https://hooks.example.com/x", true},
		{"https://hooks.example.com/x/?a=1", "https://hooks.example.com/x?a=1", true},
		{"https://hooks.example.com:8443/x", "https://hooks.example.com/x", false},
		{"https://hooks.example.com:80/x", "https://hooks.example.com/x", false},
		{"http://hooks.example.com/x", "https://hooks.example.com/x", false},
		{"https://hooks.example.com/X", "https://hooks.example.com/x", false},
		{"https://hooks.example.com/x?a=1", "https://hooks.example.com/x?a=2", false},
		{"https://hooks.example.com/x?A=1", "https://hooks.example.com/x?a=1", false},
		{"https://hooks.example.com/x//", "https://hooks.example.com/x", false},
		{"https://hooks.example.com/x%2F", "https://hooks.example.com/x", false},
		{"https://hooks.example.com/x#f", "https://hooks.example.com/x", false},
		{"https://other.example.com/x", "https://hooks.example.com/x", false},
		{"%zz", "%ZZ", false},
	}
	for _, tt := range tests {
		if got := sameWebhookURL(tt.a, tt.b); got != tt.same {
			t.Errorf("sameWebhookURL(%q, %q) = %v, want %v", tt.a, tt.b, got, tt.same)
		}
		if got := sameWebhookURL(tt.b, tt.a); got != tt.same {
			t.Errorf("sameWebhookURL(%q, %q) = %v, want %v (not symmetric)", tt.b, tt.a, got, tt.same)
		}
	}
}
