package main

import (
	"os"
	"os/signal"
	"syscall"
	"unsafe"
)

// takeTerminal makes runstack the foreground process group of its controlling terminal, as a
// shell does for a job, so that Ctrl-C (the terminal's SIGINT to its foreground group) reaches
// runstack alone. Without it the interrupt also reaches make, which then dies of it however the
// recipe ends (make's "Interrupt" and status 130). restore hands the terminal back to the group
// that had it. Nothing happens without a terminal, or when runstack runs in the background.
func takeTerminal() (restore func()) {
	noop := func() {}
	tty, err := os.OpenFile("/dev/tty", os.O_RDWR, 0)
	if err != nil {
		return noop
	}
	fd := tty.Fd()
	fg, err := tcgetpgrp(fd)
	if err != nil || fg != syscall.Getpgrp() {
		tty.Close()
		return noop
	}
	if err := syscall.Setpgid(0, 0); err != nil {
		tty.Close()
		return noop
	}
	// A process that is not (yet) in the foreground gets SIGTTOU when it sets the foreground group.
	signal.Ignore(syscall.SIGTTOU)
	if err := tcsetpgrp(fd, syscall.Getpid()); err != nil {
		_ = syscall.Setpgid(0, fg)
		tty.Close()
		return noop
	}
	return func() {
		_ = tcsetpgrp(fd, fg)
		tty.Close()
	}
}

func tcgetpgrp(fd uintptr) (int, error) {
	var pgrp int32
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, fd, syscall.TIOCGPGRP, uintptr(unsafe.Pointer(&pgrp))); e != 0 {
		return 0, e
	}
	return int(pgrp), nil
}

func tcsetpgrp(fd uintptr, pgrp int) error {
	p := int32(pgrp)
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, fd, syscall.TIOCSPGRP, uintptr(unsafe.Pointer(&p))); e != 0 {
		return e
	}
	return nil
}
