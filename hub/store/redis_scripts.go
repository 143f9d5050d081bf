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

// scriptAppend adds a message to a room.
//
//	KEYS  1 slot allocator, 2 room stream, 3 room cmid hash, 4 op key
//	ARGV  1 message key base, 2 slot, 3 floor ms, 4 floor seq, 5 history cap,
//	      6 cmid field ("" without clientMsgId), 7 op key ttl ms (0: no op key),
//	      8 author, 9.. message hash fields and values
//
// Returns {1, sid, {user, cmid, sid, ...}} for a new message (the triples are trimmed
// messages that had a clientMsgId), {1, sid} when the op key says this very call already
// ran (a client-side retry), {0, sid, fields} when the room already holds the message of
// this (user, clientMsgId).
var scriptAppend = redis.NewScript(`
local base = ARGV[1]
local opttl = tonumber(ARGV[7])
if opttl > 0 then
  local done = redis.call('GET', KEYS[4])
  if done then return {1, done} end
end
local field = ARGV[6]
if field ~= '' then
  local old = redis.call('HGET', KEYS[3], field)
  if old then
    local f = redis.call('HGETALL', base .. old)
    if #f > 0 then return {0, old, f} end
  end
end

local SEQMAX, SLOTS = 255, 16384
local cm, cs = 0, 0
local function atleast(m, s)
  if m > cm or (m == cm and s > cs) then cm, cs = m, s end
end
local function after(m, s)
  if s < SEQMAX then return m, s + 1 end
  return m + 1, 0
end
local t = redis.call('TIME')
atleast(tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000), 0)
local last = redis.call('GET', KEYS[1])
if last then
  local m, s = string.match(last, '^(%d+):(%d+)$')
  if m then atleast(after(tonumber(m), tonumber(s))) end
end
atleast(after(tonumber(ARGV[3]), tonumber(ARGV[4])))
local slot = tonumber(ARGV[2])
local function sid() return string.format('%d-%d', cm, cs * SLOTS + slot) end

local id = sid()
local added = redis.pcall('XADD', KEYS[2], id, 'u', ARGV[8])
if type(added) == 'table' and added.err then
  -- The stream holds a larger id than the allocator knows (the allocator key was lost):
  -- go past the stream's newest entry.
  local top = redis.call('XREVRANGE', KEYS[2], '+', '-', 'COUNT', 1)
  if #top == 0 then return redis.error_reply(added.err) end
  local m, l = string.match(top[1][1], '^(%d+)-(%d+)$')
  atleast(after(tonumber(m), math.floor(tonumber(l) / SLOTS)))
  id = sid()
  redis.call('XADD', KEYS[2], id, 'u', ARGV[8])
end
redis.call('SET', KEYS[1], string.format('%d:%d', cm, cs))
redis.call('HSET', base .. id, unpack(ARGV, 9))
if field ~= '' then redis.call('HSET', KEYS[3], field, id) end
if opttl > 0 then redis.call('SET', KEYS[4], id, 'PX', opttl) end

-- Trim the oldest entries beyond the cap, at most 100 per call, with their messages.
local gone = {}
local cap = tonumber(ARGV[5])
if cap > 0 then
  local n = redis.call('XLEN', KEYS[2])
  if n > cap then
    local old = redis.call('XRANGE', KEYS[2], '-', '+', 'COUNT', math.min(n - cap, 100))
    for _, e in ipairs(old) do
      local mk = base .. e[1]
      local f = redis.call('HMGET', mk, 'u', 'k')
      if f[1] and f[2] then
        local cf = string.len(f[1]) .. ':' .. f[1] .. f[2]
        if redis.call('HGET', KEYS[3], cf) == e[1] then redis.call('HDEL', KEYS[3], cf) end
        gone[#gone + 1] = f[1]
        gone[#gone + 1] = f[2]
        gone[#gone + 1] = e[1]
      end
      redis.call('DEL', mk)
      redis.call('XDEL', KEYS[2], e[1])
    end
  end
end
return {1, id, gone}
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
