-- One wrk script for every workload; bench/run picks the workload with BENCH_MODE and passes the
-- dataset's id ranges in the environment. Random choices are seeded per thread, so a run with the
-- same settings sends the same sequence of requests.
--
--   W1   GET /api/v2/phoneNumbers?filter[prospect][id]=<random prospect>
--   W1i  the same with &include=prospect
--   W2   GET /api/v2/phoneNumbers/<random number>
--   W7   GET /api/v2/phoneNumbers?filter[digits]=<last 7 digits of a random stored number>&include=prospect
--        (the caller-ID lookup; suffixes from the BENCH_SUFFIXES file)
--   GET  a fixed path (BENCH_PATH): W3, W4 page 1, W4 page 1000
--   W5   POST /api/v2/phoneNumbers, a valid number never stored before (BENCH_NUMBERS file, from
--        line BENCH_NUMBERS_FROM on: bench/run moves it past each run's numbers)
--   W6   PATCH /api/v2/phoneNumbers/<random number>, a random `status`
--   BASE GET /baseline/phoneNumbers?prospect=<random prospect> (the reference server)
--   BASEi the same with &include=prospect
--   BASE2 GET /baseline/phoneNumbers/<random number> (the reference's W2)
--   BASE3 GET /baseline/phoneNumbers?size=100&include=prospect (the reference's W3)
--   BASE5 POST /baseline/phoneNumbers, W5's number and prospect in a minimal body (the bare insert)

local mode = os.getenv("BENCH_MODE") or "W1"
local token = os.getenv("BENCH_TOKEN") or ""
local first_prospect = tonumber(os.getenv("FIRST_PROSPECT") or "1")
local last_prospect = tonumber(os.getenv("LAST_PROSPECT") or "1")
local first_number = tonumber(os.getenv("FIRST_NUMBER") or "1")
local last_number = tonumber(os.getenv("LAST_NUMBER") or "1")
local fixed_path = os.getenv("BENCH_PATH") or "/api/v2/phoneNumbers"
local numbers_file = os.getenv("BENCH_NUMBERS")
local suffixes_file = os.getenv("BENCH_SUFFIXES")
local fresh_from = tonumber(os.getenv("BENCH_NUMBERS_FROM") or "0")

local statuses = { "unverified", "valid", "invalid", "do_not_call", "historic" }
local media = "application/vnd.api+json"
local read_headers = { ["Authorization"] = "Bearer " .. token, ["Accept"] = media }
local write_headers = {
  ["Authorization"] = "Bearer " .. token,
  ["Accept"] = media,
  ["Content-Type"] = media,
}

local threads = {}
local next_thread = 0

function setup(thread)
  thread:set("thread_index", next_thread)
  next_thread = next_thread + 1
  table.insert(threads, thread)
end

local numbers = {}
local suffixes = {}
-- How many of its numbers this thread has sent (a global: done() reads it through thread:get).
fresh_cursor = 0

function init(args)
  local index = thread_index or 0
  math.randomseed(tonumber(os.getenv("BENCH_SEED") or "20261123") + index)
  if mode == "W7" then
    for line in io.lines(suffixes_file) do
      suffixes[#suffixes + 1] = line
    end
  end
  if mode == "W5" or mode == "BASE5" then
    -- Every thread takes every n-th number from BENCH_NUMBERS_FROM on, so that no two requests of
    -- a run, nor of two runs, carry the same one (a repeat on the same prospect would be a 409).
    local all = {}
    for line in io.lines(numbers_file) do
      all[#all + 1] = line
    end
    local count = tonumber(os.getenv("BENCH_THREADS") or "1")
    for i = fresh_from + index + 1, #all, count do
      numbers[#numbers + 1] = all[i]
    end
    -- Past the end (too few fresh numbers for the run) it starts over from the list's start, and
    -- done() says so.
    if #numbers == 0 then
      for i = index + 1, #all, count do
        numbers[#numbers + 1] = all[i]
      end
    end
  end
end

local function fresh_number()
  fresh_cursor = fresh_cursor + 1
  return numbers[(fresh_cursor - 1) % #numbers + 1]
end

local function prospect()
  return math.random(first_prospect, last_prospect)
end

local function number_id()
  return math.random(first_number, last_number)
end

function request()
  if mode == "W1" then
    return wrk.format("GET", "/api/v2/phoneNumbers?filter[prospect][id]=" .. prospect(), read_headers)
  elseif mode == "W1i" then
    return wrk.format("GET", "/api/v2/phoneNumbers?filter[prospect][id]=" .. prospect() .. "&include=prospect",
      read_headers)
  elseif mode == "W2" then
    return wrk.format("GET", "/api/v2/phoneNumbers/" .. number_id(), read_headers)
  elseif mode == "W7" then
    return wrk.format("GET", "/api/v2/phoneNumbers?filter[digits]=" .. suffixes[math.random(1, #suffixes)]
      .. "&include=prospect", read_headers)
  elseif mode == "W5" then
    local body = '{"data":{"type":"phoneNumber","attributes":{"number":"' .. fresh_number()
      .. '","phoneType":"work"},"relationships":{"prospect":{"data":{"type":"prospect","id":"'
      .. prospect() .. '"}}}}}'
    return wrk.format("POST", "/api/v2/phoneNumbers", write_headers, body)
  elseif mode == "W6" then
    local id = number_id()
    local body = '{"data":{"type":"phoneNumber","id":"' .. id .. '","attributes":{"status":"'
      .. statuses[math.random(1, #statuses)] .. '"}}}'
    return wrk.format("PATCH", "/api/v2/phoneNumbers/" .. id, write_headers, body)
  elseif mode == "BASE" then
    return wrk.format("GET", "/baseline/phoneNumbers?prospect=" .. prospect(), {})
  elseif mode == "BASEi" then
    return wrk.format("GET", "/baseline/phoneNumbers?prospect=" .. prospect() .. "&include=prospect", {})
  elseif mode == "BASE2" then
    return wrk.format("GET", "/baseline/phoneNumbers/" .. number_id(), {})
  elseif mode == "BASE3" then
    return wrk.format("GET", "/baseline/phoneNumbers?size=100&include=prospect", {})
  elseif mode == "BASE5" then
    local body = '{"number":"' .. fresh_number() .. '","phoneType":"work","prospect":' .. prospect() .. '}'
    return wrk.format("POST", "/baseline/phoneNumbers", { ["Content-Type"] = "application/json" }, body)
  else
    return wrk.format("GET", fixed_path, read_headers)
  end
end

-- One line for bench/run to parse. `status` counts responses with a status of 400 or more (wrk's own
-- count); no workload sends conditional requests or follows redirects, so that is every non-2xx.
-- `fresh_used` is how far into the fresh numbers (from BENCH_NUMBERS_FROM) the run went.
function done(summary, latency, requests)
  local errors = summary.errors
  local sent = 0
  for _, thread in ipairs(threads) do
    sent = math.max(sent, thread:get("fresh_cursor") or 0)
  end
  io.write(string.format(
    "RESULT requests=%d duration_us=%d p50_us=%d p99_us=%d non2xx=%d socket_errors=%d fresh_used=%d\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    errors.status, errors.connect + errors.read + errors.write + errors.timeout, sent * #threads))
end
