package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/evpoll/poller/bench/internal/stats"
)

// proc is a child process the driver started: a server or a client. Its
// standard output comes in line by line; its standard input stays open
// for the stats protocol.
type proc struct {
	name  string
	cmd   *exec.Cmd
	stdin io.WriteCloser
	lines chan string
	done  chan struct{}
}

// startServer starts a server and waits for its "listening" line.
func startServer(name string, args ...string) (*proc, error) {
	return startServerEnv(nil, name, args...)
}

// startServerEnv is startServer with env added to the driver's environment.
func startServerEnv(env []string, name string, args ...string) (*proc, error) {
	p, err := startEnv(env, name, args...)
	if err != nil {
		return nil, err
	}
	if _, err := p.expect("listening", 10*time.Second); err != nil {
		p.stop()
		return nil, err
	}
	return p, nil
}

// start starts a process; the caller reads its lines.
func start(name string, args ...string) (*proc, error) { return startEnv(nil, name, args...) }

// startEnv is start with env added to the driver's environment.
func startEnv(env []string, name string, args ...string) (*proc, error) {
	cmd := exec.Command(name, args...)
	if env != nil {
		cmd.Env = append(os.Environ(), env...)
	}
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &proc{name: name, cmd: cmd, stdin: stdin, lines: make(chan string, 64), done: make(chan struct{})}
	go func() {
		defer close(p.lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			p.lines <- sc.Text()
		}
	}()
	return p, nil
}

// expect reads lines until one starts with prefix.
func (p *proc) expect(prefix string, timeout time.Duration) (string, error) {
	t := time.NewTimer(timeout)
	defer t.Stop()
	for {
		select {
		case line, ok := <-p.lines:
			if !ok {
				return "", fmt.Errorf("%s exited before printing %q", p.name, prefix)
			}
			if strings.HasPrefix(line, prefix) {
				return line, nil
			}
		case <-t.C:
			return "", fmt.Errorf("%s: no %q line within %v", p.name, prefix, timeout)
		}
	}
}

// stats asks a server for its counters ("gc" first when gc is set).
func (p *proc) stats(gc bool) (stats.Line, error) {
	req := "stats\n"
	if gc {
		req = "gc\n"
	}
	if _, err := io.WriteString(p.stdin, req); err != nil {
		return nil, err
	}
	line, err := p.expect("stats ", 30*time.Second)
	if err != nil {
		return nil, err
	}
	return stats.Parse(line)
}

// stop ends the process (it is ours: started by this driver) and reaps it.
func (p *proc) stop() {
	p.stdin.Close()
	p.cmd.Process.Kill()
	p.cmd.Wait()
}

// finish closes stdin and waits for the process to exit by itself.
func (p *proc) finish(timeout time.Duration) error {
	p.stdin.Close()
	errc := make(chan error, 1)
	go func() { errc <- p.cmd.Wait() }()
	select {
	case err := <-errc:
		return err
	case <-time.After(timeout):
		p.cmd.Process.Kill()
		<-errc
		return fmt.Errorf("%s did not exit within %v", p.name, timeout)
	}
}

// freeAddr returns a loopback address with a port free at the moment.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// waitDial waits until addr accepts connections.
func waitDial(addr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return errors.Join(fmt.Errorf("%s not accepting connections", addr), err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// output runs a command to completion and returns its standard output.
func output(name string, args ...string) (string, error) {
	cmd := exec.Command(name, args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return string(out), fmt.Errorf("%s %s: %v\n%s", name, strings.Join(args, " "), err, stderr.String())
	}
	return string(out), nil
}

// cpuNanos returns the CPU time the process's live threads have used, from
// /proc/PID/task/*/schedstat (nanoseconds on the CPU, user and system).
func (p *proc) cpuNanos() int64 {
	dir := fmt.Sprintf("/proc/%d/task", p.cmd.Process.Pid)
	tasks, err := os.ReadDir(dir)
	if err != nil {
		return 0
	}
	var total int64
	for _, t := range tasks {
		b, err := os.ReadFile(dir + "/" + t.Name() + "/schedstat")
		if err != nil {
			continue
		}
		var ns int64
		fmt.Sscan(string(b), &ns)
		total += ns
	}
	return total
}

// ctxSwitches returns the voluntary and involuntary context switches of the
// process's live threads, from /proc/PID/task/*/status (the process's own
// status file counts its main thread only).
func (p *proc) ctxSwitches() (vol, invol int64) {
	dir := fmt.Sprintf("/proc/%d/task", p.cmd.Process.Pid)
	tasks, err := os.ReadDir(dir)
	if err != nil {
		return 0, 0
	}
	for _, t := range tasks {
		b, err := os.ReadFile(dir + "/" + t.Name() + "/status")
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n") {
			k, v, ok := strings.Cut(line, ":")
			if !ok {
				continue
			}
			var n int64
			fmt.Sscan(strings.TrimSpace(v), &n)
			switch k {
			case "voluntary_ctxt_switches":
				vol += n
			case "nonvoluntary_ctxt_switches":
				invol += n
			}
		}
	}
	return vol, invol
}

// usage is a server's CPU time and context switches at one moment.
type usage struct{ cpuNs, vol, invol int64 }

func (p *proc) usage() usage {
	vol, invol := p.ctxSwitches()
	return usage{p.cpuNanos(), vol, invol}
}

// per returns the CPU µs and the context switches per unit of work between
// u and a later reading v.
func (u usage) per(v usage, units float64) (cpuUs, vol, invol float64) {
	if units <= 0 {
		return 0, 0, 0
	}
	return float64(v.cpuNs-u.cpuNs) / 1e3 / units, float64(v.vol-u.vol) / units, float64(v.invol-u.invol) / units
}
