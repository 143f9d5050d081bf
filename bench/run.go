package bench

import (
	"context"
	"errors"
	"io"
	"math"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"edgeio/bench/relay"
	"edgeio/server/auth"
)

// maxConnecting bounds connections in their handshake at once, so that a stalled server
// slows the ramp down instead of piling up goroutines.
const maxConnecting = 1000

// run is the state of one bench run.
type run struct {
	cfg     Config
	base    time.Time // the monotonic clock's zero for timestamps
	msgpack bool
	relay   bool // --protocol relay: bare WebSocket frames, no Socket.IO
	secret  []byte
	targets []target // the servers, connections round robin over them
	redis   *redisProbe
	notes   []string

	rr      roundRobin
	dialers []*net.Dialer  // per source address (WebSocket)
	clients []*http.Client // per source address (polling)
	dialer0 *net.Dialer
	client0 *http.Client

	conns []*conn
	rooms []*room
	tmpl  []*sendTemplate // per room

	phase     atomic.Pointer[string]
	phaseAt   atomic.Int64 // when the phase began, ns since base
	sendStart atomic.Int64 // ns since base; MaxInt64 until the send phase is scheduled

	connectLat, joinLat, deliveryLat, ackLat latency
	typing, presence                         *prober

	attempted, connected, failed, joinedN atomic.Int64
	joinPending                           atomic.Int64
	sent, acked, expected, received       atomic.Int64
	sendLagMax                            atomic.Int64
	errors, disconnects                   tally

	readers sync.WaitGroup
}

// room is one bench room; members are fixed after the join phase, live follows disconnects.
type room struct {
	name    string
	members []*conn
	live    atomic.Int32
}

func userID(i int) string { return "bench-" + strconv.Itoa(i) }

// target is one server's endpoints.
type target struct {
	wsURL   string // the WebSocket endpoint (the relay's: its room name follows)
	pollURL string // the polling endpoint
}

// newTarget derives a server's endpoints from its URL.
func newTarget(raw, path string, relayProtocol bool) (target, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return target{}, err
	}
	if !strings.HasPrefix(path, "/") {
		path = "/" + path
	}
	if !strings.HasSuffix(path, "/") {
		path += "/"
	}
	ws := "ws"
	if u.Scheme == "https" {
		ws = "wss"
	}
	t := target{
		wsURL:   ws + "://" + u.Host + path + "?EIO=4&transport=websocket",
		pollURL: u.Scheme + "://" + u.Host + path + "?EIO=4&transport=polling",
	}
	if relayProtocol {
		t.wsURL = ws + "://" + u.Host + relay.Path + "?room="
	}
	return t, nil
}

func newRun(cfg Config) (*run, error) {
	r := &run{
		cfg:     cfg,
		base:    time.Now(),
		msgpack: cfg.Parser == ParserMsgpack,
		secret:  []byte(cfg.JWTSecret),
		relay:   cfg.Protocol == ProtocolRelay,
	}
	urls := cfg.URLs
	if len(urls) == 0 { // a Config that skipped Validate
		urls = []string{cfg.URL}
	}
	loopback := true
	for _, raw := range urls {
		t, err := newTarget(raw, cfg.Path, r.relay)
		if err != nil {
			return nil, err
		}
		r.targets = append(r.targets, t)
		if u, _ := url.Parse(raw); !loopbackHost(u.Hostname()) {
			loopback = false
		}
	}
	if cfg.RedisURL != "" {
		p, err := newRedisProbe(cfg.RedisURL)
		if err != nil {
			return nil, err
		}
		r.redis = p
	}
	r.sendStart.Store(math.MaxInt64)
	r.setPhase("start")
	r.typing, r.presence = newProber(r), newProber(r)

	sources, err := parseSourceIPs(cfg.SourceIPs)
	if err != nil {
		return nil, err
	}
	if allLoopback(sources) && !loopback {
		r.notes = append(r.notes, "the target is not a loopback address: --source-ips ignored")
		sources = nil
	}
	r.rr.n = len(sources)
	perSource := cfg.Conns
	if len(sources) > 0 {
		perSource = cfg.Conns/len(sources) + 1
	}
	for _, a := range sources {
		r.dialers = append(r.dialers, &net.Dialer{Timeout: cfg.ConnectTimeout, LocalAddr: tcpAddr(a)})
		if cfg.Transport == TransportPolling {
			r.clients = append(r.clients, newHTTPClient(a, perSource, cfg.ConnectTimeout))
		}
	}
	r.dialer0 = &net.Dialer{Timeout: cfg.ConnectTimeout}
	if cfg.Transport == TransportPolling && len(sources) == 0 {
		r.client0 = newHTTPClient(netip.Addr{}, perSource, cfg.ConnectTimeout)
	}

	nRooms := (cfg.Conns + cfg.RoomSize - 1) / cfg.RoomSize
	for i := range nRooms {
		rm := &room{name: "bench-" + strconv.Itoa(i)}
		t, err := newSendTemplate(rm.name, r.msgpack, cfg.ClientMsgID)
		if r.relay {
			t, err = newRelayTemplate(rm.name, r.msgpack)
		}
		if err != nil {
			return nil, err
		}
		r.rooms = append(r.rooms, rm)
		r.tmpl = append(r.tmpl, t)
	}
	r.conns = make([]*conn, cfg.Conns)
	for i := range r.conns {
		r.conns[i] = newConn(r, i)
	}
	return r, nil
}

// now is the run's clock: monotonic nanoseconds since base.
func (r *run) now() int64 { return int64(time.Since(r.base)) }

func (r *run) at(t time.Time) int64 { return int64(t.Sub(r.base)) }

func (r *run) setPhase(p string) {
	r.phaseAt.Store(r.now())
	r.phase.Store(&p)
}

func (r *run) dialer(src int) *net.Dialer {
	if src < 0 {
		return r.dialer0
	}
	return r.dialers[src]
}

func (r *run) httpClient(src int) *http.Client {
	if src < 0 {
		return r.client0
	}
	return r.clients[src]
}

// Run performs one bench run and returns its report. The error says why the run was cut
// short (max-time, ctx cancelled, no connection at all); the report is then still filled
// with what was measured. The report is nil only when the run could not start.
func Run(ctx context.Context, cfg Config, progress io.Writer) (*Report, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	r, err := newRun(cfg)
	if err != nil {
		return nil, err
	}
	rctx, cancel := context.WithTimeout(ctx, cfg.MaxTime)
	defer cancel()
	stop := func() {}
	if !cfg.Quiet && progress != nil {
		stop = r.startProgress(progress)
	}
	rep := r.execute(rctx)
	stop()
	r.teardown()
	switch {
	case ctx.Err() != nil:
		rep.Aborted = "interrupted"
	case rctx.Err() != nil:
		rep.Aborted = "max-time " + cfg.MaxTime.String() + " reached"
	}
	if rep.Aborted != "" {
		return rep, errors.New("bench: run cut short: " + rep.Aborted)
	}
	if rep.Connections.Connected == 0 {
		return rep, errors.New("bench: no connection succeeded")
	}
	return rep, nil
}

// execute runs the phases and builds the report.
func (r *run) execute(ctx context.Context) *Report {
	rep := newReport(r.cfg)
	began := time.Now()
	srvBefore, haveSrv := r.sampleServer()
	redisBefore, haveRedis := r.sampleRedis()

	r.setPhase("connect")
	t := time.Now()
	r.connectAll(ctx)
	rep.Phases.Connect = time.Since(t).Seconds()

	r.setPhase("join")
	t = time.Now()
	r.joinAll(ctx)
	rep.Phases.Join = time.Since(t).Seconds()
	r.buildRooms()
	srvJoined, _ := r.sampleServer()
	redisJoined, joinedOK := r.sampleRedis()

	var w window
	switch {
	case r.joinedN.Load() == 0:
		r.notes = append(r.notes, "no connection joined its room: nothing to measure")
	case r.cfg.Idle:
		r.setPhase("idle")
		w = r.idlePhase(ctx)
	default:
		w = r.sendPhase(ctx, rep)
		r.setPhase("drain")
		t = time.Now()
		r.drain(ctx)
		rep.Phases.Drain = time.Since(t).Seconds()
	}
	r.typing.expire(0, true)
	r.presence.expire(0, true)
	rep.Phases.Send = w.seconds
	rep.Phases.Total = time.Since(began).Seconds()
	r.fillReport(rep, w)
	if haveRedis && joinedOK && w.haveRedis {
		rep.Redis = redisStats(r.cfg.RedisURL, redisBefore, redisJoined, w.redisStart, w.redisEnd, rep)
	}
	if haveSrv {
		rep.Server = serverStats(r.cfg, srvBefore, srvJoined, w, rep)
	}
	rep.Notes = append(rep.Notes, r.notes...)
	return rep
}

// window is what was sampled around the measured span (the send phase, or the idle hold).
type window struct {
	seconds              float64
	srvStart, srvEnd     procSample
	srvStartOK, srvEndOK bool
	haveSrv              bool // both server samples
	redisStart, redisEnd redisSample
	haveRedis            bool // both Redis samples
	selfStart, selfEnd   procSample
	hostStart, hostEnd   hostCPU
	mallocs              uint64 // heap allocations of this process over the window
}

// connectAll opens every connection, ramping at --rate.
func (r *run) connectAll(ctx context.Context) {
	pc := newPacer(time.Now(), r.cfg.Rate)
	sem := make(chan struct{}, maxConnecting)
	var wg sync.WaitGroup
	ttl := r.cfg.MaxTime + 10*time.Minute
loop:
	for i, c := range r.conns {
		if !pc.wait(ctx, int64(i)) {
			break
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			break loop
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			r.connect(ctx, c, ttl)
		}()
	}
	wg.Wait()
}

// connect opens one connection and waits for its CONNECT reply.
func (r *run) connect(ctx context.Context, c *conn, ttl time.Duration) {
	r.attempted.Add(1)
	err := r.dial(ctx, c, ttl)
	if err == nil {
		timer := time.NewTimer(r.cfg.ConnectTimeout)
		select {
		case err = <-c.ready:
		case <-timer.C:
			err = connectError("CONNECT_TIMEOUT")
		case <-ctx.Done():
			err = connectError("ABORTED")
		}
		timer.Stop()
		if err != nil && !c.state.CompareAndSwap(stConnecting, stDead) && c.state.Load() == stOpen {
			err = nil // the reply won the race with the timeout
		}
	}
	if err != nil {
		c.state.Store(stDead)
		if c.tr != nil {
			c.shutdown()
		}
		r.failed.Add(1)
		r.errors.add("connect "+err.Error(), 1)
		return
	}
	r.connected.Add(1)
}

func (r *run) dial(ctx context.Context, c *conn, ttl time.Duration) error {
	token, err := auth.Mint(r.secret, c.user, c.user, nil, ttl)
	if err != nil {
		return connectError("TOKEN")
	}
	if c.connectPkt, err = encodeConnect(r.msgpack, token, r.cfg.Recovery); err != nil {
		return connectError("ENCODE")
	}
	src := r.rr.pick()
	t := r.targets[c.idx%len(r.targets)]
	c.start = r.now()
	switch {
	case r.cfg.Transport == TransportPolling:
		return r.dialPolling(ctx, c, src, t.pollURL)
	case r.relay: // in the room as soon as the upgrade is answered
		if err := r.dialWebSocket(c, src, t.wsURL+url.QueryEscape(r.rooms[c.room].name)); err != nil {
			return err
		}
		c.connectOK()
		return nil
	}
	return r.dialWebSocket(c, src, t.wsURL)
}

// joinAll joins every open connection to its room, at --rate, and waits for the acks.
// A relay connection is in its room from the start.
func (r *run) joinAll(ctx context.Context) {
	if r.relay {
		for _, c := range r.conns {
			if c.alive() && c.joined.CompareAndSwap(false, true) {
				r.joinedN.Add(1)
			}
		}
		return
	}
	pc := newPacer(time.Now(), r.cfg.Rate)
	var k int64
	for _, c := range r.conns {
		if !c.alive() {
			continue
		}
		if !pc.wait(ctx, k) {
			return
		}
		k++
		r.joinPending.Add(1)
		if err := c.emitCtrl(ctrlJoin, "join-room", r.rooms[c.room].name); err != nil {
			r.joinPending.Add(-1)
			r.errors.add("join-room write error", 1)
		}
	}
	deadline := time.Now().Add(r.cfg.ConnectTimeout)
	for r.joinPending.Load() > 0 && time.Now().Before(deadline) {
		if !sleepCtx(ctx, 10*time.Millisecond) {
			return
		}
	}
	if n := r.joinPending.Load(); n > 0 {
		r.errors.add("join-room TIMEOUT", n)
	}
}

// joinAcked takes a join-room ack.
func (r *run) joinAcked(c *conn, ok bool, code string, lat int64) {
	r.joinPending.Add(-1)
	r.joinLat.record(c.shard, lat)
	if !ok {
		r.errors.add("join-room "+code, 1)
		return
	}
	if c.joined.CompareAndSwap(false, true) {
		r.joinedN.Add(1)
	}
}

// buildRooms fixes each room's members: its connections that are open and joined.
func (r *run) buildRooms() {
	for _, c := range r.conns {
		if c.alive() && c.joined.Load() {
			rm := r.rooms[c.room]
			rm.members = append(rm.members, c)
		}
	}
	for _, rm := range r.rooms {
		rm.live.Store(int32(len(rm.members)))
	}
}

// idlePhase holds the connections for --duration without sending.
func (r *run) idlePhase(ctx context.Context) window {
	var w window
	w.srvStart, w.srvStartOK = r.sampleServer()
	w.redisStart, w.haveRedis = r.sampleRedis()
	w.selfStart, _ = readProc(0)
	w.hostStart = readHostCPU()
	t := time.Now()
	sleepCtx(ctx, r.cfg.Duration)
	w.seconds = time.Since(t).Seconds()
	w.srvEnd, w.srvEndOK = r.sampleServer()
	w.sampleRedisEnd(r)
	w.selfEnd, _ = readProc(0)
	w.hostEnd = readHostCPU()
	w.haveSrv = w.srvStartOK && w.srvEndOK
	return w
}

// drain waits up to --drain for the deliveries and probe receipts still due.
func (r *run) drain(ctx context.Context) {
	deadline := time.Now().Add(r.cfg.Drain)
	for time.Now().Before(deadline) {
		if r.received.Load() >= r.expected.Load() && r.typing.outstanding() == 0 && r.presence.outstanding() == 0 {
			return
		}
		if !sleepCtx(ctx, 10*time.Millisecond) {
			return
		}
	}
}

// sampleServer reads the server's CPU and RSS from /proc or /metrics, when configured.
func (r *run) sampleServer() (procSample, bool) {
	switch {
	case len(r.cfg.ServerPIDs) > 0:
		var sum procSample
		for _, pid := range r.cfg.ServerPIDs {
			s, err := readProc(pid)
			if err != nil {
				r.noteOnce("server pid: " + err.Error())
				return sum, false
			}
			sum.add(s)
		}
		return sum, true
	case r.cfg.MetricsURL != "":
		s, err := scrapeMetrics(context.Background(), r.cfg.MetricsURL, r.cfg.MetricsToken)
		if err != nil {
			r.noteOnce("metrics: " + err.Error())
			return s, false
		}
		return s, true
	}
	return procSample{}, false
}

// sampleRedis samples the servers' Redis, when --redis-url names one.
func (r *run) sampleRedis() (redisSample, bool) {
	if r.redis == nil {
		return redisSample{}, false
	}
	s, err := r.redis.sample()
	if err != nil {
		r.noteOnce("redis: " + err.Error())
		return s, false
	}
	return s, true
}

// sampleRedisEnd takes the window's closing Redis sample.
func (w *window) sampleRedisEnd(r *run) {
	if !w.haveRedis {
		return
	}
	w.redisEnd, w.haveRedis = r.sampleRedis()
}

func (r *run) noteOnce(n string) {
	for _, have := range r.notes {
		if have == n {
			return
		}
	}
	r.notes = append(r.notes, n)
}

// teardown closes every connection and waits briefly for the readers to end.
func (r *run) teardown() {
	r.setPhase("close")
	sem := make(chan struct{}, 64)
	var wg sync.WaitGroup
	for _, c := range r.conns {
		if c.tr == nil {
			continue
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			c.shutdown()
		}()
	}
	wg.Wait()
	done := make(chan struct{})
	go func() {
		r.readers.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
	}
	for _, hc := range append(r.clients, r.client0) {
		if hc != nil {
			hc.CloseIdleConnections()
		}
	}
	if r.redis != nil {
		r.redis.close()
	}
}
