#!/usr/bin/env bash
# tests/bench/perf.sh - the performance harness of issue 5 (a benchmark, not a
# test; docs/performance.md explains every figure). One run measures the
# limits of this machine and the server against them, so a noisy machine
# shows up in both:
#
#   baseline  bare SQLite append of the server's rows (sync FULL and NORMAL,
#             1,000 rows per transaction, no index) and the same rows through
#             the store API (bulwark-store-append); the server with storage
#             switched off: TLS + framing + decode + validation (+ rules) on
#             one core, in-process (bench_pipeline)
#   s1        8 agents at full speed for S1_SECS (20) s
#   s2        1,000 agents at 50 events/s each for S2_SECS (30) s
#   s3        10,000 idle agents sending heartbeats: server RSS and CPU over a
#             S3_WINDOW (20) s window
#   s4        reconnect storm: 5,000 agents streaming, kill -9 of bulwarkd,
#             restart; time until all are back and acked; no event lost
#   ratio     target 1 on a noisy machine: RATIO_ROUNDS (3) rounds of a bare
#             append (FULL, RATIO_ROWS rows) then s1, and a last bare append;
#             each round's s1 is divided by the mean of the bare runs just
#             before and after it; the median ratio is the figure
#
#   tests/bench/perf.sh                 # everything (about 8 minutes)
#   tests/bench/perf.sh baseline s1     # a subset, in that order
#   tests/bench/perf.sh ratio           # the ingest ratio, interleaved
#
# Environment: BENCH_BUILD (build dir, default build/release), BENCH_SYNC
# (full), BENCH_RULES (rule files/dirs for bulwarkd; default the repo's
# rules/; "" = none), BENCH_KEEP=1 keeps the temp dir, BASE_ROWS (500000),
# S1_AGENTS (8), S1_SECS, S2_AGENTS (1000), S2_RATE (50), S2_SECS,
# S3_AGENTS (10000), S3_HB_MS (0 = the server's 10 s), S3_WINDOW, S4_AGENTS
# (5000), S4_RATE (5), S4_SECS (45), S4_KILL_AFTER (5), RATIO_ROUNDS (3),
# RATIO_ROWS (2000000).
set -euo pipefail

cd "$(dirname "$0")/../.."
root=$PWD
build=${BENCH_BUILD:-build/release}
sync=${BENCH_SYNC:-full}
rules=${BENCH_RULES-$root/rules}

scenarios=("$@")
((${#scenarios[@]})) || scenarios=(baseline s1 s2 s3 s4 ratio)
for s in "${scenarios[@]}"; do
    [[ $s =~ ^(baseline|s1|s2|s3|s4|ratio)$ ]] || { echo "perf: unknown scenario '$s'" >&2; exit 2; }
done

die() {
    echo "perf: $*" >&2
    exit 1
}

# Every agent is a descriptor on each side; bulwarkd raises its own limit.
hard=$(ulimit -Hn)
want=65536
[[ $hard != unlimited ]] && ((hard < want)) && want=$hard
ulimit -n "$want" || die "cannot raise the open-file limit to $want"

echo "perf: building $build (release)"
cmake --preset release -B "$build" >/dev/null
cmake --build "$build" --target bulwarkd bulwark-loadgen bulwark-store-append bench_pipeline >/dev/null \
    || die "build failed"
bulwarkd=$build/bulwarkd
loadgen=$build/tests/bench/bulwark-loadgen
store_append=$build/tests/bench/bulwark-store-append
pipeline=$build/tests/bench/bench_pipeline

tmp=$(mktemp -d "${TMPDIR:-/tmp}/bulwark-perf.XXXXXX")
server_pid=
lg_pid=
failed=0
cleanup() {
    [[ -n $lg_pid ]] && kill -KILL "$lg_pid" 2>/dev/null
    [[ -n $server_pid ]] && kill -KILL "$server_pid" 2>/dev/null
    wait 2>/dev/null || true
    if [[ -n ${BENCH_KEEP:-} ]]; then
        echo "perf: kept $tmp"
    else
        rm -rf -- "$tmp"
    fi
}
trap cleanup EXIT

bash deploy/gen-certs.sh "$tmp/certs" bench-agent >/dev/null
results=$tmp/results.txt
: >"$results"
clk=$(getconf CLK_TCK)
cpus=$(nproc)
echo "perf: $(date -u +%Y-%m-%dT%H:%MZ), $cpus cpus, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), sync=$sync, temp $tmp"

# key=value lines: `record scenario k=v ...` keeps them for the summary.
record() {
    echo "$*" >>"$results"
}
# kv LINE KEY: the value of KEY in a key=value line.
kv() {
    sed -n "s/.*[[:space:]]$2=\([^[:space:]]*\).*/\1/p" <<<" $1"
}
# proc_kib PID KEY: VmRSS/VmHWM of PID in KiB.
proc_kib() {
    awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"
}
# cpu_ticks PID: utime + stime of PID.
cpu_ticks() {
    # fields after the ")" of comm: utime is the 12th, stime the 13th
    sed 's/.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'
}
now_s() {
    date +%s.%N
}

# start_server NAME [PORT]: bulwarkd on $tmp/NAME.db; sets server_pid, port.
start_server() {
    local name=$1 want_port=${2:-0} i
    "$bulwarkd" --listen="127.0.0.1:$want_port" --db="$tmp/$name.db" --db-sync="$sync" \
        --tls_ca="$tmp/certs/ca.pem" --tls_cert="$tmp/certs/server.pem" \
        --tls_key="$tmp/certs/server.key" --rules="$rules" --max_connections=12000 \
        >>"$tmp/$name.server.log" 2>&1 &
    server_pid=$!
    for ((i = 0; i < 300; i++)); do
        port=$(grep -oE 'listening 127\.0\.0\.1:[0-9]+' "$tmp/$name.server.log" | tail -1 | cut -d: -f2 || true)
        if [[ -n $port ]] && { ((want_port == 0)) || ((port == want_port)); } \
            && (($(grep -c 'listening 127' "$tmp/$name.server.log" || true) > ${3:-0})); then
            return 0
        fi
        kill -0 "$server_pid" 2>/dev/null || { tail -5 "$tmp/$name.server.log" >&2; die "bulwarkd exited"; }
        sleep 0.1
    done
    die "bulwarkd not ready after 30 s"
}

stop_server() {
    local i status=0
    kill -TERM "$server_pid"
    for ((i = 0; i < 300; i++)); do
        kill -0 "$server_pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -0 "$server_pid" 2>/dev/null && { kill -KILL "$server_pid"; echo "perf: bulwarkd ignored SIGTERM for 30 s" >&2; }
    wait "$server_pid" || status=$?
    server_pid=
    ((status == 0)) || echo "perf: bulwarkd exited $status" >&2
}

# run_loadgen NAME ARGS...: starts the load generator in the background.
run_loadgen() {
    local name=$1
    shift
    "$loadgen" --server="127.0.0.1:$port" --certs="$tmp/certs" \
        --progress=10 "$@" >"$tmp/$name.lg.out" 2>"$tmp/$name.lg.err" &
    lg_pid=$!
}

# wait_line FILE PATTERN TIMEOUT_S: until FILE has a line matching PATTERN.
wait_line() {
    local deadline=$((SECONDS + $3))
    until grep -q "$2" "$1" 2>/dev/null; do
        ((SECONDS < deadline)) || return 1
        [[ -n $lg_pid ]] && ! kill -0 "$lg_pid" 2>/dev/null && return 1
        sleep 0.1
    done
}

# finish_loadgen NAME: waits for it (in this shell, not a subshell: it is
# our child) and sets `line` to its summary.
finish_loadgen() {
    local status=0
    wait "$lg_pid" || status=$?
    lg_pid=
    if ((status != 0)); then
        echo "perf: loadgen $1 exited $status:" >&2
        tail -5 "$tmp/$1.lg.err" >&2
    fi
    line=$(grep '^loadgen ' "$tmp/$1.lg.out" || true)
    if [[ -z $line ]]; then
        echo "perf: loadgen $1 printed no summary; scenario skipped" >&2
        failed=1
        return 1
    fi
}

db_bytes() {
    local n=0 f
    for f in "$tmp/$1.db" "$tmp/$1.db-wal"; do
        [[ -e $f ]] && n=$((n + $(stat -c %s "$f")))
    done
    echo "$n"
}

# ------------------------------------------------------------- scenarios

scenario_baseline() {
    local out eps
    echo "perf: baseline: bare SQLite append and the store API, ${BASE_ROWS:-500000} rows"
    "$store_append" --rows="${BASE_ROWS:-500000}" --dir="$tmp" | tee -a "$results"
    echo "perf: baseline: the server without storage (bench_pipeline, one core)"
    out=$("$pipeline" --certs="$tmp/certs" --events=300000 --rules="$rules") \
        || die "bench_pipeline failed"
    echo "$out" | sed 's/^/  /'
    eps=$(sed -n 's/^pipeline (tls+decode+validate+rules) .*: \([0-9]*\) events.*/\1/p' <<<"$out")
    [[ -n $eps ]] && record "pipeline mode=rules eps_core=$eps"
    eps=$(sed -n 's/^pipeline (tls+decode+validate) .*: \([0-9]*\) events.*/\1/p' <<<"$out")
    [[ -n $eps ]] && record "pipeline mode=norules eps_core=$eps"
    return 0
}

# streaming NAME AGENTS ARGS...: one server, one loadgen run; server CPU over
# the sending window, peak RSS, DB bytes/event.
scenario_streaming() {
    local name=$1 agents=$2 secs=$3
    shift 3
    local line c0 c1 t0 t1 rows hwm
    start_server "$name"
    run_loadgen "$name" --agents="$agents" --duration="$secs" "$@"
    wait_line "$tmp/$name.lg.err" "connected in" 300 || die "$name: agents did not connect"
    c0=$(cpu_ticks "$server_pid") t0=$(now_s)
    sleep "$(awk -v s="$secs" 'BEGIN { print (s > 2 ? s - 1 : s) }')"
    c1=$(cpu_ticks "$server_pid") t1=$(now_s)
    if ! finish_loadgen "$name"; then
        stop_server
        return 0
    fi
    hwm=$(proc_kib "$server_pid" VmHWM)
    stop_server
    rows=$(sqlite3 -readonly "$tmp/$name.db" 'SELECT count(*) FROM events')
    record "$line"
    record "server scenario=$name cpu_pct=$(awk -v a="$c0" -v b="$c1" -v t0="$t0" -v t1="$t1" -v h="$clk" \
        'BEGIN { printf "%.1f", 100 * (b - a) / h / (t1 - t0) }') hwm_mib=$((hwm / 1024)) rows=$rows" \
        "db_bytes_per_event=$(awk -v b="$(db_bytes "$name")" -v r="$rows" 'BEGIN { printf "%.1f", r ? b / r : 0 }')"
    echo "  $line"
    tail -1 "$results" | sed 's/^/  /'
    (($(kv "$line" events_acked) <= rows)) || echo "perf: $name: fewer rows ($rows) than acked events" >&2
}

scenario_s1() {
    echo "perf: s1: ${S1_AGENTS:-8} agents at full speed for ${S1_SECS:-20} s"
    scenario_streaming s1 "${S1_AGENTS:-8}" "${S1_SECS:-20}" --batch=1024
}

# bare_full: one bare append at sync FULL; prints its rows/s.
bare_full() {
    local out
    out=$("$store_append" --rows="${RATIO_ROWS:-2000000}" --mode=bare --sync=full --dir="$tmp") \
        || die "bulwark-store-append failed"
    kv "$out" rows_per_s
}

scenario_ratio() {
    local rounds=${RATIO_ROUNDS:-3} r before after line
    echo "perf: ratio: $rounds rounds of bare append (${RATIO_ROWS:-2000000} rows, FULL) and s1, interleaved"
    before=$(bare_full)
    for ((r = 1; r <= rounds; r++)); do
        scenario_streaming "ratio$r" "${S1_AGENTS:-8}" "${S1_SECS:-20}" --batch=1024
        line=$(grep '^loadgen ' "$tmp/ratio$r.lg.out" || true)
        rm -f -- "$tmp/ratio$r.db" "$tmp/ratio$r.db-wal" "$tmp/ratio$r.db-shm"
        after=$(bare_full)
        record "ratio round=$r eps=$(kv "$line" eps) bare_before=$before bare_after=$after" \
            "ratio=$(awk -v e="$(kv "$line" eps)" -v a="$before" -v b="$after" \
                'BEGIN { printf "%.4f", (a + b) ? 2 * e / (a + b) : 0 }')"
        tail -1 "$results" | sed 's/^/  /'
        before=$after
    done
}

scenario_s2() {
    echo "perf: s2: ${S2_AGENTS:-1000} agents at ${S2_RATE:-50} events/s each for ${S2_SECS:-30} s"
    scenario_streaming s2 "${S2_AGENTS:-1000}" "${S2_SECS:-30}" --rate="${S2_RATE:-50}"
}

scenario_s3() {
    local n=${S3_AGENTS:-10000} win=${S3_WINDOW:-20} rss0 c0 c1 t0 t1 rss1 hwm line
    echo "perf: s3: $n idle agents with heartbeats, ${win} s window"
    start_server s3
    rss0=$(proc_kib "$server_pid" VmRSS)
    run_loadgen s3 --agents="$n" --heartbeat-only --hb-ms="${S3_HB_MS:-0}" \
        --duration=$((win + 8)) --connect-timeout=180
    wait_line "$tmp/s3.lg.err" "connected in" 400 || die "s3: agents did not connect"
    sleep 4
    c0=$(cpu_ticks "$server_pid") t0=$(now_s)
    sleep "$win"
    c1=$(cpu_ticks "$server_pid") t1=$(now_s)
    rss1=$(proc_kib "$server_pid" VmRSS)
    hwm=$(proc_kib "$server_pid" VmHWM)
    if ! finish_loadgen s3; then
        stop_server
        return 0
    fi
    stop_server
    record "$line"
    record "server scenario=s3 agents=$n cpu_pct=$(awk -v a="$c0" -v b="$c1" -v t0="$t0" -v t1="$t1" -v h="$clk" \
        'BEGIN { printf "%.2f", 100 * (b - a) / h / (t1 - t0) }') rss_idle_mib=$((rss0 / 1024))" \
        "rss_mib=$((rss1 / 1024)) hwm_mib=$((hwm / 1024))" \
        "kib_per_conn=$(awk -v a="$rss0" -v b="$rss1" -v n="$n" 'BEGIN { printf "%.1f", (b - a) / n }')"
    echo "  $line"
    tail -1 "$results" | sed 's/^/  /'
}

scenario_s4() {
    local n=${S4_AGENTS:-5000} secs=${S4_SECS:-45} line bad fixed_port
    echo "perf: s4: reconnect storm of $n agents at ${S4_RATE:-5} events/s, kill -9 and restart"
    start_server s4
    fixed_port=$port
    run_loadgen s4 --agents="$n" --connect-storm --rate="${S4_RATE:-5}" --duration="$secs" \
        --acked-out="$tmp/s4.acked" --reconnect-max-ms=5000 --connect-timeout=180
    wait_line "$tmp/s4.lg.err" "connected in" 300 || die "s4: agents did not connect"
    sleep "${S4_KILL_AFTER:-5}"
    kill -KILL "$server_pid"
    wait "$server_pid" 2>/dev/null || true
    echo "  killed bulwarkd (kill -9); restarting on port $fixed_port"
    start_server s4 "$fixed_port" 1
    wait_line "$tmp/s4.lg.err" "acked again" 120 || echo "perf: s4: not all streams acked again" >&2
    if ! finish_loadgen s4; then
        stop_server
        return 0
    fi
    stop_server
    record "$line"
    # every agent: rows == distinct seqs == max seq >= acked, starting at 1
    sqlite3 -readonly -separator ' ' "$tmp/s4.db" \
        "SELECT a.agent_id, e.epoch, count(*), min(e.seq), max(e.seq), count(DISTINCT e.seq)
         FROM events e JOIN agents a ON a.id = e.agent GROUP BY e.agent, e.epoch" >"$tmp/s4.rows"
    bad=$(awk 'NR == FNR { rows[$1 " " $2] = $3; mn[$1 " " $2] = $4; mx[$1 " " $2] = $5;
                           d[$1 " " $2] = $6; next }
               { k = $1 " " $2; r = (k in rows) ? rows[k] : 0
                 if (r < $3 || (r > 0 && (mn[k] != 1 || mx[k] != r || d[k] != r))) bad++ }
               END { print bad + 0 }' "$tmp/s4.rows" "$tmp/s4.acked")
    record "server scenario=s4 agents_checked=$(wc -l <"$tmp/s4.acked") agents_with_loss=$bad" \
        "rows=$(sqlite3 -readonly "$tmp/s4.db" 'SELECT count(*) FROM events')"
    echo "  $line"
    tail -1 "$results" | sed 's/^/  /'
}

for s in "${scenarios[@]}"; do
    "scenario_$s"
done

# ---------------------------------------------------------------- summary

python3 - "$results" "$cpus" <<'PY'
import statistics
import sys
res, cpus = sys.argv[1], int(sys.argv[2])
rows = []
for ln in open(res):
    f = ln.split()
    if f:
        rows.append((f[0], dict(kv.split("=", 1) for kv in f[1:] if "=" in kv)))
def find(kind, **m):
    for k, d in rows:
        if k == kind and all(d.get(a) == b for a, b in m.items()):
            return d
    return None
def num(d, k):
    return float(d[k]) if d and k in d else None
print("\nperf summary (figures of this run; see docs/performance.md)")
bare = num(find("store_append", mode="bare", sync="full"), "rows_per_s")
bare_n = num(find("store_append", mode="bare", sync="normal"), "rows_per_s")
api = num(find("store_append", mode="store", sync="full"), "rows_per_s")
if bare:
    print(f"  bare append (sync FULL)       {bare:12,.0f} rows/s")
if bare_n:
    print(f"  bare append (sync NORMAL)     {bare_n:12,.0f} rows/s")
for mode, what in (("norules", "TLS+decode+validation"), ("rules", "the same + rules")):
    p = num(find("pipeline", mode=mode), "eps_core")
    if p:
        print(f"  no storage, {what:22s}{p:12,.0f} events/s on one core"
              + (f" ({p / bare:.1f}x bare append)" if bare else ""))
if api:
    print(f"  store API (sync FULL)         {api:12,.0f} rows/s  ({api / bare:.0%} of bare)" if bare else
          f"  store API (sync FULL)         {api:12,.0f} rows/s")
rat = [d for k, d in rows if k == "ratio"]
if rat:
    rs = sorted(float(d["ratio"]) for d in rat)
    print(f"  ratio: {len(rat)} rounds of s1 between bare appends (FULL):")
    for d in rat:
        print(f"      round {d['round']}: {float(d['eps']):,.0f} events/s acked / bare "
              f"{float(d['bare_before']):,.0f} .. {float(d['bare_after']):,.0f} rows/s = {float(d['ratio']):.1%}")
    print(f"      median {statistics.median(rs):.1%}, min {rs[0]:.1%}, max {rs[-1]:.1%} (target >= 80%)")
for sc in ("s1", "s2", "s3", "s4"):
    srv = find("server", scenario=sc)
    lg = None
    for k, d in rows:
        if k == "server" and d.get("scenario") == sc:
            break
        if k == "loadgen":
            lg = d
    if not srv or not lg:
        continue
    eps = num(lg, "eps")
    line = (f"  {sc}: {lg['agents']} agents {lg['mode']}: connect {lg['connect_ms']} ms, "
            f"{eps:,.0f} events/s acked, ack p50/p99/max {lg['ack_p50_ms']}/{lg['ack_p99_ms']}/"
            f"{lg['ack_max_ms']} ms")
    if sc in ("s1", "s2"):
        line += f", server CPU {srv['cpu_pct']}% (of one core), peak RSS {srv['hwm_mib']} MiB, " \
                f"{srv['db_bytes_per_event']} DB bytes/event"
        if bare and sc == "s1":
            line += f"\n      ratio durable ingest / bare append (FULL): {eps / bare:.1%} (target >= 80%)"
        if sc == "s2":
            want = float(lg["agents"]) * float(lg["rate"])
            line += f"\n      offered {want:,.0f} events/s, acked {eps / want:.1%} of it"
    if sc == "s3":
        line = (f"  s3: {srv['agents']} idle agents: connect {lg['connect_ms']} ms, server RSS "
                f"{srv['rss_mib']} MiB (idle {srv['rss_idle_mib']}, {srv['kib_per_conn']} KiB/conn, "
                f"peak {srv['hwm_mib']}), CPU {srv['cpu_pct']}% of one core "
                f"(targets < 300 MB, < 10%), heartbeat rtt p50/p99 {lg['hb_rtt_p50_ms']}/"
                f"{lg['hb_rtt_p99_ms']} ms")
    if sc == "s4":
        line += (f"\n      all back {lg['reconnect_ms']} ms and all acked again {lg['restream_ms']} ms "
                 f"after the kill (target < 30 s); lost (loadgen) {lg['lost']}, agents with "
                 f"missing rows {srv['agents_with_loss']} of {srv['agents_checked']}")
    line += f"\n      loadgen: {lg['lg_cpu_pct']}% CPU, RSS {lg['lg_hwm_mib']} MiB, certs {lg['certgen_ms']} ms, " \
            f"tls contexts {lg['ctx_ms']} ms, {lg['errors']} errors, {lg['disconnects']} disconnects"
    print(line)
PY
echo "perf: raw figures in key=value form:"
sed 's/^/  /' "$results"
((failed == 0)) || die "a scenario failed (see above)"
