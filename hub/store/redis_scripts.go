package store

import "github.com/redis/go-redis/v9"

// The Lua scripts of the Redis engine. Each one touches the keys of a single slot: the
// keys it is given and message keys it derives from a given "P:{T}:m:" base, which carry
// the same hash tag. Redis runs a script atomically, so every multi-key change of a room
// is all or nothing. Scripts return status codes rather than errors; Redis error replies
// mean a broken server or data, never a refused operation.
//
// Numbers: Lua numbers are doubles; ms (< 2^42) and low (< 2^22) are exact in them, the
// combined 64-bit id is not, so scripts never build it. Stream ids are printed with %d.

// scriptAppend adds a batch of messages, of any rooms on standalone Redis, of one slot's
// rooms on Redis Cluster (the caller groups them).
//
//	KEYS  1 the call's op key (in the first message's slot), 2.. the messages' room streams
//	ARGV  1 op key ttl ms, 2 floor ms, 3 floor seq, 4 history cap, then per message:
//	      slot base "P:{T}:", slot, room, author, clientMsgId ("" for none), the user's
//	      clientMsgId index key ("": not checked here), a stale index value to replace
//	      ("": none), n, then n message hash fields and values
//
// Returns one reply per message, in order:
//
//	{1, sid, {user, cmid, sid, ...}}  stored (the triples: trimmed messages that had a clientMsgId)
//	{0, sid, fields}                  the room already holds this (user, clientMsgId)
//	{2, sid}                          the user's index names this stored id (in another room's slot)
//	{3}                               another Append (an older node's) holds the clientMsgId
//	{-1, error}                       this message failed; the others are unaffected
//
// A message gets an id past the clock, past its slot's allocator and past the message
// before it in the batch (the first: past the caller's floor). The allocators are read once
// and written once per slot. The op key records what the call did, so that the client
// library's retry of a call whose reply was lost returns the same answers (a stored message
// reported stored, not found again) and writes nothing.
var scriptAppend = redis.NewScript(`
local SEQMAX, SLOTS = 255, 16384
local cap = tonumber(ARGV[4])

local done = redis.call('GET', KEYS[1])
if done then
  local out, k, i = {}, 0, 5
  for code, v in string.gmatch(done, '(-?%d+):([^,]*),') do
    k = k + 1
    code = tonumber(code)
    if code == 0 then out[k] = {0, v, redis.call('HGETALL', ARGV[i] .. 'm:' .. v)}
    elseif code == 1 then out[k] = {1, v, {}}
    elseif code == 2 then out[k] = {2, v}
    else out[k] = {code, 'retried'} end
    i = i + 8 + tonumber(ARGV[i + 7])
  end
  return out
end

local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local pm, ps = tonumber(ARGV[2]), tonumber(ARGV[3]) -- every new id goes past it
local alloc = {} -- slot base -> {ms, seq} last handed out
local function after(m, s)
  if s < SEQMAX then return m, s + 1 end
  return m + 1, 0
end
local function later(m, s, m2, s2)
  if m2 > m or (m2 == m and s2 > s) then return m2, s2 end
  return m, s
end

-- one message, its header at ARGV[i]: base, slot, room, user, cmid, user index, stale, n
local function one(i)
  local base, room, user, cmid, uidx = ARGV[i], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4], ARGV[i + 5]
  local field, rcmid
  if cmid ~= '' then
    if uidx ~= '' then
      local v = redis.call('HGET', uidx, cmid)
      if v and v ~= ARGV[i + 6] then
        if string.sub(v, 1, 1) ~= '~' then return {2, v} end
        local dl = string.match(v, '^~[^:]*:(%d+)$')
        if dl and tonumber(dl) > now then return {3} end
      end
    end
    field, rcmid = string.len(user) .. ':' .. user .. cmid, base .. 'r:' .. room .. ':cmid'
    local old = redis.call('HGET', rcmid, field)
    if old then
      local f = redis.call('HGETALL', base .. 'm:' .. old)
      if #f > 0 then
        if uidx ~= '' then redis.call('HSET', uidx, cmid, old) end
        return {0, old, f}
      end
    end
  end

  local cm, cs = later(now, 0, after(pm, ps))
  local a = alloc[base]
  if a == nil then
    local last = redis.call('GET', base .. 'ids')
    if last then
      local m, s = string.match(last, '^(%d+):(%d+)$')
      if m then cm, cs = later(cm, cs, after(tonumber(m), tonumber(s))) end
    end
  else
    cm, cs = later(cm, cs, after(a[1], a[2]))
  end
  local slot, log = tonumber(ARGV[i + 1]), base .. 'r:' .. room .. ':log'
  local id = string.format('%d-%d', cm, cs * SLOTS + slot)
  local added = redis.pcall('XADD', log, id, 'u', user)
  if type(added) == 'table' and added.err then
    -- The stream holds a larger id than the allocator knows (the allocator key was lost):
    -- go past the stream's newest entry.
    local top = redis.call('XREVRANGE', log, '+', '-', 'COUNT', 1)
    if #top == 0 then return redis.error_reply(added.err) end
    local m, l = string.match(top[1][1], '^(%d+)-(%d+)$')
    cm, cs = later(cm, cs, after(tonumber(m), math.floor(tonumber(l) / SLOTS)))
    id = string.format('%d-%d', cm, cs * SLOTS + slot)
    redis.call('XADD', log, id, 'u', user)
  end
  alloc[base] = {cm, cs}
  pm, ps = cm, cs
  redis.call('HSET', base .. 'm:' .. id, unpack(ARGV, i + 8, i + 7 + tonumber(ARGV[i + 7])))
  if field then
    redis.call('HSET', rcmid, field, id)
    if uidx ~= '' then redis.call('HSET', uidx, cmid, id) end
  end

  -- Trim the oldest entries beyond the cap, at most 100 per message, with their messages.
  local gone = {}
  if cap > 0 then
    rcmid = base .. 'r:' .. room .. ':cmid'
    local n = redis.call('XLEN', log)
    if n > cap then
      local old = redis.call('XRANGE', log, '-', '+', 'COUNT', math.min(n - cap, 100))
      for _, e in ipairs(old) do
        local mk = base .. 'm:' .. e[1]
        local f = redis.call('HMGET', mk, 'u', 'k')
        if f[1] and f[2] then
          local cf = string.len(f[1]) .. ':' .. f[1] .. f[2]
          if redis.call('HGET', rcmid, cf) == e[1] then redis.call('HDEL', rcmid, cf) end
          gone[#gone + 1] = f[1]
          gone[#gone + 1] = f[2]
          gone[#gone + 1] = e[1]
        end
        redis.call('DEL', mk)
        redis.call('XDEL', log, e[1])
      end
    end
  end
  return {1, id, gone}
end

local out, record, i = {}, {}, 5
while i <= #ARGV do
  local ok, r = pcall(one, i)
  if not ok then
    r = {-1, type(r) == 'table' and r.err or tostring(r)}
  elseif r.err then
    r = {-1, r.err}
  end
  out[#out + 1] = r
  if r[1] == 0 or r[1] == 1 or r[1] == 2 then
    record[#record + 1] = r[1] .. ':' .. r[2] .. ','
  else
    record[#record + 1] = r[1] .. ':,'
  end
  i = i + 8 + tonumber(ARGV[i + 7])
end
for base, a in pairs(alloc) do
  redis.call('SET', base .. 'ids', string.format('%d:%d', a[1], a[2]))
end
redis.call('SET', KEYS[1], table.concat(record), 'PX', ARGV[1])
return out
`)

// scriptEdit: KEYS 1 message; ARGV 1 user, 2 content, 3 edited at ms.
// Returns {-1} no such or deleted message, {-2} not the author, {1, fields}.
var scriptEdit = redis.NewScript(`
local f = redis.call('HMGET', KEYS[1], 'u', 'x')
if not f[1] or f[2] then return {-1} end
if f[1] ~= ARGV[1] then return {-2} end
redis.call('HSET', KEYS[1], 'c', ARGV[2], 'e', ARGV[3])
return {1, redis.call('HGETALL', KEYS[1])}
`)

// scriptDelete: KEYS 1 message; ARGV 1 user, 2 deleted at ms, 3 token of this call.
// Returns like scriptEdit; a tombstone made by this same call (a retried script) is {1, ...}.
var scriptDelete = redis.NewScript(`
local f = redis.call('HMGET', KEYS[1], 'u', 'x', 'xt')
if not f[1] then return {-1} end
if f[2] then
  if f[3] == ARGV[3] then return {1, redis.call('HGETALL', KEYS[1])} end
  return {-1}
end
if f[1] ~= ARGV[1] then return {-2} end
redis.call('HDEL', KEYS[1], 'c', 'a')
redis.call('HSET', KEYS[1], 'x', ARGV[2], 'xt', ARGV[3])
return {1, redis.call('HGETALL', KEYS[1])}
`)

// scriptMarkRead: KEYS 1 room reads hash, 2 message; ARGV 1 room, 2 user, 3 ms, 4 low.
// Returns -1 when the message is not in the room, 0 when the watermark is already at or
// past it, 1 when it moved.
var scriptMarkRead = redis.NewScript(`
if redis.call('HGET', KEYS[2], 'r') ~= ARGV[1] then return -1 end
local m, l = tonumber(ARGV[3]), tonumber(ARGV[4])
local cur = redis.call('HGET', KEYS[1], ARGV[2])
if cur then
  local a, b = string.match(cur, '^(%d+)-(%d+)$')
  a, b = tonumber(a), tonumber(b)
  if a and (a > m or (a == m and b >= l)) then return 0 end
end
redis.call('HSET', KEYS[1], ARGV[2], string.format('%d-%d', m, l))
return 1
`)

// scriptUnread counts one chunk of unread messages.
//
//	KEYS  1 room reads hash, 2 room stream
//	ARGV  1 user, 2 exclusive start "(sid" ("": start after the user's watermark),
//	      3 stop after this many, 4 chunk size, 5 message key base
//
// Returns {watermark sid or "", count, next start or "" at the end}.
var scriptUnread = redis.NewScript(`
local user, start = ARGV[1], ARGV[2]
local wm = ''
if start == '' then
  wm = redis.call('HGET', KEYS[1], user) or ''
  if wm == '' then start = '-'
  elseif not string.match(wm, '^%d+%-%d+$') then return {wm, 0, ''}
  else start = '(' .. wm end
end
local want, chunk, base = tonumber(ARGV[3]), tonumber(ARGV[4]), ARGV[5]
local es = redis.call('XRANGE', KEYS[2], start, '+', 'COUNT', chunk)
local n = 0
for _, e in ipairs(es) do
  if e[2][2] ~= user and redis.call('HEXISTS', base .. e[1], 'x') == 0 then
    n = n + 1
    if n >= want then return {wm, n, ''} end
  end
end
if #es < chunk then return {wm, n, ''} end
return {wm, n, '(' .. es[#es][1]}
`)

// scriptHistory reads one page.
//
//	KEYS  1 room stream
//	ARGV  1 room, 2 message key base, 3 after sid or "", 4 before sid or "", 5 limit,
//	      6 most bytes (0: no bound; a message's size is that of its hash's values)
//
// Returns {-1} when a cursor is not a message of the room, else {more, sid, fields, ...}
// in stream order for an After query and newest first otherwise.
var scriptHistory = redis.NewScript(`
local room, base, after, before = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local limit = tonumber(ARGV[5])
for _, c in ipairs({after, before}) do
  if c ~= '' and redis.call('HGET', base .. c, 'r') ~= room then return {-1} end
end
local hi = '+'
if before ~= '' then hi = '(' .. before end
local es
if after ~= '' then
  es = redis.call('XRANGE', KEYS[1], '(' .. after, hi, 'COUNT', limit + 1)
else
  es = redis.call('XREVRANGE', KEYS[1], hi, '-', 'COUNT', limit + 1)
end
local out = {0}
if #es > limit then out[1] = 1 end
local maxbytes, used = tonumber(ARGV[6]), 0
for i = 1, math.min(#es, limit) do
  local f = redis.call('HGETALL', base .. es[i][1])
  local size = 0
  for j = 2, #f, 2 do size = size + #f[j] end
  if maxbytes > 0 and used > 0 and used + size > maxbytes then
    out[1] = 1
    break
  end
  used = used + math.max(size, 1)
  out[#out + 1] = es[i][1]
  out[#out + 1] = f
end
return out
`)

// scriptInRoom: KEYS 1 room stream (for the slot); ARGV 1 room, 2 message key base,
// 3.. sids of the room's slot. Returns those sids whose message is in the room.
var scriptInRoom = redis.NewScript(`
local room, base, out = ARGV[1], ARGV[2], {}
for i = 3, #ARGV do
  if redis.call('HGET', base .. ARGV[i], 'r') == room then out[#out + 1] = ARGV[i] end
end
return out
`)

// The user's clientMsgId index. A value is a stream id, or "~<token>:<deadline ms>" while
// the Append holding the token appends the message.

// scriptReserve: KEYS 1 user cmid hash; ARGV 1 cmid, 2 token, 3 lease ms, 4 stale value
// ("" or a stream id whose message is gone, which may be replaced).
// Returns {0} reserved for the token, {1} held by another live Append, {2, sid} done.
var scriptReserve = redis.NewScript(`
local v = redis.call('HGET', KEYS[1], ARGV[1])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if v and v ~= ARGV[4] then
  if string.sub(v, 1, 1) == '~' then
    local tok, dl = string.match(v, '^~([^:]*):(%d+)$')
    if tok ~= ARGV[2] and dl and tonumber(dl) > now then return {1} end
  else
    return {2, v}
  end
end
redis.call('HSET', KEYS[1], ARGV[1], '~' .. ARGV[2] .. ':' .. string.format('%d', now + tonumber(ARGV[3])))
return {0}
`)

// scriptFinalize: KEYS 1 user cmid hash; ARGV 1 cmid, 2 token, 3 sid. Replaces the
// token's reservation (or a missing entry) by the stream id; returns 1 if it did.
var scriptFinalize = redis.NewScript(`
local v = redis.call('HGET', KEYS[1], ARGV[1])
local mine = '~' .. ARGV[2] .. ':'
if not v or v == ARGV[3] or string.sub(v, 1, #mine) == mine then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
  return 1
end
return 0
`)

// scriptRelease: KEYS 1 user cmid hash; ARGV 1 cmid, 2 value. Deletes the entry if it
// still holds the value: a stream id, or a reservation given as its prefix "~token:".
// Returns 1 if it did.
var scriptRelease = redis.NewScript(`
local v, want = redis.call('HGET', KEYS[1], ARGV[1]), ARGV[2]
if v and (v == want or (string.sub(want, 1, 1) == '~' and string.sub(v, 1, #want) == want)) then
  redis.call('HDEL', KEYS[1], ARGV[1])
  return 1
end
return 0
`)

var redisScripts = []*redis.Script{scriptAppend, scriptEdit, scriptDelete, scriptMarkRead,
	scriptUnread, scriptHistory, scriptInRoom, scriptReserve, scriptFinalize, scriptRelease}
