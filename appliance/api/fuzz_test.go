package api

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzParseBasic checks that any Authorization header is either refused or yields credentials
// that encode back to an equivalent header.
func FuzzParseBasic(f *testing.F) {
	for _, s := range []string{"Basic " + b64("admin:pw"), "basic " + b64("a:b:c"), "Basic ", "Bearer x", "Basic " + b64(":"), "Basic ====", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		user, pass, ok := parseBasic(h)
		if !ok {
			if user != "" || pass != "" {
				t.Fatal("refused header returned credentials")
			}
			return
		}
		if user == "" || pass == "" || strings.Contains(user, ":") || !utf8.ValidString(user) || len(user) > maxNameLen || len(pass) > maxSecretLen {
			t.Fatalf("accepted bad credentials %q %q", user, pass)
		}
		u2, p2, ok2 := parseBasic("Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass)))
		if !ok2 || u2 != user || p2 != pass {
			t.Fatalf("round trip: %q %q -> %q %q %v", user, pass, u2, p2, ok2)
		}
	})
}

// FuzzAuthMiddleware sends arbitrary Authorization headers through the real handler: the reply is
// always 401 with the envelope, never a panic or a 5xx.
func FuzzAuthMiddleware(f *testing.F) {
	db := openDB(f, filepath.Join(f.TempDir(), "wedge.db"))
	defer db.Close()
	opts := testOptions(db, io.Discard)
	opts.OnAdminPassword = func(string) {}
	s, err := New(opts)
	if err != nil {
		f.Fatal(err)
	}
	h := s.Handler()
	for _, seed := range []string{"Basic " + b64("admin:wrong"), "Basic " + b64("nobody:x"), "Basic x", "Digest y"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, header string) {
		req := httptest.NewRequest(http.MethodGet, Prefix+"/status", nil)
		req.Header.Set("Authorization", header)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusUnauthorized {
			t.Fatalf("status %d for %q", rec.Code, header)
		}
		var env Envelope
		if err := json.Unmarshal(rec.Body.Bytes(), &env); err != nil || env.Code == 0 || env.Message == "" {
			t.Fatalf("reply %q: %v", rec.Body, err)
		}
	})
}

// FuzzParsePaging checks _page/_limit parsing and that the page window never overflows.
func FuzzParsePaging(f *testing.F) {
	for _, s := range []string{"", "_page=2&_limit=10", "_page=0", "_limit=99999999999999999999", "_page=9223372036854775807&_limit=10000", "_page=-1", "_limit=%zz"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		p, err := ParsePaging(q)
		if err != nil {
			var ae *Error
			if !asError(err, &ae) || ae.Status != http.StatusBadRequest || ae.Code != CodeBadParam {
				t.Fatalf("error %v is not a 400", err)
			}
			return
		}
		if p.Page < 1 || p.Limit < 1 || p.Limit > MaxLimit {
			t.Fatalf("paging %+v out of range", p)
		}
		start, end := p.window()
		if start < 0 || end < start || end-start > p.Limit {
			t.Fatalf("window %d..%d for %+v", start, end, p)
		}
		items, meta := Collect(p, slices.Values([]int{1, 2, 3, 4, 5}))
		if len(items) > p.Limit || meta.Count != 5 || meta.Page != p.Page {
			t.Fatalf("collect: %v %+v", items, meta)
		}
	})
}

// FuzzPublishRequest feeds arbitrary bodies to the publish decoder and validator.
func FuzzPublishRequest(f *testing.F) {
	for _, s := range []string{
		`{"topic":"a/b","payload":"x","qos":1}`,
		`{"topics":"a,b,,a","payload":"AAE=","encoding":"base64"}`,
		`{"topic":"a/#"}`, `{"topic":"","topics":" , "}`, `{"qos":-1,"topic":"t"}`, `[]`, `null`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		var req PublishRequest
		if err := json.Unmarshal([]byte(body), &req); err != nil {
			return
		}
		msgs, err := req.Messages()
		if err != nil {
			var ae *Error
			if !asError(err, &ae) || ae.Status != http.StatusBadRequest {
				t.Fatalf("error %v is not a 400", err)
			}
			return
		}
		if len(msgs) == 0 {
			t.Fatal("no message and no error")
		}
		for _, m := range msgs {
			if ValidTopicName(m.Topic) != nil || m.QoS > 2 {
				t.Fatalf("invalid message accepted: %+v", m)
			}
		}
	})
}

// FuzzExpiry checks the "expired" field's decoder round-trips what it accepts.
func FuzzExpiry(f *testing.F) {
	for _, s := range []string{`0`, `"undefined"`, `null`, `""`, `1700000000`, `"1700000000"`, `-5`, `1.5`, `"x"`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var e Expiry
		if err := json.Unmarshal([]byte(s), &e); err != nil {
			return
		}
		if e < 0 {
			t.Fatalf("negative expiry from %q", s)
		}
		out, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		var back Expiry
		if err := json.Unmarshal(out, &back); err != nil || back != e {
			t.Fatalf("round trip %q -> %s -> %d (%v)", s, out, back, err)
		}
	})
}

// FuzzTopicMatch checks TopicMatch against properties that hold for any filter and name.
func FuzzTopicMatch(f *testing.F) {
	f.Add("a/+/c", "a/b/c")
	f.Add("#", "$SYS/x")
	f.Add("a/#", "a")
	f.Fuzz(func(t *testing.T, filter, name string) {
		got := TopicMatch(filter, name)
		if ValidTopicName(name) == nil && filter == name && !got {
			t.Fatalf("%q does not match itself", name)
		}
		if got && !strings.ContainsAny(filter, "+#") && filter != name {
			t.Fatalf("wildcard-free %q matched %q", filter, name)
		}
		if (filter == "#") && ValidTopicName(name) == nil && !strings.HasPrefix(name, "$") && !got {
			t.Fatalf("# does not match %q", name)
		}
	})
}

func asError(err error, target **Error) bool {
	e, ok := err.(*Error)
	if ok {
		*target = e
	}
	return ok
}

func TestParsePaging(t *testing.T) {
	tests := []struct {
		query string
		want  Paging
		err   bool
	}{
		{"", Paging{1, 10000}, false},
		{"_page=3&_limit=20", Paging{3, 20}, false},
		{"_limit=50000", Paging{1, 10000}, false},
		{"_page=", Paging{1, 10000}, false},
		{"_page=0", Paging{}, true},
		{"_limit=0", Paging{}, true},
		{"_limit=ten", Paging{}, true},
		{"_page=1.5", Paging{}, true},
	}
	for _, tt := range tests {
		q, _ := url.ParseQuery(tt.query)
		got, err := ParsePaging(q)
		if (err != nil) != tt.err || (!tt.err && got != tt.want) {
			t.Errorf("ParsePaging(%q) = %+v, %v", tt.query, got, err)
		}
	}
}

func TestCollect(t *testing.T) {
	all := slices.Values([]int{1, 2, 3, 4, 5, 6, 7})
	tests := []struct {
		p       Paging
		want    []int
		hasNext bool
	}{
		{Paging{1, 10}, []int{1, 2, 3, 4, 5, 6, 7}, false},
		{Paging{1, 3}, []int{1, 2, 3}, true},
		{Paging{3, 3}, []int{7}, false},
		{Paging{2, 7}, []int{}, false},
		{Paging{1 << 62, 10000}, []int{}, false},
	}
	for _, tt := range tests {
		got, meta := Collect(tt.p, all)
		if !slices.Equal(got, tt.want) || got == nil || meta.Count != 7 || meta.HasNext != tt.hasNext ||
			meta.UPage != tt.p.Page || meta.ULimit != tt.p.Limit || meta.Page != tt.p.Page {
			t.Errorf("Collect(%+v) = %v, %+v", tt.p, got, meta)
		}
	}
}

func TestEnvelopeJSON(t *testing.T) {
	for _, tc := range []struct {
		env  Envelope
		want string
	}{
		{Envelope{Code: 0}, `{"code":0}`},
		{Envelope{Code: 0, Data: []int{}}, `{"code":0,"data":[]}`},
		{Envelope{Code: 0, Data: []int{1}, Meta: &Meta{Page: 1, Limit: 2, UPage: 1, ULimit: 2, Count: 3, HasNext: true}},
			`{"code":0,"data":[1],"meta":{"page":1,"limit":2,"_page":1,"_limit":2,"count":3,"hasnext":true}}`},
		{Envelope{Code: 108, Message: "bad"}, `{"code":108,"message":"bad"}`},
	} {
		got, _ := json.Marshal(tc.env)
		if string(got) != tc.want {
			t.Errorf("got %s, want %s", got, tc.want)
		}
	}
}

func TestVerifyHonoursContext(t *testing.T) {
	env := newEnv(t, nil)
	a := env.s.auth
	// Hold every bcrypt slot: a cancelled request gives up instead of waiting.
	for range cap(a.sem) {
		a.sem <- struct{}{}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := a.verify(ctx, AdminUser, "whatever"); err == nil || err == errBadCredentials {
		t.Fatalf("verify with a cancelled context: %v", err)
	}
}
