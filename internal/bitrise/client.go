package bitrise

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

const (
	defaultTimeout   = 30 * time.Second
	defaultUserAgent = "bitrise-webhook-operator"
	// maxBodySize bounds what a misbehaving server can make us buffer; a full
	// list page of 50 webhooks is far below it.
	maxBodySize = 8 << 20
)

// Client holds what all tokens share: the base URL and one http.Client, so
// that connections are pooled across tokens. It is safe for concurrent use.
type Client struct {
	baseURL    string
	httpClient *http.Client
	userAgent  string
	qps        float64
	burst      int
	observer   Observer
	gates      sync.Map // sha256 of a token -> *gate
}

// Option configures a Client.
type Option func(*Client)

// WithHTTPClient replaces the default http.Client (30s timeout, a clone of
// the default transport). A nil client is ignored. The client is copied and
// its CheckRedirect replaced: redirects are never followed, whatever hc says.
func WithHTTPClient(hc *http.Client) Option {
	return func(c *Client) {
		if hc != nil {
			copied := *hc
			copied.CheckRedirect = refuseRedirect
			c.httpClient = &copied
		}
	}
}

// refuseRedirect makes the http.Client hand a 3xx back instead of following
// it: a 307/308 would resend the body (webhook secret, header values) to
// another host, an https->http hop would keep the Authorization header, and a
// 301/302 turns a DELETE into a GET whose 200 would read as "deleted".
func refuseRedirect(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// WithUserAgent sets the User-Agent header. An empty value is ignored.
func WithUserAgent(userAgent string) Option {
	return func(c *Client) {
		if userAgent != "" {
			c.userAgent = userAgent
		}
	}
}

// NewClient returns a client of the API at baseURL, e.g.
// "https://api.bitrise.io/v0.1"; request paths are appended to it. The URL
// must be https, except on a loopback host (localhost, 127.0.0.0/8, ::1),
// where http is allowed for local fakes and proxies: the token must never
// cross a network in clear text.
func NewClient(baseURL string, opts ...Option) (*Client, error) {
	u, err := url.Parse(baseURL)
	if err != nil {
		return nil, fmt.Errorf("bitrise API base URL: %w", err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("bitrise API base URL %q: want an absolute https URL", baseURL)
	}
	if u.Scheme == "http" && !isLoopback(u.Hostname()) {
		return nil, fmt.Errorf("bitrise API base URL %q: want https (http is allowed only for a loopback host such as 127.0.0.1, [::1] or localhost)", baseURL)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("bitrise API base URL %q: must not have a query or fragment", baseURL)
	}
	c := &Client{
		baseURL: strings.TrimRight(u.String(), "/"),
		httpClient: &http.Client{
			Timeout:       defaultTimeout,
			Transport:     http.DefaultTransport.(*http.Transport).Clone(),
			CheckRedirect: refuseRedirect,
		},
		userAgent: defaultUserAgent,
		qps:       DefaultQPS,
		burst:     DefaultBurst,
	}
	for _, opt := range opts {
		opt(c)
	}
	return c, nil
}

// isLoopback reports a host name that cannot leave the machine: "localhost"
// (and names under .localhost, RFC 6761) or a loopback IP address.
func isLoopback(host string) bool {
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// ForToken returns the API as seen with token. It allocates nothing but a
// small struct, so callers may call it per reconcile. sensitive are more
// values never to show in an error, whatever the request: an error body may
// quote what the server stored (a webhook secret, header values) as well as
// what the request sent.
func (c *Client) ForToken(token string, sensitive ...string) API {
	return &tokenClient{Client: c, token: token, gate: c.gateFor(token), sensitive: sensitive}
}

var _ API = (*tokenClient)(nil)

type tokenClient struct {
	*Client
	token     string
	gate      *gate
	sensitive []string
}

// request is one call. path is already escaped; sensitive lists the values
// of the body that must never appear in an error.
type request struct {
	method    string
	path      string
	route     string // the path template, for metrics
	query     url.Values
	body      any
	sensitive []string
}

// do sends req and returns the body of a 2xx answer. Any other answer is an
// *APIError, no answer a *NetworkError.
func (t *tokenClient) do(ctx context.Context, req request) (int, []byte, error) {
	redact := t.redactor(req)
	var body io.Reader
	if req.body != nil {
		encoded, err := json.Marshal(req.body)
		if err != nil {
			return 0, nil, fmt.Errorf("bitrise API: %s %s: encoding body: %w", req.method, req.path, err)
		}
		body = bytes.NewReader(encoded)
	}
	target := t.baseURL + req.path
	if len(req.query) > 0 {
		target += "?" + req.query.Encode()
	}
	httpReq, err := http.NewRequestWithContext(ctx, req.method, target, body)
	if err != nil {
		return 0, nil, fmt.Errorf("bitrise API: %s %s: %s", req.method, req.path, redact.redact(err.Error()))
	}
	httpReq.Header.Set("Authorization", t.token)
	httpReq.Header.Set("Accept", "application/json")
	httpReq.Header.Set("User-Agent", t.userAgent)
	if body != nil {
		httpReq.Header.Set("Content-Type", "application/json")
	}

	if isLowPriority(ctx) && !t.gate.spare(time.Now()) {
		return 0, nil, ErrDeferred
	}
	waited, err := t.gate.wait(ctx)
	if waited > time.Millisecond && t.observer != nil {
		t.observer.Throttled(waited)
	}
	var throttled *ThrottledError
	if errors.As(err, &throttled) {
		return 0, nil, throttled // not sent
	}
	if err != nil {
		return 0, nil, &NetworkError{Method: req.method, Path: req.path, Err: err, text: redact.redact(err.Error())}
	}
	start := time.Now()
	resp, err := t.httpClient.Do(httpReq)
	if t.observer != nil {
		code := 0
		if resp != nil {
			code = resp.StatusCode
		}
		t.observer.RequestDone(req.method, req.route, code, time.Since(start))
	}
	if err != nil {
		return 0, nil, &NetworkError{Method: req.method, Path: req.path, Err: err, text: redact.redact(err.Error())}
	}
	defer func() { _ = resp.Body.Close() }()
	t.gate.learn(resp, time.Now())
	respBody, err := io.ReadAll(io.LimitReader(resp.Body, maxBodySize+1))
	if err != nil {
		return 0, nil, &NetworkError{Method: req.method, Path: req.path, Err: err, text: redact.redact(err.Error())}
	}

	if resp.StatusCode >= 300 && resp.StatusCode <= 399 {
		// Never followed (see refuseRedirect), and its body is not read
		// into the error: it is not the API's answer.
		return resp.StatusCode, nil, &APIError{
			StatusCode: resp.StatusCode,
			Method:     req.method,
			Path:       req.path,
			Message:    "redirects from the Bitrise API are never followed",
		}
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return resp.StatusCode, nil, &APIError{
			StatusCode: resp.StatusCode,
			Method:     req.method,
			Path:       req.path,
			Message:    redact.cleanMessage(errorMessage(respBody)),
			RetryAfter: parseRetryAfter(resp.Header.Get("Retry-After"), time.Now()),
		}
	}
	if len(respBody) > maxBodySize {
		return resp.StatusCode, nil, t.unusableAnswer(req, resp.StatusCode, "response body larger than 8 MiB")
	}
	return resp.StatusCode, respBody, nil
}

// unusableAnswer is a 2xx the client cannot use. It is an *APIError with the
// 2xx status, which no classifier treats as retryable.
func (t *tokenClient) unusableAnswer(req request, status int, detail string) error {
	return &APIError{
		StatusCode: status,
		Method:     req.method,
		Path:       req.path,
		Message:    t.redactor(req).cleanMessage("unusable response: " + detail),
	}
}

func (t *tokenClient) redactor(req request) redactor {
	values := append([]string{t.token}, t.sensitive...)
	return newRedactor(append(values, req.sensitive...)...)
}
