package v1alpha1

// Rules for headers, shared by the CRD (the CEL rules of spec.headers,
// which cannot reference Go constants; a test checks that they agree) and
// the controller (headers from the Secret).
const (
	// HeaderNamePattern is the regular expression every header name must
	// match: the token characters of RFC 9110 section 5.6.2 without ' and `,
	// which no real header name uses and which would need escaping in CEL.
	// Names are case-insensitive (RFC 9110 section 5.1): a name may be
	// defined once in any letter case, across spec.headers and the Secret.
	HeaderNamePattern = `^[A-Za-z0-9!#$%&*+.^_|~-]+$`

	// MaxHeaderValueBytes is the longest header value accepted, in bytes
	// (8 KiB, the default limit of a whole header section in common servers
	// and proxies).
	MaxHeaderValueBytes = 8192
)

// HeaderValue is declared as an alias of string, so that spec.headers stays
// a map[string]string in Go while the CRD bounds each value: the bound keeps
// the cost of the CEL rules within the API server's budget, which rules over
// the whole map of unbounded strings exceed. controller-gen's DeepCopy
// generator does not follow aliases, so `make generate` runs it with
// GODEBUG=gotypesalias=0 (see the Makefile).

// HeaderValue is the value of a header: one line (no CR or LF) of at most
// 8 KiB (8192 bytes).
// +kubebuilder:validation:MaxLength=8192
// +kubebuilder:validation:XValidation:rule="!self.contains('\\n') && !self.contains('\\r')",message="headers: a value must not contain a line break (CR or LF)"
// +kubebuilder:validation:XValidation:rule="size(bytes(self)) <= 8192",message="headers: a value must be at most 8 KiB (8192 bytes)"
type HeaderValue = string
