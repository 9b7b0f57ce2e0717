package lease

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// The advisory lock's key, pg_try_advisory_lock(KeyClass, KeyObject): advisory locks are per
// database, and replicas of one receiver share one database, so a fixed key is the lease. pg_locks
// shows it as classid 1381125203 ("RRLS"), objid 1, objsubid 2.
const (
	KeyClass  int32 = 0x52524C53
	KeyObject int32 = 1
)

// Bounds of the lease interval: a whole number of seconds (PostgreSQL's keepalive settings are),
// and short enough that a partitioned holder's lock is freed and taken within a minute (HandoverBound).
const (
	MinInterval = time.Second
	MaxInterval = 8 * time.Second
)

// Postgres is the lease as a session-level advisory lock, held on a connection of its own.
//
// How each way of losing the holder hands over, with I = Interval:
//
//   - The process dies (crash, SIGKILL, OOM) or the host closes its sockets: PostgreSQL sees the
//     connection end at once and drops the lock with the session; another replica takes it at its
//     next try, within I.
//   - The holder is cut off (network partition, host frozen or powered off): nothing closes the
//     connection, so the server's TCP keepalives find the dead peer. The lease session sets them
//     itself (tcp_keepalives_idle 3I, tcp_keepalives_interval I, tcp_keepalives_count 3, and
//     tcp_user_timeout 6I for a reply left unacknowledged): the server ends the session, and frees
//     the lock, 6I after it last heard from the holder, which is 5I to 6I after the cut (the
//     holder speaks at least every I). The holder checks its lock every I with a timeout of I, so
//     it has stopped its loops within 2I of the cut: before the lock can be free. Another replica
//     takes it within 7I (35 s at the default 5 s).
//   - The session is ended from the server (pg_terminate_backend, a restart, failover): the holder
//     is blocked reading that connection between checks, sees it end at once, and stops.
//
// A holder that is stopped but whose kernel still answers (SIGSTOP, a debugger) keeps the lock —
// and runs nothing — until it resumes or dies. The connection must reach PostgreSQL itself, or a
// pooler in session mode: in transaction mode a session lock means nothing.
type Postgres struct {
	cfg      *pgx.ConnConfig
	interval time.Duration
	idle     *pgx.Conn // a follower's connection, kept between tries
}

// NewPostgres prepares the lease on the database of dsn (the store's DSN).
func NewPostgres(dsn string, interval time.Duration) (*Postgres, error) {
	if interval < MinInterval || interval > MaxInterval || interval%time.Second != 0 {
		return nil, fmt.Errorf("lease interval %s: a whole number of seconds from %s to %s", interval, MinInterval, MaxInterval)
	}
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("lease: parse dsn: %w", err)
	}
	sec := int(interval / time.Second)
	for k, v := range map[string]string{
		"application_name":        "repair_receiver lease",
		"tcp_keepalives_idle":     strconv.Itoa(3 * sec),
		"tcp_keepalives_interval": strconv.Itoa(sec),
		"tcp_keepalives_count":    "3",
		"tcp_user_timeout":        strconv.Itoa(6 * sec * 1000), // milliseconds
	} {
		cfg.RuntimeParams[k] = v
	}
	// The client's own keepalives, for a server that vanished while the lease sits idle.
	d := &net.Dialer{KeepAliveConfig: net.KeepAliveConfig{Enable: true, Idle: interval, Interval: interval, Count: 3}}
	cfg.DialFunc = d.DialContext
	return &Postgres{cfg: cfg, interval: interval}, nil
}

// HandoverBound is the longest a partitioned holder keeps the lock before another replica can
// take it (server keepalives, then a follower's retry): 7 intervals.
func HandoverBound(interval time.Duration) time.Duration { return 7 * interval }

// TryAcquire implements Locker.
func (p *Postgres) TryAcquire(ctx context.Context) (Held, error) {
	if p.idle == nil || p.idle.IsClosed() {
		c, err := pgx.ConnectConfig(ctx, p.cfg)
		if err != nil {
			return nil, fmt.Errorf("lease: connect: %w", err)
		}
		p.idle = c
	}
	var ok bool
	if err := p.idle.QueryRow(ctx, `SELECT pg_try_advisory_lock($1, $2)`, KeyClass, KeyObject).Scan(&ok); err != nil {
		p.idle.Close(context.WithoutCancel(ctx))
		p.idle = nil
		return nil, fmt.Errorf("lease: try lock: %w", err)
	}
	if !ok {
		return nil, nil
	}
	h := &pgHeld{conn: p.idle, interval: p.interval}
	p.idle = nil
	return h, nil
}

// Close closes a follower's idle connection.
func (p *Postgres) Close(ctx context.Context) {
	if p.idle != nil {
		p.idle.Close(ctx)
		p.idle = nil
	}
}

type pgHeld struct {
	conn     *pgx.Conn
	interval time.Duration
}

// Hold implements Held: between checks it sits reading the connection (any message from the
// server, or its end, wakes it); every interval it asks pg_locks whether its session still holds
// the lock, giving up when the answer does not come within the interval.
func (h *pgHeld) Hold(ctx context.Context) error {
	for {
		wctx, cancel := context.WithTimeout(ctx, h.interval)
		err := h.conn.PgConn().WaitForNotification(wctx)
		cancel()
		if ctx.Err() != nil {
			return nil
		}
		if err != nil && !pgconn.Timeout(err) {
			return fmt.Errorf("%w: its connection ended: %w", ErrLost, err)
		}
		if err := h.check(ctx); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
	}
}

func (h *pgHeld) check(ctx context.Context) error {
	cctx, cancel := context.WithTimeout(ctx, h.interval)
	defer cancel()
	var n int
	err := h.conn.QueryRow(cctx, `SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()
AND classid::bigint = $1 AND objid::bigint = $2 AND objsubid = 2 AND granted`, int64(KeyClass), int64(KeyObject)).Scan(&n)
	switch {
	case err != nil:
		return fmt.Errorf("%w: no answer from PostgreSQL within %s: %w", ErrLost, h.interval, err)
	case n == 0:
		return fmt.Errorf("%w: the advisory lock is no longer held by this session", ErrLost)
	}
	return nil
}

// Release implements Held: unlock, then close (closing alone frees the lock too).
func (h *pgHeld) Release(ctx context.Context) {
	if !h.conn.IsClosed() {
		var ok bool
		_ = h.conn.QueryRow(ctx, `SELECT pg_advisory_unlock($1, $2)`, KeyClass, KeyObject).Scan(&ok)
	}
	_ = h.conn.Close(ctx)
}
