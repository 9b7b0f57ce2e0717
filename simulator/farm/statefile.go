package farm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
)

// The state file keeps the faults set at run time across a restart of the simulator
// (Config.StateFile): one JSON document listing the miners that have faults, rewritten whole
// and atomically (temporary file, fsync, rename) after every change, and read once by New.
//
//	{"version":1,"miners":[{"address":"127.1.0.5","faults":["overheat","offline"]}]}
//
// A fault's start time is not kept: a loaded fault starts when the simulator does (counters and
// restart_loop's period count from there).

const (
	stateVersion = 1
	// maxStateFile bounds what New reads: 100,000 miners with every fault fit in a few MiB.
	maxStateFile = 16 << 20
	// maxStateWarnings bounds the warnings one load logs; the rest are counted.
	maxStateWarnings = 10
)

type stateDoc struct {
	Version int          `json:"version"`
	Miners  []stateMiner `json:"miners"`
}

type stateMiner struct {
	Address string   `json:"address"`
	Faults  []string `json:"faults"`
}

// changed tells the state file's writer that a fault changed (it coalesces bursts).
func (f *Farm) changed() {
	if f.cfg.StateFile == "" {
		return
	}
	select {
	case f.dirty <- struct{}{}:
	default: // a write is already due; it will see this change too
	}
}

// writeState rewrites the state file after each change until ctx ends, then once more.
func (f *Farm) writeState(ctx context.Context) {
	defer f.wg.Done()
	for {
		select {
		case <-f.dirty:
			if err := f.SaveState(f.cfg.StateFile); err != nil {
				f.log.Error("write state file", "file", f.cfg.StateFile, "err", err)
			}
		case <-ctx.Done():
			if err := f.SaveState(f.cfg.StateFile); err != nil {
				f.log.Error("write state file", "file", f.cfg.StateFile, "err", err)
			}
			return
		}
	}
}

// snapshotState lists every miner with a fault, in address order.
func (f *Farm) snapshotState() stateDoc {
	doc := stateDoc{Version: stateVersion, Miners: []stateMiner{}}
	for _, m := range f.miners {
		fs := m.Faults()
		if len(fs) == 0 {
			continue
		}
		names := make([]string, len(fs))
		for i, fl := range fs {
			names[i] = fl.String()
		}
		doc.Miners = append(doc.Miners, stateMiner{Address: m.addr.String(), Faults: names})
	}
	return doc
}

// SaveState writes the farm's faults to path atomically: a reader sees the old file or the new
// one, never a part.
func (f *Farm) SaveState(path string) error {
	b, err := json.Marshal(f.snapshotState())
	if err != nil {
		return err
	}
	return writeAtomic(path, append(b, '\n'))
}

func writeAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("state file: %w", err)
	}
	defer os.Remove(tmp.Name()) // after a successful rename there is nothing left to remove
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("state file: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("state file: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("state file: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("state file: %w", err)
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync() // the rename itself reaches the disk
		d.Close()
	}
	return nil
}

// loadState sets the faults a state file lists. A missing file is a first start; a file that is
// not a state document is an error (it is never half-written: writes are atomic). Addresses that
// are not miners of this farm and unknown fault names are skipped with a warning, so a farm
// started with another --range or an older simulator still starts.
func (f *Farm) loadState(path string) error {
	file, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		f.log.Info("no state file yet; starting without faults", "file", path)
		return nil
	}
	if err != nil {
		return fmt.Errorf("state file: %w", err)
	}
	defer file.Close()
	data, err := io.ReadAll(io.LimitReader(file, maxStateFile+1))
	if err != nil {
		return fmt.Errorf("state file %s: %w", path, err)
	}
	if len(data) > maxStateFile {
		return fmt.Errorf("state file %s is larger than %d bytes", path, maxStateFile)
	}
	var doc stateDoc
	if err := json.Unmarshal(data, &doc); err != nil {
		return fmt.Errorf("state file %s is not a minersim state file (delete it to start without faults): %w", path, err)
	}
	if doc.Version != stateVersion {
		return fmt.Errorf("state file %s: version %d, want %d", path, doc.Version, stateVersion)
	}
	warned, skipped, set := 0, 0, 0
	warn := func(msg string, args ...any) {
		skipped++
		if warned < maxStateWarnings {
			warned++
			f.log.Warn(msg, append(args, "file", path)...)
		}
	}
	for _, sm := range doc.Miners {
		addr, err := netip.ParseAddr(sm.Address)
		if err != nil {
			warn("state file: not an IP address; skipped", "address", truncLabel(sm.Address))
			continue
		}
		m, ok := f.byAddr[addr]
		if !ok {
			warn("state file: no such miner in this farm; skipped", "address", addr, "range", f.cfg.Range)
			continue
		}
		for _, name := range sm.Faults {
			fl, err := ParseFault(name)
			if err != nil {
				warn("state file: unknown fault; skipped", "miner", addr, "fault", truncLabel(name))
				continue
			}
			changed, err := m.SetFault(fl)
			if err != nil {
				return fmt.Errorf("state file %s: %s %s: %w", path, addr, fl, err)
			}
			if changed {
				set++
			}
		}
	}
	if skipped > warned {
		f.log.Warn("state file: more entries skipped", "file", path, "skipped", skipped-warned)
	}
	f.log.Info("faults restored from the state file", "file", path, "faults", set, "skipped", skipped)
	return nil
}

// truncLabel shortens a string read from a file before it is logged.
func truncLabel(s string) string {
	const max = 64
	if len(s) > max {
		return s[:max] + "…"
	}
	return s
}
