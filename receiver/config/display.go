package config

import (
	"fmt"
	"time"
	_ "time/tzdata" // display.timezone works on a machine without the zoneinfo files
)

// Display is how the board and the task pages show tasks.
type Display struct {
	// Timezone is the IANA name (Europe/Berlin, America/New_York) times are shown in; default UTC.
	Timezone string `yaml:"timezone"`
	// Refresh is how often the board and the task pages reload themselves (a small script that
	// keeps the scroll position and waits while a form is being filled in; a meta refresh without
	// JavaScript). 0 turns it off.
	Refresh time.Duration `yaml:"refresh"`
	// FactsRefresh is how often, at most, the receiver asks Prometheus again what an open task's
	// machine is (cgminer_info, cgminer_device_info, cgminer_probe_error_info).
	FactsRefresh time.Duration `yaml:"facts_refresh"`
	// FactsLookback is how far back the receiver looks for a machine's model, firmware, serial
	// and MAC when it does not report them now (a miner that is down exports no cgminer_info):
	// their last values within it. 0 asks only for the current ones.
	FactsLookback time.Duration `yaml:"facts_lookback"`

	loc *time.Location
}

func defaultDisplay() Display {
	return Display{Timezone: "UTC", Refresh: time.Minute, FactsRefresh: 5 * time.Minute, FactsLookback: 24 * time.Hour, loc: time.UTC}
}

// Bounds of the display settings.
const (
	minRefresh      = 10 * time.Second
	minFactsRefresh = 30 * time.Second
	// maxFactsLookback keeps the question cheap: one machine's identity series over a week.
	maxFactsLookback = 7 * 24 * time.Hour
)

func (c *Config) validateDisplay() error {
	d := &c.Display
	if d.Timezone == "" {
		d.Timezone = "UTC"
	}
	loc, err := time.LoadLocation(d.Timezone)
	if err != nil || d.Timezone == "Local" {
		return fmt.Errorf("display.timezone: %q is not an IANA time zone name (e.g. Europe/Berlin, UTC)", d.Timezone)
	}
	d.loc = loc
	if d.Refresh < 0 || (d.Refresh > 0 && d.Refresh < minRefresh) {
		return fmt.Errorf("display.refresh: %s; 0 (off) or at least %s", d.Refresh, minRefresh)
	}
	if d.FactsRefresh < minFactsRefresh {
		return fmt.Errorf("display.facts_refresh: %s; at least %s (every open task asks Prometheus once per period)", d.FactsRefresh, minFactsRefresh)
	}
	if d.FactsLookback < 0 || d.FactsLookback > maxFactsLookback {
		return fmt.Errorf("display.facts_lookback: %s; 0 (current values only) to %s", d.FactsLookback, maxFactsLookback)
	}
	return nil
}

// Location is the time zone of display.timezone (UTC when unset).
func (d Display) Location() *time.Location {
	if d.loc == nil {
		if loc, err := time.LoadLocation(d.Timezone); err == nil && d.Timezone != "" {
			return loc
		}
		return time.UTC
	}
	return d.loc
}
