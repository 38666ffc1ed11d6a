package bitrisefake

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"time"
)

// Fault makes matching requests misbehave. Faults are tried in the order
// they were added; the first one that matches and fires is used.
//
// Go's http.Transport silently replays a GET whose reused connection was
// dropped, so a single dropped GET may not reach the client as an error.
type Fault struct {
	// Method restricts the fault to one method; "" matches any.
	Method string
	// PathContains restricts the fault to paths containing it; "" matches any.
	PathContains string
	// Status answers with this status instead of serving the request.
	Status int
	// Body of the Status answer; defaults to {"message": <status text>}.
	Body string
	// RetryAfter is sent as the Retry-After header of the Status answer.
	RetryAfter string
	// Location is sent as the Location header of the Status answer, e.g.
	// with a 3xx Status to play a redirect.
	Location string
	// RequestID appends a request id that changes on every answer to the
	// message of the default Body, as APIs that quote one in their error
	// bodies do: the error text then differs on every retry.
	RequestID bool
	// DropConnection closes the connection without serving or answering.
	DropConnection bool
	// LoseResponse serves the request for real and then closes the
	// connection without answering: a create that happened but whose
	// response was lost.
	LoseResponse bool
	// Latency delays the request; alone, it only slows the request down.
	Latency time.Duration
	// Probability that a matching request fires the fault; 0 means always.
	Probability float64
	// Times the fault fires before it removes itself; 0 means unlimited.
	Times int

	fired int // how many times it fired, this answer included
}

type activeFault struct {
	Fault
	fired int
}

// AddFault installs f until remove is called or f has fired f.Times times.
func (s *Server) AddFault(f Fault) (remove func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	active := &activeFault{Fault: f}
	s.faults = append(s.faults, active)
	return func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.removeFault(active)
	}
}

// SetLatency delays every API request by d, in addition to fault latencies.
func (s *Server) SetLatency(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.latency = d
}

// SetSeed reseeds the generator behind Fault.Probability, for reproducible
// runs. The default seed is 1.
func (s *Server) SetSeed(seed int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rng = newRand(seed)
}

func newRand(seed int64) *rand.Rand {
	return rand.New(rand.NewPCG(uint64(seed), 0x5eed))
}

// takeFault picks the fault for r, counting it as fired, and returns the
// total latency to apply.
func (s *Server) takeFault(r *http.Request) (*Fault, time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, active := range s.faults {
		if !active.matches(r) || !s.fires(active.Probability) {
			continue
		}
		active.fired++
		if active.Times > 0 && active.fired >= active.Times {
			s.removeFault(active)
		}
		f := active.Fault
		f.fired = active.fired
		return &f, s.latency + f.Latency
	}
	return nil, s.latency
}

func (f *Fault) matches(r *http.Request) bool {
	return (f.Method == "" || strings.EqualFold(f.Method, r.Method)) &&
		strings.Contains(r.URL.Path, f.PathContains)
}

func (s *Server) fires(probability float64) bool {
	return probability <= 0 || probability >= 1 || s.rng.Float64() < probability
}

func (s *Server) removeFault(active *activeFault) {
	s.faults = slices.DeleteFunc(s.faults, func(a *activeFault) bool { return a == active })
}

func writeFault(w http.ResponseWriter, f *Fault) {
	body := f.Body
	if body == "" {
		text := http.StatusText(f.Status)
		if f.RequestID {
			text += fmt.Sprintf(" (request id req-%08d)", f.fired)
		}
		encoded, _ := json.Marshal(message{Message: text})
		body = string(encoded)
	}
	if json.Valid([]byte(body)) {
		w.Header().Set("Content-Type", "application/json")
	} else {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	}
	if f.RetryAfter != "" {
		w.Header().Set("Retry-After", f.RetryAfter)
	}
	if f.Location != "" {
		w.Header().Set("Location", f.Location)
	}
	w.WriteHeader(f.Status)
	_, _ = w.Write([]byte(body))
}
