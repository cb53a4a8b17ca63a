package smoke

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// maxBody bounds what is read of an answer: the API refuses bodies over
// 1 MiB, and no answer the smoke test reads comes near that.
const maxBody = 1 << 20

// client sends the smoke test's requests: JSON in and out, one timeout per
// request, no redirects followed (a redirect, such as http to https, is
// reported as the status it is rather than silently re-sent without its
// credentials).
type client struct {
	base string // scheme://host[:port][/prefix], without /api/v1
	http *http.Client
}

func newClient(base string, timeout time.Duration) *client {
	return &client{
		base: base,
		http: &http.Client{
			Timeout:       timeout,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}
}

// HTTPError is an answer with another status than the step expected. Title
// and Detail come from the problem+json body when there is one (else Title
// is the status text). Its message never quotes the request, so no
// credential can reach it.
type HTTPError struct {
	Method, Path string
	Status, Want int
	Title        string
	Detail       string
}

func (e *HTTPError) Error() string {
	msg := fmt.Sprintf("%s %s: HTTP %d (want %d): %s", e.Method, e.Path, e.Status, e.Want, e.Title)
	if e.Detail != "" && e.Detail != e.Title {
		msg += ": " + e.Detail
	}
	return msg
}

// answer is one HTTP answer, its body read.
type answer struct {
	method, path string
	status       int
	header       http.Header
	body         []byte
}

// send sends method path (under /api/v1) with cred as the bearer token or
// API key ("" for none) and body as JSON (nil for none). An error means no
// answer came (or it could not be read).
func (c *client) send(ctx context.Context, method, path, cred string, body any) (*answer, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, fmt.Errorf("encode request: %w", err)
		}
		rd = bytes.NewReader(b)
	}
	path = "/api/v1" + path
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	req.Header.Set("Accept", "application/json, application/problem+json")
	req.Header.Set("User-Agent", "parkctl-smoke")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if cred != "" {
		req.Header.Set("Authorization", "Bearer "+cred)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		// *url.Error repeats the method and the whole URL; say it once.
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err
		}
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return nil, fmt.Errorf("%s %s: HTTP %d: read answer: %w", method, path, resp.StatusCode, err)
	}
	return &answer{method: method, path: path, status: resp.StatusCode, header: resp.Header, body: data}, nil
}

// expect checks that the answer has status want, and then decodes its
// JSON body into out (unless out is nil). Another status is an *HTTPError.
func (a *answer) expect(want int, out any) error {
	if a.status != want {
		return a.problem(want)
	}
	return a.decode(out)
}

// decode reads the JSON body into out (nothing when out is nil).
func (a *answer) decode(out any) error {
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(a.body, out); err != nil {
		return fmt.Errorf("%s %s: HTTP %d: the answer is not the expected JSON: %w", a.method, a.path, a.status, err)
	}
	return nil
}

// fail reports an answer of the expected status whose content is wrong.
func (a *answer) fail(format string, args ...any) error {
	return fmt.Errorf("%s %s: HTTP %d: %s", a.method, a.path, a.status, fmt.Sprintf(format, args...))
}

// problem builds the *HTTPError of an unexpected answer, reading the
// RFC 9457 problem when the body is one.
func (a *answer) problem(want int) error {
	e := &HTTPError{Method: a.method, Path: a.path, Status: a.status, Want: want, Title: http.StatusText(a.status)}
	mt, _, _ := mime.ParseMediaType(a.header.Get("Content-Type"))
	if mt == "application/problem+json" || mt == "application/json" {
		var p struct {
			Title  string              `json:"title"`
			Detail string              `json:"detail"`
			Errors map[string][]string `json:"errors"`
		}
		if json.Unmarshal(a.body, &p) == nil {
			if p.Title != "" {
				e.Title = oneLine(p.Title)
			}
			e.Detail = oneLine(p.Detail)
			for _, field := range slices.Sorted(maps.Keys(p.Errors)) {
				e.Detail += fmt.Sprintf("; %s: %s", field, oneLine(strings.Join(p.Errors[field], ", ")))
			}
			e.Detail = strings.TrimPrefix(e.Detail, "; ")
		}
	}
	if e.Title == "" {
		e.Title = "unexpected answer"
	}
	return e
}

// oneLine keeps a server's text on one line and short.
func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}
