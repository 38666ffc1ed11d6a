package localenv

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/bitrise-webhook-operator/operator/internal/bitrise/bitrisefake"
)

// Calls counts requests that reached the Bitrise fake, by kind. A GET of
// webhooks is one list page (the API has no get-one endpoint); a GET of
// delivery items is counted apart, in Deliveries. The JSON names are those
// of the bench's results file.
type Calls struct {
	// GET counts webhook list pages.
	GET int `json:"get"`
	// Lists counts the lists: GETs of a first page (no next cursor).
	Lists  int `json:"lists"`
	POST   int `json:"post"`
	PUT    int `json:"put"`
	DELETE int `json:"delete"`
	// Other counts any other method.
	Other int `json:"other"`
	// Deliveries counts GETs of delivery items (spec.deliveryCheck).
	Deliveries int `json:"deliveries,omitempty"`
	// Failed counts answers outside 2xx, and requests left unanswered.
	Failed int `json:"failed"`
	// Dropped counts requests whose connection the fake closed without an
	// answer (an injected fault).
	Dropped int `json:"dropped,omitempty"`
	// LostCreates counts POSTs the fake served (2xx) but whose answer it
	// dropped: the webhook exists, the client never learnt its slug.
	LostCreates int `json:"lost_creates,omitempty"`
	Total       int `json:"total"`
}

// Add counts one request.
func (c *Calls) Add(r bitrisefake.Request) {
	switch {
	case r.Method == http.MethodGet && IsDeliveryRead(r):
		c.Deliveries++
	case r.Method == http.MethodGet:
		c.GET++
		if r.Query.Get("next") == "" {
			c.Lists++
		}
	case r.Method == http.MethodPost:
		c.POST++
		if r.Dropped && r.Status/100 == 2 {
			c.LostCreates++
		}
	case r.Method == http.MethodPut:
		c.PUT++
	case r.Method == http.MethodDelete:
		c.DELETE++
	default:
		c.Other++
	}
	if r.Dropped {
		c.Dropped++
	}
	if r.Dropped || r.Status < 200 || r.Status > 299 {
		c.Failed++
	}
	c.Total++
}

// Writes is the number of requests that may change a remote webhook.
func (c Calls) Writes() int { return c.POST + c.PUT + c.DELETE + c.Other }

// Reads is the number of GETs, of webhooks and of delivery items.
func (c Calls) Reads() int { return c.GET + c.Deliveries }

// Method returns the count of one HTTP method (GET counts webhook lists and
// delivery reads).
func (c Calls) Method(method string) int {
	switch method {
	case http.MethodGet:
		return c.Reads()
	case http.MethodPost:
		return c.POST
	case http.MethodPut:
		return c.PUT
	case http.MethodDelete:
		return c.DELETE
	default:
		return c.Other
	}
}

// CountCalls counts the requests that every filter keeps.
func CountCalls(reqs []bitrisefake.Request, filters ...func(bitrisefake.Request) bool) Calls {
	var c Calls
next:
	for _, r := range reqs {
		for _, keep := range filters {
			if !keep(r) {
				continue next
			}
		}
		c.Add(r)
	}
	return c
}

// PathContains keeps the requests whose path contains part, such as
// "/apps/my-app/" for one app or "/apps/flaky-" for a family of apps.
func PathContains(part string) func(bitrisefake.Request) bool {
	return func(r bitrisefake.Request) bool { return strings.Contains(r.Path, part) }
}

// Between keeps the requests that reached the fake in [from, to].
func Between(from, to time.Time) func(bitrisefake.Request) bool {
	return func(r bitrisefake.Request) bool { return !r.Time.Before(from) && !r.Time.After(to) }
}

// IsDeliveryRead reports a read of delivery items, not of webhooks.
func IsDeliveryRead(r bitrisefake.Request) bool {
	return strings.Contains(r.Path, "/delivery-items")
}

// String renders the counts on one line, as the bench prints them.
func (c Calls) String() string {
	return fmt.Sprintf("%d: GET %d (%d lists), POST %d, PUT %d, DELETE %d, failed %d", c.Total, c.GET, c.Lists, c.POST, c.PUT, c.DELETE, c.Failed)
}
