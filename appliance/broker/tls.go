package broker

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync/atomic"

	"github.com/wedge-iot/wedge/appliance/config"
)

// ErrChainTooDeep is returned (and logged) when a client certificate chain has more
// intermediate CAs than mqtt.tls.verify_depth allows.
var ErrChainTooDeep = errors.New("client certificate chain exceeds verify_depth")

// TLSConfig builds the MQTT/TLS listener's configuration: the server certificate, and when a
// CA bundle is given, client-certificate verification (required when verify_peer is set,
// optional otherwise) limited to verify_depth intermediate CAs, OpenSSL's meaning of the depth.
// refused counts handshakes refused for depth.
func TLSConfig(c config.TLS, log *slog.Logger, refused *atomic.Int64) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(c.Cert, c.Key)
	if err != nil {
		return nil, fmt.Errorf("mqtt.tls: load cert/key: %w", err)
	}
	tc := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if c.CACert == "" {
		return tc, nil
	}
	pem, err := os.ReadFile(c.CACert)
	if err != nil {
		return nil, fmt.Errorf("mqtt.tls.cacert: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("mqtt.tls.cacert: no certificate in %s", c.CACert)
	}
	tc.ClientCAs = pool
	tc.ClientAuth = tls.VerifyClientCertIfGiven
	if c.VerifyPeer {
		tc.ClientAuth = tls.RequireAndVerifyClientCert
	}
	depth := c.VerifyDepth
	tc.VerifyPeerCertificate = func(_ [][]byte, chains [][]*x509.Certificate) error {
		if len(chains) == 0 {
			return nil // no client certificate, and none required
		}
		shortest := -1
		for _, ch := range chains {
			n := len(ch) - 2 // leaf and root excluded: the intermediates
			if n < 0 {
				n = 0
			}
			if shortest < 0 || n < shortest {
				shortest = n
			}
		}
		if shortest > depth {
			refused.Add(1)
			leaf := chains[0][0]
			log.Warn("TLS client refused: certificate chain too deep",
				"subject", leaf.Subject.String(), "intermediates", shortest, "verify_depth", depth)
			return fmt.Errorf("%w: %d intermediate CAs, verify_depth %d", ErrChainTooDeep, shortest, depth)
		}
		return nil
	}
	return tc, nil
}
