package bench

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// With --redis-url the harness samples the servers' Redis beside the servers: before
// connecting, after the join phase and around the send phase (or the hold). Its CPU and RSS
// come from INFO (used_cpu_sys + used_cpu_user: the kernel's accounting of the process, as
// /proc gives the servers', to the microsecond rather than the clock tick), its commands
// from INFO commandstats, its bytes from INFO stats. What connecting and joining added is
// reported per connection, what the send phase added per message sent (typing and
// presence probes and the nodes' heartbeats included).

// redisProbe reads one Redis's figures.
type redisProbe struct{ client *redis.Client }

// redisSample is a Redis at one moment.
type redisSample struct {
	cpu           float64 // seconds, user + system
	rssKB         int64
	netIn, netOut float64 // bytes read from and written to clients
	cmds          map[string]cmdStat
}

// cmdStat is one line of INFO commandstats.
type cmdStat struct{ calls, usec float64 }

func newRedisProbe(raw string) (*redisProbe, error) {
	opt, err := redis.ParseURL(raw)
	if err != nil {
		return nil, fmt.Errorf("bench: --redis-url: %w", err)
	}
	opt.PoolSize, opt.MaxRetries = 1, 1
	return &redisProbe{client: redis.NewClient(opt)}, nil
}

func (p *redisProbe) close() { _ = p.client.Close() }

func (p *redisProbe) sample() (redisSample, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	info, err := p.client.Info(ctx, "cpu", "memory", "stats", "commandstats").Result()
	if err != nil {
		return redisSample{}, err
	}
	return parseRedisInfo(info), nil
}

// parseRedisInfo reads the fields a sample needs from INFO's text.
func parseRedisInfo(info string) (s redisSample) {
	s.cmds = map[string]cmdStat{}
	num := func(v string) float64 { f, _ := strconv.ParseFloat(strings.TrimSpace(v), 64); return f }
	for line := range strings.SplitSeq(info, "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(line), ":")
		if !ok {
			continue
		}
		switch {
		case k == "used_cpu_sys" || k == "used_cpu_user":
			s.cpu += num(v)
		case k == "used_memory_rss":
			s.rssKB = int64(num(v)) / 1024
		case k == "total_net_input_bytes":
			s.netIn = num(v)
		case k == "total_net_output_bytes":
			s.netOut = num(v)
		case strings.HasPrefix(k, "cmdstat_"):
			var c cmdStat
			for field := range strings.SplitSeq(v, ",") {
				name, val, _ := strings.Cut(field, "=")
				switch name {
				case "calls":
					c.calls = num(val)
				case "usec":
					c.usec = num(val)
				}
			}
			s.cmds[strings.TrimPrefix(k, "cmdstat_")] = c
		}
	}
	return s
}

// RedisStats is what the servers' Redis spent: per message sent over the send phase, per
// connection over connecting and joining.
type RedisStats struct {
	Source             string        `json:"source"`
	CPUSeconds         float64       `json:"cpu_s"` // over the send phase (the hold with --idle)
	CPUPerMessageUS    float64       `json:"cpu_per_message_us,omitempty"`
	CPUPerConnUS       float64       `json:"cpu_per_conn_us"` // connecting and joining
	RSSPerConnKB       float64       `json:"rss_per_conn_kb"`
	BytesPerMessage    float64       `json:"bytes_per_message,omitempty"` // read and written
	BytesPerConn       float64       `json:"bytes_per_conn"`
	CommandsPerMessage []CommandCost `json:"commands_per_message,omitempty"`
	CommandsPerConn    []CommandCost `json:"commands_per_conn,omitempty"`
}

// CommandCost is one Redis command's share of a message or a connection: calls of it per
// message (or connection), and Redis's own µs per call (INFO commandstats: a script's
// includes the commands it runs, which are listed too).
type CommandCost struct {
	Command     string  `json:"command"`
	Calls       float64 `json:"calls"`
	USecPerCall float64 `json:"usec_per_call"`
}

// commandCosts is what Redis ran between a and b, per unit (message or connection), the
// most expensive first; the harness's own INFO calls are left out.
func commandCosts(a, b redisSample, units float64) []CommandCost {
	if units <= 0 {
		return nil
	}
	var out []CommandCost
	for name, end := range b.cmds {
		start := a.cmds[name]
		calls, usec := end.calls-start.calls, end.usec-start.usec
		if name == "info" || calls <= 0 {
			continue
		}
		out = append(out, CommandCost{Command: name, Calls: calls / units, USecPerCall: usec / calls})
	}
	slices.SortFunc(out, func(x, y CommandCost) int {
		return cmp.Or(cmp.Compare(y.Calls*y.USecPerCall, x.Calls*x.USecPerCall), cmp.Compare(x.Command, y.Command))
	})
	return out
}

// redisStats derives the report's Redis figures from the samples before connecting, after
// joining and around the window.
func redisStats(source string, before, joined, start, end redisSample, rep *Report) *RedisStats {
	s := &RedisStats{Source: source, CPUSeconds: end.cpu - start.cpu}
	if n := float64(rep.Connections.Connected); n > 0 {
		s.CPUPerConnUS = (joined.cpu - before.cpu) * 1e6 / n
		grown := joined.rssKB
		if rep.Idle {
			grown = end.rssKB
		}
		s.RSSPerConnKB = float64(grown-before.rssKB) / n
		s.BytesPerConn = (joined.netIn + joined.netOut - before.netIn - before.netOut) / n
		s.CommandsPerConn = commandCosts(before, joined, n)
	}
	if n := float64(rep.Messages.Sent); n > 0 {
		s.CPUPerMessageUS = s.CPUSeconds * 1e6 / n
		s.BytesPerMessage = (end.netIn + end.netOut - start.netIn - start.netOut) / n
		s.CommandsPerMessage = commandCosts(start, end, n)
	}
	return s
}

// costLine lists commands as "name calls (µs per call)", those under 0.01 a unit left out.
func costLine(costs []CommandCost) string {
	var parts []string
	for _, c := range costs {
		if c.Calls >= 0.01 {
			parts = append(parts, fmt.Sprintf("%s %.2f (%.1f µs)", c.Command, c.Calls, c.USecPerCall))
		}
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}
