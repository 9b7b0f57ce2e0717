package farm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"sort"
	"time"

	"go.yaml.in/yaml/v3"
)

// Scenario is a timed list of faults (YAML, strict):
//
//	faults:
//	  - {at: 30s, clear: 5m, fault: overheat, miners: ["127.1.0.5"]}
//	  - {at: 1m, fault: offline, select: {model: s9, count: 2}}
//
// at and clear are offsets from the farm's start; without clear the fault stays.
type Scenario struct {
	Faults []ScenarioFault `yaml:"faults"`
}

// ScenarioFault is one entry of a scenario.
type ScenarioFault struct {
	At     Duration  `yaml:"at"`
	Clear  *Duration `yaml:"clear,omitempty"`
	Fault  Fault     `yaml:"fault"`
	Miners []string  `yaml:"miners,omitempty"`
	Select *Select   `yaml:"select,omitempty"`
}

// Select picks miners by model, deterministically from the farm's seed.
type Select struct {
	Model string `yaml:"model,omitempty"`
	Count int    `yaml:"count"`
}

// Duration reads "30s", "5m", "1h30m".
type Duration time.Duration

// UnmarshalYAML reads a Go duration string.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	var s string
	if err := n.Decode(&s); err != nil {
		return err
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	if v < 0 {
		return fmt.Errorf("line %d: negative duration %s", n.Line, s)
	}
	*d = Duration(v)
	return nil
}

// UnmarshalYAML reads a fault's name.
func (f *Fault) UnmarshalYAML(n *yaml.Node) error {
	var s string
	if err := n.Decode(&s); err != nil {
		return err
	}
	v, err := ParseFault(s)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	*f = v
	return nil
}

// ParseScenario reads a scenario strictly: unknown keys are errors.
func ParseScenario(data []byte) (*Scenario, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var sc Scenario
	if err := dec.Decode(&sc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("scenario is empty")
		}
		return nil, fmt.Errorf("parse scenario: %w", err)
	}
	for i, f := range sc.Faults {
		switch {
		case len(f.Miners) == 0 && f.Select == nil:
			return nil, fmt.Errorf("scenario fault %d (%s): give miners or select", i+1, f.Fault)
		case len(f.Miners) > 0 && f.Select != nil:
			return nil, fmt.Errorf("scenario fault %d (%s): give miners or select, not both", i+1, f.Fault)
		case f.Select != nil && f.Select.Count <= 0:
			return nil, fmt.Errorf("scenario fault %d (%s): select.count must be at least 1", i+1, f.Fault)
		case f.Clear != nil && *f.Clear <= f.At:
			return nil, fmt.Errorf("scenario fault %d (%s): clear (%s) must come after at (%s)", i+1, f.Fault,
				time.Duration(*f.Clear), time.Duration(f.At))
		}
		if f.Select != nil && f.Select.Model != "" {
			if _, ok := LookupModel(f.Select.Model); !ok {
				return nil, fmt.Errorf("scenario fault %d: unknown model %q", i+1, f.Select.Model)
			}
		}
		for _, a := range f.Miners {
			if _, err := netip.ParseAddr(a); err != nil {
				return nil, fmt.Errorf("scenario fault %d: %q is not an IP address", i+1, a)
			}
		}
	}
	return &sc, nil
}

// event is one fault set or cleared at an offset from the start.
type event struct {
	at    time.Duration
	set   bool
	fault Fault
	miner *Miner
}

// Plan is a scenario resolved against a farm: who gets what when.
type Plan struct {
	events []event
	next   int
}

// Plan resolves the scenario's miners (addresses must exist; selections use the seed).
func (f *Farm) Plan(sc *Scenario) (*Plan, error) {
	p := &Plan{}
	for i, sf := range sc.Faults {
		var ms []*Miner
		if sf.Select != nil {
			sel, err := f.Select(sf.Select.Model, sf.Select.Count, uint64(i)+1)
			if err != nil {
				return nil, fmt.Errorf("scenario fault %d (%s): %w", i+1, sf.Fault, err)
			}
			ms = sel
		}
		for _, a := range sf.Miners {
			m, ok := f.Miner(netip.MustParseAddr(a))
			if !ok {
				return nil, fmt.Errorf("scenario fault %d (%s): no miner at %s (range %s, %d miners)", i+1, sf.Fault, a, f.cfg.Range, len(f.miners))
			}
			ms = append(ms, m)
		}
		for _, m := range ms {
			p.events = append(p.events, event{at: time.Duration(sf.At), set: true, fault: sf.Fault, miner: m})
			if sf.Clear != nil {
				p.events = append(p.events, event{at: time.Duration(*sf.Clear), fault: sf.Fault, miner: m})
			}
		}
	}
	sort.SliceStable(p.events, func(i, j int) bool { return p.events[i].at < p.events[j].at })
	return p, nil
}

// Step applies every event due at elapsed (time since the farm started) not applied yet, and
// says how long until the next one (0 when none is left).
func (p *Plan) Step(elapsed time.Duration) (time.Duration, error) {
	var errs []error
	for p.next < len(p.events) && p.events[p.next].at <= elapsed {
		e := p.events[p.next]
		p.next++
		var err error
		if e.set {
			_, err = e.miner.SetFault(e.fault)
		} else {
			_, err = e.miner.ClearFault(e.fault)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s %s: %w", e.miner.addr, e.fault, err))
		}
	}
	if p.next >= len(p.events) {
		return 0, errors.Join(errs...)
	}
	return p.events[p.next].at - elapsed, errors.Join(errs...)
}

// Run steps the plan on the farm's clock until it is done or ctx ends, checking every tick.
func (p *Plan) Run(ctx context.Context, f *Farm, tick time.Duration) {
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		wait, err := p.Step(f.cfg.Clock.Now().Sub(f.start))
		if err != nil {
			f.log.Error("scenario step", "err", err)
		}
		if wait == 0 && p.next >= len(p.events) {
			f.log.Info("scenario done")
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
