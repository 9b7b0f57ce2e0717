package task

import (
	"strings"
	"time"
)

// KindRemediation marks what the remediation component (receiver/remedy) did or would do about
// the task's machine: a restart sent, a dry run, a refusal, a rate limit, a failure.
const KindRemediation = "remediation"

// Remedy is the actor of remediation events.
const Remedy = "remedy"

// Remediation records a remediation step in the history. It changes no state: the monitoring
// decides whether the machine is healthy again, exactly as after a person's repair.
func Remediation(t *Task, text string, now time.Time) (Change, error) {
	var c Change
	text = strings.TrimSpace(text)
	if text == "" {
		return c, ErrInvalidInput
	}
	t.UpdatedAt = now
	c.event(t, now, Remedy, KindRemediation, t.State, t.State, text)
	return c, nil
}
