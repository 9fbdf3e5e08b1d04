package e2e

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// listenerAddr reads a listener's bound address from /api/v4/status.
func (d *daemon) listenerAddr(t *testing.T, proto string) string {
	t.Helper()
	var st struct {
		Data struct {
			Listeners []struct{ Protocol, Listen string }
		}
	}
	if err := json.Unmarshal([]byte(d.apiGet(t, "/api/v4/status")), &st); err != nil {
		t.Fatal(err)
	}
	for _, l := range st.Data.Listeners {
		if l.Protocol == proto {
			return l.Listen
		}
	}
	t.Fatalf("no %s listener in /api/v4/status", proto)
	return ""
}

func coapClient(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("coap-client-notls")
	if err != nil {
		t.Skip("SKIPPED LOUDLY: libcoap3-bin is not installed (apt-get install libcoap3-bin); CoAP interop through the binary not tested")
	}
	return p
}

// TestCoAPGatewayThroughBinary: Debian's libcoap client publishes through the running daemon's
// CoAP gateway and an MQTT subscriber receives it; an LwM2M endpoint registered with libcoap
// appears in the REST API.
func TestCoAPGatewayThroughBinary(t *testing.T) {
	cc := coapClient(t)
	d := start(t, startOpt{})
	sub, _ := dialMQTT(t, d.mqtt, "coap-watcher", true)
	sub.subscribe("sensors/#", 0)
	coapAddr := d.listenerAddr(t, "coap:udp")
	out, err := exec.Command(cc, "-m", "put", "-e", "21.5", "coap://"+coapAddr+"/mqtt/sensors/t1?c=dev1").CombinedOutput()
	if err != nil {
		t.Fatalf("coap-client: %v %s", err, out)
	}
	topic, payload, _, err := sub.message(5 * time.Second)
	if err != nil || topic != "sensors/t1" || payload != "21.5" {
		t.Fatalf("MQTT got %q %q %v", topic, payload, err)
	}

	lw := d.listenerAddr(t, "lwm2m:udp")
	out, err = exec.Command(cc, "-m", "post", "-t", "40", "-e", "</1/0>,</3/0>,</5/0>",
		"coap://"+lw+"/rd?ep=e2e-sensor&lt=300&lwm2m=1.0&b=U").CombinedOutput()
	if err != nil {
		t.Fatalf("register: %v %s", err, out)
	}
	body := d.apiGet(t, "/api/v4/lwm2m/clients")
	if !strings.Contains(body, `"endpoint":"e2e-sensor"`) || !strings.Contains(body, `"lifetime":300`) {
		t.Fatalf("registered endpoint not listed: %s", body)
	}
}
