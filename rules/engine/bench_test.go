package engine_test

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wedge-iot/wedge/appliance/broker"
	"github.com/wedge-iot/wedge/appliance/config"
	"github.com/wedge-iot/wedge/appliance/rulesapi"
	"github.com/wedge-iot/wedge/rules"
	"github.com/wedge-iot/wedge/rules/engine"
)

// The benchmarks drive a real broker on 127.0.0.1 with raw MQTT 3.1.1
// clients (a codec of a few lines: the clients must cost little next to the
// broker on a 2-core machine). Run them with
//
//	go test -run '^$' -bench . -benchtime 1x ./rules/engine
//
// Each reports medians of 3 rounds; the figures are in README.md.

type rawConn struct {
	c net.Conn
	r *bufio.Reader
	w *bufio.Writer
}

func appendVarint(b []byte, n int) []byte {
	for {
		d := byte(n % 128)
		n /= 128
		if n > 0 {
			d |= 0x80
		}
		b = append(b, d)
		if n == 0 {
			return b
		}
	}
}

func appendStr(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint16(b, uint16(len(s)))
	return append(b, s...)
}

func packet(typ byte, body []byte) []byte {
	return append(appendVarint([]byte{typ}, len(body)), body...)
}

func dialRaw(tb testing.TB, addr, id string) *rawConn {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		tb.Fatal(err)
	}
	rc := &rawConn{c: c, r: bufio.NewReaderSize(c, 64<<10), w: bufio.NewWriterSize(c, 64<<10)}
	body := appendStr(nil, "MQTT")
	body = append(body, 4, 2, 0, 60)
	body = appendStr(body, id)
	rc.w.Write(packet(0x10, body))
	rc.w.Flush()
	if typ, _, err := rc.read(); err != nil || typ != 0x20 {
		tb.Fatalf("connack: %x %v", typ, err)
	}
	return rc
}

func (rc *rawConn) read() (byte, []byte, error) {
	h, err := rc.r.ReadByte()
	if err != nil {
		return 0, nil, err
	}
	n, mul := 0, 1
	for {
		d, err := rc.r.ReadByte()
		if err != nil {
			return 0, nil, err
		}
		n += int(d&0x7f) * mul
		mul *= 128
		if d&0x80 == 0 {
			break
		}
	}
	body := make([]byte, n)
	_, err = io.ReadFull(rc.r, body)
	return h, body, err
}

func (rc *rawConn) subscribe(tb testing.TB, filter string, qos byte) {
	body := binary.BigEndian.AppendUint16(nil, 1)
	body = appendStr(body, filter)
	body = append(body, qos)
	rc.w.Write(packet(0x82, body))
	rc.w.Flush()
	if typ, _, err := rc.read(); err != nil || typ != 0x90 {
		tb.Fatalf("suback: %x %v", typ, err)
	}
}

func publishPacket(b []byte, topic string, qos byte, id uint16, payload []byte) []byte {
	body := appendStr(nil, topic)
	if qos > 0 {
		body = binary.BigEndian.AppendUint16(body, id)
	}
	body = append(body, payload...)
	return append(b, packet(0x30|qos<<1, body)...)
}

// topicPayload splits a PUBLISH body (QoS 0).
func topicPayload(body []byte) (string, []byte) {
	n := int(binary.BigEndian.Uint16(body))
	return string(body[2 : 2+n]), body[2+n:]
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// benchCompile is the rule engine the broker benchmarks run: what the daemon runs on this
// platform (the compiled path on amd64 and arm64, rules.DefaultEngine), or the one
// WEDGE_BENCH_ENGINE names ("eval" or "wasm").
func benchCompile(tb testing.TB) func(*rules.Rule) (engine.Program, error) {
	eng := rules.DefaultEngine()
	if v := os.Getenv("WEDGE_BENCH_ENGINE"); v != "" {
		var err error
		if eng, err = rules.ParseEngine(v); err != nil {
			tb.Fatal(err)
		}
	}
	if eng != rules.EngineWasm {
		return nil
	}
	host, err := rules.DefaultWasmHost()
	if err != nil {
		tb.Fatal(err)
	}
	return engine.ShareSelectStar(func(r *rules.Rule) (engine.Program, error) { return host.Load(r) })
}

// setup starts a broker with the engine attached (unless detached) and
// the given rules.
func setup(tb testing.TB, detached bool, rules []*engine.RuleRequest) (*broker.Broker, func()) {
	c := config.Default().MQTT
	c.TCP, c.WS = "127.0.0.1:0", ""
	b, err := broker.New(broker.Options{MQTT: c, Logger: quietLogger()})
	if err != nil {
		tb.Fatal(err)
	}
	if err := b.Start(context.Background()); err != nil {
		tb.Fatal(err)
	}
	e, err := engine.New(engine.Options{Publisher: rulesapi.NewPublisher(b), Logger: quietLogger(), Compile: benchCompile(tb)})
	if err != nil {
		tb.Fatal(err)
	}
	for _, r := range rules {
		if _, err := e.Create(r); err != nil {
			tb.Fatal(err)
		}
	}
	if !detached {
		rulesapi.Attach(e, b)
	}
	return b, func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = b.Stop(ctx)
		e.Close()
	}
}

// throughput publishes n QoS 1 messages from pubs publishers, each keeping
// window messages in flight (one publisher with 64, or 20 publishers waiting
// for each PUBACK as the broker benchmark's fan-in does), over the topics
// bench/0..spread-1 in turn, with one subscriber on bench/# (QoS 0), and
// returns the messages delivered per second.
func throughput(tb testing.TB, b *broker.Broker, n, spread, pubs, window int) float64 {
	sub := dialRaw(tb, b.Addr("tcp"), "sub")
	defer sub.c.Close()
	sub.subscribe(tb, "bench/#", 0)
	got := make(chan int)
	go func() {
		count := 0
		for count < n {
			if _, _, err := sub.read(); err != nil {
				break
			}
			count++
		}
		got <- count
	}()
	topics := make([]string, 100)
	for i := range topics {
		topics[i] = "bench/" + strconv.Itoa(i)
	}
	payload := []byte(`{"x":1,"temperature":21.5,"device":"d1"}`)
	conns := make([]*rawConn, pubs)
	for p := range conns {
		conns[p] = dialRaw(tb, b.Addr("tcp"), "pub"+strconv.Itoa(p))
		defer conns[p].c.Close()
	}
	per := n / pubs
	start := time.Now()
	for p, pub := range conns {
		go func() {
			acks := make(chan struct{}, window)
			go func() {
				for {
					typ, _, err := pub.read()
					if err != nil {
						return
					}
					if typ == 0x40 {
						<-acks
					}
				}
			}()
			var buf []byte
			for i := 0; i < per; i++ {
				acks <- struct{}{}
				k := p*per + i
				buf = publishPacket(buf[:0], topics[k%spread], 1, uint16(i%60000+1), payload)
				pub.w.Write(buf)
				if len(acks) == cap(acks) || i == per-1 {
					pub.w.Flush()
				}
			}
		}()
	}
	n = per * pubs
	var count int
	select {
	case count = <-got:
	case <-time.After(60 * time.Second):
		tb.Fatal("subscriber timed out")
	}
	el := time.Since(start)
	if count != n {
		tb.Fatalf("delivered %d of %d", count, n)
	}
	return float64(n) / el.Seconds()
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}

func ruleSet(n int) []*engine.RuleRequest {
	out := make([]*engine.RuleRequest, n)
	for i := range out {
		sql := fmt.Sprintf(`SELECT * FROM "bench/%d" WHERE payload.x > 0`, i)
		acts := []engine.ActionSpec{{Name: "do_nothing"}}
		out[i] = &engine.RuleRequest{ID: fmt.Sprint("r", i), RawSQL: &sql, Actions: &acts}
	}
	return out
}

// BenchmarkThroughputRules: broker throughput with 0, 10 and 100 rules, rule
// i on bench/i, the same run, median of 3 rounds, with the ratios to 0
// rules. Two traffic shapes: "one" publishes on bench/0 only (exactly one
// rule matches each message with 10 or 100 rules: the cost of the index plus
// one evaluation), "spread" cycles over bench/0..99 (with 100 rules every
// message is evaluated by its own rule, with 10 rules one in ten), both from
// one publisher keeping 64 messages in flight (the broker's cheapest
// messages, so the rules' share is largest); "fanin" is 20 publishers each
// waiting for its PUBACK, as the broker benchmark's fan-in, spread over the
// 100 topics. "detached" is the broker without the engine at all.
func BenchmarkThroughputRules(b *testing.B) {
	const n = 50000
	type config struct {
		name         string
		rules        int
		detached     bool
		spread       int
		pubs, window int
		base         string // the configuration its ratio is to
	}
	configs := []config{
		{"detached", 0, true, 100, 1, 64, "rules0"}, {"rules0", 0, false, 100, 1, 64, "rules0"},
		{"one_rules10", 10, false, 1, 1, 64, "rules0"}, {"one_rules100", 100, false, 1, 1, 64, "rules0"},
		{"spread_rules10", 10, false, 100, 1, 64, "rules0"}, {"spread_rules100", 100, false, 100, 1, 64, "rules0"},
		{"fanin_rules0", 0, false, 100, 20, 1, "fanin_rules0"}, {"fanin_rules100", 100, false, 100, 20, 1, "fanin_rules0"},
	}
	if only := os.Getenv("WEDGE_BENCH_ONLY"); only != "" {
		// e.g. WEDGE_BENCH_ONLY=rules0,spread_rules100 (the bases of the ratios always run)
		configs = slices.DeleteFunc(configs, func(c config) bool {
			return c.name != c.base && !slices.Contains(strings.Split(only, ","), c.name)
		})
	}
	res := make([][]float64, len(configs))
	for round := 0; round < 3; round++ {
		for i, c := range configs {
			br, stop := setup(b, c.detached, ruleSet(c.rules))
			res[i] = append(res[i], throughput(b, br, n, c.spread, c.pubs, c.window))
			stop()
		}
	}
	med := map[string]float64{}
	for i, c := range configs {
		med[c.name] = median(res[i])
	}
	for i, c := range configs {
		m := med[c.name]
		b.ReportMetric(m, c.name+"_msg/s")
		b.ReportMetric(m/med[c.base], c.name+"_ratio")
		b.Logf("%-15s median %8.0f msg/s (rounds %.0f) ratio to %s %.2f", c.name, m, res[i], c.base, m/med[c.base])
	}
}

// BenchmarkFilterRepublish: SELECT * FROM "t/#" WHERE payload.temperature > 50
// → republish to out/1 (empty template: the selected map as JSON), every
// message matching, one publisher paced at a fixed rate (QoS 0), one
// subscriber on out/1 (QoS 0); delivered msg/s and end-to-end latency
// percentiles, median of 3 rounds of 3 s at each rate.
func BenchmarkFilterRepublish(b *testing.B) {
	rateList, rounds := []int{20000, 30000}, 3
	if os.Getenv("WEDGE_BENCH_QUICK") != "" {
		rateList, rounds = rateList[1:], 1
	}
	if r, err := strconv.Atoi(os.Getenv("WEDGE_BENCH_RATE")); err == nil {
		rateList = []int{r} // e.g. WEDGE_BENCH_RATE=10000: one rate only
	}
	for _, rate := range rateList {
		var rates, p50s, p99s, losts []float64
		for round := 0; round < rounds; round++ {
			r, p50, p99, lost := filterRepublish(b, rate, 3*time.Second)
			rates, p50s, p99s, losts = append(rates, r), append(p50s, p50), append(p99s, p99), append(losts, lost)
		}
		b.ReportMetric(median(rates), fmt.Sprintf("at%dk_delivered_msg/s", rate/1000))
		b.ReportMetric(median(p99s), fmt.Sprintf("at%dk_p99_ms", rate/1000))
		b.Logf("target %d msg/s: delivered median %.0f msg/s (%.0f), p50 %.2f ms, p99 %.2f ms (%.2f), lost %.0f",
			rate, median(rates), rates, median(p50s), median(p99s), p99s, median(losts))
	}
}

func filterRepublish(tb testing.TB, rate int, dur time.Duration) (delivered, p50, p99, lost float64) {
	sql := `SELECT * FROM "t/#" WHERE payload.temperature > 50`
	acts := []engine.ActionSpec{{Name: "republish", Params: map[string]any{"target_topic": "out/1", "target_qos": -1}}}
	br, stop := setup(tb, false, []*engine.RuleRequest{{ID: "filter", RawSQL: &sql, Actions: &acts}})
	defer stop()
	sub := dialRaw(tb, br.Addr("tcp"), "sub")
	defer sub.c.Close()
	sub.subscribe(tb, "out/1", 0)
	pub := dialRaw(tb, br.Addr("tcp"), "pub")
	defer pub.c.Close()
	go io.Copy(io.Discard, pub.r)
	origin := time.Now()
	total := int(float64(rate) * dur.Seconds())
	lat := make([]float64, 0, total)
	var first, last atomic.Int64
	done := make(chan struct{})
	go func() {
		defer close(done)
		for len(lat) < total {
			sub.c.SetReadDeadline(time.Now().Add(2 * time.Second))
			typ, body, err := sub.read()
			if err != nil {
				return
			}
			if typ&0xf0 != 0x30 {
				continue
			}
			now := time.Since(origin).Nanoseconds()
			_, p := topicPayload(body)
			// The output JSON holds the payload as an escaped string: ...ts\":<ns>...
			i := indexOf(p, []byte(`ts\":`))
			if i < 0 {
				tb.Errorf("no ts in %s", p)
				return
			}
			j := i + 5
			k := j
			for k < len(p) && p[k] >= '0' && p[k] <= '9' {
				k++
			}
			ts, _ := strconv.ParseInt(string(p[j:k]), 10, 64)
			lat = append(lat, float64(now-ts)/1e6)
			if len(lat) == 1 {
				first.Store(now)
			}
			last.Store(now)
		}
	}()
	const tick = time.Millisecond
	perTick := rate / 1000
	var buf []byte
	sent := 0
	next := time.Now()
	for sent < total {
		buf = buf[:0]
		for i := 0; i < perTick && sent < total; i++ {
			ts := time.Since(origin).Nanoseconds()
			payload := fmt.Appendf(nil, `{"temperature":%d,"ts":%d}`, 51+sent%50, ts)
			buf = publishPacket(buf, "t/"+strconv.Itoa(sent%10), 0, 0, payload)
			sent++
		}
		pub.w.Write(buf)
		pub.w.Flush()
		next = next.Add(tick)
		if d := time.Until(next); d > 0 {
			time.Sleep(d)
		}
	}
	<-done
	if len(lat) < 2 {
		tb.Fatalf("delivered %d", len(lat))
	}
	span := float64(last.Load()-first.Load()) / 1e9
	slices.Sort(lat)
	return float64(len(lat)-1) / span, lat[len(lat)/2], lat[len(lat)*99/100], float64(total - len(lat))
}

func indexOf(b, sub []byte) int {
	for i := 0; i+len(sub) <= len(b); i++ {
		if string(b[i:i+len(sub)]) == string(sub) {
			return i
		}
	}
	return -1
}

// BenchmarkHandleMessage is the engine alone, without the broker: one
// message through the index and one rule (SELECT * … WHERE payload.x > 0,
// do_nothing) out of n. "spread" cycles over the topics of the 100 rules,
// so that each message runs another rule (as spread_rules100 of
// BenchmarkThroughputRules). WEDGE_BENCH_ENGINE=wasm runs the compiled path.
func BenchmarkHandleMessage(b *testing.B) {
	for _, n := range []int{1, 100, 1000, -100} {
		name := fmt.Sprint("rules", n)
		spread := 1
		if n < 0 {
			n, spread = -n, -n
			name = fmt.Sprint("spread_rules", n)
		}
		b.Run(name, func(b *testing.B) {
			e, err := engine.New(engine.Options{Logger: quietLogger(), Compile: benchCompile(b)})
			if err != nil {
				b.Fatal(err)
			}
			defer e.Close()
			for _, r := range ruleSet(n) {
				if _, err := e.Create(r); err != nil {
					b.Fatal(err)
				}
			}
			ms := make([]*engine.Message, spread)
			for i := range ms {
				ms[i] = &engine.Message{ClientID: "c1", Username: "u", PeerHost: "127.0.0.1", Topic: "bench/" + strconv.Itoa(i), QoS: 1,
					Payload: []byte(`{"x":1,"temperature":21.5,"device":"d1"}`), Received: time.Now()}
			}
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				e.HandleMessage(ms[i%spread])
				i++
			}
		})
	}
}
