package e2e

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	"unsafe"
)

// TestRunstackInterrupt: `make run`'s command stops everything it started and exits 0 when
// interrupted — by a SIGINT to its pid, and by Ctrl-C on a terminal under make, where make then
// exits 0 as well instead of dying of the interrupt itself (status 130) — and each run keeps its
// own folder of configs, data and logs, with latest pointing at the newest.
func TestRunstackInterrupt(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the stack twice")
	}
	t.Parallel()
	root, _ := filepath.Abs("..")
	bin := buildBinaries(t, root)
	prometheus, alertmanager := binaries(t, root)
	mailpit := mailpitBinary(t, root)
	runs := t.TempDir()
	args := func() []string {
		return []string{"--root=" + root, "--bin=" + bin, "--runs=" + runs, "--free-ports", "--speed=fast",
			"--miners=4", "--range=" + freeRange(t), "--scenario=",
			"--prometheus=" + prometheus, "--alertmanager=" + alertmanager, "--mailpit=" + mailpit}
	}
	var folders []string

	t.Run("SIGINT to runstack", func(t *testing.T) {
		cmd := exec.Command(filepath.Join(bin, "runstack"), args()...)
		out := &syncBuf{}
		cmd.Stdout, cmd.Stderr = out, out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		defer cmd.Process.Kill()
		waitOutput(t, out, "The stack is up", 3*time.Minute)
		pids := startedPIDs(t, out.String())
		if err := cmd.Process.Signal(os.Interrupt); err != nil {
			t.Fatal(err)
		}
		if err := waitExit(cmd, time.Minute); err != nil {
			t.Fatalf("runstack after SIGINT: %v\n%s", err, out)
		}
		for name, pid := range pids {
			if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
				t.Errorf("%s (pid %d) still there after runstack exited: %v", name, pid, err)
			}
		}
		if !strings.Contains(out.String(), "stopped; logs and data kept in") {
			t.Errorf("output:\n%s", out)
		}
		folders = append(folders, runFolder(t, out.String()))
	})

	t.Run("Ctrl-C under make", func(t *testing.T) {
		// Without runstack taking the terminal, make is interrupted too: this is what the test
		// would see (a recipe that does not take the terminal).
		if code, out := ctrlCUnderMake(t, "sleep 30", "", 10*time.Second); code == 0 {
			t.Fatalf("the control: make exited 0 after Ctrl-C on a plain recipe:\n%s", out)
		}
		line := "exec " + filepath.Join(bin, "runstack") + " " + strings.Join(args(), " ")
		code, out := ctrlCUnderMake(t, line, "The stack is up", 3*time.Minute)
		// make's own "make: *** [Makefile:2: run] Interrupt" (the run folder's path holds the
		// test's name, so not any "Interrupt").
		if code != 0 || strings.Contains(out, "make: ***") || strings.Contains(out, "] Interrupt") || !strings.Contains(out, "stopped; logs and data kept in") {
			t.Fatalf("make exited %d after Ctrl-C:\n%s", code, out)
		}
		folders = append(folders, runFolder(t, out))
	})

	// Two runs, two folders, none overwritten; latest is the newest.
	if len(folders) != 2 || folders[0] == folders[1] {
		t.Fatalf("run folders %v", folders)
	}
	for _, f := range folders {
		for _, want := range []string{"logs/prometheus.log", "logs/repair_receiver.log", "logs/mailpit.log", "receiver.yml", "telegram.jsonl", "mailpit.db"} {
			if _, err := os.Stat(filepath.Join(f, want)); err != nil {
				t.Errorf("run folder %s: %v", f, err)
			}
		}
	}
	if l, err := os.Readlink(filepath.Join(runs, "latest")); err != nil || filepath.Join(runs, l) != folders[1] {
		t.Errorf("latest → %q (%v), want %s", l, err, folders[1])
	}
}

// ctrlCUnderMake runs `make run` with the recipe line on a new terminal (a pty, as a shell's
// foreground job), types Ctrl-C once the output shows ready ("" : at once), and returns make's
// exit status and what the terminal showed.
func ctrlCUnderMake(t *testing.T, recipe, ready string, within time.Duration) (int, string) {
	t.Helper()
	mf := filepath.Join(t.TempDir(), "Makefile")
	if err := os.WriteFile(mf, []byte("run:\n\t"+recipe+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	master, slave := openPTY(t)
	defer master.Close()
	cmd := exec.Command("make", "--no-print-directory", "-f", mf, "run")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := cmd.Start(); err != nil {
		t.Fatalf("make: %v", err)
	}
	slave.Close()
	defer cmd.Process.Kill()
	out := &syncBuf{}
	go func() { _, _ = io.Copy(out, master) }() // ends with EIO when the terminal's last user is gone
	if ready != "" {
		waitOutput(t, out, ready, within)
	} else {
		time.Sleep(time.Second) // the recipe's shell is running
	}
	if _, err := master.Write([]byte{0x03}); err != nil { // ^C: the terminal sends SIGINT to its foreground group
		t.Fatal(err)
	}
	err := waitExit(cmd, time.Minute)
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0, out.String()
	case errors.As(err, &ee):
		return ee.ExitCode(), out.String() // -1 when make died of the signal
	}
	t.Fatalf("make: %v\n%s", err, out)
	return 0, ""
}

// openPTY opens a new pseudo-terminal pair.
func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("no pseudo-terminals: %v", err)
	}
	var unlock int32
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, m.Fd(), syscall.TIOCSPTLCK, uintptr(unsafe.Pointer(&unlock))); e != 0 {
		t.Fatalf("unlockpt: %v", e)
	}
	var n uint32
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, m.Fd(), syscall.TIOCGPTN, uintptr(unsafe.Pointer(&n))); e != 0 {
		t.Fatalf("ptsname: %v", e)
	}
	s, err := os.OpenFile("/dev/pts/"+strconv.Itoa(int(n)), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	return m, s
}

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) { s.mu.Lock(); defer s.mu.Unlock(); return s.b.Write(p) }
func (s *syncBuf) String() string              { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

func waitOutput(t *testing.T, out *syncBuf, want string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !strings.Contains(out.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("no %q within %s:\n%s", want, within, out)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func waitExit(cmd *exec.Cmd, within time.Duration) error {
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-time.After(within):
		_ = cmd.Process.Kill()
		<-done
		return fmt.Errorf("still running after %s (killed)", within)
	}
}

var startedRE = regexp.MustCompile(`started (\S+)\s+pid (\d+)`)

func startedPIDs(t *testing.T, out string) map[string]int {
	t.Helper()
	pids := map[string]int{}
	for _, m := range startedRE.FindAllStringSubmatch(out, -1) {
		pids[m[1]], _ = strconv.Atoi(m[2])
	}
	if len(pids) != 6 {
		t.Fatalf("started %v, want six parts", pids)
	}
	return pids
}

var folderRE = regexp.MustCompile(`run folder (\S+)`)

func runFolder(t *testing.T, out string) string {
	t.Helper()
	m := folderRE.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no run folder in:\n%s", out)
	}
	return strings.TrimSpace(m[1])
}
