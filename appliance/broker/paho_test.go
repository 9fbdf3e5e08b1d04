package broker

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	pahov3 "github.com/eclipse/paho.mqtt.golang"
)

// Interop with the Eclipse Paho clients: MQTT 3.1.1 (paho.mqtt.golang, over TCP and
// WebSocket) and MQTT 5 (paho.golang).

func TestPahoV311TCPAndWebSocket(t *testing.T) {
	b := testBroker(t, nil)
	for _, u := range []string{"tcp://" + b.Addr("tcp"), "ws://" + b.Addr("ws") + "/mqtt"} {
		got := make(chan string, 10)
		sub := pahov3.NewClient(pahov3.NewClientOptions().AddBroker(u).SetClientID("sub311").SetCleanSession(true))
		if tk := sub.Connect(); !tk.WaitTimeout(5*time.Second) || tk.Error() != nil {
			t.Fatalf("%s: connect: %v", u, tk.Error())
		}
		if tk := sub.Subscribe("p3/#", 1, func(_ pahov3.Client, m pahov3.Message) { got <- string(m.Payload()) }); !tk.WaitTimeout(5*time.Second) || tk.Error() != nil {
			t.Fatalf("subscribe: %v", tk.Error())
		}
		pub := pahov3.NewClient(pahov3.NewClientOptions().AddBroker(u).SetClientID("pub311"))
		if tk := pub.Connect(); !tk.WaitTimeout(5*time.Second) || tk.Error() != nil {
			t.Fatalf("connect: %v", tk.Error())
		}
		if tk := pub.Publish("p3/x", 1, false, "hello"); !tk.WaitTimeout(5*time.Second) || tk.Error() != nil {
			t.Fatalf("publish: %v", tk.Error())
		}
		select {
		case m := <-got:
			if m != "hello" {
				t.Fatalf("%s: got %q", u, m)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%s: nothing received", u)
		}
		pub.Disconnect(100)
		sub.Disconnect(100)
	}
}

func TestPahoV5(t *testing.T) {
	b := testBroker(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	dial := func(id string, onMsg func(paho.PublishReceived) (bool, error)) *paho.Client {
		conn, err := net.Dial("tcp", b.Addr("tcp"))
		if err != nil {
			t.Fatal(err)
		}
		cfg := paho.ClientConfig{Conn: conn, ClientID: id}
		if onMsg != nil {
			cfg.OnPublishReceived = []func(paho.PublishReceived) (bool, error){onMsg}
		}
		c := paho.NewClient(cfg)
		ca, err := c.Connect(ctx, &paho.Connect{ClientID: id, KeepAlive: 30, CleanStart: true})
		if err != nil || ca.ReasonCode != 0 {
			t.Fatalf("connect %s: %v %+v", id, err, ca)
		}
		t.Cleanup(func() { _ = c.Disconnect(&paho.Disconnect{}) })
		return c
	}
	got := make(chan *paho.Publish, 1)
	sub := dial("sub5", func(pr paho.PublishReceived) (bool, error) { got <- pr.Packet; return true, nil })
	if _, err := sub.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "p5/#", QoS: 2}}}); err != nil {
		t.Fatal(err)
	}
	pub := dial("pub5", nil)
	if _, err := pub.Publish(ctx, &paho.Publish{Topic: "p5/x", QoS: 2, Payload: []byte("v5"),
		Properties: &paho.PublishProperties{User: paho.UserProperties{{Key: "k", Value: "v"}}, ContentType: "text/plain"}}); err != nil {
		t.Fatal(err)
	}
	select {
	case m := <-got:
		if string(m.Payload) != "v5" || m.QoS != 2 || m.Properties.User.Get("k") != "v" || m.Properties.ContentType != "text/plain" {
			t.Fatalf("received %+v %+v", m, m.Properties)
		}
	case <-ctx.Done():
		t.Fatal("nothing received")
	}
}
