package bitrise

import (
	"errors"
	"strings"

	"golang.org/x/net/http/httpguts"
)

var (
	// ErrEmptyToken is a token that is empty or only whitespace.
	ErrEmptyToken = errors.New("the API token is empty")
	// ErrInvalidToken is a token that cannot be sent as an HTTP header
	// value: a line break or another control character inside it.
	ErrInvalidToken = errors.New("the API token holds a line break or another control character inside it, which an HTTP header cannot carry")
)

// NormalizeToken returns raw without the surrounding whitespace (spaces,
// tabs, \r, \n) that files leave around a token, as Secrets made with
// `kubectl create secret --from-file` or an editor do. Every source of a
// token (the default token, credentialsRef Secrets) goes through it.
// It returns ErrEmptyToken when nothing is left, and ErrInvalidToken when
// what is left is not a valid HTTP header value (RFC 9110 field-value, as
// net/http checks it before sending). The errors never quote the token.
func NormalizeToken(raw string) (string, error) {
	token := strings.TrimSpace(raw)
	if token == "" {
		return "", ErrEmptyToken
	}
	if !httpguts.ValidHeaderFieldValue(token) {
		return "", ErrInvalidToken
	}
	return token, nil
}
