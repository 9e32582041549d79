-- wrk driver for bench/run.py (used when wrk is installed; bench/loadgen.py is the Python fallback).
-- Configured through the environment, read in every Lua state:
--   BENCH_SCENARIO  get | login_json | login_form | register | refresh
--   BENCH_PATH      path for `get`
--   BENCH_DATA      file, one item a line, split round-robin over wrk's threads:
--                   get: access tokens; login_*: "email<TAB>password"; refresh: refresh tokens
--   BENCH_THREADS   wrk's -t, BENCH_PREFIX / BENCH_PASSWORD for `register`
-- Refresh tokens are single-use: each thread keeps a pool seeded with its share of tokens, takes one per
-- request and puts back the new one from each 200 response, so every token is presented exactly once.

local scenario = os.getenv("BENCH_SCENARIO")
local path = os.getenv("BENCH_PATH") or "/"
local data_file = os.getenv("BENCH_DATA") or ""
local nthreads = tonumber(os.getenv("BENCH_THREADS") or "1")
local prefix = os.getenv("BENCH_PREFIX") or "bench"
local password = os.getenv("BENCH_PASSWORD") or ""

local next_thread_id = 0
local threads = {}
function setup(thread)
  thread:set("thread_id", next_thread_id)
  next_thread_id = next_thread_id + 1
  table.insert(threads, thread)
end

local items = {}
local position = 0
local counter = 0

local function urlencode(text)
  return (text:gsub("[^%w%-%._~]", function(c) return string.format("%%%02X", string.byte(c)) end))
end

function init(args)
  if data_file ~= "" then
    local index = 0
    for line in io.lines(data_file) do
      if index % nthreads == thread_id then
        if scenario == "login_json" or scenario == "login_form" then
          local email, secret = line:match("^([^\t]+)\t(.*)$")
          table.insert(items, {email, secret})
        else
          table.insert(items, line)
        end
      end
      index = index + 1
    end
  end
end

local function next_item()
  position = position % #items + 1
  return items[position]
end

local json_headers = {["Content-Type"] = "application/json"}
local form_headers = {["Content-Type"] = "application/x-www-form-urlencoded"}

function request()
  counter = counter + 1
  if scenario == "get" then
    if #items == 0 then return wrk.format("GET", path) end
    return wrk.format("GET", path, {Authorization = "Bearer " .. next_item()})
  elseif scenario == "login_json" then
    local user = next_item()
    return wrk.format("POST", "/auth/login", json_headers,
      string.format('{"email":"%s","password":"%s"}', user[1], user[2]))
  elseif scenario == "login_form" then
    local user = next_item()
    return wrk.format("POST", "/auth/jwt/login", form_headers,
      "username=" .. urlencode(user[1]) .. "&password=" .. urlencode(user[2]))
  elseif scenario == "register" then
    return wrk.format("POST", "/auth/register", json_headers,
      string.format('{"email":"%s-%d-%d@example.com","password":"%s","display_name":"Bench User"}',
        prefix, thread_id, counter, password))
  elseif scenario == "refresh" then
    if thread_id == 0 and not verified then
      -- wrk calls request() once in thread 0 only to check the format: peek, never spend a token there
      verified = true
      return wrk.format("POST", "/auth/refresh", json_headers, '{"refresh_token":"format-check"}')
    end
    local token = table.remove(items)
    if token == nil then
      exhausted = (exhausted or 0) + 1
      token = "pool-exhausted"
    end
    return wrk.format("POST", "/auth/refresh", json_headers, string.format('{"refresh_token":"%s"}', token))
  end
  error("unknown BENCH_SCENARIO " .. tostring(scenario))
end

if scenario == "refresh" then
  function response(status, headers, body)
    if status == 200 then
      local token = body:match('"refresh_token"%s*:%s*"([^"]+)"')
      if token then table.insert(items, token) end
    elseif first_failure == nil then
      first_failure = status .. " (pool " .. #items .. ", exhausted " .. (exhausted or 0) .. ") " .. body:sub(1, 200)
    end
  end
end

function done(summary, latency, requests)
  for _, thread in ipairs(threads) do
    local failure = thread:get("first_failure")
    if failure then io.write("BENCH_FIRST_FAILURE " .. failure .. "\n") end
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"duration_us":%d,"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d,'
    .. '"p50_us":%d,"p95_us":%d,"p99_us":%d,"max_us":%d}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(95), latency:percentile(99), latency.max))
end
