package broker

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/wedge-iot/wedge/appliance/config"
)

type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	der  []byte
}

var serial int64 = 1

func issue(t *testing.T, parent *testCA, cn string, isCA bool, dns ...string) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial++
	tpl := &x509.Certificate{
		SerialNumber:          big.NewInt(serial),
		Subject:               pkix.Name{CommonName: cn},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		BasicConstraintsValid: true,
		IsCA:                  isCA,
		DNSNames:              dns,
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth},
	}
	signer, signKey := tpl, key
	if parent != nil {
		signer, signKey = parent.cert, parent.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tpl, signer, &key.PublicKey, signKey)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return &testCA{cert: c, key: key, der: der}
}

func writePEM(t *testing.T, dir, name string, blocks ...*pem.Block) string {
	t.Helper()
	p := filepath.Join(dir, name)
	var out []byte
	for _, b := range blocks {
		out = append(out, pem.EncodeToMemory(b)...)
	}
	if err := os.WriteFile(p, out, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func keyPEM(t *testing.T, k *ecdsa.PrivateKey) *pem.Block {
	b, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return &pem.Block{Type: "EC PRIVATE KEY", Bytes: b}
}

func certPEM(c *testCA) *pem.Block { return &pem.Block{Type: "CERTIFICATE", Bytes: c.der} }

// TestTLSVerifyDepth: a client chain with three intermediate CAs is refused at
// verify_depth 2 (with a counted, logged refusal) and accepted at verify_depth 3.
func TestTLSVerifyDepth(t *testing.T) {
	dir := t.TempDir()
	root := issue(t, nil, "root", true)
	server := issue(t, root, "server", false, "localhost")
	i1 := issue(t, root, "int1", true)
	i2 := issue(t, i1, "int2", true)
	i3 := issue(t, i2, "int3", true)
	leaf := issue(t, i3, "device-1", false)

	caFile := writePEM(t, dir, "ca.pem", certPEM(root))
	srvCert := writePEM(t, dir, "server.pem", certPEM(server))
	srvKey := writePEM(t, dir, "server.key", keyPEM(t, server.key))

	clientCert := tls.Certificate{Certificate: [][]byte{leaf.der, i3.der, i2.der, i1.der}, PrivateKey: leaf.key}
	pool := x509.NewCertPool()
	pool.AddCert(root.cert)

	for _, tc := range []struct {
		depth int
		ok    bool
	}{{2, false}, {3, true}} {
		b := testBroker(t, func(c *config.MQTT) {
			c.TLS = config.TLS{Listen: "127.0.0.1:0", Cert: srvCert, Key: srvKey, CACert: caFile, VerifyPeer: true, VerifyDepth: tc.depth}
		})
		conn, err := tls.Dial("tcp", b.Addr("tls"), &tls.Config{RootCAs: pool, ServerName: "localhost",
			Certificates: []tls.Certificate{clientCert}})
		if err == nil {
			err = conn.Handshake()
		}
		if err == nil {
			// TLS 1.3 reports the server's refusal of our certificate on the first read.
			r := &raw{t: t, c: conn, r: newBufReader(conn), ver: 5}
			r.send(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Connect},
				Connect: packets.ConnectParams{ProtocolName: []byte("MQTT"), ClientIdentifier: "tls", Keepalive: 10, Clean: true}})
			var pk packets.Packet
			pk, err = r.recv(3 * time.Second)
			if err == nil && pk.FixedHeader.Type != packets.Connack {
				t.Fatalf("depth %d: unexpected packet %d", tc.depth, pk.FixedHeader.Type)
			}
			conn.Close()
		}
		if tc.ok && err != nil {
			t.Fatalf("verify_depth %d: chain of 3 intermediates refused: %v", tc.depth, err)
		}
		if !tc.ok {
			if err == nil {
				t.Fatalf("verify_depth %d: chain of 3 intermediates accepted", tc.depth)
			}
			waitFor(t, func() bool { return b.Stats().TLSDepthRefused == 1 }, "depth refusal counted")
		}
	}

	// No client certificate at all with verify_peer: refused.
	b := testBroker(t, func(c *config.MQTT) {
		c.TLS = config.TLS{Listen: "127.0.0.1:0", Cert: srvCert, Key: srvKey, CACert: caFile, VerifyPeer: true, VerifyDepth: 10}
	})
	conn, err := tls.Dial("tcp", b.Addr("tls"), &tls.Config{RootCAs: pool, ServerName: "localhost"})
	if err == nil {
		_ = conn.SetReadDeadline(time.Now().Add(3 * time.Second))
		_, err = conn.Read(make([]byte, 1))
		conn.Close()
	}
	if err == nil {
		t.Fatal("a client without certificate was accepted with verify_peer")
	}
}
