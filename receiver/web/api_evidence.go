package web

import (
	"time"

	"github.com/minefarm/cgminer-stack/receiver/store"
	"github.com/minefarm/cgminer-stack/receiver/task"
)

// machineJSON is what the monitoring says a task's machine is; empty fields are unknown.
type machineJSON struct {
	Model      string     `json:"model"`
	Firmware   string     `json:"firmware"`
	Software   string     `json:"software"`
	Serial     string     `json:"serial"`
	MAC        string     `json:"mac"`
	IP         string     `json:"ip"`
	Where      string     `json:"where"`
	ProbeError string     `json:"probe_error,omitempty"`
	AskedAt    *time.Time `json:"asked_at,omitempty"`
}

// snapshotJSON is a task's evidence snapshot.
type snapshotJSON struct {
	State     string     `json:"state"`
	Target    string     `json:"target"`
	Module    string     `json:"module"`
	Attempts  int        `json:"attempts"`
	TakenAt   *time.Time `json:"taken_at,omitempty"`
	Status    int        `json:"http_status,omitempty"`
	Truncated bool       `json:"truncated"`
	Body      string     `json:"body,omitempty"`
	LastError string     `json:"last_error,omitempty"`
}

func machineOf(t task.Task, f task.Facts, order []string) *machineJSON {
	return &machineJSON{Model: f.Model, Firmware: f.Firmware, Software: f.Software, Serial: f.Serial, MAC: f.MAC, IP: task.IP(t.Identity),
		Where: task.Where(t.Location, order), ProbeError: f.ProbeError, AskedAt: tp(f.AskedAt)}
}

func snapshotOf(sn store.Snapshot) *snapshotJSON {
	return &snapshotJSON{State: sn.State, Target: sn.Target, Module: sn.Module, Attempts: sn.Attempts, TakenAt: tp(sn.TakenAt),
		Status: sn.Status, Truncated: sn.Truncated, Body: sn.Body, LastError: sn.LastError}
}

func taskIDs(ts []task.Task) []int64 {
	ids := make([]int64, len(ts))
	for i, t := range ts {
		ids[i] = t.ID
	}
	return ids
}
