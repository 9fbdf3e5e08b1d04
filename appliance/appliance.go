package appliance

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"go.etcd.io/bbolt"

	"github.com/wedge-iot/wedge/appliance/api"
	"github.com/wedge-iot/wedge/appliance/broker"
	"github.com/wedge-iot/wedge/appliance/broker/store"
	"github.com/wedge-iot/wedge/appliance/coap"
	"github.com/wedge-iot/wedge/appliance/config"
	"github.com/wedge-iot/wedge/appliance/lwm2m"
	"github.com/wedge-iot/wedge/appliance/lwm2m/lwm2mapi"
	"github.com/wedge-iot/wedge/appliance/outbox"
	"github.com/wedge-iot/wedge/appliance/outboxapi"
	"github.com/wedge-iot/wedge/appliance/resources"
	"github.com/wedge-iot/wedge/appliance/ruleactions"
	"github.com/wedge-iot/wedge/appliance/rulesapi"
	"github.com/wedge-iot/wedge/rules"
	"github.com/wedge-iot/wedge/rules/engine"
	"github.com/wedge-iot/wedge/wasm"
)

// Options configure an Appliance.
type Options struct {
	Config *config.Config
	// Logger and Level: the level is changed in place by a reload of log.level.
	Logger *slog.Logger
	Level  *slog.LevelVar
	// Version is shown by the API (e.g. "0.1.0").
	Version string
	// OnAdminPassword receives the admin password generated on the first start.
	OnAdminPassword func(string)
}

// Appliance is a running wedge daemon.
type Appliance struct {
	mu     sync.Mutex
	cfg    *config.Config
	log    *slog.Logger
	level  *slog.LevelVar
	db     *bbolt.DB
	store  *store.Hook
	outbox *outbox.Outbox
	broker *broker.Broker
	rules  *engine.Engine
	res    *resources.Manager
	wasm   *rules.WasmHost
	coap   *coap.Gateway
	lwm2m  *lwm2m.Server
	api    *api.Server
	reg    *prometheus.Registry

	version         string
	onAdminPassword func(string)
}

// DBFile is the bbolt file, in the data directory, that holds the daemon's state.
const DBFile = "wedge.db"

// OutboxFile is the outbox's own bbolt file in the data directory (its own file, so a damaged
// outbox can be quarantined without touching the broker's state).
const OutboxFile = "outbox.db"

// outboxOptions maps the outbox section of the configuration.
func outboxOptions(c config.Outbox, log *slog.Logger) outbox.Options {
	o := outbox.Options{
		Durability:      outbox.Durability(c.Durability),
		CommitInterval:  c.CommitInterval,
		MaxTotalRecords: c.MaxTotalRecords,
		MaxTotalBytes:   c.MaxTotalBytes,
		MaxFileBytes:    int(c.MaxFileBytes),
		Logger:          log.With("component", "outbox"),
		Queue:           outbox.DefaultQueueOptions(),
	}
	if c.CommitInterval == 0 {
		o.CommitInterval = -1 // no linger
	}
	o.Queue.MaxRecords, o.Queue.MaxBytes, o.Queue.MaxAge = c.MaxRecords, c.MaxBytes, c.MaxAge
	o.Queue.Policy, o.Queue.BlockTimeout = outbox.Policy(c.Policy), c.BlockTimeout
	o.Queue.RetryBase, o.Queue.RetryMax, o.Queue.BreakerThreshold = c.RetryBase, c.RetryMax, c.BreakerThreshold
	return o
}

// New opens the data directory and assembles the daemon; Start opens its listeners.
func New(o Options) (*Appliance, error) {
	c := o.Config
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Level == nil {
		o.Level = new(slog.LevelVar)
	}
	if err := os.MkdirAll(c.DataDir, 0o750); err != nil {
		return nil, fmt.Errorf("data_dir: %w", err)
	}
	dbPath := filepath.Join(c.DataDir, DBFile)
	db, err := bbolt.Open(dbPath, 0o600, &bbolt.Options{Timeout: time.Second, FreelistType: bbolt.FreelistMapType})
	if err != nil {
		if errors.Is(err, bbolt.ErrTimeout) {
			return nil, fmt.Errorf("data_dir %s is in use by another wedge process", c.DataDir)
		}
		return nil, fmt.Errorf("open %s: %w", dbPath, err)
	}
	a := &Appliance{cfg: c, log: o.Logger, level: o.Level, db: db, reg: prometheus.NewRegistry(),
		version: o.Version, onAdminPassword: o.OnAdminPassword}
	ok := false
	defer func() {
		if !ok {
			_ = db.Close()
		}
	}()
	a.outbox, err = outbox.Open(filepath.Join(c.DataDir, OutboxFile), outboxOptions(c.Outbox, o.Logger))
	if err != nil {
		return nil, fmt.Errorf("outbox: %w", err)
	}
	if q := a.outbox.Info().Quarantined; q != "" {
		o.Logger.Error("the outbox file was damaged: moved aside, started with an empty outbox", "quarantined", q)
	}
	defer func() {
		if !ok {
			_ = a.outbox.Close()
		}
	}()
	a.store, err = store.New(db, store.Options{FlushInterval: c.Storage.FlushInterval, Logger: o.Logger.With("component", "store")})
	if err != nil {
		return nil, err
	}
	a.broker, err = broker.New(broker.Options{MQTT: c.MQTT, Logger: o.Logger, Hooks: []mqtt.Hook{a.store}})
	if err != nil {
		_ = a.store.Stop()
		return nil, err
	}
	if err := a.newRules(c, o.Logger); err != nil {
		_ = a.store.Stop()
		return nil, err
	}
	co := coap.FromConfig(c.CoAP)
	co.Broker, co.Logger = a.broker, o.Logger // co.Auth: the auth chain's broker.Policy, once there is one
	if a.coap, err = coap.New(co); err != nil {
		_ = a.store.Stop()
		return nil, err
	}
	lo := lwm2m.FromConfig(c.LwM2M)
	lo.Broker, lo.Logger = a.broker, o.Logger // lo.Auth likewise
	if a.lwm2m, err = lwm2m.New(lo); err != nil {
		_ = a.store.Stop()
		return nil, err
	}
	a.reg.MustRegister(a.broker.Collector(), a.rules.Collector(), a.coap.Collector(), a.lwm2m.Collector(),
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	ok = true
	return a, nil
}

// Start opens every listener, then marks the daemon ready (/healthz answers 200). The MQTT
// listeners open first: the API's set-up hashes the admin password (a slow hash by design)
// and devices should not wait for it.
func (a *Appliance) Start(ctx context.Context) error {
	if err := a.broker.Start(ctx); err != nil {
		return err
	}
	stopAll := func() {
		_ = a.lwm2m.Stop(ctx)
		_ = a.coap.Stop(ctx)
		_ = a.broker.Stop(ctx)
	}
	if err := a.coap.Start(ctx); err != nil {
		stopAll()
		return err
	}
	if err := a.lwm2m.Start(ctx); err != nil {
		stopAll()
		return err
	}
	if err := a.newAPI(); err != nil {
		stopAll()
		return err
	}
	if err := a.api.Start(ctx); err != nil {
		stopAll()
		return err
	}
	if !a.cfg.Auth.Configured() {
		a.log.Warn("no auth chain configured: every device may connect, publish and subscribe (configure auth to restrict access)")
	}
	a.api.SetReady(true)
	a.log.Info("wedge ready", "mqtt", a.broker.Addr("tcp"), "ws", a.broker.Addr("ws"), "tls", a.broker.Addr("tls"),
		"api", a.api.Addr().String(), "data_dir", a.cfg.DataDir, "go", runtime.Version())
	return nil
}

func (a *Appliance) newAPI() error {
	c := a.cfg
	var err error
	a.api, err = api.New(api.Options{
		Listen:          c.API.Listen,
		CertFile:        c.API.Cert,
		KeyFile:         c.API.Key,
		Logger:          a.log,
		DB:              a.db,
		AdminPassword:   c.API.AdminPassword,
		OnAdminPassword: a.onAdminPassword,
		Gatherer:        a.reg,
		Broker:          &brokerView{b: a.broker, node: c.NodeName},
		Listeners:       a.listeners,
		Version:         a.version,
		Node:            c.NodeName,
	})
	if err != nil {
		return err
	}
	outboxapi.Register(a.api, a.outbox)
	lwm2mapi.Register(a.api, a.lwm2m)
	rulesapi.Register(a.api, a.rules)
	resources.RegisterAPI(a.api, a.res)
	return nil
}

// newRules builds the rules engine on the configured engine (compiled Wasm or the evaluator),
// loads the config file's rules and attaches the engine to the broker.
func (a *Appliance) newRules(c *config.Config, log *slog.Logger) error {
	eng := rules.DefaultEngine()
	if c.RuleEngine != "auto" {
		eng, _ = rules.ParseEngine(c.RuleEngine) // validated by config
	}
	compile := engine.Evaluator
	if eng == rules.EngineWasm {
		host, err := rules.NewWasmHost(context.Background(), wasm.Config{CacheDir: filepath.Join(c.DataDir, "wasm-cache")})
		if err != nil {
			return fmt.Errorf("rules: wasm host: %w", err)
		}
		a.wasm = host
		compile = engine.ShareSelectStar(func(r *rules.Rule) (engine.Program, error) { return host.Load(r) })
	}
	rstore, err := engine.NewBoltStore(a.db)
	if err != nil {
		return err
	}
	// The connectors' action types are registered before the engine loads the stored rules.
	// Resources (shared connections) open before the rules that name them.
	a.res, err = resources.Open(resources.Options{DB: a.db, Types: ruleactions.ResourceTypes(localPublisher{a.broker}),
		Node: c.NodeName, Logger: log.With("component", "resources")})
	if err != nil {
		return err
	}
	reg := engine.NewRegistry()
	if err := ruleactions.Register(reg, a.outbox, localPublisher{a.broker}, a.res); err != nil {
		return fmt.Errorf("rules: %w", err)
	}
	a.rules, err = engine.New(engine.Options{Publisher: rulesapi.NewPublisher(a.broker), Store: rstore,
		Logger: log.With("component", "rules"), Node: c.NodeName, Compile: compile, Actions: reg})
	if err != nil {
		return err
	}
	if err := a.rules.LoadConfig(c.Rules); err != nil {
		return fmt.Errorf("rules: %w", err)
	}
	rulesapi.Attach(a.rules, a.broker)
	log.Info("rules engine ready", "engine", eng)
	return nil
}

// Stop drains the daemon: it stops answering ready, closes the API, disconnects clients,
// flushes the store and closes the database.
func (a *Appliance) Stop(ctx context.Context) error {
	var errs []error
	if a.api != nil {
		a.api.SetReady(false)
		if err := a.api.Shutdown(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	if err := a.lwm2m.Stop(ctx); err != nil {
		errs = append(errs, err)
	}
	if err := a.coap.Stop(ctx); err != nil {
		errs = append(errs, err)
	}
	if a.rules != nil {
		_ = a.rules.Close()
	}
	if a.res != nil {
		_ = a.res.Close()
	}
	if err := a.broker.Stop(ctx); err != nil { // stops hooks: the store flushes
		errs = append(errs, err)
	}
	// The broker's stop may have given up at ctx's deadline: make sure the store's writer has
	// flushed and ended before the database closes under it (Stop is idempotent).
	if err := a.store.Stop(); err != nil {
		errs = append(errs, err)
	}
	if err := a.outbox.Close(); err != nil {
		errs = append(errs, err)
	}
	if a.wasm != nil {
		a.wasm.Close()
	}
	if err := a.db.Close(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// Reload applies a new configuration's run-time keys and reports the changed keys that need
// a restart.
func (a *Appliance) Reload(n *config.Config) (needRestart []string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, k := range config.Diff(a.cfg, n) {
		if !config.IsReloadable(k) {
			needRestart = append(needRestart, k)
		}
	}
	a.level.Set(ParseLevel(n.Log.Level))
	if n.MQTT.MaxConnections != a.cfg.MQTT.MaxConnections {
		a.broker.SetMaxConnections(n.MQTT.MaxConnections)
	}
	if err := a.rules.LoadConfig(n.Rules); err != nil {
		a.log.Error("rules not reloaded", "error", err)
	}
	keep := *a.cfg
	keep.Log.Level, keep.MQTT.MaxConnections, keep.Auth, keep.Rules = n.Log.Level, n.MQTT.MaxConnections, n.Auth, n.Rules
	a.cfg = &keep
	return needRestart
}

// Outbox returns the durable outbox.
func (a *Appliance) Outbox() *outbox.Outbox { return a.outbox }

// Broker returns the broker, for tests and features wired later.
func (a *Appliance) Broker() *broker.Broker { return a.broker }

// APIAddr returns the API's bound address.
func (a *Appliance) APIAddr() string { return a.api.Addr().String() }

func (a *Appliance) listeners() []api.ListenerInfo {
	var out []api.ListenerInfo
	st := a.broker.Stats()
	for _, l := range a.broker.Listeners() {
		out = append(out, api.ListenerInfo{Protocol: "mqtt:" + l.Protocol, Listen: l.Address, Running: true,
			CurrentConns: int(st.Connections), MaxConns: int(a.cfg.MQTT.MaxConnections)})
	}
	for _, l := range []struct {
		proto string
		addr  net.Addr
	}{{"coap:udp", a.coap.Addr()}, {"coap:dtls", a.coap.DTLSAddr()}, {"lwm2m:udp", a.lwm2m.Addr()}, {"lwm2m:dtls", a.lwm2m.DTLSAddr()}} {
		if l.addr != nil {
			out = append(out, api.ListenerInfo{Protocol: l.proto, Listen: l.addr.String(), Running: true})
		}
	}
	return out
}

// ParseLevel maps log.level to a slog level.
func ParseLevel(s string) slog.Level {
	switch s {
	case "debug":
		return slog.LevelDebug
	case "warn":
		return slog.LevelWarn
	case "error":
		return slog.LevelError
	}
	return slog.LevelInfo
}

// localPublisher publishes what an MQTT bridge brings down from its upstream.
type localPublisher struct{ b *broker.Broker }

func (p localPublisher) Publish(topic string, payload []byte, qos byte, retain bool) error {
	return p.b.Publish(broker.PublishRequest{Topic: topic, Payload: payload, QoS: qos, Retain: retain, ClientID: "mqtt_bridge"})
}
