// Package mqttbridge is the mqtt_bridge action's connector: it keeps one
// persistent MQTT 3.1.1 session (clean session false, a fixed client id) with
// an upstream broker, over TCP or TLS, with username and password.
//
// Local → upstream: each record is published with the topic and payload
// templates at QoS 1 and counts as delivered when its PUBACK arrives. A
// batch is published in one go and then its acknowledgements are awaited, so
// a batch costs one round trip, not one per record. While the upstream is
// down, records fail at once (transient): the outbox keeps them, backs off,
// and sends them, in order, once the connection is back.
//
// Upstream → local: the resource's subscriptions ([{topic, qos,
// local_topic}]) are subscribed on every connect, and each message is handed
// to Config.OnMessage (which the wiring connects to the local broker's
// Publish), with ${topic} in local_topic standing for the upstream topic. The
// upstream message is acknowledged after OnMessage returns. A subscription
// that matches what the same bridge forwards upstream makes a loop: choose
// distinct topics.
package mqttbridge
