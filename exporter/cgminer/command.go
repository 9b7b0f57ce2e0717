package cgminer

import (
	"fmt"
	"sort"
	"strings"
)

// Command is a read-only API command. Its fields are unexported and the only values are the ones
// this package defines, so no caller can make the client send a privileged command (restart,
// quit, addpool, ascset, …): the exporter is read-only by construction.
type Command struct {
	name string
	// joinable: cgminer's `a+b` joining works only for report commands without parameters.
	// Whatsminer's get_* and status cannot be joined.
	joinable bool
}

func (c Command) String() string { return c.name }

// Joinable reports whether the command may be sent inside a joined request.
func (c Command) Joinable() bool { return c.joinable }

// The read-only commands, by the firmware families that answer them.
var (
	// cgminer API core (every family)
	Version    = Command{"version", true}
	Config     = Command{"config", true}
	Summary    = Command{"summary", true}
	Pools      = Command{"pools", true}
	Devs       = Command{"devs", true}
	EDevs      = Command{"edevs", true}
	DevDetails = Command{"devdetails", true}
	Stats      = Command{"stats", true}
	EStats     = Command{"estats", true}
	Coin       = Command{"coin", true}
	Notify     = Command{"notify", true}
	LCD        = Command{"lcd", true}
	ASCCount   = Command{"asccount", true}
	PGACount   = Command{"pgacount", true}
	// Braiins OS and LuxOS
	Temps       = Command{"temps", true}
	Fans        = Command{"fans", true}
	TunerStatus = Command{"tunerstatus", true}
	// LuxOS
	Power  = Command{"power", true}
	Events = Command{"events", true} // the firmware's current fault events (code, target, board)
	// Avalon
	LiteStats = Command{"litestats", true}
	// Whatsminer (btminer): answered only one at a time
	GetVersion   = Command{"get_version", false}
	GetPSU       = Command{"get_psu", false}
	GetMinerInfo = Command{"get_miner_info", false}
	GetErrorCode = Command{"get_error_code", false}
	BTStatus     = Command{"status", false}
)

var commands = map[string]Command{}

func init() {
	for _, c := range []Command{Version, Config, Summary, Pools, Devs, EDevs, DevDetails, Stats,
		EStats, Coin, Notify, LCD, ASCCount, PGACount, Temps, Fans, TunerStatus, Power, Events, LiteStats,
		GetVersion, GetPSU, GetMinerInfo, GetErrorCode, BTStatus} {
		commands[c.name] = c
	}
}

// ParseCommand returns the read-only command of that name. Anything else, privileged commands
// and parameters (`pga|0`) included, is an error.
func ParseCommand(name string) (Command, error) {
	if c, ok := commands[strings.ToLower(strings.TrimSpace(name))]; ok {
		return c, nil
	}
	return Command{}, fmt.Errorf("command %q is not a read-only cgminer API command this exporter may send (allowed: %s)",
		name, strings.Join(CommandNames(), ", "))
}

// CommandNames lists every command the client can send, sorted.
func CommandNames() []string {
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// MarshalText and UnmarshalText let configuration files name commands.
func (c Command) MarshalText() ([]byte, error) { return []byte(c.name), nil }

// UnmarshalText accepts only read-only command names.
func (c *Command) UnmarshalText(b []byte) error {
	cmd, err := ParseCommand(string(b))
	if err != nil {
		return err
	}
	*c = cmd
	return nil
}
