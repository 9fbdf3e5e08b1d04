package lwm2m

import (
	"context"
	"log/slog"
	"time"

	"github.com/wedge-iot/wedge/appliance/broker"
	"github.com/wedge-iot/wedge/appliance/config"
	"github.com/wedge-iot/wedge/appliance/lwm2m/model"
)

// Broker is what the server needs from the MQTT broker; *broker.Broker implements it.
type Broker interface {
	Publish(r broker.PublishRequest) error
	Subscribe(filter string, id int, fn func(broker.Delivery)) error
	Unsubscribe(filter string, id int) error
}

// Auth decides whether a device may register (Authenticate) and may publish or subscribe to a
// topic (Authorize). broker.Policy implements it; nil allows everything.
type Auth interface {
	Authenticate(ctx context.Context, c broker.ClientInfo, password []byte) (allow, superuser bool)
	Authorize(ctx context.Context, c broker.ClientInfo, access broker.Access, topic string) bool
}

// Topics are the MQTT topic suffixes below the mountpoint (EMQX 4.2 defaults in DefaultTopics).
type Topics struct {
	Command  string // subscribed for downlink commands, "dn/#"
	Response string // command responses, "up/resp"
	Notify   string // observe notifications, "up/notify"
	Register string // register (and deregister/expiry) events, "up/resp"
	Update   string // update events, "up/resp"
}

// DefaultTopics are EMQX 4.2's topic suffixes.
var DefaultTopics = Topics{Command: "dn/#", Response: "up/resp", Notify: "up/notify", Register: "up/resp", Update: "up/resp"}

// Options configure a Server. Zero values take the defaults of Default().
type Options struct {
	// Listen is the UDP address ("127.0.0.1:5783"); empty disables plain CoAP.
	Listen string
	// DTLSListen is the DTLS address; it is opened when PSK holds at least one identity.
	DTLSListen string
	// PSK maps PSK identities to keys (raw bytes). A registering endpoint over DTLS must use its
	// own name as identity unless AnyPSKIdentity is set.
	PSK            map[string][]byte
	AnyPSKIdentity bool
	// LifetimeMin and LifetimeMax bound the registration lifetime (lt); outside: 4.00.
	LifetimeMin, LifetimeMax time.Duration
	// QModeTimeWindow is how long a queue-mode device is considered awake after an uplink.
	QModeTimeWindow time.Duration
	// AutoObserve observes the object list's instances after registration (objects
	// 0,1,2,4,5,6,7,9,15 skipped) or, when AutoObservePaths is set, those paths.
	AutoObserve      bool
	AutoObservePaths []string
	AutoObserveDelay time.Duration
	// Mountpoint prefixes every topic; %e is the endpoint name, %a the peer's IP.
	Mountpoint string
	Topics     Topics
	// UpdatePublishAlways publishes every Update; otherwise only Updates carrying an object list.
	UpdatePublishAlways bool
	// RequestTimeout bounds one CoAP exchange with a device (retransmissions included).
	RequestTimeout time.Duration
	// QueueLimit bounds the commands waiting for one device; more are dropped and counted.
	QueueLimit int
	// XMLDir is a folder of extra OMA object definition files loaded at start.
	XMLDir string
	// Registry is the object model (default: the standard objects).
	Registry *model.Registry
	Broker   Broker
	Auth     Auth
	Logger   *slog.Logger
}

// Default returns the options with EMQX 4.2's defaults (lifetime 1 s to 86400 s, queue window
// 22 s, mountpoint lwm2m/%e/).
func Default() Options {
	return Options{
		Listen: "0.0.0.0:5783", DTLSListen: "0.0.0.0:5784",
		LifetimeMin: time.Second, LifetimeMax: 86400 * time.Second,
		QModeTimeWindow: 22 * time.Second, AutoObserveDelay: 2 * time.Second,
		Mountpoint: "lwm2m/%e/", Topics: DefaultTopics,
		RequestTimeout: 30 * time.Second, QueueLimit: 100,
	}
}

// FromConfig returns the options of the lwm2m section of the configuration.
func FromConfig(c config.LwM2M) Options {
	o := Default()
	o.Listen, o.DTLSListen = c.Listen, c.DTLSListen
	if len(c.PSK) > 0 {
		o.PSK = map[string][]byte{}
		for id, k := range c.PSK {
			o.PSK[id] = config.PSKBytes(k)
		}
	}
	o.LifetimeMin, o.LifetimeMax = c.LifetimeMin, c.LifetimeMax
	o.QModeTimeWindow = c.QModeTimeWindow
	o.AutoObserve, o.AutoObservePaths = c.AutoObserve, c.AutoObservePaths
	o.Mountpoint = c.Mountpoint
	o.Topics = Topics{Command: c.Topics.Command, Response: c.Topics.Response, Notify: c.Topics.Notify,
		Register: c.Topics.Register, Update: c.Topics.Update}
	o.UpdatePublishAlways = c.UpdateMsgPublishCondition == "always"
	o.XMLDir = c.XMLDir
	return o
}

func (o *Options) fill() {
	d := Default()
	if o.LifetimeMin <= 0 {
		o.LifetimeMin = d.LifetimeMin
	}
	if o.LifetimeMax <= 0 {
		o.LifetimeMax = d.LifetimeMax
	}
	if o.QModeTimeWindow <= 0 {
		o.QModeTimeWindow = d.QModeTimeWindow
	}
	if o.AutoObserveDelay <= 0 {
		o.AutoObserveDelay = d.AutoObserveDelay
	}
	if o.Mountpoint == "" {
		o.Mountpoint = d.Mountpoint
	}
	t := &o.Topics
	for _, f := range []struct {
		p *string
		d string
	}{{&t.Command, d.Topics.Command}, {&t.Response, d.Topics.Response},
		{&t.Notify, d.Topics.Notify}, {&t.Register, d.Topics.Register}, {&t.Update, d.Topics.Update}} {
		if *f.p == "" {
			*f.p = f.d
		}
	}
	if o.RequestTimeout <= 0 {
		o.RequestTimeout = d.RequestTimeout
	}
	if o.QueueLimit <= 0 {
		o.QueueLimit = d.QueueLimit
	}
	if o.Registry == nil {
		o.Registry = model.NewRegistry()
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
}
