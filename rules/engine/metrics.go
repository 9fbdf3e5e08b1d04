package engine

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// RuleMetrics are a rule's counters (EMQX 4.4/5.x names). Every trigger
// adds one to Matched and then one to exactly one of Passed, Exception
// (evaluation failed) or NoResult (WHERE false, or an empty FOREACH), so
// Matched = Passed + Failed at every quiescent point; Failed is Exception +
// NoResult. They survive updates of the rule and reset when it is deleted.
type RuleMetrics struct {
	Matched   atomic.Int64
	Passed    atomic.Int64
	Exception atomic.Int64
	NoResult  atomic.Int64
}

// RuleCounts is a snapshot of RuleMetrics, in the REST shape.
type RuleCounts struct {
	Node      string `json:"node"`
	Matched   int64  `json:"matched"`
	Passed    int64  `json:"passed"`
	Failed    int64  `json:"failed"`
	Exception int64  `json:"failed.exception"`
	NoResult  int64  `json:"failed.no_result"`
}

// Counts reads the counters. Passed and the failures are read before
// Matched, so under load Matched ≥ Passed + Failed.
func (m *RuleMetrics) Counts() RuleCounts {
	c := RuleCounts{Passed: m.Passed.Load(), Exception: m.Exception.Load(), NoResult: m.NoResult.Load()}
	c.Failed = c.Exception + c.NoResult
	c.Matched = m.Matched.Load()
	return c
}

// ActionMetrics are an action instance's counters: Taken counts every run;
// each run ends in exactly one of Success or Failed (for an async action,
// when its outcome is reported). Fallbacks have their own counters.
type ActionMetrics struct {
	Taken   atomic.Int64
	Success atomic.Int64
	Failed  atomic.Int64
}

// ActionCounts is a snapshot of ActionMetrics, in the REST shape.
type ActionCounts struct {
	Node    string `json:"node"`
	Taken   int64  `json:"taken"`
	Success int64  `json:"success"`
	Failed  int64  `json:"failed"`
}

// Counts reads the counters (outcomes before Taken).
func (m *ActionMetrics) Counts() ActionCounts {
	c := ActionCounts{Success: m.Success.Load(), Failed: m.Failed.Load()}
	c.Taken = m.Taken.Load()
	return c
}

// collector exports the metrics of every rule and action to Prometheus.
type collector struct {
	e                                            *Engine
	matched, passed, failed, exception, noResult *prometheus.Desc
	taken, success, afailed                      *prometheus.Desc
}

// Collector returns a prometheus.Collector of every rule's and action's
// counters: wedge_rule_{matched,passed,failed,failed_exception,
// failed_no_result}_total{rule} and wedge_rule_action_{taken,success,
// failed}_total{rule,action}.
func (e *Engine) Collector() prometheus.Collector {
	rl := []string{"rule"}
	al := []string{"rule", "action"}
	return &collector{
		e:         e,
		matched:   prometheus.NewDesc("wedge_rule_matched_total", "Times the rule was triggered by a message or event.", rl, nil),
		passed:    prometheus.NewDesc("wedge_rule_passed_total", "Times the rule produced output.", rl, nil),
		failed:    prometheus.NewDesc("wedge_rule_failed_total", "Times the rule produced no output (exception + no_result).", rl, nil),
		exception: prometheus.NewDesc("wedge_rule_failed_exception_total", "Times the rule's evaluation failed.", rl, nil),
		noResult:  prometheus.NewDesc("wedge_rule_failed_no_result_total", "Times WHERE was false or FOREACH empty.", rl, nil),
		taken:     prometheus.NewDesc("wedge_rule_action_taken_total", "Times the action ran.", al, nil),
		success:   prometheus.NewDesc("wedge_rule_action_success_total", "Action runs that succeeded.", al, nil),
		afailed:   prometheus.NewDesc("wedge_rule_action_failed_total", "Action runs that failed.", al, nil),
	}
}

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.matched, c.passed, c.failed, c.exception, c.noResult, c.taken, c.success, c.afailed} {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	s := c.e.snap.Load()
	ctr := prometheus.CounterValue
	for _, r := range s.order {
		rc := r.metrics.Counts()
		ch <- prometheus.MustNewConstMetric(c.matched, ctr, float64(rc.Matched), r.spec.ID)
		ch <- prometheus.MustNewConstMetric(c.passed, ctr, float64(rc.Passed), r.spec.ID)
		ch <- prometheus.MustNewConstMetric(c.failed, ctr, float64(rc.Failed), r.spec.ID)
		ch <- prometheus.MustNewConstMetric(c.exception, ctr, float64(rc.Exception), r.spec.ID)
		ch <- prometheus.MustNewConstMetric(c.noResult, ctr, float64(rc.NoResult), r.spec.ID)
		var walk func(as []*actionInst)
		walk = func(as []*actionInst) {
			for _, a := range as {
				ac := a.metrics.Counts()
				ch <- prometheus.MustNewConstMetric(c.taken, ctr, float64(ac.Taken), r.spec.ID, a.id)
				ch <- prometheus.MustNewConstMetric(c.success, ctr, float64(ac.Success), r.spec.ID, a.id)
				ch <- prometheus.MustNewConstMetric(c.afailed, ctr, float64(ac.Failed), r.spec.ID, a.id)
				walk(a.fallbacks)
			}
		}
		walk(r.actions)
	}
}
