// Command bench is Gatehouse's load benchmark (`task bench`). It builds the
// real binary, starts it on fresh SQLite databases under a temporary
// directory, seeds users and sessions straight into the file, and drives it
// over loopback with a closed-loop load generator (load.go), printing a
// table of requests/s, latency percentiles and the server's peak RSS per
// scenario, checking the performance targets, and writing the results as
// JSON (bench/results/latest.json by default).
//
// Ratios between scenarios of one run are what the targets are about: the
// generator shares the machine with the server, so absolute numbers move with
// the hardware and whatever else runs on it.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"gatehouse/internal/route"
	"gatehouse/internal/websession"
)

type options struct {
	duration    time.Duration
	warmup      time.Duration
	conns       int
	floodConns  int
	users       int
	sessions    int
	bigUsers    int
	bigSessions int
	pool        int
	startups    int
	skipBig     bool
	out         string
	profileDir  string
	keep        bool
	rounds      int
	only        map[string]bool
	postgres    string
	env         []string
}

func main() {
	if os.Getenv(bareGinEnv) != "" {
		if err := serveBareGin(); err != nil {
			fmt.Fprintln(os.Stderr, "bench: bare gin:", err)
			os.Exit(1)
		}
		return
	}
	var o options
	flag.DurationVar(&o.duration, "duration", 10*time.Second, "measured duration of each scenario")
	flag.DurationVar(&o.warmup, "warmup", 0, "unmeasured warm-up before each scenario (default: duration/10, at most 1s)")
	flag.IntVar(&o.conns, "conns", 32, "connections (requests in flight) per scenario")
	flag.IntVar(&o.floodConns, "flood-conns", 32, "wrong-password connections in the login-flood scenario (on top of -conns browsing)")
	flag.IntVar(&o.users, "users", 1000, "users in the small database")
	flag.IntVar(&o.sessions, "sessions", 1000, "sessions in the small database")
	flag.IntVar(&o.bigUsers, "big-users", 100_000, "users in the large database")
	flag.IntVar(&o.bigSessions, "big-sessions", 1_000_000, "sessions in the large database")
	flag.IntVar(&o.pool, "pool", 1000, "distinct session cookies the signed-in scenarios cycle through")
	flag.IntVar(&o.rounds, "rounds", 5, "interleaved rounds the throughput scenarios' duration is split into")
	flag.IntVar(&o.startups, "startups", 5, "cold starts on an empty database to time")
	flag.BoolVar(&o.skipBig, "skip-big", false, "skip the large-database scenarios")
	flag.StringVar(&o.out, "out", filepath.Join("bench", "results", "latest.json"), "where to write the JSON results")
	flag.StringVar(&o.profileDir, "profile", "", "build with -tags pprof and save a CPU profile of each scenario in this directory")
	flag.BoolVar(&o.keep, "keep", false, "keep the temporary directory (databases, binary)")
	flag.Func("env", "KEY=VALUE set in the benchmarked servers' environment (repeatable), e.g. -env DATABASE_MAX_CONNS=4", func(v string) error {
		if k, _, ok := strings.Cut(v, "="); !ok || k == "" {
			return fmt.Errorf("want KEY=VALUE, got %q", v)
		}
		o.env = append(o.env, v)
		return nil
	})
	only := flag.String("only", "", "comma-separated scenario IDs to run (e.g. 1,3,7.3); default all")
	flag.StringVar(&o.postgres, "postgres", os.Getenv("BENCH_POSTGRES_URL"), "also run the database-bound scenarios on PostgreSQL, side by side with SQLite: the small and large databases are made again as new databases on this server (postgres://user:pass@host/db, a role with CREATEDB); default $BENCH_POSTGRES_URL")
	flag.Parse()
	if *only != "" {
		o.only = map[string]bool{}
		for _, id := range strings.Split(*only, ",") {
			o.only[strings.TrimSpace(id)] = true
		}
		o.skipBig = o.skipBig || !slices.ContainsFunc(strings.Split(*only, ","), func(id string) bool {
			id = strings.TrimPrefix(strings.TrimSpace(id), "p")
			return strings.HasPrefix(id, "7")
		})
	}
	o.rounds = max(o.rounds, 1)
	if o.warmup == 0 {
		o.warmup = min(o.duration/10, time.Second)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// report is the JSON written at the end of a run.
type report struct {
	Started    time.Time        `json:"started"`
	GoVersion  string           `json:"go_version"`
	Database   string           `json:"database"`
	CPUs       int              `json:"cpus"`
	LoadAvg    string           `json:"load_average_before"`
	Duration   string           `json:"scenario_duration"`
	Rounds     int              `json:"rounds"`
	Conns      int              `json:"connections"`
	Startup    startupResult    `json:"startup"`
	Databases  []databaseResult `json:"databases"`
	Scenarios  []scenario       `json:"scenarios"`
	Targets    []target         `json:"targets"`
	AllTargets bool             `json:"all_targets_met"`
	// Reported are measurements without a goal (two instances vs one,
	// what a PostgreSQL round trip costs).
	Reported []target `json:"reported,omitempty"`
	// OAuth2Skipped says why oauth2-proxy's scenario did not run.
	OAuth2Skipped string `json:"oauth2_proxy_skipped,omitempty"`
}

type startupResult struct {
	Runs         int       `json:"runs"`
	MillisAll    []float64 `json:"ms_all"`
	MedianMillis float64   `json:"ms_median"`
	MaxMillis    float64   `json:"ms_max"`
	IdleRSSMB    float64   `json:"idle_rss_mb_median"`
	// IdleAnonMB is the private (anonymous) part of the idle RSS: heap,
	// stacks, runtime. The rest is the executable's pages, which the
	// kernel may map in 2 MiB pieces and which instances share.
	IdleAnonMB float64 `json:"idle_anon_rss_mb_median"`
	// LinkedIdleRSSMB is the idle RSS of the linker's own output run in
	// place, not installed (install in server.go says why they differ).
	LinkedIdleRSSMB float64 `json:"linked_idle_rss_mb"`
}

type databaseResult struct {
	Name        string  `json:"name"`
	Users       int     `json:"users"`
	Sessions    int     `json:"sessions"`
	SeedSeconds float64 `json:"seed_seconds"`
	FileMB      float64 `json:"file_mb"`
	IdleRSSMB   float64 `json:"idle_rss_mb"`
	StartMillis float64 `json:"startup_ms"`
}

type scenario struct {
	ID        string        `json:"id"`
	DB        string        `json:"database"`
	Groups    []groupResult `json:"groups"`
	PeakRSSMB float64       `json:"peak_rss_mb"`
	// ServerCPUus and ClientCPUus are CPU time per request (all groups'
	// requests) of the server and of the load generator: what a request
	// costs, which moves much less than req/s when the machine is shared.
	ServerCPUus float64 `json:"server_cpu_us_per_request"`
	ClientCPUus float64 `json:"client_cpu_us_per_request"`
	// DBCPUus is the PostgreSQL backends' CPU time per request (server on
	// this machine only; 0 on SQLite, which runs inside the app).
	DBCPUus float64 `json:"database_cpu_us_per_request,omitempty"`
	// Instances is how many app processes served the scenario.
	Instances int `json:"instances"`
	// Failures counts 5xx answers other than the login form's deliberate
	// 503 (hashing saturated), plus network errors.
	Failures int `json:"failures"`
}

type target struct {
	Name     string  `json:"name"`
	Measured string  `json:"measured"`
	Goal     string  `json:"goal"`
	Met      bool    `json:"met"`
	Value    float64 `json:"value"`
}

func run(ctx context.Context, o options, stdout io.Writer) error {
	rep := &report{Started: time.Now().UTC(), GoVersion: runtime.Version(), CPUs: runtime.NumCPU(),
		LoadAvg: loadAvg(), Duration: o.duration.String(), Conns: o.conns, Rounds: o.rounds}
	tmp, err := os.MkdirTemp("", "gatehouse-bench-")
	if err != nil {
		return err
	}
	if o.keep {
		logf("keeping %s", tmp)
	} else {
		defer os.RemoveAll(tmp)
	}

	tags := ""
	if o.profileDir != "" {
		tags = "pprof"
		if err := os.MkdirAll(o.profileDir, 0o755); err != nil {
			return err
		}
	}
	logf("building the app")
	bin, linked, err := buildApp(ctx, tmp, tags)
	if err != nil {
		return err
	}
	if o.profileDir != "" {
		// pprof needs the binary beside the profiles for symbols.
		b, err := os.ReadFile(bin)
		if err == nil {
			err = os.WriteFile(filepath.Join(o.profileDir, "gatehouse"), b, 0o755)
		}
		if err != nil {
			return err
		}
	}

	logf("timing %d cold starts on an empty database", o.startups)
	if rep.Startup, err = measureStartups(ctx, bin, tmp, o.startups); err != nil {
		return err
	}
	if rep.Startup.LinkedIdleRSSMB, err = linkedIdleRSS(ctx, linked, tmp); err != nil {
		return err
	}

	b := &bencher{o: o, bin: bin, rep: rep}
	// The ceiling: this program, serving a bare Gin engine, run from an
	// installed copy like the app (install in server.go).
	self, err := os.Executable()
	if err != nil {
		return err
	}
	bareBin := filepath.Join(tmp, "bench-bare-gin")
	if err := install(self, bareBin); err != nil {
		return err
	}
	bareSrv, err := startServer(ctx, bareBin, "", bareGinEnv+"=1")
	if err != nil {
		return fmt.Errorf("bare gin: %w", err)
	}
	bare := &instance{s: bareSrv, db: databaseResult{Name: "bare gin"}}
	defer bare.stop()
	// oauth2-proxy beside it (oauth2proxy.go), when it is installed.
	if o.only == nil || o.only[oauth2ScenarioID] {
		if bin, why := findOAuth2Proxy(); bin == "" {
			rep.OAuth2Skipped = why
			logf("scenario %s (oauth2-proxy /oauth2/auth) skipped: %s", oauth2ScenarioID, why)
		} else {
			copied := filepath.Join(tmp, "oauth2-proxy")
			if err := install(bin, copied); err != nil {
				return err
			}
			srv, cookie, err := startOAuth2Proxy(ctx, copied, tmp)
			if err != nil {
				return fmt.Errorf("oauth2-proxy: %w", err)
			}
			b.oauth2 = &instance{s: srv, db: databaseResult{Name: "oauth2-proxy"}}
			b.oauth2Cookie = cookie
			defer b.oauth2.stop()
		}
	}
	rep.Database = "sqlite"
	small, err := b.start(ctx, filepath.Join(tmp, "small.db"), databaseResult{Name: "small", Users: o.users, Sessions: o.sessions})
	if err != nil {
		return err
	}
	defer small.stop()
	var large *instance
	if !o.skipBig {
		large, err = b.start(ctx, filepath.Join(tmp, "large.db"), databaseResult{Name: "large", Users: o.bigUsers, Sessions: o.bigSessions})
		if err != nil {
			return err
		}
		defer large.stop()
	}
	// PostgreSQL beside SQLite: the same databases, made again as new
	// databases on the server, and a second app instance on the small one.
	var pgSmall, pgLarge *instance
	if o.postgres != "" {
		pg, err := newPGBench(o.postgres)
		if err != nil {
			return err
		}
		if !o.keep {
			defer pg.dropAll(context.WithoutCancel(ctx))
		}
		rep.Database = "sqlite and postgres"
		if pgSmall, err = b.startPG(ctx, pg, databaseResult{Name: "pg small", Users: o.users, Sessions: o.sessions}); err != nil {
			return err
		}
		defer pgSmall.stop()
		second, err := startServer(ctx, b.bin, pgSmall.dsn, b.o.env...)
		if err != nil {
			return err
		}
		pgSmall.extra = append(pgSmall.extra, second)
		if !o.skipBig {
			if pgLarge, err = b.startPG(ctx, pg, databaseResult{Name: "pg large", Users: o.bigUsers, Sessions: o.bigSessions}); err != nil {
				return err
			}
			defer pgLarge.stop()
		}
	}

	// The throughput scenarios run in interleaved rounds, on both servers,
	// so a burst of other work on the machine hits all of them alike and
	// the ratios between them stay meaningful.
	defs := b.scenarios(bare, small, large, pgSmall, pgLarge)
	var throughput, hashBound []*measuring
	for _, d := range defs {
		if b.o.only != nil && !b.o.only[d.id] && d.id != "0" {
			continue
		}
		m := &measuring{def: d}
		if d.hashBound {
			hashBound = append(hashBound, m)
		} else {
			throughput = append(throughput, m)
		}
	}
	// Checks of the hash-bound scenarios wait for them: hashing leaves the
	// heap grown for a while, which would show as the next scenario's RSS.
	for _, m := range throughput {
		if err := m.def.check(m.def.inst.s.addr, m.def.inst.sd); err != nil {
			return fmt.Errorf("scenario %s: sanity check: %w", m.def.id, err)
		}
	}
	round := o.duration / time.Duration(o.rounds)
	for r := range o.rounds {
		logf("round %d of %d: scenarios %s, %v each", r+1, o.rounds, ids(throughput), round)
		for _, m := range throughput {
			if r == 0 && o.warmup > 0 {
				runGroups(ctx, m.def.inst.s.addr, o.warmup, nil, m.def.groups...)
			}
			if err := b.measure(ctx, m, round, r); err != nil {
				return err
			}
		}
	}
	// Hash-bound scenarios last, each in one piece: their queues and
	// writes must not spill into the others.
	for _, m := range hashBound {
		logf("scenario %s, %v", m.def.id, o.duration)
		if err := m.def.check(m.def.inst.s.addr, m.def.inst.sd); err != nil {
			return fmt.Errorf("scenario %s: sanity check: %w", m.def.id, err)
		}
		if o.warmup > 0 {
			runGroups(ctx, m.def.inst.s.addr, o.warmup, nil, m.def.groups...)
		}
		if err := b.measure(ctx, m, o.duration, 0); err != nil {
			return err
		}
	}
	for _, d := range defs {
		for _, m := range append(slices.Clone(throughput), hashBound...) {
			if m.def.id == d.id {
				rep.Scenarios = append(rep.Scenarios, m.scenario())
			}
		}
	}

	rep.Targets = evaluate(rep, o)
	rep.AllTargets = !slices.ContainsFunc(rep.Targets, func(t target) bool { return !t.Met })
	printReport(stdout, rep)
	if o.out != "" {
		if err := os.MkdirAll(filepath.Dir(o.out), 0o755); err != nil {
			return err
		}
		j, _ := json.MarshalIndent(rep, "", "  ")
		if err := os.WriteFile(o.out, append(j, '\n'), 0o644); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "\nJSON written to %s\n", o.out)
	}
	return nil
}

func ids(ms []*measuring) string {
	var s []string
	for _, m := range ms {
		s = append(s, m.def.id)
	}
	return strings.Join(s, ",")
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench: %s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	return strings.Join(f[:min(3, len(f))], " ")
}

// measureStartups starts the binary n times, each on a new empty database,
// timing spawn to the first 200 from /healthz and reading the idle RSS.
func measureStartups(ctx context.Context, bin, tmp string, n int) (startupResult, error) {
	r := startupResult{Runs: n}
	var rss, anon []float64
	for i := range n {
		s, err := startServer(ctx, bin, filepath.Join(tmp, fmt.Sprintf("empty-%d.db", i)))
		if err != nil {
			return r, err
		}
		r.MillisAll = append(r.MillisAll, msf(s.started))
		rss = append(rss, idleRSS(s))
		kb, _ := procStatusKB(s.cmd.Process.Pid, "RssAnon")
		anon = append(anon, float64(kb)/1024)
		if err := s.stop(); err != nil {
			return r, err
		}
	}
	r.MedianMillis, r.MaxMillis = median(r.MillisAll), slices.Max(r.MillisAll)
	r.IdleRSSMB, r.IdleAnonMB = median(rss), median(anon)
	return r, nil
}

// linkedIdleRSS starts the linker's output in place once, on an empty
// database, and reads its idle RSS.
func linkedIdleRSS(ctx context.Context, linked, tmp string) (float64, error) {
	s, err := startServer(ctx, linked, filepath.Join(tmp, "empty-linked.db"))
	if err != nil {
		return 0, err
	}
	rss := idleRSS(s)
	return rss, s.stop()
}

// idleRSS lets a fresh server settle, then reads its resident set.
func idleRSS(s *server) float64 {
	time.Sleep(500 * time.Millisecond)
	kb, _ := procStatusKB(s.cmd.Process.Pid, "VmRSS")
	return float64(kb) / 1024
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}

func msf(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// bencher runs the scenarios and collects their results.
type bencher struct {
	o   options
	bin string
	rep *report
	// oauth2 is oauth2-proxy (nil when absent: report.OAuth2Skipped says
	// why) and oauth2Cookie its signed-in session.
	oauth2       *instance
	oauth2Cookie string
}

// oauth2ScenarioID is oauth2-proxy's /oauth2/auth scenario.
const oauth2ScenarioID = "oauth2"

// flood500ID is the login flood from 500 connections.
const flood500ID = "6.500"

// instance is a seeded database and the server running on it.
type instance struct {
	db        databaseResult
	dsn       string // DATABASE_URL of the server(s)
	s         *server
	extra     []*server // more instances on the same database
	sd        *seeded
	pprofAddr string
	pg        *pgBench // set when the database is on PostgreSQL
}

// servers is every app process on the instance's database.
func (in *instance) servers() []*server { return append([]*server{in.s}, in.extra...) }

// stop stops every app process on the database.
func (in *instance) stop() {
	for _, s := range in.servers() {
		_ = s.stop()
	}
}

// startPG makes a new database on the PostgreSQL server and starts an
// instance on it.
func (b *bencher) startPG(ctx context.Context, pg *pgBench, db databaseResult) (*instance, error) {
	dsn, err := pg.create(ctx, strings.TrimPrefix(db.Name, "pg "))
	if err != nil {
		return nil, err
	}
	in, err := b.start(ctx, dsn, db)
	if err != nil {
		return nil, err
	}
	in.pg = pg
	return in, nil
}

// start seeds a database and starts a server on it, recording the seeding
// time, the file size, the start-up time and the idle RSS.
func (b *bencher) start(ctx context.Context, dbPath string, db databaseResult) (*instance, error) {
	logf("seeding the %s database: %d users, %d sessions", db.Name, db.Users, db.Sessions)
	sd, err := seed(ctx, dbPath, seedSpec{users: db.Users, sessions: db.Sessions, pool: b.o.pool})
	if err != nil {
		return nil, err
	}
	db.SeedSeconds = sd.took.Seconds()
	if sd.pg {
		db.FileMB = sd.sizeMB
	} else if fi, err := os.Stat(dbPath); err == nil {
		db.FileMB = float64(fi.Size()) / (1 << 20)
	}
	logf("seeded in %.1fs (%.0f MB)", db.SeedSeconds, db.FileMB)
	in := &instance{sd: sd, dsn: dbPath}
	env := slices.Clone(b.o.env)
	if b.o.profileDir != "" {
		if in.pprofAddr, err = freeLoopbackAddr(); err != nil {
			return nil, err
		}
		env = append(env, "GATEHOUSE_PPROF_ADDR="+in.pprofAddr)
	}
	if in.s, err = startServer(ctx, b.bin, dbPath, env...); err != nil {
		return nil, err
	}
	db.StartMillis = msf(in.s.started)
	db.IdleRSSMB = idleRSS(in.s)
	in.db = db
	b.rep.Databases = append(b.rep.Databases, db)
	return in, nil
}

// measuring accumulates one scenario's measurements over its rounds.
type measuring struct {
	def                   scenarioDef
	acc                   []*groupStats
	srvCPU, cliCPU, dbCPU time.Duration
	peakMB                float64
}

// measure runs m's scenario for d and adds the results to m.
func (b *bencher) measure(ctx context.Context, m *measuring, d time.Duration, round int) error {
	in := m.def.inst
	pid := in.s.cmd.Process.Pid
	pids := []int{pid}
	if m.def.spread {
		pids = nil
		for _, s := range in.servers() {
			pids = append(pids, s.cmd.Process.Pid)
		}
	}
	var dbPids []int
	if in.pg != nil {
		dbPids = in.pg.backends(ctx, in.dsn)
	}
	profDone := make(chan error, 1)
	if in.pprofAddr != "" {
		path := filepath.Join(b.o.profileDir, fmt.Sprintf("%s-%s-r%d.pprof", strings.ReplaceAll(in.db.Name, " ", "-"), m.def.slug, round+1))
		secs := max(int(d/time.Second), 1)
		go func() { profDone <- fetchProfile(in.pprofAddr, secs, path) }()
	} else {
		profDone <- nil
	}
	mon := watchRSS(pid)
	srv0, db0 := sumCPU(pids), sumCPU(dbPids)
	cli0 := selfCPU()
	m.acc = runGroups(ctx, in.s.addr, d, m.acc, m.def.groups...)
	srv1, db1 := sumCPU(pids), sumCPU(dbPids)
	m.cliCPU += selfCPU() - cli0
	m.srvCPU += srv1 - srv0
	m.dbCPU += db1 - db0
	m.peakMB = max(m.peakMB, mon.peakMB())
	if err := <-profDone; err != nil {
		logf("profile of %s: %v", m.def.id, err)
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	for _, s := range in.servers() {
		select {
		case <-s.done:
			return fmt.Errorf("server died during scenario %s: %v\n%s", m.def.id, s.waitErr, s.stderrTail())
		default:
		}
	}
	return nil
}

// sumCPU is the CPU time the processes have used so far (those that
// cannot be read, such as a database server on another host, count 0).
func sumCPU(pids []int) time.Duration {
	var t time.Duration
	for _, pid := range pids {
		c, _ := procCPU(pid)
		t += c
	}
	return t
}

// scenario is the summary of everything m measured.
func (m *measuring) scenario() scenario {
	r := scenario{ID: m.def.id, DB: m.def.inst.db.Name, PeakRSSMB: m.peakMB, Instances: 1}
	if m.def.spread {
		r.Instances = len(m.def.inst.servers())
	}
	total := 0
	for i, a := range m.acc {
		g := a.result()
		r.Groups = append(r.Groups, g)
		r.Failures += failures(g, m.def.groups[i].deliberate503)
		total += g.Requests
	}
	if total > 0 {
		r.ServerCPUus = float64(m.srvCPU.Microseconds()) / float64(total)
		r.ClientCPUus = float64(m.cliCPU.Microseconds()) / float64(total)
		r.DBCPUus = float64(m.dbCPU.Microseconds()) / float64(total)
	}
	return r
}

// failures counts answers that are failures: network errors, and 5xx other
// than the deliberate 503 of a saturated login form.
func failures(g groupResult, deliberate503 bool) int {
	n := g.NetErrors
	for code, c := range g.Status {
		k, _ := strconv.Atoi(code)
		if k >= 500 && !(k == http.StatusServiceUnavailable && deliberate503) {
			n += c
		}
	}
	return n
}

// scenarioDef is one scenario: its server, its groups of workers, and a
// check, run before any measurement, that the requests do what the scenario
// claims (a "signed-in" page that answered as anonymous would measure the
// wrong thing). Hash-bound scenarios run after the others, in one piece.
type scenarioDef struct {
	id, slug  string
	inst      *instance
	groups    []group
	check     func(addr string, sd *seeded) error
	hashBound bool
	// spread: the workers are spread over all the instance's servers.
	spread bool
}

// groupDef builds a group whose workers cycle through reqs.
func groupDef(name string, conns int, reqs requestSet, deliberate503 bool) group {
	return group{name: name, conns: conns, deliberate503: deliberate503,
		requests: func(int) requestSet { return reqs }}
}

func get(addr, path string) requestSet {
	return requestSet{rawRequest(http.MethodGet, addr, path, nil, "")}
}

func signedInGets(addr, path string, sd *seeded) requestSet {
	var rs requestSet
	for _, c := range sd.cookies {
		rs = append(rs, rawRequest(http.MethodGet, addr, path, [][2]string{{"Cookie", websession.SessionCookieName + "=" + c}}, ""))
	}
	return rs
}

// forwardHeaders are what Caddy's forward_auth sends about the request it
// asks about.
var forwardHeaders = [][2]string{{"X-Forwarded-Method", "GET"}, {"X-Forwarded-Proto", "https"},
	{"X-Forwarded-Host", "app.example.com"}, {"X-Forwarded-Uri", "/dashboard?tab=1"}}

// forwardGets are forward-auth checks with each seeded session's cookie.
func forwardGets(addr string, sd *seeded) requestSet {
	var rs requestSet
	for _, c := range sd.cookies {
		h := append([][2]string{{"Cookie", websession.SessionCookieName + "=" + c}}, forwardHeaders...)
		rs = append(rs, rawRequest(http.MethodGet, addr, route.URL(route.ForwardAuth), h, ""))
	}
	return rs
}

// wantForward checks a signed-in forward-auth check answers 200 with the
// user's name in Remote-User.
func wantForward(addr string, sd *seeded) error {
	req, err := http.NewRequest(http.MethodGet, "http://"+addr+route.URL(route.ForwardAuth), nil)
	if err != nil {
		return err
	}
	for _, h := range forwardHeaders {
		req.Header.Set(h[0], h[1])
	}
	req.Header.Set("Cookie", websession.SessionCookieName+"="+sd.cookies[0])
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK || !strings.HasPrefix(res.Header.Get("Remote-User"), "user") {
		return fmt.Errorf("GET /auth/forward: got %d with Remote-User %q, want 200 with a user", res.StatusCode, res.Header.Get("Remote-User"))
	}
	return nil
}

func loginPosts(addr string, sd *seeded, password string) requestSet {
	var rs requestSet
	for _, u := range sd.usernames[:min(len(sd.usernames), 512)] {
		body := url.Values{"username": {u}, "password": {password}}.Encode()
		rs = append(rs, rawRequest(http.MethodPost, addr, route.URL(route.Login),
			[][2]string{{"Content-Type", "application/x-www-form-urlencoded"}}, body))
	}
	return rs
}

const wrongPassword = "not-the-password-at-all"

// scenarios lists every scenario in report order: 1-6 on the small
// database, 7.x on the large one (nil when skipped); then, with PostgreSQL,
// the database-bound ones again there (p3-p6, p7.3) and p8, scenario 3
// spread over two instances.
func (b *bencher) scenarios(bare, small, large, pgSmall, pgLarge *instance) []scenarioDef {
	n := b.o.conns
	ceiling := scenarioDef{id: "0", slug: "bare-gin", inst: bare,
		groups: []group{groupDef("bare Gin: GET /healthz, no middleware (the ceiling)", n, get(bare.s.addr, "/healthz"), false)},
		check:  wantOnce("/healthz", "", http.StatusOK, "ok")}
	onSmall := func(in *instance) []scenarioDef {
		addr, sd := in.s.addr, in.sd
		return []scenarioDef{
			{id: "1", slug: "healthz", groups: []group{groupDef("/healthz", n, get(addr, "/healthz"), false)},
				check: wantOnce("/healthz", "", http.StatusOK, "ok")},
			{id: "2", slug: "login-page", groups: []group{groupDef("anonymous GET /accounts/login/", n, get(addr, route.URL(route.Login)), false)},
				check: wantOnce(route.URL(route.Login), "", http.StatusOK, `id="login-form"`)},
			{id: "3", slug: "home", groups: []group{groupDef("signed-in GET /", n, signedInGets(addr, "/", sd), false)},
				check: wantSignedIn("/", `data-testid="greeting">Hi user`)},
			{id: "4", slug: "profile", groups: []group{groupDef("signed-in GET /accounts/profile/", n, signedInGets(addr, route.URL(route.Profile), sd), false)},
				check: wantSignedIn(route.URL(route.Profile), "@bench.example")},
			{id: "5", slug: "login-ok", hashBound: true,
				groups: []group{groupDef("POST /accounts/login/ (right password)", n, loginPosts(addr, sd, benchPassword), true)},
				check:  wantLogin(benchPassword, http.StatusSeeOther)},
			{id: "6", slug: "flood", hashBound: true, groups: []group{
				groupDef("flood: POST /accounts/login/ (wrong password)", b.o.floodConns, loginPosts(addr, sd, wrongPassword), true),
				groupDef("browsing during flood: signed-in GET /", n, signedInGets(addr, "/", sd), false),
			}, check: wantLogin(wrongPassword, http.StatusUnprocessableEntity)},
			{id: "9", slug: "forward-auth", groups: []group{groupDef("signed-in GET /auth/forward (as Caddy asks)", n, forwardGets(addr, sd), false)},
				check: wantForward},
		}
	}
	defs := onSmall(small)
	for i := range defs {
		defs[i].inst = small
	}
	defs = append([]scenarioDef{ceiling}, defs...)
	if b.oauth2 != nil {
		o := b.oauth2
		defs = append(defs, scenarioDef{id: oauth2ScenarioID, slug: "oauth2-proxy", inst: o,
			groups: []group{groupDef("oauth2-proxy: signed-in GET /oauth2/auth (stateless cookie)", n,
				requestSet{rawRequest(http.MethodGet, o.s.addr, "/oauth2/auth", [][2]string{{"Cookie", b.oauth2Cookie}}, "")}, false)},
			check: wantOAuth2ProxyAuth(b.oauth2Cookie)})
	}
	// The login flood again from 500 connections, each waiting on the
	// hashing queue: what the waiting connections cost in memory.
	defs = append(defs, scenarioDef{id: flood500ID, slug: "flood-500", inst: small, hashBound: true, groups: []group{
		groupDef("flood: POST /accounts/login/ (wrong password, 500 conns)", 500, loginPosts(small.s.addr, small.sd, wrongPassword), true),
		groupDef("browsing during the 500-connection flood: signed-in GET /", n, signedInGets(small.s.addr, "/", small.sd), false),
	}, check: wantLogin(wrongPassword, http.StatusUnprocessableEntity)})
	// The OpenID provider's userinfo with a valid access token (tokens got
	// through the real code flow before measuring).
	ot := &oidcTokens{}
	defs = append(defs, scenarioDef{id: "10", slug: "oidc-userinfo", inst: small,
		groups: []group{{name: "GET /oidc/userinfo/ (bearer access token)", conns: n, requests: func(int) requestSet {
			t, _ := ot.get(small.s.addr, small.dsn, small.sd, 64)
			return userinfoGets(small.s.addr, t)
		}}},
		check: func(addr string, sd *seeded) error {
			t, err := ot.get(addr, small.dsn, sd, 64)
			if err != nil {
				return err
			}
			req, _ := http.NewRequest(http.MethodGet, "http://"+addr+route.URL(route.OIDCUserinfo), nil)
			req.Header.Set("Authorization", "Bearer "+t[0])
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				return err
			}
			body, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode != http.StatusOK || !strings.Contains(string(body), `"preferred_username":"user`) {
				return fmt.Errorf("GET userinfo: got %d %s", res.StatusCode, body)
			}
			return nil
		}})
	if large != nil {
		// The ceiling on the large server too, then scenarios 3 and 2 on it.
		l := onSmall(large)
		for _, pick := range []struct {
			i  int
			id string
		}{{0, "7.1"}, {2, "7.3"}, {1, "7.2"}} {
			d := l[pick.i]
			d.id, d.inst = pick.id, large
			defs = append(defs, d)
		}
	}
	if pgSmall == nil {
		return defs
	}
	// /healthz and the anonymous login page touch no database: they are
	// not run again on PostgreSQL.
	p := onSmall(pgSmall)
	for _, d := range p[2:] {
		d.id, d.inst = "p"+d.id, pgSmall
		defs = append(defs, d)
	}
	if pgLarge != nil {
		d := onSmall(pgLarge)[2]
		d.id, d.inst = "p7.3", pgLarge
		defs = append(defs, d)
	}
	var addrs []string
	for _, s := range pgSmall.servers() {
		addrs = append(addrs, s.addr)
	}
	home := groupDef(fmt.Sprintf("signed-in GET /, %d instances", len(addrs)), n, signedInGets(pgSmall.s.addr, "/", pgSmall.sd), false)
	home.addrs = addrs
	defs = append(defs, scenarioDef{id: "p8", slug: "home-2", inst: pgSmall, spread: true, groups: []group{home},
		check: func(_ string, sd *seeded) error {
			for _, a := range addrs {
				if err := wantSignedIn("/", `data-testid="greeting">Hi user`)(a, sd); err != nil {
					return err
				}
			}
			return nil
		}})
	return defs
}

// fetch makes one request with an optional session cookie.
func fetch(method, addr, path, cookie string, form url.Values) (int, string, error) {
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, "http://"+addr+path, body)
	if err != nil {
		return 0, "", err
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if cookie != "" {
		req.Header.Set("Cookie", websession.SessionCookieName+"="+cookie)
	}
	c := &http.Client{Timeout: 30 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := c.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return res.StatusCode, string(b), err
}

func wantOnce(path, cookie string, status int, contains string) func(string, *seeded) error {
	return func(addr string, _ *seeded) error {
		code, body, err := fetch(http.MethodGet, addr, path, cookie, nil)
		if err != nil {
			return err
		}
		if code != status || !strings.Contains(body, contains) {
			return fmt.Errorf("GET %s: got %d, want %d with %q in the body", path, code, status, contains)
		}
		return nil
	}
}

func wantSignedIn(path, contains string) func(string, *seeded) error {
	return func(addr string, sd *seeded) error {
		for _, c := range []string{sd.cookies[0], sd.cookies[len(sd.cookies)-1]} {
			code, body, err := fetch(http.MethodGet, addr, path, c, nil)
			if err != nil {
				return err
			}
			if code != http.StatusOK || !strings.Contains(body, contains) {
				return fmt.Errorf("signed-in GET %s: got %d, want 200 with %q in the body", path, code, contains)
			}
		}
		return nil
	}
}

func wantLogin(password string, status int) func(string, *seeded) error {
	return func(addr string, sd *seeded) error {
		form := url.Values{"username": {sd.usernames[len(sd.usernames)-1]}, "password": {password}}
		code, _, err := fetch(http.MethodPost, addr, route.URL(route.Login), "", form)
		if err != nil {
			return err
		}
		if code != status {
			return fmt.Errorf("POST /accounts/login/: got %d, want %d", code, status)
		}
		return nil
	}
}

// find returns the first group result of scenario id.
func (r *report) find(id string) (groupResult, scenario, bool) {
	for _, s := range r.Scenarios {
		if s.ID == id {
			return s.Groups[0], s, true
		}
	}
	return groupResult{}, scenario{}, false
}

// evaluate checks the performance targets against one run's results.
func evaluate(r *report, o options) []target {
	var ts []target
	add := func(name, measured, goal string, v float64, met bool) {
		ts = append(ts, target{Name: name, Measured: measured, Goal: goal, Value: v, Met: met})
	}
	bare, _, okBare := r.find("0")
	if okBare && bare.RPS > 0 {
		for _, c := range []struct {
			id, name string
			goal     float64
		}{{"1", "/healthz (the whole middleware stack)", 0.85}, {"2", "anonymous login page", 0.75}, {"3", "signed-in GET /, SQLite", 0.45},
			{"p3", "signed-in GET /, PostgreSQL", 0.45},
			{"9", "signed-in /auth/forward, SQLite", 0.5}, {"p9", "signed-in /auth/forward, PostgreSQL", 0.5},
			{"10", "OpenID userinfo with a valid access token, SQLite", 0.4}} {
			if g, _, ok := r.find(c.id); ok {
				v := g.RPS / bare.RPS
				add(c.name+" vs bare Gin", fmt.Sprintf("%.2f (%.0f / %.0f req/s)", v, g.RPS, bare.RPS), fmt.Sprintf(">= %.2f", c.goal), v, v >= c.goal)
			}
		}
		if g, _, ok := r.find("3"); ok {
			add("signed-in GET / p99 (SQLite)", fmt.Sprintf("%.2f ms", g.P99ms), "< 8 ms", g.P99ms, g.P99ms < 8)
		}
		if g, _, ok := r.find("p3"); ok {
			add("signed-in GET / p99 (PostgreSQL)", fmt.Sprintf("%.2f ms", g.P99ms), "< 8 ms", g.P99ms, g.P99ms < 8)
		}
		for _, id := range []string{"9", "p9"} {
			if g, _, ok := r.find(id); ok {
				add("signed-in /auth/forward p99 ("+id+")", fmt.Sprintf("%.2f ms", g.P99ms), "< 5 ms", g.P99ms, g.P99ms < 5)
			}
		}
	}
	health, hs, okH := r.find("1")
	login, ls, okL := r.find("2")
	home, ms, okHome := r.find("3")
	// cost is CPU per request, server and generator together: the
	// throughput ratio the machine would give if nothing else ran on it.
	cost := func(s scenario) float64 { return s.ServerCPUus + s.ClientCPUus }
	if okH && okL && okHome && health.RPS > 0 {
		v := home.RPS / health.RPS
		add("signed-in GET / vs /healthz", fmt.Sprintf("%.0f%% (%.0f / %.0f req/s; by CPU cost %.0f%%)",
			100*v, home.RPS, health.RPS, 100*cost(hs)/cost(ms)), ">= 50%", v, v >= 0.5)
		v = login.RPS / health.RPS
		add("anonymous login page vs /healthz", fmt.Sprintf("%.0f%% (%.0f / %.0f req/s; by CPU cost %.0f%%)",
			100*v, login.RPS, health.RPS, 100*cost(hs)/cost(ls)), ">= 70%", v, v >= 0.7)
		add("signed-in GET / p99", fmt.Sprintf("%.2f ms", home.P99ms), "< 10 ms", home.P99ms, home.P99ms < 10)
		add("anonymous login page p99", fmt.Sprintf("%.2f ms", login.P99ms), "< 10 ms", login.P99ms, login.P99ms < 10)
	}
	if pg, ps, ok := r.find("p3"); ok && okH && health.RPS > 0 {
		v := pg.RPS / health.RPS
		add("PostgreSQL: signed-in GET / vs /healthz", fmt.Sprintf("%.0f%% (%.0f / %.0f req/s; by CPU cost, app and database, %.0f%%)",
			100*v, pg.RPS, health.RPS, 100*cost(hs)/(cost(ps)+ps.DBCPUus)), ">= 35%", v, v >= 0.35)
		add("PostgreSQL: signed-in GET / p99", fmt.Sprintf("%.2f ms", pg.P99ms), "< 15 ms", pg.P99ms, pg.P99ms < 15)
	}
	for _, pair := range [][3]string{{"3", "7.3", "signed-in GET /"}, {"2", "7.2", "anonymous login page"}, {"p3", "p7.3", "PostgreSQL: signed-in GET /"}} {
		s, ss, ok1 := r.find(pair[0])
		l, lss, ok2 := r.find(pair[1])
		if !ok1 || !ok2 || s.RPS == 0 {
			continue
		}
		v := 1 - l.RPS/s.RPS
		add(pair[2]+": 1M sessions vs small DB", fmt.Sprintf("%+.1f%% req/s (%.0f vs %.0f; CPU cost %+.0f%%)",
			-100*v, l.RPS, s.RPS, 100*(cost(lss)/cost(ss)-1)), "loss <= 15%", v, v <= 0.15)
	}
	if _, s, ok := r.find(flood500ID); ok {
		add("peak RSS during the 500-connection login flood", fmt.Sprintf("%.1f MB (browsing p99 %.2f ms)", s.PeakRSSMB, s.Groups[1].P99ms),
			"<= 250 MB", s.PeakRSSMB, s.PeakRSSMB <= 250)
	}
	if g, _, ok := r.find(oauth2ScenarioID); ok && okBare && bare.RPS > 0 {
		m := fmt.Sprintf("%.2f of bare Gin (%.0f / %.0f req/s, p99 %.2f ms)", g.RPS/bare.RPS, g.RPS, bare.RPS, g.P99ms)
		if f, _, ok := r.find("9"); ok && g.RPS > 0 {
			m += fmt.Sprintf("; Gatehouse /auth/forward (SQLite) %.2f× its req/s", f.RPS/g.RPS)
		}
		r.Reported = append(r.Reported, target{Name: "oauth2-proxy /oauth2/auth, signed-in cookie", Measured: m, Value: g.RPS / bare.RPS})
	} else if o.only == nil || o.only[oauth2ScenarioID] {
		if why := r.OAuth2Skipped; why != "" {
			r.Reported = append(r.Reported, target{Name: "oauth2-proxy /oauth2/auth, signed-in cookie", Measured: "skipped: " + why})
		}
	}
	for _, s := range r.Scenarios {
		if s.ID != "6" {
			continue
		}
		browse := s.Groups[1]
		add("browsing p99 during login flood", fmt.Sprintf("%.2f ms", browse.P99ms), "< 50 ms", browse.P99ms, browse.P99ms < 50)
		add("peak RSS during login flood", fmt.Sprintf("%.1f MB", s.PeakRSSMB), "< 300 MB", s.PeakRSSMB, s.PeakRSSMB < 300)
		n503 := s.Groups[0].Status["503"]
		add("5xx during login flood (besides login-form 503s)", fmt.Sprintf("%d (deliberate 503s: %d)", s.Failures, n503), "0", float64(s.Failures), s.Failures == 0)
	}
	total := 0
	for _, s := range r.Scenarios {
		total += s.Failures
	}
	// Reported without a goal.
	if pg, ps, ok := r.find("p3"); ok && okHome {
		r.Reported = append(r.Reported, target{Name: "PostgreSQL round trip (p3 vs 3)", Value: ps.ServerCPUus - ms.ServerCPUus,
			Measured: fmt.Sprintf("app CPU %+.0f µs/req (%.0f vs %.0f), PostgreSQL backends %.0f µs/req, p50 %+.2f ms, req/s %.0f vs %.0f",
				ps.ServerCPUus-ms.ServerCPUus, ps.ServerCPUus, ms.ServerCPUus, ps.DBCPUus, pg.P50ms-home.P50ms, pg.RPS, home.RPS)})
		if two, ts, ok := r.find("p8"); ok && pg.RPS > 0 {
			r.Reported = append(r.Reported, target{Name: fmt.Sprintf("PostgreSQL: %d instances vs 1 (p8 vs p3)", ts.Instances), Value: two.RPS / pg.RPS,
				Measured: fmt.Sprintf("%.0f vs %.0f req/s (%+.0f%%), p99 %.2f vs %.2f ms, app CPU %.0f vs %.0f µs/req, PostgreSQL backends %.0f vs %.0f µs/req",
					two.RPS, pg.RPS, 100*(two.RPS/pg.RPS-1), two.P99ms, pg.P99ms, ts.ServerCPUus, ps.ServerCPUus, ts.DBCPUus, ps.DBCPUus)})
		}
	}
	add("failures in all scenarios (5xx, network errors)", strconv.Itoa(total), "0", float64(total), total == 0)
	idle := r.Startup.IdleRSSMB
	for _, d := range r.Databases {
		idle = max(idle, d.IdleRSSMB)
	}
	add("idle RSS (largest of empty, small, large DB)", fmt.Sprintf("%.1f MB", idle), "< 40 MB", idle, idle < 40)
	add("start-up to first 200, empty DB (median)", fmt.Sprintf("%.0f ms (max %.0f)", r.Startup.MedianMillis, r.Startup.MaxMillis), "< 300 ms",
		r.Startup.MedianMillis, r.Startup.MedianMillis < 300)
	return ts
}

func printReport(w io.Writer, r *report) {
	fmt.Fprintf(w, "\nGatehouse load benchmark — %s, %d CPUs, load average before %s, database %s\n"+
		"%s per scenario (scenarios 1-4 and 7 in %d interleaved rounds), %d connections\n\n",
		r.GoVersion, r.CPUs, r.LoadAvg, r.Database, r.Duration, r.Rounds, r.Conns)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "#\tscenario\tDB\tconns\treq/s\tp50 ms\tp99 ms\tmax ms\tpeak RSS MB\tserver CPU µs/req\tDB CPU µs/req\tstatuses\t")
	for _, s := range r.Scenarios {
		for i, g := range s.Groups {
			id, rss, cpu, dbCPU := s.ID, fmt.Sprintf("%.1f", s.PeakRSSMB), fmt.Sprintf("%.0f", s.ServerCPUus), ""
			if s.DBCPUus > 0 {
				dbCPU = fmt.Sprintf("%.0f", s.DBCPUus)
			}
			if i > 0 {
				id, rss, cpu, dbCPU = "", "", "", ""
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%.0f\t%.2f\t%.2f\t%.1f\t%s\t%s\t%s\t%s\t\n",
				id, g.Name, s.DB, g.Conns, g.RPS, g.P50ms, g.P99ms, g.Maxms, rss, cpu, dbCPU, statuses(g))
		}
	}
	tw.Flush()
	fmt.Fprintf(w, "\nstart-up (spawn to first 200 from /healthz, empty DB, %d runs): median %.0f ms, max %.0f ms; idle RSS %.1f MB, of which %.1f MB private (the rest: the executable's pages); the linker's output run in place, not installed: %.1f MB\n",
		r.Startup.Runs, r.Startup.MedianMillis, r.Startup.MaxMillis, r.Startup.IdleRSSMB, r.Startup.IdleAnonMB, r.Startup.LinkedIdleRSSMB)
	for _, d := range r.Databases {
		fmt.Fprintf(w, "%s DB: %d users, %d sessions, seeded in %.1f s, %.0f MB file; start-up %.0f ms, idle RSS %.1f MB\n",
			d.Name, d.Users, d.Sessions, d.SeedSeconds, d.FileMB, d.StartMillis, d.IdleRSSMB)
	}
	fmt.Fprintln(w, "\ntargets (ratios within this run):")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, t := range r.Targets {
		mark := "PASS"
		if !t.Met {
			mark = "FAIL"
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\tgoal %s\n", mark, t.Name, t.Measured, t.Goal)
	}
	tw.Flush()
	if len(r.Reported) > 0 {
		fmt.Fprintln(w, "\nreported (no goal):")
		for _, t := range r.Reported {
			fmt.Fprintf(w, "  %s: %s\n", t.Name, t.Measured)
		}
	}
}

func statuses(g groupResult) string {
	keys := make([]string, 0, len(g.Status))
	for k := range g.Status {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s×%d", k, g.Status[k]))
	}
	if g.NetErrors > 0 {
		parts = append(parts, fmt.Sprintf("neterr×%d", g.NetErrors))
	}
	return strings.Join(parts, " ")
}
