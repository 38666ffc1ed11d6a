package bitrise

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
)

const (
	// pageLimit is the largest page the API serves.
	pageLimit = 50
	// maxPages bounds a list against a server whose cursor never ends.
	maxPages = 1000
)

// Path templates, as metrics label them (slugs would make unbounded labels).
const (
	routeWebhooks = "/apps/{app-slug}/outgoing-webhooks"
	routeWebhook  = "/apps/{app-slug}/outgoing-webhooks/{app-webhook-slug}"
)

func webhooksPath(appSlug string) string {
	return "/apps/" + url.PathEscape(appSlug) + "/outgoing-webhooks"
}

func webhookPath(appSlug, webhookSlug string) string {
	return webhooksPath(appSlug) + "/" + url.PathEscape(webhookSlug)
}

func (t *tokenClient) ListWebhooks(ctx context.Context, appSlug string) ([]Webhook, error) {
	req := request{method: http.MethodGet, path: webhooksPath(appSlug), route: routeWebhooks}
	all := []Webhook{}
	followed := map[string]bool{}
	next := ""
	for range maxPages {
		req.query = url.Values{"limit": {strconv.Itoa(pageLimit)}}
		if next != "" {
			req.query.Set("next", next)
		}
		status, body, err := t.do(ctx, req)
		if err != nil {
			return nil, err
		}
		var page listPage
		if err := json.Unmarshal(body, &page); err != nil {
			return nil, t.unusableAnswer(req, status, "decoding list page: "+err.Error())
		}
		for i := range page.Data {
			w, err := page.Data[i].webhook()
			if err != nil {
				return nil, t.unusableAnswer(req, status, err.Error())
			}
			all = append(all, w)
		}
		next = page.Paging.Next
		if next == "" {
			return all, nil
		}
		if followed[next] {
			return nil, t.unusableAnswer(req, status, fmt.Sprintf("paging.next %q was already followed", next))
		}
		followed[next] = true
	}
	return nil, t.unusableAnswer(req, http.StatusOK, fmt.Sprintf("more than %d pages", maxPages))
}

func (t *tokenClient) CreateWebhook(ctx context.Context, appSlug string, params CreateParams) (*Webhook, error) {
	if params.Headers == nil {
		params.Headers = map[string]string{}
	}
	return t.sendItem(ctx, request{
		method:    http.MethodPost,
		path:      webhooksPath(appSlug),
		route:     routeWebhooks,
		body:      params,
		sensitive: append(headerValues(params.Headers), params.Secret),
	})
}

func (t *tokenClient) UpdateWebhook(ctx context.Context, appSlug, webhookSlug string, params UpdateParams) (*Webhook, error) {
	// The PUT replaces the headers: {} clears them, which is what nil means.
	if params.Headers == nil {
		params.Headers = map[string]string{}
	}
	return t.sendItem(ctx, request{
		method:    http.MethodPut,
		path:      webhookPath(appSlug, webhookSlug),
		route:     routeWebhook,
		body:      params,
		sensitive: headerValues(params.Headers),
	})
}

func (t *tokenClient) DeleteWebhook(ctx context.Context, appSlug, webhookSlug string) error {
	_, _, err := t.do(ctx, request{method: http.MethodDelete, path: webhookPath(appSlug, webhookSlug), route: routeWebhook})
	return err
}

func (t *tokenClient) sendItem(ctx context.Context, req request) (*Webhook, error) {
	status, body, err := t.do(ctx, req)
	if err != nil {
		return nil, err
	}
	w, err := decodeItem(body)
	if err != nil {
		return nil, t.unusableAnswer(req, status, err.Error())
	}
	return w, nil
}

func headerValues(headers map[string]string) []string {
	values := make([]string, 0, len(headers))
	for _, v := range headers {
		values = append(values, v)
	}
	return values
}
