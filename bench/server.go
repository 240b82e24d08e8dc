package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// buildApp compiles the real gatehouse binary into dir, exactly as `task
// build` does (plus build tags, for the loopback pprof listener).
func buildApp(ctx context.Context, dir string, tags string) (installed, linked string, err error) {
	linked = filepath.Join(dir, "gatehouse.linked")
	args := []string{"build", "-trimpath", "-o", linked}
	if tags != "" {
		args = append(args, "-tags", tags)
	}
	args = append(args, "gatehouse")
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", "", fmt.Errorf("go build: %w", err)
	}
	installed = filepath.Join(dir, "gatehouse")
	if err := install(linked, installed); err != nil {
		return "", "", err
	}
	return installed, linked, nil
}

// install copies the executable src to dst the way install(1) and cp(1)
// do (io.Copy between files is copy_file_range(2), as theirs is), and the
// benchmarked servers run that copy, not the linker's output. The idle RSS
// of the same bytes depends on how the file was written: the kernel maps
// an executable's page-cache folios whole, and ext4 on Linux 6.x keeps a
// file in folios as large as the writes that made it, up to 2 MiB. The
// linker writes through a shared memory mapping (2 MiB folios); so would
// one 60 MB write(2). A copy made like this one, or the file read back
// from disk after its pages were dropped, is in small folios. The
// difference, about 15 MB, is all the executable's shared and reclaimable
// file pages; the process's own memory is the same (docs/performance.md,
// "Fifth round"). The report gives both figures
// (startupResult.LinkedIdleRSSMB).
func install(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// server is a running gatehouse process.
type server struct {
	cmd     *exec.Cmd
	addr    string
	started time.Duration // spawn to first 200 from /healthz
	stderr  *bytes.Buffer
	done    chan struct{}
	waitErr error
}

// passEnv lists the variables of the bench's environment the server sees;
// everything else is set explicitly so a developer's .env cannot skew a run.
var passEnv = []string{"PATH", "HOME", "TMPDIR", "GOMAXPROCS", "GOGC", "GOMEMLIMIT", "GODEBUG"}

// startServer spawns bin on the SQLite file dbPath, listening on a free
// loopback port, and waits for its first successful /healthz.
func startServer(ctx context.Context, bin, dbPath string, extraEnv ...string) (*server, error) {
	cmd := exec.Command(bin)
	for _, k := range passEnv {
		if v, ok := os.LookupEnv(k); ok {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
	}
	cmd.Env = append(cmd.Env, "ADDR=127.0.0.1:0", "DATABASE_URL="+dbPath, "LOG_LEVEL=warn",
		// Every bench client shares 127.0.0.1, which stands for many clients:
		// with the login limits on, the flood would be refused with 429
		// before any hashing, and scenario 6 would not measure the hash-bound
		// worst case (a flood from many addresses).
		"LOGIN_LIMIT_PER_USER_IP=off", "LOGIN_LIMIT_PER_IP=off",
		// Scenario 9 asks /auth/forward, which answers only trusted proxies.
		"TRUSTED_PROXIES=127.0.0.1")
	cmd.Env = append(cmd.Env, extraEnv...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	s := &server{cmd: cmd, stderr: &bytes.Buffer{}, done: make(chan struct{})}
	cmd.Stderr = &lockedWriter{w: s.stderr}
	t0 := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start server: %w", err)
	}
	go func() { s.waitErr = cmd.Wait(); close(s.done) }()

	addrc := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line := sc.Text()
			if rest, ok := strings.CutPrefix(line, "Gatehouse listening on http://"); ok {
				addrc <- strings.TrimSuffix(rest, "/")
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
	}()
	timeout := time.NewTimer(30 * time.Second)
	defer timeout.Stop()
	select {
	case s.addr = <-addrc:
	case <-s.done:
		return nil, fmt.Errorf("server exited during start-up: %v\n%s", s.waitErr, s.stderr)
	case <-timeout.C:
		s.stop()
		return nil, fmt.Errorf("server did not print its address within 30s\n%s", s.stderr)
	case <-ctx.Done():
		s.stop()
		return nil, ctx.Err()
	}
	client := &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	for {
		res, err := client.Get("http://" + s.addr + "/healthz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				s.started = time.Since(t0)
				return s, nil
			}
		}
		if time.Since(t0) > 30*time.Second || ctx.Err() != nil {
			s.stop()
			return nil, fmt.Errorf("server not healthy after 30s (last error %v)\n%s", err, s.stderr)
		}
		time.Sleep(time.Millisecond)
	}
}

// stop sends SIGTERM (graceful shutdown) and waits, killing after 20 s.
func (s *server) stop() error {
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(20 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
	var ee *exec.ExitError
	if s.waitErr != nil && !errors.As(s.waitErr, &ee) {
		return s.waitErr
	}
	if s.waitErr != nil {
		return fmt.Errorf("server exited with %v\n%s", s.waitErr, s.stderrTail())
	}
	return nil
}

func (s *server) stderrTail() string {
	w := s.cmd.Stderr.(*lockedWriter)
	w.mu.Lock()
	defer w.mu.Unlock()
	b := s.stderr.Bytes()
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// procStatusKB reads a kB field (VmRSS, VmHWM) of /proc/<pid>/status.
func procStatusKB(pid int, field string) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			return strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
		}
	}
	return 0, fmt.Errorf("%s not in /proc/%d/status", field, pid)
}

// rssMonitor tracks a process's peak resident memory during a window: it
// resets the kernel's high-water mark (VmHWM) at the start and also samples
// VmRSS, in case the reset is not permitted.
type rssMonitor struct {
	pid    int
	stop   chan struct{}
	done   chan struct{}
	peakKB int64
}

func watchRSS(pid int) *rssMonitor {
	// Writing 5 to clear_refs resets VmHWM to the current RSS (Linux >= 4.0).
	_ = os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0)
	m := &rssMonitor{pid: pid, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(m.done)
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			if kb, err := procStatusKB(pid, "VmRSS"); err == nil && kb > m.peakKB {
				m.peakKB = kb
			}
			select {
			case <-m.stop:
				return
			case <-t.C:
			}
		}
	}()
	return m
}

// peakMB stops the monitor and returns the peak RSS in MiB.
func (m *rssMonitor) peakMB() float64 {
	close(m.stop)
	<-m.done
	if kb, err := procStatusKB(m.pid, "VmHWM"); err == nil && kb > m.peakKB {
		m.peakKB = kb
	}
	return float64(m.peakKB) / 1024
}

// lockedWriter lets the process's stderr be read while it is written.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// fetchProfile saves a CPU profile of secs seconds from the server's
// loopback pprof listener (only present in -tags pprof builds).
func fetchProfile(pprofAddr string, secs int, path string) error {
	client := &http.Client{Timeout: time.Duration(secs+30) * time.Second}
	res, err := client.Get(fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", pprofAddr, secs))
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("pprof: %s", res.Status)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, res.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// freeLoopbackAddr returns a loopback address nothing listens on now.
func freeLoopbackAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// procCPU returns the user+system CPU time a process has used so far, from
// /proc/<pid>/stat (fields 14 and 15, in clock ticks of 1/100 s).
func procCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) may hold spaces; fields are counted after
	// its closing parenthesis.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("malformed /proc/%d/stat", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("malformed /proc/%d/stat", pid)
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("malformed /proc/%d/stat", pid)
	}
	return time.Duration(utime+stime) * 10 * time.Millisecond, nil
}

// selfCPU returns the CPU time this process (the load generator) has used.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
