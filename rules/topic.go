package rules

import (
	"errors"
	"sort"
	"strings"
)

// eventTopics maps each $events/ topic the FROM clause accepts to the value
// of its event column.
var eventTopics = map[string]string{
	"$events/client_connected":          "client.connected",
	"$events/client_disconnected":       "client.disconnected",
	"$events/session_subscribed":        "session.subscribed",
	"$events/session_unsubscribed":      "session.unsubscribed",
	"$events/message_delivered":         "message.delivered",
	"$events/message_acked":             "message.acked",
	"$events/message_dropped":           "message.dropped",
	"$events/delivery_dropped":          "delivery.dropped",
	"$events/client_connack":            "client.connack",
	"$events/client_check_acl_complete": "client.check_acl_complete",
}

// EventName returns the event column value of an $events/ topic
// ("$events/client_connected" → "client.connected") and whether the topic is
// a known event.
func EventName(topic string) (string, bool) {
	ev, ok := eventTopics[topic]
	return ev, ok
}

// EventPublish is the event column value of a message publish.
const EventPublish = "message.publish"

// IsEventTopic reports whether a FROM entry names an event ($events/...).
func IsEventTopic(s string) bool { return strings.HasPrefix(s, "$events/") }

func validateFrom(s string) error {
	if IsEventTopic(s) {
		if _, ok := eventTopics[s]; !ok {
			names := make([]string, 0, len(eventTopics))
			for k := range eventTopics {
				names = append(names, k)
			}
			sort.Strings(names)
			return errors.New("unknown event " + s + "; expected one of " + strings.Join(names, ", "))
		}
		return nil
	}
	return ValidateFilter(s)
}

// ValidateFilter checks an MQTT topic filter: not empty, '#' only as the last
// whole level, '+' only as a whole level.
func ValidateFilter(f string) error {
	if f == "" {
		return errors.New("empty topic filter")
	}
	levels := strings.Split(f, "/")
	for i, l := range levels {
		if strings.Contains(l, "#") && (l != "#" || i != len(levels)-1) {
			return errors.New("invalid topic filter " + f + ": '#' must be the whole last level")
		}
		if strings.Contains(l, "+") && l != "+" {
			return errors.New("invalid topic filter " + f + ": '+' must be a whole level")
		}
	}
	return nil
}

// MatchTopic reports whether topic matches the MQTT filter: '+' matches one
// level, '#' the rest including the parent level ("dev" matches "dev/#"), and
// a topic starting with '$' never matches a filter whose first level is '+'
// or '#'.
func MatchTopic(topic, filter string) bool {
	if strings.HasPrefix(topic, "$") && (strings.HasPrefix(filter, "+") || strings.HasPrefix(filter, "#")) {
		return false
	}
	for {
		fl, frest, fmore := strings.Cut(filter, "/")
		if fl == "#" && !fmore {
			return true
		}
		tl, trest, tmore := strings.Cut(topic, "/")
		if fl != "+" && fl != tl {
			return false
		}
		switch {
		case !fmore && !tmore:
			return true
		case !tmore:
			// "dev" matches "dev/#".
			return frest == "#"
		case !fmore:
			return false
		}
		filter, topic = frest, trest
	}
}
