package rulesapi

import (
	"fmt"
	"sync"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/wedge-iot/wedge/appliance/broker"
	"github.com/wedge-iot/wedge/rules"
	"github.com/wedge-iot/wedge/rules/engine"
)

// localListener is the listener id of messages wedge publishes itself
// (mochi's inline client).
const localListener = "local"

// Attach feeds the broker's publishes (an interceptor) and client and
// session events (a listener) to the engine. The listener is added once the
// first rule on an $events/ topic exists (and then stays): until then the
// broker builds no event for the engine, which saves it work on every
// delivery.
func Attach(e *engine.Engine, b *broker.Broker) {
	b.AddInterceptor(Interceptor{E: e})
	var once sync.Once
	check := func() {
		if e.HasEventRules() {
			once.Do(func() { b.AddListener(Listener{E: e}) })
		}
	}
	e.OnChange(check)
	check()
}

// eventNames maps the broker's event types to the engine's event names.
var eventNames = func() map[broker.EventType]string {
	m := map[broker.EventType]string{}
	for _, t := range []broker.EventType{broker.EventClientConnected, broker.EventClientDisconnected,
		broker.EventSessionSubscribed, broker.EventSessionUnsubscribed, broker.EventMessageDelivered,
		broker.EventMessageAcked, broker.EventMessageDropped} {
		if name, ok := rules.EventName("$events/" + string(t)); ok {
			m[t] = name
		}
	}
	return m
}()

// Interceptor is a broker.Interceptor running the engine's rules on each
// publish, on the publisher's goroutine.
type Interceptor struct{ E *engine.Engine }

// Wants implements broker.TopicFilter: whether a rule's FROM matches topic.
func (ic Interceptor) Wants(topic string) bool { return ic.E.Wants(topic) }

// WantsAny implements broker.TopicFilter: whether any rule reads publishes.
func (ic Interceptor) WantsAny() bool { return ic.E.WantsAny() }

// OnMessage implements broker.Interceptor.
func (ic Interceptor) OnMessage(m *broker.Message) broker.Hold {
	em := engine.Message{
		ID: m.ID, ClientID: m.Client.ClientID, Username: m.Client.Username, PeerHost: m.Client.PeerHost,
		PeerPort: m.Client.PeerPort, Protocol: m.Client.Protocol, ProtoVer: m.Client.ProtoVer,
		Topic: m.Topic, Payload: m.Payload, QoS: m.QoS, Retain: m.Retain, Received: m.Received,
		Local: m.Client.Listener == localListener,
	}
	if len(m.Properties) > 0 {
		em.Properties = make([]engine.Property, len(m.Properties))
		for i, p := range m.Properties {
			em.Properties[i] = engine.Property{Key: p.Key, Value: p.Value}
		}
	}
	if h := ic.E.HandleMessage(&em); h != nil {
		return h
	}
	return nil
}

// Listener is a broker.Listener running the engine's event rules.
type Listener struct{ E *engine.Engine }

// OnEvent implements broker.Listener.
func (l Listener) OnEvent(ev broker.Event) {
	name, ok := eventNames[ev.Type]
	if !ok {
		return
	}
	l.E.HandleEvent(&engine.Event{
		Name: name, ClientID: ev.Client.ClientID, Username: ev.Client.Username, PeerHost: ev.Client.PeerHost,
		PeerPort: ev.Client.PeerPort, Protocol: ev.Client.Protocol, ProtoVer: ev.Client.ProtoVer, Time: ev.Time,
		Reason: ev.Reason, Topic: ev.Topic, QoS: ev.QoS, Payload: ev.Payload, Keepalive: ev.Keepalive,
		CleanStart: ev.CleanStart, ExpiryInterval: ev.ExpiryInterval, FromClientID: ev.From,
	})
}

// Publisher publishes the engine's messages through the broker. It is
// broker.Publish without its cost per message: broker.Publish makes a new
// mochi client (with its write queue channel) for every message, which was a
// quarter of the CPU of the republish benchmark; Publisher keeps one inline
// client per origin client id (one per action instance and republish hop,
// so a bounded number).
type Publisher struct {
	b       *broker.Broker
	clients sync.Map // client id → *mqtt.Client
}

// NewPublisher returns the engine.Publisher of a broker.
func NewPublisher(b *broker.Broker) *Publisher { return &Publisher{b: b} }

// Publish implements engine.Publisher.
func (p *Publisher) Publish(m engine.Publish) error {
	if m.Topic == "" || !mqtt.IsValidFilter(m.Topic, true) {
		return broker.ErrInvalidTopic
	}
	if m.QoS > 2 {
		return fmt.Errorf("invalid qos %d", m.QoS)
	}
	srv := p.b.Server()
	id := m.ClientID
	if id == "" {
		id = mqtt.InlineClientId
	}
	v, ok := p.clients.Load(id)
	if !ok {
		v, _ = p.clients.LoadOrStore(id, srv.NewClient(nil, mqtt.LocalListener, id, true))
	}
	pk := packets.Packet{
		FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: m.QoS, Retain: m.Retain},
		TopicName:   m.Topic,
		Payload:     m.Payload,
	}
	if m.QoS > 0 {
		pk.PacketID = 1 // required by validation; the inline client keeps no QoS state
	}
	for _, up := range m.Properties {
		pk.Properties.User = append(pk.Properties.User, packets.UserProperty{Key: up.Key, Val: up.Value})
	}
	return srv.InjectPacket(v.(*mqtt.Client), pk)
}
