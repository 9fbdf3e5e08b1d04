package rules

import "testing"

func TestMatchTopic(t *testing.T) {
	cases := []struct {
		topic, filter string
		want          bool
	}{
		{"a/b", "a/b", true},
		{"a/b", "a/c", false},
		{"a/b", "a/+", true},
		{"a/b/c", "a/+", false},
		{"a/b/c", "a/#", true},
		{"a", "a/#", true},
		{"a", "#", true},
		{"a/b", "+/+", true},
		{"a", "+/+", false},
		{"a/", "a/+", true},
		{"/a", "+/a", true},
		{"a/b", "a/b/c", false},
		{"a/b/c", "a/b", false},
		{"$SYS/x", "#", false},
		{"$SYS/x", "+/x", false},
		{"$SYS/x", "$SYS/#", true},
		{"$events/x", "$events/+", true},
		{"", "#", true},
		{"", "+", true},
		{"ab", "a", false},
	}
	for _, c := range cases {
		if got := MatchTopic(c.topic, c.filter); got != c.want {
			t.Errorf("MatchTopic(%q, %q) = %v, want %v", c.topic, c.filter, got, c.want)
		}
	}
}

func TestValidateFilter(t *testing.T) {
	for _, ok := range []string{"a", "a/b", "#", "+", "a/+/b", "a/#", "+/#", "/", "$SYS/#"} {
		if err := ValidateFilter(ok); err != nil {
			t.Errorf("ValidateFilter(%q) = %v", ok, err)
		}
	}
	for _, bad := range []string{"", "a#", "a/#/b", "a+", "+a/b", "#/a"} {
		if err := ValidateFilter(bad); err == nil {
			t.Errorf("ValidateFilter(%q) accepted", bad)
		}
	}
}

func TestTriggered(t *testing.T) {
	r, err := Parse(`SELECT 1 AS x FROM "t/#", "$events/session_subscribed"`)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		in   Columns
		want bool
	}{
		{Columns{"topic": "t/1"}, true},
		{Columns{"topic": "u/1"}, false},
		{Columns{}, false},
		{Columns{"topic": int64(1)}, false},
		{Columns{"event": "message.publish", "topic": "t"}, true},
		{Columns{"event": "session.subscribed", "topic": "x/#"}, true},
		{Columns{"event": "session.unsubscribed", "topic": "t/1"}, false},
		{Columns{"event": int64(3), "topic": "t/1"}, false},
	}
	for _, c := range cases {
		if got := r.Triggered(c.in); got != c.want {
			t.Errorf("Triggered(%v) = %v, want %v", c.in, got, c.want)
		}
	}
	if !r.MatchesEvent("$events/session_subscribed") || r.MatchesEvent("client.connected") {
		t.Error("MatchesEvent")
	}
	for topic, ev := range map[string]string{
		"$events/client_connected": "client.connected", "$events/client_disconnected": "client.disconnected",
		"$events/session_subscribed": "session.subscribed", "$events/session_unsubscribed": "session.unsubscribed",
		"$events/message_delivered": "message.delivered", "$events/message_acked": "message.acked",
		"$events/message_dropped": "message.dropped",
	} {
		if got, ok := EventName(topic); !ok || got != ev {
			t.Errorf("EventName(%s) = %s, %v", topic, got, ok)
		}
		if _, err := Parse(`SELECT * FROM "` + topic + `"`); err != nil {
			t.Errorf("FROM %s: %v", topic, err)
		}
	}
}
