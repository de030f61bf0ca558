-- wrk script for http_test.go: pipelines PIPELINE requests per write
-- (from the environment, default 1) and counts replies that are not
-- 200 with the body "Hello, World!". done prints "bad=N replies=M".
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  bad = 0
  replies = 0
  local depth = tonumber(os.getenv("PIPELINE") or "1")
  local r = {}
  for i = 1, depth do
    r[i] = wrk.format(nil, "/plaintext")
  end
  req = table.concat(r)
end

function request()
  return req
end

function response(status, headers, body)
  replies = replies + 1
  if status ~= 200 or body ~= "Hello, World!" then
    bad = bad + 1
  end
end

function done(summary, latency, requests)
  local b, n = 0, 0
  for _, t in ipairs(threads) do
    b = b + t:get("bad")
    n = n + t:get("replies")
  end
  io.write(string.format("bad=%d replies=%d\n", b, n))
end
