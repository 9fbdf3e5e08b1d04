// Package outboxapi serves the durable outbox over the REST API: the queues with their
// depth, age, bytes, dead letters and counters (GET /api/v4/outbox), replay of a queue's dead
// letters and their purge. It is the only package that knows both the API and the outbox.
package outboxapi

import (
	"slices"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/wedge-iot/wedge/appliance/api"
	"github.com/wedge-iot/wedge/appliance/outbox"
)

// Outbox is what the routes need of *outbox.Outbox.
type Outbox interface {
	Stats() []outbox.QueueStats
	Info() outbox.Info
	Replay(q outbox.QueueID) (int, error)
	Purge(q outbox.QueueID) (int, error)
}

// Summary is GET /api/v4/outbox's reply: the file and one entry per queue.
type Summary struct {
	File   outbox.Info         `json:"file"`
	Queues []outbox.QueueStats `json:"queues"`
}

// Count is the reply of replay and purge.
type Count struct {
	Records int `json:"records"`
}

// Register adds the outbox routes to the API server.
func Register(s *api.Server, ob Outbox) {
	queue := func(c echo.Context) (outbox.QueueID, error) {
		n, err := strconv.Atoi(api.PathParam(c, "action"))
		if err != nil || n < 0 {
			return outbox.QueueID{}, api.BadRequest("action must be the action's index (0, 1, …)")
		}
		id := outbox.QueueID{Rule: api.PathParam(c, "rule"), Action: n}
		if !slices.ContainsFunc(ob.Stats(), func(q outbox.QueueStats) bool { return q.Rule == id.Rule && q.Action == id.Action }) {
			return id, api.NotFound("no outbox queue for rule %q action %d", id.Rule, id.Action)
		}
		return id, nil
	}
	s.Register(
		api.Route{Method: "GET", Path: "/outbox", Tag: "outbox", Summary: "Outbox queues: depth, oldest age, bytes, dead letters, delivered, dropped, state",
			Response: Summary{}, Handler: func(c echo.Context) error {
				return api.OK(c, Summary{File: ob.Info(), Queues: ob.Stats()})
			}},
		api.Route{Method: "POST", Path: "/outbox/:rule/:action/replay", Tag: "outbox", Summary: "Re-queue a queue's dead letters, in order",
			Response: Count{}, Handler: func(c echo.Context) error {
				id, err := queue(c)
				if err != nil {
					return err
				}
				n, err := ob.Replay(id)
				if err != nil {
					return api.Errorf(500, 500, "replay: %v", err)
				}
				return api.OK(c, Count{Records: n})
			}},
		api.Route{Method: "DELETE", Path: "/outbox/:rule/:action/dead_letters", Tag: "outbox", Summary: "Purge a queue's dead letters",
			Response: Count{}, Handler: func(c echo.Context) error {
				id, err := queue(c)
				if err != nil {
					return err
				}
				n, err := ob.Purge(id)
				if err != nil {
					return api.Errorf(500, 500, "purge: %v", err)
				}
				return api.OK(c, Count{Records: n})
			}},
	)
}
