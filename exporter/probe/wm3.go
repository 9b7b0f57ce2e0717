package probe

import (
	"context"

	"github.com/minefarm/cgminer-stack/exporter/dialect"
	"github.com/minefarm/cgminer-stack/exporter/wm3"
)

// V3Querier asks a miner Whatsminer API v3 commands; *wm3.Client is the real one.
type V3Querier interface {
	QueryAll(ctx context.Context, addr string, cmds []wm3.Command, o wm3.Options) *wm3.Result
}

// WhatsminerV3 reads miners over Whatsminer API v3 (TCP 4433). A probe asks wm3.Default (device
// info, status, settings: three exchanges); discovery's Ping and Identify ask get.device.info
// alone, which both tells that API v3 answers and identifies the miner (model, firmware,
// serial, MAC), so a new v3 miner costs a scan one exchange.
func WhatsminerV3(q V3Querier) Reader { return v3Reader{q} }

type v3Reader struct{ client V3Querier }

func (r v3Reader) Read(ctx context.Context, addr string, q Query) *Reading {
	cmds := wm3.Default
	if q.Mode != Full {
		cmds = []wm3.Command{wm3.DeviceInfo}
	}
	res := r.client.QueryAll(ctx, addr, cmds, wm3.Options{KeepRaw: q.KeepRaw, MaxReplyBytes: q.Module.MaxReplyBytes})
	rd := &Reading{Exchanges: res.Exchanges, Commands: res.Commands(), Answered: len(res.Replies) > 0, Err: res.Err()}
	if res.Err() != nil {
		return rd
	}
	if q.Logger != nil {
		for c, e := range res.Errors {
			q.Logger.Debug("command failed", "target", addr, "command", c.String(), "err", e)
		}
	}
	snap := dialect.ReadWhatsminerV3(res, q.Module.ReadLimits())
	rd.Snapshot, rd.Identified = &snap, true
	return rd
}
