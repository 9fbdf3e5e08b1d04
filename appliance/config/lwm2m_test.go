package config

import (
	"strings"
	"testing"
	"time"
)

func TestCoAPAndLwM2MKeys(t *testing.T) {
	c := Default()
	if c.CoAP.Keepalive != 120*time.Second || c.LwM2M.LifetimeMax != 86400*time.Second || c.LwM2M.QModeTimeWindow != 22*time.Second ||
		c.LwM2M.Mountpoint != "lwm2m/%e/" || c.LwM2M.Topics.Command != "dn/#" || c.LwM2M.Topics.Notify != "up/notify" ||
		c.LwM2M.UpdateMsgPublishCondition != "contains_object_list" || c.LwM2M.DTLSListen != "0.0.0.0:5784" || c.CoAP.DTLSListen != "0.0.0.0:5684" {
		t.Fatalf("defaults %+v %+v", c.CoAP, c.LwM2M)
	}
	p := writeFile(t, "lwm2m:\n  psk:\n    dev1: hex:0a0b\n  auto_observe_paths: [/3/0/9]\n  topics:\n    update: up/update\n")
	got, _, err := Load(p, []string{"WEDGE_LWM2M_LIFETIME_MIN=15s", "WEDGE_COAP_PSK={gw: secret}"}, Overrides{})
	if err != nil {
		t.Fatal(err)
	}
	if string(PSKBytes(got.LwM2M.PSK["dev1"])) != "\x0a\x0b" || got.LwM2M.LifetimeMin != 15*time.Second ||
		got.LwM2M.Topics.Update != "up/update" || got.LwM2M.AutoObservePaths[0] != "/3/0/9" || string(PSKBytes(got.CoAP.PSK["gw"])) != "secret" {
		t.Fatalf("loaded %+v %+v", got.LwM2M, got.CoAP)
	}
	for _, tc := range []struct{ file, key string }{
		{"lwm2m:\n  lifetime_min: 10s\n  lifetime_max: 5s\n", "lwm2m.lifetime_max"},
		{"lwm2m:\n  mountpoint: \"lwm2m/+/\"\n", "lwm2m.mountpoint"},
		{"lwm2m:\n  topics:\n    response: \"\"\n", "lwm2m.topics.response"},
		{"lwm2m:\n  update_msg_publish_condition: sometimes\n", "lwm2m.update_msg_publish_condition"},
		{"lwm2m:\n  psk:\n    dev1: hex:zz\n", "lwm2m.psk"},
		{"lwm2m:\n  psk:\n    dev1: k\n  dtls_listen: \"\"\n", "lwm2m.dtls_listen"},
		{"coap:\n  keepalive: 0s\n", "coap.keepalive"},
		{"coap:\n  dtls_listen: nonsense\n", "coap.dtls_listen"},
	} {
		_, _, err := Load(writeFile(t, tc.file), nil, Overrides{})
		if err == nil || !strings.Contains(err.Error(), tc.key) {
			t.Errorf("%q: error %v does not name %s", tc.file, err, tc.key)
		}
	}
}
