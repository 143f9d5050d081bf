package bench

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
)

// heldP95MS is the delivery p95 a rate must stay under to count as held.
const heldP95MS = 100

// heldDelivered is the share of expected deliveries a held rate must deliver.
const heldDelivered = 0.999

// CompareMain is `edgeio bench compare REPORT.json...`: the reports side by side.
func CompareMain(args []string, w io.Writer) error {
	if len(args) == 0 {
		return errors.New("usage: edgeio bench compare REPORT.json... (the first report's target is compared with the others)")
	}
	var reps []*Report
	for _, name := range args {
		b, err := os.ReadFile(name)
		if err != nil {
			return err
		}
		rep := &Report{}
		if err := json.Unmarshal(b, rep); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		reps = append(reps, rep)
	}
	return Compare(w, reps)
}

// Compare writes reports side by side: a row per target and offered rate, then, at each
// rate, the first target's CPU per delivery and delivery p95 over each other target's,
// and the highest offered rate each target held (delivery p95 under 100 ms, 99.9% of the
// deliveries made). Idle runs (--idle) send nothing: for them it compares RSS per
// connection. Targets are told apart by their labels; the first report's label is the one
// compared.
func Compare(w io.Writer, reps []*Report) error {
	if len(reps) == 0 {
		return errors.New("bench compare: no reports")
	}
	var labels []string
	for _, r := range reps {
		if !slices.Contains(labels, r.Label) {
			labels = append(labels, r.Label)
		}
	}
	sorted := slices.Clone(reps)
	slices.SortStableFunc(sorted, func(a, b *Report) int {
		return cmp.Or(cmp.Compare(offered(a), offered(b)), cmp.Compare(slices.Index(labels, a.Label), slices.Index(labels, b.Label)))
	})

	withRedis := slices.ContainsFunc(sorted, func(r *Report) bool { return r.Redis != nil })
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	redisHead := ""
	if withRedis {
		redisHead = "redis µs/msg\tredis µs/conn\t"
	}
	fmt.Fprintln(tw, "target\toffered/s\tdelivered/s\tmissing\tp50 ms\tp95 ms\tp99 ms\ttyping p95\tpresence p95\tconnect p95\tjoined in s\tcpu µs/delivery\trss KB/conn\t"+redisHead+"errors\thost busy\t")
	for _, r := range sorted {
		d := r.Latency.Delivery
		redisCells := ""
		if withRedis {
			redisCells = redisPerMessage(r) + "\t" + redisPerConn(r) + "\t"
		}
		fmt.Fprintf(tw, "%s\t%.0f\t%.0f\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s%d\t%.0f%%\t\n", r.Label, offered(r), r.Messages.DeliveriesPerSec,
			missingPct(r), msOrDash(d, d.P50), msOrDash(d, d.P95), msOrDash(d, d.P99),
			orDash(r.Latency.Typing), orDash(r.Latency.Presence), orDash(r.Latency.Connect), joinSeconds(r),
			cpuPerDelivery(r), rssPerConn(r), redisCells, errorCount(r), r.Host.BusyPct)
	}
	if err := tw.Flush(); err != nil {
		return err
	}

	ref := labels[0]
	var b strings.Builder
	if !slices.ContainsFunc(sorted, func(r *Report) bool { return !r.Idle }) {
		for _, other := range labels[1:] {
			fmt.Fprintf(&b, "idle, %s ÷ %s: rss per connection %s\n", ref, other,
				ratio(rssKB(find(sorted, ref, 0)), rssKB(find(sorted, other, 0))))
		}
		_, err := io.WriteString(w, "\n"+b.String())
		return err
	}
	for _, rate := range rates(sorted) {
		if rate == 0 {
			continue // idle runs
		}
		mine := find(sorted, ref, rate)
		if mine == nil {
			continue
		}
		for _, other := range labels[1:] {
			theirs := find(sorted, other, rate)
			if theirs == nil {
				continue
			}
			fmt.Fprintf(&b, "at %.0f deliveries/s, %s ÷ %s: cpu per delivery %s, delivery p95 %s", rate, ref, other,
				ratio(serverCPU(mine), serverCPU(theirs)), ratio(mine.Latency.Delivery.P95, theirs.Latency.Delivery.P95))
			if mine.Redis != nil && theirs.Redis != nil {
				fmt.Fprintf(&b, ", redis cpu per message %s", ratio(mine.Redis.CPUPerMessageUS, theirs.Redis.CPUPerMessageUS))
			}
			b.WriteByte('\n')
		}
	}
	for _, r := range sorted {
		if rd := r.Redis; rd != nil && !r.Idle {
			fmt.Fprintf(&b, "redis at %.0f deliveries/s, %s: per message %s; per connection %s\n", offered(r), r.Label,
				costLine(rd.CommandsPerMessage), costLine(rd.CommandsPerConn))
		}
	}
	held := map[string]float64{}
	for _, l := range labels {
		held[l] = highestHeld(sorted, l)
		fmt.Fprintf(&b, "highest rate held (p95 < %d ms, %.1f%% delivered): %s %.0f/s\n", heldP95MS, heldDelivered*100, l, held[l])
	}
	for _, other := range labels[1:] {
		fmt.Fprintf(&b, "highest rate held, %s ÷ %s: %s\n", ref, other, ratio(held[ref], held[other]))
	}
	_, err := io.WriteString(w, "\n"+b.String())
	return err
}

// offered is the deliveries per second a run asked for: messages times room size (none
// when idle).
func offered(r *Report) float64 {
	if r.Idle {
		return 0
	}
	return r.MsgRate * float64(r.RoomSize)
}

func rates(reps []*Report) []float64 {
	var out []float64
	for _, r := range reps {
		if !slices.Contains(out, offered(r)) {
			out = append(out, offered(r))
		}
	}
	return out
}

func find(reps []*Report, label string, rate float64) *Report {
	for _, r := range reps {
		if r.Label == label && offered(r) == rate {
			return r
		}
	}
	return nil
}

// highestHeld is the highest offered rate at which label kept delivery p95 under
// heldP95MS and delivered nearly everything; 0 when none.
func highestHeld(reps []*Report, label string) float64 {
	best := 0.0
	for _, r := range reps {
		m := r.Messages
		ok := r.Label == label && r.Aborted == "" && m.Expected > 0 &&
			float64(m.Received) >= heldDelivered*float64(m.Expected) && r.Latency.Delivery.P95 < heldP95MS
		if ok {
			best = max(best, offered(r))
		}
	}
	return best
}

func serverCPU(r *Report) float64 {
	if r.Server == nil {
		return 0
	}
	return r.Server.CPUPerDeliveryUS
}

func cpuPerDelivery(r *Report) string { c := serverCPU(r); return figure(c, c > 0) }

// figure is v with one decimal, or a dash when there is none.
func figure(v float64, ok bool) string {
	if !ok {
		return "-"
	}
	return fmt.Sprintf("%.1f", v)
}

// joinSeconds is how long the join phase took, from the first join-room to the last ack.
func joinSeconds(r *Report) string {
	if r.Connections.Joined == 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f", r.Phases.Join)
}

func rssPerConn(r *Report) string { return figure(rssKB(r), r.Server != nil) }

func rssKB(r *Report) float64 {
	if r == nil || r.Server == nil {
		return 0
	}
	return r.Server.RSSPerConnKB
}

func redisPerMessage(r *Report) string {
	if r.Redis == nil {
		return "-"
	}
	return figure(r.Redis.CPUPerMessageUS, r.Redis.CPUPerMessageUS > 0)
}

func redisPerConn(r *Report) string {
	if r.Redis == nil {
		return "-"
	}
	return figure(r.Redis.CPUPerConnUS, true)
}

func missingPct(r *Report) string {
	if r.Messages.Expected == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f%%", 100*float64(r.Messages.Missing)/float64(r.Messages.Expected))
}

func errorCount(r *Report) int64 {
	var n int64
	for _, v := range r.Errors {
		n += v
	}
	return n
}

func ms(v float64) string { return fmt.Sprintf("%.1f", v) }

// msOrDash is v in milliseconds, or a dash when s measured nothing.
func msOrDash(s Summary, v float64) string {
	if s.Count == 0 {
		return "-"
	}
	return ms(v)
}

func orDash(s Summary) string {
	if s.Count == 0 {
		return "-"
	}
	return ms(s.P95)
}

func ratio(a, b float64) string {
	if a <= 0 || b <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f", a/b)
}
