-- wrk script for scripts/api-bench.sh: every request carries the bearer token, and with a body
-- (API_BENCH_BODY) it is a JSON POST, such as POST /api/attachments/complete. At the end it
-- prints one line, `api-bench: {...}`, that api-bench.sh reads: requests/s, latency percentiles
-- (ms), socket errors, and answers that were not 2xx or 3xx.
local token = os.getenv("API_BENCH_TOKEN") or error("API_BENCH_TOKEN is not set")
local body = os.getenv("API_BENCH_BODY")

wrk.headers["Authorization"] = "Bearer " .. token
wrk.headers["Accept"] = "application/json"
if body and body ~= "" then
    wrk.method = "POST"
    wrk.body = body
    wrk.headers["Content-Type"] = "application/json"
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
