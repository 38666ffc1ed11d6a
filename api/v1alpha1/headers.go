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
