package farm

import "time"

// Clock tells the farm what time it is. Every value a miner reports is computed from the clock on
// request, so tests move a fake clock instead of sleeping.
type Clock interface {
	Now() time.Time
}

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

// RealClock is the wall clock.
var RealClock Clock = realClock{}
