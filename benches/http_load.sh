#!/usr/bin/env bash
# HTTP throughput of an axum server without authentication and behind the layer, loaded by wrk.
#
#   benches/http_load.sh
#
# Builds the server (benches/http_load/server.rs, `cargo build --release --example bench_server`), then
# for ROUNDS rounds runs each mode in turn (A B C … A B C …, so that all share the machine's noise): start
# the server on 127.0.0.1 (ephemeral port), check with curl that it answers 200 with its token and 401
# without it or with a forged one (200 without a token in modes `none` and `passthrough`), warm up, load it with wrk, stop it.
# Prints per mode the median requests/s and p99 latency, the best requests/s, the server's CPU time per
# request, each against `none`, and whether the layer with the cache keeps >= 0.95x the no-auth
# requests/s (the median over rounds of the ratio within each round: neighbouring runs share the machine's
# state). Exits non-zero only if something failed to run, whatever the verdict.
#
# Every request carries the server's valid token, in every mode (also `none`), so that all modes are
# loaded with the same requests. It is the same token for the whole run: "cache on" measures cache hits.
#
# A run in which the server used less than MIN_CPU % of a CPU (90) measured something else (the machine's
# other load, or wrk's own limit): it is run again, at most RETRIES (2) times, then kept and flagged.
#
# Settings (environment): ROUNDS (5), DURATION (10s), WARMUP (3s), CONNECTIONS (32), THREADS (1),
# MODES ("none passthrough hs256-cache hs256-nocache es256-cache es256-nocache hs256-cache-arc"), MIN_CPU, RETRIES, SERVER_CPUS (0)
# and LOAD_CPUS (1): with taskset and at least 2 CPUs, the server and wrk are pinned to these (the
# server's tokio runtime then has one worker per CPU it may use). wrk comes from Debian's `wrk` package:
# installed with apt-get when missing and running as root, otherwise the script says how.
set -euo pipefail

ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-3s}
CONNECTIONS=${CONNECTIONS:-32}
THREADS=${THREADS:-1}
MODES=${MODES:-none passthrough hs256-cache hs256-nocache es256-cache es256-nocache hs256-cache-arc}
SERVER_CPUS=${SERVER_CPUS:-0}
LOAD_CPUS=${LOAD_CPUS:-1}
MIN_CPU=${MIN_CPU:-90}
RETRIES=${RETRIES:-2}
TARGET=0.95

cd "$(dirname "$0")/.."

die() {
    echo "http_load: $*" >&2
    exit 1
}

if ! command -v wrk >/dev/null; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "wrk is missing: installing Debian's wrk package"
        DEBIAN_FRONTEND=noninteractive apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
    else
        die "wrk is missing: install it (Debian/Ubuntu: sudo apt-get install wrk; macOS: brew install wrk) and run again"
    fi
fi
command -v curl >/dev/null || die "curl is missing (Debian/Ubuntu: apt-get install curl)"

echo "building the server (release)"
build_log=$(cargo build --release --example bench_server --message-format=json-render-diagnostics) ||
    die "cargo build --release --example bench_server failed"
server=$(printf '%s\n' "$build_log" | grep -o '"executable":"[^"]*bench_server[^"]*"' | tail -n1 |
    sed 's/^"executable":"//; s/"$//')
[ -x "$server" ] || die "cannot find the bench_server executable in cargo's output"

pin_server=()
pin_load=()
if command -v taskset >/dev/null && [ "$(nproc)" -ge 2 ]; then
    pin_server=(taskset -c "$SERVER_CPUS")
    pin_load=(taskset -c "$LOAD_CPUS")
    pinning="server on CPU(s) $SERVER_CPUS, wrk on CPU(s) $LOAD_CPUS (taskset)"
else
    pinning="not pinned (taskset missing or a single CPU): server and wrk share the CPUs"
fi

work=$(mktemp -d)
server_pid=
cleanup() {
    if [ -n "$server_pid" ]; then
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

# Starts the server in mode $1; sets server_pid, url and token.
start_server() {
    local mode=$1
    # Emptied before the start: never read the previous server's lines.
    : >"$work/server.out"
    "${pin_server[@]}" "$server" "$mode" 127.0.0.1:0 >"$work/server.out" 2>"$work/server.err" &
    server_pid=$!
    url=
    for _ in $(seq 100); do
        url=$(sed -n 's/^listening //p' "$work/server.out")
        token=$(sed -n 's/^token //p' "$work/server.out")
        [ -n "$url" ] && break
        kill -0 "$server_pid" 2>/dev/null || break
        sleep 0.1
    done
    [ -n "$url" ] || die "the server ($mode) did not start: $(cat "$work/server.err")"
    [ -n "$token" ] || die "the server ($mode) printed no token"
}

stop_server() {
    kill "$server_pid"
    wait "$server_pid" 2>/dev/null || true
    server_pid=
}

# Checks that the server answers as its mode says: a misconfigured server must not produce numbers.
check_server() {
    local mode=$1 status body forged
    status=$(curl -sS -o "$work/body" -w '%{http_code}' -H "Authorization: Bearer $token" "$url/me")
    body=$(cat "$work/body")
    [ "$status" = 200 ] && [ "$body" = hello ] ||
        die "$mode: with its token, expected 200 \"hello\", got $status \"$body\""
    local unauthenticated=401
    case "$mode" in none | passthrough) unauthenticated=200 ;; esac
    status=$(curl -sS -o /dev/null -w '%{http_code}' "$url/me")
    [ "$status" = "$unauthenticated" ] ||
        die "$mode: without a token, expected $unauthenticated, got $status"
    # The token with its last signature character changed.
    forged="${token%?}$([ "${token: -1}" = A ] && echo B || echo A)"
    status=$(curl -sS -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $forged" "$url/me")
    [ "$status" = "$unauthenticated" ] ||
        die "$mode: with a forged token, expected $unauthenticated, got $status"
}

# CPU seconds used so far by the server process (user + system).
server_cpu() {
    awk -v hz="$(getconf CLK_TCK)" '{ sub(/^.*\) /, ""); print ($12 + $13) / hz }' "/proc/$server_pid/stat"
}

# wrk's latency ("850.12us", "1.23ms", "1.01s", "2.00m") in microseconds.
to_us() {
    awk -v v="$1" 'BEGIN {
        n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
        f = (u == "us") ? 1 : (u == "ms") ? 1e3 : (u == "s") ? 1e6 : (u == "m") ? 6e7 : -1
        if (f < 0) { print "bad latency " v > "/dev/stderr"; exit 1 }
        printf "%.1f\n", n * f
    }'
}

# Median of the numbers on stdin.
median() {
    sort -g | awk '{ a[NR] = $1 } END { if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}

cpu_model=$(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | sed 's/^[^:]*: //' || true)
echo "machine: $(nproc) CPUs, ${cpu_model:-unknown CPU}; $pinning"
echo "load: wrk -t$THREADS -c$CONNECTIONS -d$DURATION --latency (after a $WARMUP warm-up), $ROUNDS rounds, modes interleaved"
echo "$(wrk -v 2>&1 | head -n1 || true)"
echo

: >"$work/results"
# One measurement of mode $1: sets rps, p99_us, cpu (the server's CPU %), per_request (its CPU us per
# answered request) and errors.
measure() {
    local mode=$1 cpu_before cpu_after p99 seconds elapsed_us
    start_server "$mode"
    check_server "$mode"
    "${pin_load[@]}" wrk -t"$THREADS" -c"$CONNECTIONS" -d"$WARMUP" \
        -H "Authorization: Bearer $token" "$url/me" >/dev/null
    cpu_before=$(server_cpu)
    "${pin_load[@]}" wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency \
        -H "Authorization: Bearer $token" "$url/me" >"$work/wrk.out" ||
        die "$mode: wrk failed: $(cat "$work/wrk.out")"
    cpu_after=$(server_cpu)
    stop_server
    if grep -q 'Non-2xx or 3xx responses' "$work/wrk.out"; then
        die "$mode: wrk got non-200 answers: $(cat "$work/wrk.out")"
    fi
    rps=$(awk '/^Requests\/sec:/ { print $2 }' "$work/wrk.out")
    p99=$(awk '$1 == "99%" { print $2 }' "$work/wrk.out")
    seconds=$(awk '/requests in/ { v = $4; sub(/,$/, "", v); print v }' "$work/wrk.out")
    [ -n "$rps" ] && [ -n "$p99" ] && [ -n "$seconds" ] ||
        die "$mode: cannot read wrk's output: $(cat "$work/wrk.out")"
    p99_us=$(to_us "$p99")
    elapsed_us=$(to_us "$seconds")
    errors=$(grep -o 'Socket errors:.*' "$work/wrk.out" || true)
    cpu=$(awk -v a="$cpu_before" -v b="$cpu_after" -v t="$elapsed_us" \
        'BEGIN { printf "%.0f", (b - a) / (t / 1e6) * 100 }')
    per_request=$(awk -v c="$cpu" -v r="$rps" 'BEGIN { printf "%.2f", c * 1e4 / r }')
}

: >"$work/results"
disturbed=0
for round in $(seq "$ROUNDS"); do
    for mode in $MODES; do
        # A run where the server did not get (nearly) a whole CPU measured the machine's other load (or
        # wrk's limit), not the server: it is done again, at most RETRIES times, and then kept, flagged.
        for attempt in $(seq 0 "$RETRIES"); do
            measure "$mode"
            status=
            if [ "$cpu" -lt "$MIN_CPU" ]; then
                if [ "$attempt" -lt "$RETRIES" ]; then
                    status="  discarded, again: the server had only ${cpu}% CPU (machine busy, or wrk-bound)"
                else
                    status="  KEPT although the server had only ${cpu}% CPU (machine busy, or wrk-bound)"
                    disturbed=$((disturbed + 1))
                fi
            fi
            printf 'round %s  %-14s %8.0f req/s  p99 %8.1f us  server CPU %3s%%, %6s us/request%s %s\n' \
                "$round" "$mode" "$rps" "$p99_us" "$cpu" "$per_request" "$status" "$errors"
            [[ "$status" == *discarded* ]] || break
        done
        echo "$mode $rps $p99_us $cpu $per_request $round" >>"$work/results"
    done
done

field() { awk -v m="$1" -v c="$2" '$1 == m { print $c }' "$work/results"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a / b }'; }
# The median over rounds of this mode's requests/s against `$2`'s in the same round: runs next to each
# other share the machine's state, so this pairs away most of the drift between rounds.
paired() {
    awk -v m="$1" -v b="$2" '$1 == b { base[$6] = $2 } $1 == m { mine[$6] = $2 }
        END { for (r in mine) if (r in base) print mine[r] / base[r] }' "$work/results" |
        median | awk '{ printf "%.3f", $1 }'
}

echo
base=$(field none 2 | median)
base_best=$(field none 2 | sort -g | tail -n1)
base_cpu=$(field none 5 | median)
# A layer that does nothing: what axum charges any layer, for reading the layer's own share.
base_pt=""
case " $MODES " in *" passthrough "*) base_pt=$(field passthrough 2 | median) ;; esac
printf '%-14s %9s %9s %8s %8s %10s %8s %10s %9s   %s\n' mode "req/s" "p99 (us)" "vs none" "paired" \
    "best req/s" "vs none" "CPU us/req" "vs none" "req/s per round"
verdicts=()
for mode in $MODES; do
    rps=$(field "$mode" 2 | median)
    best=$(field "$mode" 2 | sort -g | tail -n1)
    p99=$(field "$mode" 3 | median)
    per_request=$(field "$mode" 5 | median)
    rounds=$(awk -v m="$mode" '$1 == m { printf "%s%.0f", sep, $2; sep = " " }' "$work/results")
    r=- rb=- rc=- rp=-
    if [ -n "$base" ]; then
        r=$(ratio "$rps" "$base")
        rp=$(paired "$mode" none)
        rb=$(ratio "$best" "$base_best")
        rc=$(ratio "$base_cpu" "$per_request")
    fi
    printf '%-14s %9.0f %9.1f %7sx %7sx %10.0f %7sx %10s %8sx   %s\n' "$mode" "$rps" "$p99" "$r" "$rp" \
        "$best" "$rb" "$per_request" "$rc" "$rounds"
    if [ -n "$base" ] && [[ "$mode" == *-cache || "$mode" == *-cache-* ]]; then
        verdict="NOT MET"
        awk -v r="$rp" -v t="$TARGET" 'BEGIN { exit !(r >= t) }' && verdict=MET
        against_layer=""
        if [ -n "$base_pt" ]; then
            against_layer="; against the do-nothing layer $(paired "$mode" passthrough)x"
        fi
        verdicts+=("  $mode: ${rp}x the no-auth requests/s (paired by round; medians ${r}x, best-of ${rb}x, CPU per request ${rc}x${against_layer}): $verdict")
    fi
done
echo "(medians over $ROUNDS rounds; paired = the median of each round's ratio to none in that round; best ="
echo " the highest requests/s; CPU us/req = the server's CPU time per answered request, and its 'vs none' ="
echo " none's / this mode's: the throughput ratio of a server-bound run)"
if [ ${#verdicts[@]} -gt 0 ]; then
    echo "target: the layer with the cache keeps >= ${TARGET}x the no-auth throughput"
    printf '%s\n' "${verdicts[@]}"
fi
if [ "$disturbed" -gt 0 ]; then
    echo "WARNING: $disturbed run(s) kept with the server below ${MIN_CPU}% CPU: the machine was busy; rerun when quiet"
fi
