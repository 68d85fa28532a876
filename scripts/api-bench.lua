-- wrk script of scripts/api-bench.sh: every request carries the bearer token. With
-- API_BENCH_BODIES (a file of JSON bodies, one a line) each request is a JSON POST of the next
-- body: the threads take turns (thread i sends lines i, i + n, i + 2n, ...), so every body is
-- sent once until they run out (then they repeat, and the repeats show as non-2xx). At the end
-- one line, `api-bench: {...}`: requests/s, latency percentiles (ms), socket errors, answers
-- that were not 2xx or 3xx.
local token = os.getenv("API_BENCH_TOKEN") or error("API_BENCH_TOKEN is not set")
local bodies_file = os.getenv("API_BENCH_BODIES")
local threads = {}
local counter = 0

function setup(thread)
    thread:set("index", counter)
    counter = counter + 1
    table.insert(threads, thread)
end

function init(args)
    wrk.headers["Authorization"] = "Bearer " .. token
    wrk.headers["Accept"] = "application/json"
    bodies = {}
    if bodies_file and bodies_file ~= "" then
        for line in io.lines(bodies_file) do
            table.insert(bodies, line)
        end
        wrk.method = "POST"
        wrk.headers["Content-Type"] = "application/json"
    end
    next_body = index + 1
end

function request()
    if #bodies == 0 then
        return wrk.format()
    end
    local body = bodies[((next_body - 1) % #bodies) + 1]
    next_body = next_body + counter_threads()
    return wrk.format(nil, nil, nil, body)
end

function counter_threads()
    return tonumber(os.getenv("API_BENCH_THREADS_N") or "2")
end

function done(summary, latency, requests)
    local seconds = summary.duration / 1e6
    local e = summary.errors
    io.write(string.format(
        'api-bench: {"requests":%d,"seconds":%.2f,"rps":%.1f,"p50_ms":%.2f,"p99_ms":%.2f,' ..
        '"max_ms":%.2f,"non_2xx_3xx":%d,"connect_errors":%d,"read_errors":%d,"write_errors":%d,"timeouts":%d}\n',
        summary.requests, seconds, summary.requests / seconds,
        latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.max / 1000,
        e.status, e.connect, e.read, e.write, e.timeout))
end
