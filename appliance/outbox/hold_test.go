package outbox

import "github.com/wedge-iot/wedge/appliance/broker"

// *Pending is what the broker's interceptor returns as its Hold.
var _ broker.Hold = (*Pending)(nil)
