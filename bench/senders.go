package bench

import (
	"context"
	"runtime"
	"sync"
	"time"
)

// sendWorkers is how many goroutines share the message schedule for a rate: one per 250
// messages/s, 1 to 8, so that one slow write does not hold up the others.
func sendWorkers(rate float64) int {
	return min(max(int(rate/250), 1), 8)
}

// sendPhase sends through the warmup and the send phase and probes during the latter.
// Message k of the global schedule (due at warmup start + k/msg-rate) goes to room
// k mod rooms, from its members in turn, and is sent by worker k mod workers.
func (r *run) sendPhase(ctx context.Context, rep *Report) window {
	var w window
	warmStart := time.Now()
	sendStart := warmStart.Add(r.cfg.Warmup)
	sendEnd := sendStart.Add(r.cfg.Duration)
	r.sendStart.Store(r.at(sendStart))

	var senders sync.WaitGroup
	if r.cfg.MsgRate > 0 && len(r.rooms) > 0 {
		n := sendWorkers(r.cfg.MsgRate)
		for i := range n {
			senders.Go(func() { r.sender(ctx, int64(i), int64(n), warmStart, sendEnd) })
		}
	}
	r.setPhase("warmup")
	sleepCtx(ctx, time.Until(sendStart))
	rep.Phases.Warmup = time.Since(warmStart).Seconds()

	r.setPhase("send")
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	mallocs := ms.Mallocs
	w.srvStart, w.srvStartOK = r.sampleServer()
	w.redisStart, w.haveRedis = r.sampleRedis()
	w.selfStart, _ = readProc(0)
	w.hostStart = readHostCPU()
	began := time.Now()

	var probes sync.WaitGroup
	if r.cfg.TypingRate > 0 {
		probes.Go(func() { r.probeLoop(ctx, r.typing, r.cfg.TypingRate, began, sendEnd, r.typingProbe) })
	}
	if r.cfg.PresenceRate > 0 {
		probes.Go(func() { r.probeLoop(ctx, r.presence, r.cfg.PresenceRate, began, sendEnd, r.presenceProbe) })
	}
	sleepCtx(ctx, time.Until(sendEnd))
	// The window messages are counted in (by their timestamps), cut short on abort.
	end := time.Now()
	if end.After(sendEnd) {
		end = sendEnd
	}
	w.seconds = max(end.Sub(sendStart).Seconds(), 0)
	w.srvEnd, w.srvEndOK = r.sampleServer()
	w.sampleRedisEnd(r)
	w.selfEnd, _ = readProc(0)
	w.hostEnd = readHostCPU()
	runtime.ReadMemStats(&ms)
	w.mallocs = ms.Mallocs - mallocs
	w.haveSrv = w.srvStartOK && w.srvEndOK
	senders.Wait()
	probes.Wait()
	return w
}

// sender is worker w of n: it sends messages w, w+n, w+2n, ... of the schedule.
func (r *run) sender(ctx context.Context, w, n int64, start, end time.Time) {
	pc := newPacer(start, r.cfg.MsgRate)
	nRooms := int64(len(r.rooms))
	sendStart := r.sendStart.Load()
	for k := w; ; k += n {
		due := pc.due(k)
		if !due.Before(end) || !pc.wait(ctx, k) {
			return
		}
		rm := r.rooms[k%nRooms]
		if len(rm.members) == 0 {
			continue
		}
		c := rm.members[(k/nRooms)%int64(len(rm.members))]
		now := r.now()
		measured := now >= sendStart
		if measured {
			r.noteLag(now - r.at(due))
		}
		if !c.alive() {
			if measured {
				r.errors.add("send-message on closed connection", 1)
			}
			continue
		}
		if err := c.sendMessage(now); err != nil {
			r.errors.add("send-message write error", 1)
			continue
		}
		if measured {
			r.sent.Add(1)
			r.expected.Add(int64(rm.live.Load()))
		}
	}
}

// noteLag keeps the largest lateness of a send behind its schedule.
func (r *run) noteLag(lag int64) {
	for {
		old := r.sendLagMax.Load()
		if lag <= old || r.sendLagMax.CompareAndSwap(old, lag) {
			return
		}
	}
}
