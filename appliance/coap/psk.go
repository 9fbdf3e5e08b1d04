package coap

import (
	"fmt"

	piondtls "github.com/pion/dtls/v3"
	coapnet "github.com/plgd-dev/go-coap/v3/net"
)

// ListenPSK opens a DTLS listener (PSK cipher suites, the identity as the key lookup) for the
// CoAP gateway and the LwM2M server alike. psk maps identities to keys.
func ListenPSK(addr string, psk map[string][]byte) (*coapnet.DTLSListener, error) {
	cfg := &piondtls.Config{
		PSK: func(hint []byte) ([]byte, error) {
			if k, ok := psk[string(hint)]; ok {
				return k, nil
			}
			return nil, fmt.Errorf("unknown PSK identity %q", hint)
		},
		PSKIdentityHint: []byte("wedge"),
		CipherSuites:    []piondtls.CipherSuiteID{piondtls.TLS_PSK_WITH_AES_128_CCM_8, piondtls.TLS_PSK_WITH_AES_128_CBC_SHA256},
	}
	return coapnet.NewDTLSListener("udp", addr, cfg)
}
