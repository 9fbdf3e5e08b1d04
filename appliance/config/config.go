package config

import (
	"bytes"
	_ "embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

//go:embed defaults.yaml
var defaultsYAML []byte

// EnvPrefix is the prefix of environment overrides: WEDGE_MQTT_TCP sets mqtt.tcp.
const EnvPrefix = "WEDGE_"

// Config is the whole configuration of a wedge daemon.
type Config struct {
	DataDir  string  `yaml:"data_dir"`
	NodeName string  `yaml:"node_name"`
	Log      Log     `yaml:"log"`
	MQTT     MQTT    `yaml:"mqtt"`
	Storage  Storage `yaml:"storage"`
	Outbox   Outbox  `yaml:"outbox"`
	CoAP     CoAP    `yaml:"coap"`
	LwM2M    LwM2M   `yaml:"lwm2m"`
	API      API     `yaml:"api"`
	// Auth is the auth/ACL chain (spec/http-auth.md). Empty means every device is allowed.
	Auth Auth `yaml:"auth"`
	// Runtime tunes the Go runtime.
	Runtime Runtime `yaml:"runtime"`
	// RuleEngine picks how rules run: auto, wasm or eval.
	RuleEngine string `yaml:"rule_engine"`
	// Rules are rules in the JSON shape of DESIGN.md; they are read-only through the API.
	Rules []map[string]any `yaml:"rules"`
}

// Runtime tunes the Go runtime's garbage collector. The GOGC and GOMEMLIMIT environment
// variables, when set, win over these keys.
type Runtime struct {
	// GCPercent is GOGC: how much the heap may grow between collections, in percent of the
	// live heap.
	GCPercent int `yaml:"gc_percent"`
	// MemoryLimit is GOMEMLIMIT in bytes, a soft limit near which the collector runs more
	// often whatever GCPercent says; 0 sets none.
	MemoryLimit int64 `yaml:"memory_limit"`
}

// Log configures structured logging.
type Log struct {
	Level  string `yaml:"level"`
	Format string `yaml:"format"`
}

// MQTT configures the broker's listeners and limits.
type MQTT struct {
	TCP                   string        `yaml:"tcp"`
	WS                    string        `yaml:"ws"`
	TLS                   TLS           `yaml:"tls"`
	MaxConnections        int64         `yaml:"max_connections"`
	MaxPacketSize         uint32        `yaml:"max_packet_size"`
	MaxInflight           uint16        `yaml:"max_inflight"`
	MaxQueuedMessages     uint16        `yaml:"max_queued_messages"`
	ReceiveMaximum        uint16        `yaml:"receive_maximum"`
	BackpressureTimeout   time.Duration `yaml:"backpressure_timeout"`
	WriteQueue            int32         `yaml:"write_queue"`
	ServerKeepAlive       uint16        `yaml:"server_keep_alive"`
	MaxKeepAlive          uint16        `yaml:"max_keepalive"`
	MaxSessionExpiry      uint32        `yaml:"max_session_expiry"`
	MaxMessageExpiry      int64         `yaml:"max_message_expiry"`
	TopicAliasMaximum     uint16        `yaml:"topic_alias_maximum"`
	RetainAvailable       bool          `yaml:"retain_available"`
	SharedSubscriptions   bool          `yaml:"shared_subscriptions"`
	WildcardSubscriptions bool          `yaml:"wildcard_subscriptions"`
	ReadBuffer            int           `yaml:"read_buffer"`
	WriteBuffer           int           `yaml:"write_buffer"`
}

// TLS configures the MQTT/TLS listener. It is opened only when Cert and Key are set.
type TLS struct {
	Listen     string `yaml:"listen"`
	Cert       string `yaml:"cert"`
	Key        string `yaml:"key"`
	CACert     string `yaml:"cacert"`
	VerifyPeer bool   `yaml:"verify_peer"`
	// VerifyDepth is the largest number of intermediate CA certificates allowed between a
	// client certificate and a trusted root (OpenSSL's verify depth; 0 = the root signs the
	// client certificate directly).
	VerifyDepth int `yaml:"verify_depth"`
}

// Enabled reports whether the TLS listener is configured.
func (t TLS) Enabled() bool { return t.Cert != "" && t.Key != "" }

// Storage configures the broker state store.
type Storage struct {
	FlushInterval time.Duration `yaml:"flush_interval"`
}

// Outbox configures the durable queue of async actions.
type Outbox struct {
	Durability       string        `yaml:"durability"`
	CommitInterval   time.Duration `yaml:"commit_interval"`
	MaxRecords       int64         `yaml:"max_records"`
	MaxBytes         int64         `yaml:"max_bytes"`
	MaxAge           time.Duration `yaml:"max_age"`
	MaxTotalRecords  int64         `yaml:"max_total_records"`
	MaxTotalBytes    int64         `yaml:"max_total_bytes"`
	MaxFileBytes     int64         `yaml:"max_file_bytes"`
	Policy           string        `yaml:"policy"`
	BlockTimeout     time.Duration `yaml:"block_timeout"`
	RetryBase        time.Duration `yaml:"retry_base"`
	RetryMax         time.Duration `yaml:"retry_max"`
	BreakerThreshold int           `yaml:"breaker_threshold"`
}

// CoAP configures the CoAP gateway.
type CoAP struct {
	Listen string `yaml:"listen"`
	// DTLSListen is the CoAP/DTLS address, opened when PSK has identities.
	DTLSListen string `yaml:"dtls_listen"`
	// PSK maps PSK identities to keys ("hex:0a1b..." or the key's text).
	PSK map[string]string `yaml:"psk"`
	// Keepalive is how long a CoAP session (and its observations) lives without traffic.
	Keepalive time.Duration `yaml:"keepalive"`
	// NotifyTimeout is how long a confirmable notification waits for its ACK before the
	// observation is ended.
	NotifyTimeout time.Duration `yaml:"notify_timeout"`
}

// LwM2M configures the LwM2M server (EMQX 4.2 names and defaults).
type LwM2M struct {
	Listen string `yaml:"listen"`
	// DTLSListen is the LwM2M/DTLS address, opened when PSK has identities.
	DTLSListen string `yaml:"dtls_listen"`
	// PSK maps PSK identities (usually endpoint names) to keys ("hex:0a1b..." or the key's text).
	PSK map[string]string `yaml:"psk"`
	// LifetimeMin and LifetimeMax bound a registration's lifetime.
	LifetimeMin time.Duration `yaml:"lifetime_min"`
	LifetimeMax time.Duration `yaml:"lifetime_max"`
	// QModeTimeWindow is how long a queue-mode device counts as awake after an uplink.
	QModeTimeWindow time.Duration `yaml:"qmode_time_window"`
	// AutoObserve observes a device's objects after it registers (AutoObservePaths: just those).
	AutoObserve      bool     `yaml:"auto_observe"`
	AutoObservePaths []string `yaml:"auto_observe_paths"`
	// XMLDir is a folder of extra OMA object definition XML files.
	XMLDir string `yaml:"xml_dir"`
	// Mountpoint prefixes the topics: %e is the endpoint name, %a the device's IP.
	Mountpoint string      `yaml:"mountpoint"`
	Topics     LwM2MTopics `yaml:"topics"`
	// UpdateMsgPublishCondition is "contains_object_list" (EMQX 4.2) or "always".
	UpdateMsgPublishCondition string `yaml:"update_msg_publish_condition"`
}

// LwM2MTopics are the topic suffixes under the LwM2M mountpoint.
type LwM2MTopics struct {
	Command  string `yaml:"command"`
	Response string `yaml:"response"`
	Notify   string `yaml:"notify"`
	Register string `yaml:"register"`
	Update   string `yaml:"update"`
}

// PSKBytes returns the key bytes of a configured PSK: "hex:..." is hex, anything else the text.
func PSKBytes(s string) []byte {
	if h, ok := strings.CutPrefix(s, "hex:"); ok {
		if b, err := hex.DecodeString(h); err == nil {
			return b
		}
	}
	return []byte(s)
}

// API configures the REST API, dashboard and metrics listener.
type API struct {
	Listen        string `yaml:"listen"`
	AdminPassword string `yaml:"admin_password"`
	Cert          string `yaml:"cert"`
	Key           string `yaml:"key"`
}

// Auth is the auth/ACL chain of spec/http-auth.md. Sources other than the chain's order and
// defaults are kept as given for the packages that implement them.
type Auth struct {
	AllowAnonymous *bool          `yaml:"allow_anonymous"`
	ACLNomatch     string         `yaml:"acl_nomatch"`
	Chain          []string       `yaml:"chain"`
	HTTP           map[string]any `yaml:"http"`
	Builtin        map[string]any `yaml:"builtin"`
	JWT            map[string]any `yaml:"jwt"`
}

// Configured reports whether an auth chain is configured.
func (a Auth) Configured() bool { return len(a.Chain) > 0 }

// Overrides are the command-line flags that win over everything else; empty fields are unset.
type Overrides struct {
	DataDir string
}

// Error is a configuration error naming the key at fault.
type Error struct {
	Key    string
	Reason string
}

func (e *Error) Error() string { return fmt.Sprintf("config: %s: %s", e.Key, e.Reason) }

// Default returns the embedded defaults.
func Default() *Config {
	c := &Config{}
	if err := yaml.Unmarshal(defaultsYAML, c); err != nil {
		panic("config: embedded defaults are invalid: " + err.Error())
	}
	return c
}

// DefaultsYAML returns the embedded defaults file, for `wedge config defaults` and docs.
func DefaultsYAML() []byte { return bytes.Clone(defaultsYAML) }

// Load builds the configuration from the defaults, the file at path (when not empty), the
// environment (environ in os.Environ form) and the flag overrides, and validates it.
// Unknown WEDGE_ variables are returned as warnings, not errors, so that unrelated
// variables with the same prefix do not stop the daemon.
func Load(path string, environ []string, o Overrides) (*Config, []string, error) {
	c := Default()
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, nil, fmt.Errorf("config: read %s: %w", path, err)
		}
		if err := Parse(b, c); err != nil {
			return nil, nil, fmt.Errorf("%s: %w", path, err)
		}
	}
	warnings, err := applyEnv(c, environ)
	if err != nil {
		return nil, nil, err
	}
	if o.DataDir != "" {
		c.DataDir = o.DataDir
	}
	if err := c.Validate(); err != nil {
		return nil, warnings, err
	}
	return c, warnings, nil
}

// Parse decodes YAML onto c, keeping the values of keys the document does not set. Unknown
// keys are errors naming the key.
func Parse(b []byte, c *Config) error {
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(c); err != nil {
		if errors.Is(err, io.EOF) {
			return nil // an empty file keeps the defaults
		}
		return fmt.Errorf("config: %s", nameKeys(b, cleanYAMLError(err)))
	}
	return nil
}

var lineRef = regexp.MustCompile(`line (\d+): `)

// nameKeys adds the dotted key path to every "line N:" of a yaml error, so a type error says
// which key it is about.
func nameKeys(doc []byte, msg string) string {
	var root yaml.Node
	if yaml.Unmarshal(doc, &root) != nil {
		return msg
	}
	lines := map[int]string{}
	var walk func(n *yaml.Node, path string)
	walk = func(n *yaml.Node, path string) {
		switch n.Kind {
		case yaml.DocumentNode:
			for _, c := range n.Content {
				walk(c, path)
			}
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				p := n.Content[i].Value
				if path != "" {
					p = path + "." + p
				}
				lines[n.Content[i].Line] = p
				if _, ok := lines[n.Content[i+1].Line]; !ok {
					lines[n.Content[i+1].Line] = p
				}
				walk(n.Content[i+1], p)
			}
		case yaml.SequenceNode:
			for i, c := range n.Content {
				p := fmt.Sprintf("%s[%d]", path, i)
				if _, ok := lines[c.Line]; !ok {
					lines[c.Line] = p
				}
				walk(c, p)
			}
		}
	}
	walk(&root, "")
	return lineRef.ReplaceAllStringFunc(msg, func(m string) string {
		n, _ := strconv.Atoi(lineRef.FindStringSubmatch(m)[1])
		if k, ok := lines[n]; ok {
			return m + k + ": "
		}
		return m
	})
}

// cleanYAMLError rewrites yaml.v3's Go-type wording into the key names users write.
func cleanYAMLError(err error) string {
	msg := err.Error()
	msg = strings.TrimPrefix(msg, "yaml: ")
	msg = strings.ReplaceAll(msg, "unmarshal errors:\n  ", "")
	if i := strings.Index(msg, " not found in type "); i > 0 {
		msg = strings.Replace(msg, "field ", "unknown key \"", 1)
		msg = msg[:strings.Index(msg, " not found in type ")] + "\""
	}
	return msg
}

// leaf is a settable scalar key of the schema.
type leaf struct {
	path  string
	field reflect.Value
}

// leaves lists every scalar key of c with its dotted path.
func leaves(c *Config) []leaf {
	var out []leaf
	var walk func(prefix string, v reflect.Value)
	walk = func(prefix string, v reflect.Value) {
		t := v.Type()
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			name := strings.Split(f.Tag.Get("yaml"), ",")[0]
			if name == "" || name == "-" {
				continue
			}
			p := name
			if prefix != "" {
				p = prefix + "." + name
			}
			fv := v.Field(i)
			switch {
			case fv.Kind() == reflect.Struct && fv.Type() != reflect.TypeOf(time.Duration(0)):
				walk(p, fv)
			case fv.Kind() == reflect.Map || fv.Kind() == reflect.Slice && fv.Type().Elem().Kind() == reflect.Map:
				out = append(out, leaf{p, fv}) // structured: the override is YAML/JSON text
			default:
				out = append(out, leaf{p, fv})
			}
		}
	}
	walk("", reflect.ValueOf(c).Elem())
	return out
}

// Keys returns every known key path, sorted.
func Keys() []string {
	var ks []string
	for _, l := range leaves(Default()) {
		ks = append(ks, l.path)
	}
	sort.Strings(ks)
	return ks
}

// EnvName returns the environment variable that overrides key (mqtt.tls.cert → WEDGE_MQTT_TLS_CERT).
func EnvName(key string) string {
	return EnvPrefix + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
}

func applyEnv(c *Config, environ []string) ([]string, error) {
	byEnv := map[string]leaf{}
	for _, l := range leaves(c) {
		byEnv[EnvName(l.path)] = l
	}
	var warnings []string
	for _, kv := range environ {
		name, val, ok := strings.Cut(kv, "=")
		if !ok || !strings.HasPrefix(name, EnvPrefix) {
			continue
		}
		l, known := byEnv[name]
		if !known {
			warnings = append(warnings, fmt.Sprintf("environment variable %s matches no config key; ignored", name))
			continue
		}
		if err := setFromText(l.field, val); err != nil {
			return nil, &Error{Key: l.path, Reason: fmt.Sprintf("from %s: %v", name, err)}
		}
	}
	return warnings, nil
}

// setFromText decodes an override's text as YAML into the field, so "5ms", "true", "[a, b]"
// and JSON all work; a plain string field takes the text as it is.
func setFromText(f reflect.Value, text string) error {
	if f.Kind() == reflect.String {
		f.SetString(text)
		return nil
	}
	nv := reflect.New(f.Type())
	if err := yaml.Unmarshal([]byte(text), nv.Interface()); err != nil {
		return fmt.Errorf("cannot parse %q as %s", text, kindName(f.Type()))
	}
	f.Set(nv.Elem())
	return nil
}

func kindName(t reflect.Type) string {
	switch {
	case t == reflect.TypeOf(time.Duration(0)):
		return "a duration"
	case t.Kind() == reflect.Bool:
		return "a boolean"
	case t.Kind() >= reflect.Int && t.Kind() <= reflect.Uint64:
		return "an integer in range"
	default:
		return t.String()
	}
}

// Validate checks every key and returns an *Error naming the first bad one.
func (c *Config) Validate() error {
	bad := func(key, reason string, args ...any) error {
		return &Error{Key: key, Reason: fmt.Sprintf(reason, args...)}
	}
	if c.DataDir == "" {
		return bad("data_dir", "must not be empty")
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		return bad("log.level", "must be debug, info, warn or error, not %q", c.Log.Level)
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		return bad("log.format", "must be text or json, not %q", c.Log.Format)
	}
	addrs := []struct {
		key, val string
		need     bool
	}{
		{"mqtt.tcp", c.MQTT.TCP, false},
		{"mqtt.ws", c.MQTT.WS, false},
		{"mqtt.tls.listen", c.MQTT.TLS.Listen, c.MQTT.TLS.Enabled()},
		{"coap.listen", c.CoAP.Listen, false},
		{"coap.dtls_listen", c.CoAP.DTLSListen, len(c.CoAP.PSK) > 0},
		{"lwm2m.listen", c.LwM2M.Listen, false},
		{"lwm2m.dtls_listen", c.LwM2M.DTLSListen, len(c.LwM2M.PSK) > 0},
		{"api.listen", c.API.Listen, true},
	}
	for _, a := range addrs {
		if a.val == "" {
			if a.need {
				return bad(a.key, "must be set")
			}
			continue // an empty address disables that listener
		}
		if _, _, err := net.SplitHostPort(a.val); err != nil {
			return bad(a.key, "not a host:port address: %v", err)
		}
	}
	if (c.MQTT.TLS.Cert == "") != (c.MQTT.TLS.Key == "") {
		return bad("mqtt.tls.cert", "cert and key must be set together")
	}
	if c.MQTT.TLS.VerifyPeer && c.MQTT.TLS.CACert == "" {
		return bad("mqtt.tls.cacert", "required when verify_peer is true")
	}
	if c.MQTT.TLS.VerifyDepth < 0 {
		return bad("mqtt.tls.verify_depth", "must be >= 0")
	}
	for _, f := range []struct{ key, path string }{
		{"mqtt.tls.cert", c.MQTT.TLS.Cert}, {"mqtt.tls.key", c.MQTT.TLS.Key},
		{"mqtt.tls.cacert", c.MQTT.TLS.CACert}, {"api.cert", c.API.Cert}, {"api.key", c.API.Key},
	} {
		if f.path == "" {
			continue
		}
		if _, err := os.Stat(f.path); err != nil {
			return bad(f.key, "cannot read %s: %v", f.path, err)
		}
	}
	if (c.API.Cert == "") != (c.API.Key == "") {
		return bad("api.cert", "cert and key must be set together")
	}
	if c.MQTT.MaxConnections < 1 {
		return bad("mqtt.max_connections", "must be >= 1")
	}
	if c.MQTT.MaxPacketSize != 0 && c.MQTT.MaxPacketSize < 64 {
		return bad("mqtt.max_packet_size", "must be 0 (no limit) or >= 64 bytes")
	}
	if c.MQTT.MaxInflight < 1 {
		return bad("mqtt.max_inflight", "must be >= 1")
	}
	if c.MQTT.MaxQueuedMessages < c.MQTT.MaxInflight {
		return bad("mqtt.max_queued_messages", "must be >= mqtt.max_inflight (%d)", c.MQTT.MaxInflight)
	}
	if c.MQTT.BackpressureTimeout < 0 || c.MQTT.BackpressureTimeout > time.Minute {
		return bad("mqtt.backpressure_timeout", "must be between 0 and 1m")
	}
	if c.MQTT.ReceiveMaximum < 1 {
		return bad("mqtt.receive_maximum", "must be >= 1")
	}
	if c.MQTT.WriteQueue < 1 {
		return bad("mqtt.write_queue", "must be >= 1")
	}
	if c.MQTT.MaxKeepAlive < 1 {
		return bad("mqtt.max_keepalive", "must be >= 1")
	}
	if c.MQTT.ReadBuffer < 256 || c.MQTT.WriteBuffer < 256 {
		return bad("mqtt.read_buffer", "read_buffer and write_buffer must be >= 256 bytes")
	}
	if c.Storage.FlushInterval < 0 || c.Storage.FlushInterval > 10*time.Second {
		return bad("storage.flush_interval", "must be between 0 and 10s")
	}
	if err := c.validateCoAP(bad); err != nil {
		return err
	}
	switch c.Outbox.Durability {
	case "durable", "fast":
	default:
		return bad("outbox.durability", "must be durable or fast, not %q", c.Outbox.Durability)
	}
	switch c.Outbox.Policy {
	case "block", "drop_oldest", "drop_new":
	default:
		return bad("outbox.policy", "must be block, drop_oldest or drop_new, not %q", c.Outbox.Policy)
	}
	for _, n := range []struct {
		key string
		v   int64
	}{{"outbox.max_records", c.Outbox.MaxRecords}, {"outbox.max_bytes", c.Outbox.MaxBytes},
		{"outbox.max_total_records", c.Outbox.MaxTotalRecords}, {"outbox.max_total_bytes", c.Outbox.MaxTotalBytes},
		{"outbox.max_file_bytes", c.Outbox.MaxFileBytes}} {
		if n.v < 1 {
			return bad(n.key, "must be >= 1")
		}
	}
	if c.Outbox.MaxFileBytes < 1<<20 {
		return bad("outbox.max_file_bytes", "must be at least 1 MiB")
	}
	if c.Outbox.CommitInterval < 0 || c.Outbox.CommitInterval > time.Second {
		return bad("outbox.commit_interval", "must be between 0 and 1s")
	}
	if c.Outbox.RetryBase <= 0 || c.Outbox.RetryMax < c.Outbox.RetryBase {
		return bad("outbox.retry_max", "retry_base must be > 0 and retry_max >= retry_base")
	}
	if c.Outbox.BreakerThreshold < 1 {
		return bad("outbox.breaker_threshold", "must be >= 1")
	}
	if c.Auth.ACLNomatch != "" && c.Auth.ACLNomatch != "allow" && c.Auth.ACLNomatch != "deny" {
		return bad("auth.acl_nomatch", "must be allow or deny, not %q", c.Auth.ACLNomatch)
	}
	for i, src := range c.Auth.Chain {
		switch src {
		case "http", "builtin", "jwt", "cert":
		default:
			return bad(fmt.Sprintf("auth.chain[%d]", i), "unknown source %q (http, builtin, jwt, cert)", src)
		}
	}
	if c.Runtime.GCPercent < 10 || c.Runtime.GCPercent > 10000 {
		return bad("runtime.gc_percent", "must be between 10 and 10000, not %d", c.Runtime.GCPercent)
	}
	if c.Runtime.MemoryLimit < 0 {
		return bad("runtime.memory_limit", "must be >= 0 (0: no limit)")
	}
	switch c.RuleEngine {
	case "auto", "wasm", "eval":
	default:
		return bad("rule_engine", "must be auto, wasm or eval, not %q", c.RuleEngine)
	}
	for i, r := range c.Rules {
		if s, _ := r["rawsql"].(string); s == "" {
			return bad(fmt.Sprintf("rules[%d].rawsql", i), "must be set")
		}
	}
	return nil
}

// Reloadable lists the keys a SIGHUP applies without a restart. A changed key outside this
// list is reported by Diff and needs a restart.
var Reloadable = []string{"log.level", "mqtt.max_connections", "auth", "rules", "api.admin_password"}

// Diff returns the keys whose values differ between a and b, with structured keys (maps,
// lists) reported at their top-level path.
func Diff(a, b *Config) []string {
	la, lb := leaves(a), leaves(b)
	var out []string
	for i := range la {
		if !reflect.DeepEqual(la[i].field.Interface(), lb[i].field.Interface()) {
			out = append(out, la[i].path)
		}
	}
	return out
}

// IsReloadable reports whether a change of key can be applied without a restart.
func IsReloadable(key string) bool {
	for _, r := range Reloadable {
		if key == r || strings.HasPrefix(key, r+".") {
			return true
		}
	}
	return false
}

// validateCoAP checks the coap and lwm2m sections.
func (c *Config) validateCoAP(bad func(key, reason string, args ...any) error) error {
	for _, p := range []struct {
		key string
		m   map[string]string
	}{{"coap.psk", c.CoAP.PSK}, {"lwm2m.psk", c.LwM2M.PSK}} {
		for id, k := range p.m {
			if id == "" || len(PSKBytes(k)) == 0 {
				return bad(p.key, "identities and keys must not be empty")
			}
			if strings.HasPrefix(k, "hex:") {
				if _, err := hex.DecodeString(k[4:]); err != nil {
					return bad(p.key, "key of %q: bad hex: %v", id, err)
				}
			}
		}
	}
	if c.CoAP.Keepalive < time.Second {
		return bad("coap.keepalive", "must be >= 1s")
	}
	if c.CoAP.NotifyTimeout < 100*time.Millisecond {
		return bad("coap.notify_timeout", "must be >= 100ms")
	}
	l := c.LwM2M
	if l.LifetimeMin < time.Second {
		return bad("lwm2m.lifetime_min", "must be >= 1s")
	}
	if l.LifetimeMax < l.LifetimeMin {
		return bad("lwm2m.lifetime_max", "must be >= lwm2m.lifetime_min")
	}
	if l.QModeTimeWindow <= 0 {
		return bad("lwm2m.qmode_time_window", "must be > 0")
	}
	if l.Mountpoint == "" || strings.ContainsAny(l.Mountpoint, "+#") {
		return bad("lwm2m.mountpoint", "must be a non-empty topic prefix without wildcards")
	}
	for _, t := range []struct{ key, val string }{
		{"lwm2m.topics.command", l.Topics.Command}, {"lwm2m.topics.response", l.Topics.Response},
		{"lwm2m.topics.notify", l.Topics.Notify}, {"lwm2m.topics.register", l.Topics.Register},
		{"lwm2m.topics.update", l.Topics.Update},
	} {
		if t.val == "" {
			return bad(t.key, "must not be empty")
		}
	}
	switch l.UpdateMsgPublishCondition {
	case "always", "contains_object_list":
	default:
		return bad("lwm2m.update_msg_publish_condition", "must be always or contains_object_list, not %q", l.UpdateMsgPublishCondition)
	}
	return nil
}
