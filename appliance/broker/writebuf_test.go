package broker

import (
	"bytes"
	"encoding/binary"
	"io"
	"net"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"
)

// encodePublish encodes a PUBLISH with mochi's encoder.
func encodePublish(t testing.TB, version byte, qos byte, id uint16, topic string, props packets.Properties, payload []byte) []byte {
	t.Helper()
	pk := packets.Packet{
		FixedHeader:     packets.FixedHeader{Type: packets.Publish, Qos: qos},
		ProtocolVersion: version,
		TopicName:       topic,
		PacketID:        id,
		Properties:      props,
		Payload:         payload,
	}
	var buf bytes.Buffer
	if err := pk.PublishEncode(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// A client that stops reading: writes never block, QoS 0 PUBLISHes beyond mqtt.write_queue
// are dropped and counted, everything else waits, and the client finally reads the bytes in
// the order they were written, less the dropped packets.
func TestWriteBufferDropsOnlyQoS0AndKeepsOrder(t *testing.T) {
	server, client := loopbackPair(t)
	_ = client.(*net.TCPConn).SetReadBuffer(4 << 10)
	_ = server.Conn.(*net.TCPConn).SetWriteBuffer(4 << 10)
	var counters Counters
	const maxQ0 = 50
	cc := newClientConn(server, 0, maxQ0, &counters)
	cc.fr.first, cc.fr.version = false, 4

	payload := bytes.Repeat([]byte("x"), 200)
	var q0Written, q1Written int
	written := make(chan struct{})
	go func() {
		defer close(written)
		// Enough to overflow the socket buffers and the write buffer many times over.
		for seq := 0; seq < 5000; seq++ {
			var pkt []byte
			if seq%10 == 0 {
				q1Written++
				pkt = encodePublish(t, 4, 1, uint16(q1Written), "q1", packets.Properties{}, binary.BigEndian.AppendUint32(nil, uint32(seq)))
			} else {
				q0Written++
				pkt = encodePublish(t, 4, 0, 0, "q0", packets.Properties{}, append(binary.BigEndian.AppendUint32(nil, uint32(seq)), payload...))
			}
			if _, err := cc.Write(pkt); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	select {
	case <-written:
	case <-time.After(20 * time.Second):
		t.Fatal("a write blocked on a client that does not read")
	}
	dropped := int(counters.QoS0Dropped.Load())
	if dropped == 0 {
		t.Fatal("nothing dropped: the buffer is not bounded")
	}
	if int(counters.LateQoS0Dropped.Load()) != dropped {
		t.Fatalf("late drops %d, drops %d", counters.LateQoS0Dropped.Load(), dropped)
	}

	// Now the client reads everything.
	_ = client.SetReadDeadline(time.Now().Add(10 * time.Second))
	var got0, got1 int
	last := -1
	for got0+got1 < q0Written+q1Written-dropped {
		var fh [2]byte
		if _, err := io.ReadFull(client, fh[:1]); err != nil {
			t.Fatalf("after %d+%d packets: %v", got0, got1, err)
		}
		var n, mul int = 0, 1
		for {
			if _, err := io.ReadFull(client, fh[1:]); err != nil {
				t.Fatal(err)
			}
			n += int(fh[1]&127) * mul
			mul *= 128
			if fh[1]&128 == 0 {
				break
			}
		}
		body := make([]byte, n)
		if _, err := io.ReadFull(client, body); err != nil {
			t.Fatal(err)
		}
		qos := fh[0] >> 1 & 3
		p := body[2+2:] // topic "q0"/"q1"
		if qos == 1 {
			p = p[2:] // packet id
			got1++
		} else {
			got0++
		}
		seq := int(binary.BigEndian.Uint32(p))
		if seq <= last {
			t.Fatalf("message %d after %d: out of order", seq, last)
		}
		if qos == 1 && seq%10 != 0 || qos == 0 && seq%10 == 0 {
			t.Fatalf("message %d with QoS %d", seq, qos)
		}
		last = seq
	}
	if got1 != q1Written {
		t.Fatalf("QoS 1: %d of %d arrived", got1, q1Written)
	}
	if got0+dropped != q0Written {
		t.Fatalf("QoS 0: %d arrived + %d dropped != %d written", got0, dropped, q0Written)
	}
	t.Logf("QoS 0: %d written, %d dropped; QoS 1: %d", q0Written, dropped, q1Written)
}

// A write error met by the flusher is returned by the next write.
func TestWriteBufferReportsFlushError(t *testing.T) {
	server, client := loopbackPair(t)
	_ = client.(*net.TCPConn).SetReadBuffer(4 << 10)
	_ = server.Conn.(*net.TCPConn).SetWriteBuffer(4 << 10)
	var counters Counters
	cc := newClientConn(server, 0, 1<<20, &counters)
	big := encodePublish(t, 4, 1, 1, "t", packets.Properties{}, bytes.Repeat([]byte("y"), 64<<10))
	if _, err := cc.Write(big); err != nil {
		t.Fatal(err)
	}
	cc.wmu.Lock()
	flushing := cc.flushing
	cc.wmu.Unlock()
	if !flushing {
		t.Fatal("64 KB went into a 4 KB socket buffer at once")
	}
	_ = client.(*net.TCPConn).SetLinger(0)
	_ = client.Close() // reset: the flusher's write fails
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if _, err := cc.Write(big); err != nil {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("writes kept succeeding after the peer reset the connection")
}

// setsTopicAlias finds the alias that would leave a client without a topic, and only that.
func TestSetsTopicAlias(t *testing.T) {
	user := packets.Properties{User: []packets.UserProperty{{Key: "k", Val: "v"}}, ContentType: "text/plain",
		ResponseTopic: "r", CorrelationData: []byte{1, 2}, MessageExpiryInterval: 60, PayloadFormat: 1, PayloadFormatFlag: true,
		SubscriptionIdentifier: []int{300}}
	withAlias := user
	withAlias.TopicAlias, withAlias.TopicAliasFlag = 7, true
	for _, c := range []struct {
		name    string
		version byte
		topic   string
		props   packets.Properties
		want    bool
	}{
		{"3.1.1", 4, "a/b", packets.Properties{}, false},
		{"v5 no properties", 5, "a/b", packets.Properties{}, false},
		{"v5 properties, no alias", 5, "a/b", user, false},
		{"v5 topic and alias", 5, "a/b", withAlias, true},
		{"v5 alias only", 5, "", withAlias, false},
	} {
		pkt := encodePublish(t, c.version, 0, 0, c.topic, c.props, []byte("payload"))
		if got := setsTopicAlias(pkt, c.version == 5); got != c.want {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
		topic, _, payload, ok := scanPublish(pkt, c.version == 5)
		if !ok || string(topic) != c.topic || string(payload) != "payload" {
			t.Errorf("%s: topic %q payload %q ok %v", c.name, topic, payload, ok)
		}
		if n := packetLen(pkt); n != len(pkt) {
			t.Errorf("%s: packetLen %d, len %d", c.name, n, len(pkt))
		}
	}
}

// FuzzPublishScan: the scanners of an encoded PUBLISH never panic on any bytes, and on a
// PUBLISH as mochi encodes it they agree with mochi's decoder.
func FuzzPublishScan(f *testing.F) {
	withAlias := packets.Properties{TopicAlias: 3, TopicAliasFlag: true, User: []packets.UserProperty{{Key: "a", Val: "b"}}}
	f.Add(encodePublish(f, 5, 0, 0, "a/b", withAlias, []byte("x")), true)
	f.Add(encodePublish(f, 5, 0, 0, "", withAlias, []byte("x")), true)
	f.Add(encodePublish(f, 4, 0, 0, "a/b", packets.Properties{}, []byte("x")), false)
	f.Add([]byte{0x30, 0xff, 0xff, 0xff, 0xff}, true)
	f.Fuzz(func(t *testing.T, b []byte, v5 bool) {
		alias := setsTopicAlias(b, v5)
		topic, _, payload, ok := scanPublish(b, v5)
		n := packetLen(b)
		if len(b) < 2 || b[0]&0xF6 != 0x30 || n != len(b) {
			return
		}
		pk := packets.Packet{ProtocolVersion: 4}
		if v5 {
			pk.ProtocolVersion = 5
		}
		if err := pk.FixedHeader.Decode(b[0]); err != nil {
			return
		}
		hl := 2
		for hl < len(b) && b[hl-1]&128 != 0 {
			hl++
		}
		pk.FixedHeader.Remaining = len(b) - hl
		if err := pk.PublishDecode(b[hl:]); err != nil {
			return
		}
		var canon bytes.Buffer
		if err := pk.PublishEncode(&canon); err != nil || !bytes.Equal(canon.Bytes(), b) {
			return // not as mochi writes it: only what wedge is given to scan counts
		}
		if !ok || string(topic) != pk.TopicName || !bytes.Equal(payload, pk.Payload) {
			t.Fatalf("scan: topic %q payload %x ok %v; mochi: topic %q payload %x", topic, payload, ok, pk.TopicName, pk.Payload)
		}
		if want := v5 && pk.TopicName != "" && pk.Properties.TopicAlias > 0; want && !alias {
			t.Fatalf("alias %d with topic %q not seen", pk.Properties.TopicAlias, pk.TopicName)
		}
	})
}
