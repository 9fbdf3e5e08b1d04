package actions

import "github.com/wedge-iot/wedge/appliance/outbox"

func QueueIDForTest(rule string, action int) outbox.QueueID {
	return outbox.QueueID{Rule: rule, Action: action}
}
