package engine

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/wedge-iot/wedge/rules"
)

// The trie must agree with rules.MatchTopic on every filter and topic.
func TestIndexAgreesWithMatchTopic(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	levels := []string{"a", "b", "$SYS", "", "c"}
	gen := func(filter bool) string {
		n := 1 + rng.IntN(4)
		parts := make([]string, n)
		for i := range parts {
			parts[i] = levels[rng.IntN(len(levels))]
			if filter {
				switch rng.IntN(5) {
				case 0:
					parts[i] = "+"
				case 1:
					if i == n-1 {
						parts[i] = "#"
					}
				}
			}
		}
		return strings.Join(parts, "/")
	}
	for round := 0; round < 200; round++ {
		var ix index
		var rs []*rule
		var filters []string
		for i := 0; i < 20; i++ {
			f := gen(true)
			if rules.ValidateFilter(f) != nil {
				continue
			}
			r := &rule{seq: i, spec: RuleSpec{ID: fmt.Sprint(i)}}
			rs = append(rs, r)
			filters = append(filters, f)
			ix.add(f, r)
		}
		for j := 0; j < 50; j++ {
			topic := gen(false)
			var want []string
			for i, f := range filters {
				if rules.MatchTopic(topic, f) {
					want = append(want, rs[i].spec.ID)
				}
			}
			var got []string
			for _, r := range dedupe(ix.match(topic, nil)) {
				got = append(got, r.spec.ID)
			}
			slices.Sort(want)
			slices.Sort(got)
			if !slices.Equal(got, want) {
				t.Fatalf("topic %q filters %q: got %v, want %v", topic, filters, got, want)
			}
		}
	}
}

func TestDedupeKeepsCreationOrder(t *testing.T) {
	a, b, c := &rule{seq: 1}, &rule{seq: 2}, &rule{seq: 3}
	got := dedupe([]*rule{c, a, c, b, a})
	if !slices.Equal(got, []*rule{a, b, c}) {
		t.Fatalf("got %v", got)
	}
}

func TestTemplate(t *testing.T) {
	sel := map[string]rules.Value{
		"payload": `{"a":{"b":1.5},"l":[1,2]}`, "n": int64(3), "f": 2.0, "s": "x",
		"m": map[string]rules.Value{"k": "v"}, "clientid": "c1",
	}
	for _, c := range []struct{ tmpl, want string }{
		{"out/${clientid}", "out/c1"},
		{"${payload.a.b}", "1.5"},
		{"${payload.l.2}", "2"},
		{"${n}-${f}-${s}", "3-2.0-x"},
		{"${m}", `{"k":"v"}`},
		{"${missing}", "undefined"},
		{"no ${ end", "no ${ end"},
		{"plain", "plain"},
	} {
		if got := ParseTemplate(c.tmpl).Render(sel); got != c.want {
			t.Errorf("%q: got %q, want %q", c.tmpl, got, c.want)
		}
	}
}
