// Package bitrisefake is an in-memory, HTTP-level fake of the outgoing-webhook
// endpoints of the Bitrise API v0.1, faithful to shared/bitrise-api/README.md.
// It exercises the real client: tests, envtest specs, the e2e test and
// `make dev` all talk to it over HTTP. Every method is safe for concurrent use.
package bitrisefake

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"time"
)

// basePath is where the API lives, as on api.bitrise.io.
const basePath = "/v0.1"

// Server is the fake. The zero value is not usable; call New.
type Server struct {
	mu         sync.Mutex
	apps       map[string]*app
	tokens     map[string]map[string]bool // token -> app slugs it may use
	hiding     map[string]bool            // tokens that get 404, not 403, for apps they may not use
	bareCreate bool
	latency    time.Duration
	faults     []*activeFault
	rng        *rand.Rand
	requests   []Request
	// receivers answer redeliveries, by webhook slug.
	receivers      map[string]receiverAnswer
	legacyNullable bool

	closeServer func()
	// done ends sleeping handlers, so that Close never waits for a latency.
	done      chan struct{}
	closeOnce sync.Once
}

// Request is one API request as the fake saw it. The Authorization header is
// deliberately not recorded.
type Request struct {
	Method string
	// Path is unescaped, e.g. "/v0.1/apps/my-app/outgoing-webhooks".
	Path  string
	Query url.Values
	// Status is what the fake answered, or would have answered when the
	// response was lost; 0 when it never got that far.
	Status int
	// Dropped means the client got no answer: the connection was closed.
	Dropped bool
	Time    time.Time
}

// New returns a fake with no apps and no tokens.
func New() *Server {
	return &Server{
		apps:   map[string]*app{},
		tokens: map[string]map[string]bool{},
		rng:    newRand(1),
		done:   make(chan struct{}),
	}
}

// Start serves the fake on a random port of 127.0.0.1 and returns the base
// URL for the client, ending in /v0.1.
func (s *Server) Start() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closeServer != nil {
		panic("bitrisefake: server already started")
	}
	ts := httptest.NewServer(s)
	s.closeServer = ts.Close
	return ts.URL + basePath
}

// StartOn serves the fake on addr (e.g. "127.0.0.1:8089" or ":8089") and
// returns the base URL for the client, ending in /v0.1.
func (s *Server) StartOn(addr string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closeServer != nil {
		return "", fmt.Errorf("bitrisefake: server already started")
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", fmt.Errorf("bitrisefake: %w", err)
	}
	srv := &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	s.closeServer = func() { _ = srv.Close() }

	host, port, _ := net.SplitHostPort(ln.Addr().String())
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port) + basePath, nil
}

// Close stops serving. It is safe to call more than once.
func (s *Server) Close() {
	s.closeOnce.Do(func() { close(s.done) })
	s.mu.Lock()
	closeServer := s.closeServer
	s.mu.Unlock()
	if closeServer != nil {
		closeServer()
	}
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, "/_fake/") {
		s.serveAdmin(w, r)
		return
	}
	rec := Request{Method: r.Method, Path: r.URL.Path, Query: r.URL.Query(), Time: time.Now()}
	recorded := false
	defer func() {
		if !recorded {
			s.record(rec)
		}
	}()
	// drop records the request before the client can see the connection
	// close, so that a test reading Requests after its call failed finds it.
	drop := func() {
		rec.Dropped = true
		s.record(rec)
		recorded = true
		dropConnection(w)
	}

	fault, latency := s.takeFault(r)
	if !s.sleep(r.Context(), latency) {
		// Returning would send an empty 200; the client or the fake is gone.
		drop()
		return
	}
	switch {
	case fault == nil:
		rec.Status = s.serveAPI(w, r)
	case fault.DropConnection:
		drop()
	case fault.LoseResponse:
		rec.Status = s.serveAPI(httptest.NewRecorder(), r)
		drop()
	case fault.Status != 0:
		rec.Status = fault.Status
		writeFault(w, fault)
	default: // a latency-only fault
		rec.Status = s.serveAPI(w, r)
	}
}

func (s *Server) sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return true
	case <-ctx.Done():
		return false
	case <-s.done:
		return false
	}
}

// dropConnection closes the connection without an answer, as a crashed
// proxy would.
func dropConnection(w http.ResponseWriter) {
	if hj, ok := w.(http.Hijacker); ok {
		if conn, _, err := hj.Hijack(); err == nil {
			_ = conn.Close()
			return
		}
	}
	// net/http closes the connection silently on this panic.
	panic(http.ErrAbortHandler)
}

func (s *Server) record(rec Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = append(s.requests, rec)
}

// Requests returns the API requests seen so far, oldest first.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Request, len(s.requests))
	for i, rec := range s.requests {
		rec.Query = cloneValues(rec.Query)
		out[i] = rec
	}
	return out
}

// CountRequests counts the requests seen with method; "" counts all.
func (s *Server) CountRequests(method string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, rec := range s.requests {
		if method == "" || strings.EqualFold(rec.Method, method) {
			n++
		}
	}
	return n
}

// ResetRequests forgets the requests seen so far.
func (s *Server) ResetRequests() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = nil
}

func cloneValues(v url.Values) url.Values {
	out := make(url.Values, len(v))
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	return out
}
