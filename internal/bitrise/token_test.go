package bitrise_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/bitrise-webhook-operator/operator/internal/bitrise"
)

func TestNormalizeToken(t *testing.T) {
	tests := []struct {
		raw, want string
		wantErr   error
	}{
		{"zq-123", "zq-123", nil},
		{"zq-123\n", "zq-123", nil},          // kubectl create secret --from-file
		{" zq\r\n", "zq", nil},               // a file saved on Windows
		{"\t zq-1 \n\n", "zq-1", nil},        // editors
		{"", "", bitrise.ErrEmptyToken},      // nothing at all
		{" \r\n", "", bitrise.ErrEmptyToken}, // only the line ending
		{"zq\nsecond-line", "", bitrise.ErrInvalidToken},
		{"zq\r\nX-Injected: 1", "", bitrise.ErrInvalidToken},
		{"zq\x00", "", bitrise.ErrInvalidToken},
		{"zq\x7f", "", bitrise.ErrInvalidToken},
	}
	for _, tt := range tests {
		got, err := bitrise.NormalizeToken(tt.raw)
		if got != tt.want || !errors.Is(err, tt.wantErr) {
			t.Errorf("NormalizeToken(%q) = %q, %v; want %q, %v", tt.raw, got, err, tt.want, tt.wantErr)
		}
		if err != nil && strings.Contains(err.Error(), "zq") {
			t.Errorf("NormalizeToken(%q): the error quotes the token: %v", tt.raw, err)
		}
	}
}
