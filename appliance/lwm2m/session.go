package lwm2m

import (
	"net"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/plgd-dev/go-coap/v3/net/client"
	udpClient "github.com/plgd-dev/go-coap/v3/udp/client"

	"github.com/wedge-iot/wedge/appliance/lwm2m/codec"
)

// ClientInfo is one registered device as the REST API shows it.
type ClientInfo struct {
	Endpoint     string            `json:"endpoint"`
	IMEI         string            `json:"imei"`
	Lifetime     int               `json:"lifetime"`
	ObjectList   []string          `json:"object_list"`
	Binding      string            `json:"binding"`
	Version      string            `json:"version"`
	Peer         string            `json:"peer"`
	QueueMode    bool              `json:"queue_mode"`
	SMS          string            `json:"sms,omitempty"`
	Params       map[string]string `json:"params,omitempty"`
	RegisteredAt time.Time         `json:"registered_at"`
	UpdatedAt    time.Time         `json:"updated_at"`
	Secure       bool              `json:"secure"`
	Pending      int               `json:"pending_commands"`
	Observing    []string          `json:"observing"`
}

// session is a registered device.
type session struct {
	mu            sync.Mutex
	ep            string
	lifetime      int
	version       string
	binding       string
	sms           string
	queue         bool
	alternatePath string
	objectList    []string
	preferredCT   uint16
	params        map[string]string
	conn          *udpClient.Conn
	peer          net.Addr
	secure        bool
	registeredAt  time.Time
	updatedAt     time.Time
	awakeUntil    time.Time
	timer         *time.Timer
	jobs          []*job
	running       bool
	closed        bool
	observes      map[string]*observation
	serial        string // cached 3/0/2
	subTopic      string
	subID         int
	lookups       map[string]*LookupEntry
}

type observation struct {
	obs   client.Observation
	cmd   Command
	token string
}

var urnIMEI = regexp.MustCompile(`^urn:imei(?:-imsi|-msisdn)?:(\d{15})(?:[:-]|$)`)
var digits15 = regexp.MustCompile(`^\d{15}$`)

// IMEI derives a device's IMEI: an imei register parameter, then an urn:imei[-imsi|-msisdn]:
// endpoint name, then a 15-digit endpoint name, then a 15-digit serial number (3/0/2), else the
// endpoint name itself (EMQX 4.2's "imei" column).
func IMEI(ep string, params map[string]string, serial string) string {
	if v := params["imei"]; v != "" {
		return v
	}
	if m := urnIMEI.FindStringSubmatch(ep); m != nil {
		return m[1]
	}
	if digits15.MatchString(ep) {
		return ep
	}
	if digits15.MatchString(serial) {
		return serial
	}
	return ep
}

// ValidIMEI reports whether s is 15 digits with a correct Luhn check digit.
func ValidIMEI(s string) bool {
	if !digits15.MatchString(s) {
		return false
	}
	sum := 0
	for i := 0; i < 15; i++ {
		d := int(s[14-i] - '0')
		if i%2 == 1 {
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
	}
	return sum%10 == 0
}

func (s *session) info() ClientInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	ci := ClientInfo{Endpoint: s.ep, IMEI: IMEI(s.ep, s.params, s.serial), Lifetime: s.lifetime,
		ObjectList: append([]string{}, s.objectList...), Binding: s.binding, Version: s.version,
		QueueMode: s.queue, SMS: s.sms, RegisteredAt: s.registeredAt, UpdatedAt: s.updatedAt,
		Secure: s.secure, Pending: len(s.jobs), Observing: []string{}}
	if s.peer != nil {
		ci.Peer = s.peer.String()
	}
	if len(s.params) > 0 {
		ci.Params = map[string]string{}
		for k, v := range s.params {
			ci.Params[k] = v
		}
	}
	for p := range s.observes {
		ci.Observing = append(ci.Observing, p)
	}
	sort.Strings(ci.Observing)
	return ci
}

// awake reports whether commands may be sent now (always, unless in queue mode and asleep).
func (s *session) awakeLocked(now time.Time) bool {
	return !s.queue || now.Before(s.awakeUntil)
}

// contentFormat is the Accept/Content-Format used for multi-value payloads: TLV for 1.0, the
// advertised format (or SenML JSON) for 1.1.
func (s *session) contentFormat() uint16 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if strings.HasPrefix(s.version, "1.0") || s.version == "1" {
		return codec.FormatTLV
	}
	switch s.preferredCT {
	case codec.FormatTLV, codec.FormatSenMLJSON, codec.FormatSenMLCBOR, codec.FormatJSON:
		return s.preferredCT
	}
	return codec.FormatSenMLJSON
}

// objectPath maps an LwM2M path to the device's URI path (alternate root path prefixed).
func (s *session) uri(p codec.Path) string {
	s.mu.Lock()
	alt := s.alternatePath
	s.mu.Unlock()
	ps := p.String()
	if alt == "" || alt == "/" {
		return ps
	}
	if ps == "/" {
		return alt
	}
	return strings.TrimSuffix(alt, "/") + ps
}

// parseObjectList extracts object paths (attributes dropped), the alternate path and the
// advertised content format from a registration payload.
func parseObjectList(b []byte) (list []string, alt string, ct uint16, err error) {
	links, err := codec.ParseLinks(string(b))
	if err != nil {
		return nil, "", 0, err
	}
	alt = "/"
	for _, l := range links {
		if strings.Trim(l.Params["rt"], `"`) == "oma.lwm2m" {
			alt = l.Target
			if v, ok := l.Params["ct"]; ok {
				if n, e := strconv.ParseUint(v, 10, 16); e == nil {
					ct = uint16(n)
				}
			}
		}
	}
	for _, l := range links {
		if strings.Trim(l.Params["rt"], `"`) == "oma.lwm2m" {
			continue
		}
		t := l.Target
		if alt != "/" && strings.HasPrefix(t, alt) {
			t = strings.TrimPrefix(t, strings.TrimSuffix(alt, "/"))
		}
		if _, e := codec.ParsePath(t); e != nil || t == "/" {
			continue
		}
		list = append(list, "/"+strings.Trim(t, "/"))
	}
	return list, alt, ct, nil
}

// derivedIMEI returns the device's IMEI when one is derived that differs from the endpoint name.
func (s *session) derivedIMEI() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if imei := IMEI(s.ep, s.params, s.serial); imei != s.ep {
		return imei
	}
	return ""
}
