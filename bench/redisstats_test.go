package bench

import (
	"strings"
	"testing"
)

const infoBefore = "# CPU\r\nused_cpu_sys:1.500000\r\nused_cpu_user:2.000000\r\n# Memory\r\nused_memory_rss:2048000\r\n" +
	"# Stats\r\ntotal_net_input_bytes:1000\r\ntotal_net_output_bytes:500\r\n# Commandstats\r\n" +
	"cmdstat_evalsha:calls=10,usec=500,usec_per_call=50.00,rejected_calls=0,failed_calls=0\r\n" +
	"cmdstat_info:calls=3,usec=90,usec_per_call=30.00\r\n"

const infoAfter = "# CPU\r\nused_cpu_sys:1.800000\r\nused_cpu_user:2.700000\r\n# Memory\r\nused_memory_rss:3072000\r\n" +
	"# Stats\r\ntotal_net_input_bytes:21000\r\ntotal_net_output_bytes:10500\r\n# Commandstats\r\n" +
	"cmdstat_evalsha:calls=110,usec=3500,usec_per_call=31.82\r\n" +
	"cmdstat_publish:calls=200,usec=400,usec_per_call=2.00\r\n" +
	"cmdstat_info:calls=4,usec=120,usec_per_call=30.00\r\n"

// Redis's figures are the differences between two INFO samples, per unit: a script's calls
// and µs per call, the harness's own INFO left out.
func TestRedisStats(t *testing.T) {
	a, b := parseRedisInfo(infoBefore), parseRedisInfo(infoAfter)
	if a.cpu != 3.5 || a.rssKB != 2000 || a.netIn != 1000 || a.cmds["evalsha"] != (cmdStat{10, 500}) {
		t.Fatalf("sample %+v", a)
	}
	costs := commandCosts(a, b, 100)
	if len(costs) != 2 || costs[0] != (CommandCost{"evalsha", 1, 30}) || costs[1] != (CommandCost{"publish", 2, 2}) {
		t.Fatalf("costs %+v", costs)
	}
	rep := &Report{Connections: Connections{Connected: 50}, Messages: Messages{Sent: 100}}
	s := redisStats("redis://x", a, a, a, b, rep)
	if s.CPUSeconds != 1 || s.CPUPerMessageUS != 10000 || s.BytesPerMessage != 300 || s.CPUPerConnUS != 0 {
		t.Fatalf("stats %+v", s)
	}
	if line := costLine(s.CommandsPerMessage); line != "evalsha 1.00 (30.0 µs), publish 2.00 (2.0 µs)" {
		t.Fatalf("line %q", line)
	}
	var out strings.Builder
	rep.Redis = s
	_ = rep.WriteTable(&out)
	if !strings.Contains(out.String(), "per message: evalsha 1.00 (30.0 µs)") {
		t.Fatalf("table:\n%s", out.String())
	}
}
