package e2e

import (
	"bytes"
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// mosquittoClients returns the paths of Debian's mosquitto_pub and mosquitto_sub, or skips
// loudly (make test installs the mosquitto-clients package when it runs as root).
func mosquittoClients(t *testing.T) (pub, sub string) {
	t.Helper()
	pub, err1 := exec.LookPath("mosquitto_pub")
	sub, err2 := exec.LookPath("mosquitto_sub")
	if err1 != nil || err2 != nil {
		t.Skip("SKIPPED LOUDLY: mosquitto-clients is not installed (apt-get install mosquitto-clients); interop with mosquitto_pub/mosquitto_sub not tested")
	}
	return pub, sub
}

// TestMosquittoClientsInterop: Debian's mosquitto_sub receives through wedge what
// mosquitto_pub publishes, for MQTT 3.1.1 and 5, QoS 0, 1 and 2, and a retained message.
func TestMosquittoClientsInterop(t *testing.T) {
	pubBin, subBin := mosquittoClients(t)
	d := start(t, startOpt{})
	host, port := splitAddr(t, d.mqtt)
	for _, ver := range []string{"mqttv311", "mqttv5"} {
		for _, qos := range []string{"0", "1", "2"} {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			topic := "interop/" + ver + "/" + qos
			var out bytes.Buffer
			sub := exec.CommandContext(ctx, subBin, "-h", host, "-p", port, "-V", ver, "-q", qos, "-t", topic, "-C", "1", "-v", "-i", "msub-"+ver+qos)
			sub.Stdout = &out
			if err := sub.Start(); err != nil {
				t.Fatal(err)
			}
			waitSubscribed(t, d, "msub-"+ver+qos)
			if b, err := exec.CommandContext(ctx, pubBin, "-h", host, "-p", port, "-V", ver, "-q", qos, "-t", topic, "-m", "hello "+qos).CombinedOutput(); err != nil {
				t.Fatalf("mosquitto_pub %s q%s: %v %s", ver, qos, err, b)
			}
			if err := sub.Wait(); err != nil {
				t.Fatalf("mosquitto_sub %s q%s: %v", ver, qos, err)
			}
			cancel()
			if got := strings.TrimSpace(out.String()); got != topic+" hello "+qos {
				t.Fatalf("%s q%s: got %q", ver, qos, got)
			}
		}
	}
	// Retained, read back by a late mosquitto_sub.
	if b, err := exec.Command(pubBin, "-h", host, "-p", port, "-t", "interop/retained", "-m", "kept", "-r", "-q", "1").CombinedOutput(); err != nil {
		t.Fatalf("%v %s", err, b)
	}
	out, err := exec.Command(subBin, "-h", host, "-p", port, "-t", "interop/retained", "-C", "1", "-W", "5").Output()
	if err != nil || strings.TrimSpace(string(out)) != "kept" {
		t.Fatalf("retained via mosquitto_sub: %q %v", out, err)
	}
}

func splitAddr(t *testing.T, a string) (string, string) {
	i := strings.LastIndex(a, ":")
	return a[:i], a[i+1:]
}

// waitSubscribed polls the REST API's subscription list until the client has subscribed.
func waitSubscribed(t *testing.T, d *daemon, clientID string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if strings.Contains(d.apiGet(t, "/api/v4/subscriptions/"+clientID), `"topic"`) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s never subscribed", clientID)
}
