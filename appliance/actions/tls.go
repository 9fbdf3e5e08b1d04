package actions

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"os"
)

// SSL is the "ssl" param of the connectors that can use TLS (EMQX's shape):
// either a boolean (true: TLS with the system roots) or an object.
//
//	"ssl": {"enable": true, "cacertfile": "/etc/wedge/ca.pem", "certfile": "…", "keyfile": "…",
//	        "verify": true, "server_name": "cloud.example.com"}
//
// verify defaults to true; false skips the peer's certificate check (only for
// tests and lab setups: the log says so at start).
type SSL struct {
	Enable     bool   `json:"enable"`
	CACertFile string `json:"cacertfile,omitempty"`
	CertFile   string `json:"certfile,omitempty"`
	KeyFile    string `json:"keyfile,omitempty"`
	Verify     *bool  `json:"verify,omitempty"`
	ServerName string `json:"server_name,omitempty"`
}

// UnmarshalJSON accepts true/false as well as the object form.
func (s *SSL) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch string(b) {
	case "true":
		*s = SSL{Enable: true}
		return nil
	case "false", "null":
		*s = SSL{}
		return nil
	}
	type plain SSL
	var p plain
	p.Enable = true // an object means TLS unless it says "enable": false
	if err := json.Unmarshal(b, &p); err != nil {
		return fmt.Errorf("ssl: want true, false or {enable, cacertfile, certfile, keyfile, verify, server_name}: %w", err)
	}
	*s = SSL(p)
	return nil
}

// Config builds the tls.Config the param describes; nil when TLS is off.
func (s *SSL) Config() (*tls.Config, error) {
	if s == nil || !s.Enable {
		return nil, nil
	}
	c := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: s.ServerName}
	if s.Verify != nil && !*s.Verify {
		c.InsecureSkipVerify = true
	}
	if s.CACertFile != "" {
		pem, err := os.ReadFile(s.CACertFile)
		if err != nil {
			return nil, fmt.Errorf("ssl.cacertfile: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("ssl.cacertfile %s: no PEM certificate in it", s.CACertFile)
		}
		c.RootCAs = pool
	}
	if (s.CertFile == "") != (s.KeyFile == "") {
		return nil, errors.New("ssl: certfile and keyfile go together")
	}
	if s.CertFile != "" {
		pair, err := tls.LoadX509KeyPair(s.CertFile, s.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("ssl.certfile/keyfile: %w", err)
		}
		c.Certificates = []tls.Certificate{pair}
	}
	return c, nil
}
