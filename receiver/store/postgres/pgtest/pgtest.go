// Package pgtest starts a throw-away PostgreSQL 15 for tests: initdb in a temporary directory,
// a loopback port, fsync off (on with StartWith(Options{Durable: true})), trust authentication. Tests of the store, the lease and the
// receiver's replicas share it; each gets a fresh database. Missing binaries are an error (the
// tests fail, never skip): apt-get install postgresql-15.
package pgtest

import (
	"context"
	"database/sql"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"sync/atomic"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver
)

// Bin is where Debian's postgresql-15 puts initdb and pg_ctl.
const Bin = "/usr/lib/postgresql/15/bin"

// Server is a running throw-away PostgreSQL.
type Server struct {
	// DSN reaches the "postgres" database as the superuser postgres.
	DSN  string
	Port int

	dir, data string
	prefix    []string
	seq       atomic.Int64
}

// Options tune a throw-away server.
type Options struct {
	// Durable keeps fsync and synchronous_commit on (PostgreSQL's defaults), so that a commit is on
	// disk before it returns: what a benchmark of durable commits needs. Tests run with fsync off.
	Durable bool
}

// Start initialises and starts a server with fsync off; Stop removes it.
func Start() (*Server, error) { return StartWith(Options{}) }

// StartWith is Start with options.
func StartWith(o Options) (*Server, error) {
	if _, err := os.Stat(filepath.Join(Bin, "initdb")); err != nil {
		return nil, fmt.Errorf("PostgreSQL 15 is not installed (apt-get install postgresql-15): %w", err)
	}
	dir, err := os.MkdirTemp("", "receiver-pg-")
	if err != nil {
		return nil, err
	}
	s := &Server{dir: dir, data: filepath.Join(dir, "data")}
	if os.Getuid() == 0 { // initdb refuses to run as root
		u, err := user.Lookup("postgres")
		if err != nil {
			os.RemoveAll(dir)
			return nil, fmt.Errorf("running as root needs a postgres user: %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
		s.prefix = []string{"runuser", "-u", "postgres", "--"}
	}
	if err := s.run(filepath.Join(Bin, "initdb"), "-D", s.data, "-U", "postgres", "-A", "trust", "--no-sync", "-E", "UTF8"); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	s.Port = l.Addr().(*net.TCPAddr).Port
	l.Close()
	fsync := "off"
	if o.Durable {
		fsync = "on -c synchronous_commit=on -c wal_sync_method=fdatasync"
	}
	opts := fmt.Sprintf("-p %d -c listen_addresses=127.0.0.1 -k %s -c fsync=%s -c max_connections=200", s.Port, dir, fsync)
	if err := s.run(filepath.Join(Bin, "pg_ctl"), "-D", s.data, "-o", opts, "-l", filepath.Join(dir, "log"), "-w", "start"); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	s.DSN = fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", s.Port)
	return s, nil
}

func (s *Server) run(args ...string) error {
	all := append(append([]string{}, s.prefix...), args...)
	out, err := exec.Command(all[0], all[1:]...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%v: %w\n%s", args, err, out)
	}
	return nil
}

// Stop stops the server at once and removes its files.
func (s *Server) Stop() {
	_ = s.run(filepath.Join(Bin, "pg_ctl"), "-D", s.data, "-m", "immediate", "stop")
	os.RemoveAll(s.dir)
}

// Database creates a fresh, empty database and returns its DSN.
func (s *Server) Database(ctx context.Context) (string, error) {
	admin, err := sql.Open("pgx", s.DSN)
	if err != nil {
		return "", err
	}
	defer admin.Close()
	name := fmt.Sprintf("t%d", s.seq.Add(1))
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		return "", fmt.Errorf("create database %s: %w", name, err)
	}
	return DSNFor(s.Port, name), nil
}

// DSNFor is the DSN of database name on a server listening on 127.0.0.1:port.
func DSNFor(port int, name string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", port, name)
}
