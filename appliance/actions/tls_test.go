package actions_test

import (
	"crypto/tls"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/wedge-iot/wedge/appliance/actions"
	"github.com/wedge-iot/wedge/appliance/actions/internal/testcert"
)

func TestSSLParam(t *testing.T) {
	pair, err := testcert.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	srv.TLS = pair.Server
	srv.StartTLS()
	defer srv.Close()
	get := func(c *tls.Config) error {
		cl := &http.Client{Transport: &http.Transport{TLSClientConfig: c}}
		resp, err := cl.Get(srv.URL)
		if err == nil {
			resp.Body.Close()
		}
		return err
	}
	cases := []struct {
		in      string
		tls     bool
		connect bool // reaches the test server (whose CA only the cacertfile trusts)
		wantErr string
	}{
		{`false`, false, false, ""},
		{`true`, true, false, ""},
		{`{"enable": false, "cacertfile": "x"}`, false, false, ""},
		{`{"cacertfile": ` + jsonStr(pair.CAFile) + `}`, true, true, ""},
		{`{"verify": false}`, true, true, ""},
		{`{"cacertfile": "/nonexistent/ca.pem"}`, false, false, "ssl.cacertfile"},
		{`{"certfile": "a.pem"}`, false, false, "go together"},
		{`"yes"`, false, false, "want true, false or"},
	}
	for _, c := range cases {
		var s actions.SSL
		err := json.Unmarshal([]byte(c.in), &s)
		var tc *tls.Config
		if err == nil {
			tc, err = s.Config()
		}
		if c.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Errorf("%s: want error %q, got %v", c.in, c.wantErr, err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", c.in, err)
		}
		if (tc != nil) != c.tls {
			t.Fatalf("%s: TLS on = %v", c.in, tc != nil)
		}
		if tc != nil {
			if err := get(tc); (err == nil) != c.connect {
				t.Errorf("%s: connect error %v, want success %v", c.in, err, c.connect)
			}
		}
	}
}

func jsonStr(s string) string { b, _ := json.Marshal(s); return string(b) }
