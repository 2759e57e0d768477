# jobtui supervisor: one per run, detached in its own session by the launcher.
# POSIX sh (dash, busybox ash). Usage: sh supervise.sh JOBDIR TIMEOUT GRACE [STARTED]
#
# It starts the job in a session and process group of its own, records the pid,
# enforces the time limit itself (TERM to the whole group, a grace period, then
# KILL) so the limit holds with no console connected, and records the exit
# status atomically. Every file it writes is 0600 (umask), written to a temp
# name first and renamed, so a reader never sees half a file.
#
# A fleet launches hundreds of these at once, on hosts that have work of their
# own: every process start here counts. Builtins where they do (read, not cat).
umask 077
d=$1
limit=$2
grace=$3
started=${4:-} # the host clock when the launch began (epoch seconds)

jt_put() { # FILE CONTENT: atomic write
    printf '%s\n' "$2" >"$d/$1.tmp" && mv -f "$d/$1.tmp" "$d/$1"
}

# Kill a process group: TERM, wait up to GRACE seconds for it to go, then KILL.
jt_kill_group() {
    kill -s TERM -- "-$1" 2>/dev/null || return 0
    # Most jobs end at once on TERM: look again after a tenth of a second (where
    # `sleep` takes fractions, as GNU's and busybox's do), then every second.
    sleep 0.1 2>/dev/null
    i=0
    while [ "$i" -lt "$grace" ] && kill -s 0 -- "-$1" 2>/dev/null; do
        sleep 1
        i=$((i + 1))
    done
    kill -s KILL -- "-$1" 2>/dev/null
    return 0
}

# PID was just started as `setsid ...`: wait (busily, it takes microseconds) until
# it leads its own process group, or is gone, so a signal to the group cannot
# miss it. Bounded, in case setsid misbehaves.
jt_await_group() {
    i=0
    while [ "$i" -lt 100000 ] && ! kill -s 0 -- "-$1" 2>/dev/null &&
        kill -s 0 "$1" 2>/dev/null; do
        i=$((i + 1))
    done
}

boot=''
[ -r /proc/sys/kernel/random/boot_id ] && IFS= read -r boot </proc/sys/kernel/random/boot_id
[ -n "$started" ] || started=$(date +%s)

JOBTUI_PROGRESS="$d/progress"
JOBTUI_JOB_DIR=$d
export JOBTUI_PROGRESS JOBTUI_JOB_DIR
# setsid: the job gets its own session and process group (pgid = its pid), so a
# signal to the group reaches every child it starts, and nothing of the SSH
# session that launched us is attached to it.
setsid sh "$d/cmd" </dev/null >"$d/stdout" 2>"$d/stderr" &
pid=$!
jt_await_group "$pid"
jt_put pid "$pid $$ $started $boot"

wpid=''
if [ "$limit" -gt 0 ]; then
    # The watchdog: a subshell (no process start but its `sleep`) in this
    # supervisor's process group, which the job, in a session of its own, is not
    # in. At the end one signal to the group ends it and its `sleep`, however far
    # it got.
    (
        sleep "$limit" || exit 0
        : >"$d/timed_out.tmp" && mv -f "$d/timed_out.tmp" "$d/timed_out"
        jt_kill_group "$pid"
    ) </dev/null >/dev/null 2>&1 &
    wpid=$!
fi

wait "$pid"
rc=$?

how=exited
if [ -e "$d/timed_out" ]; then
    how=timed_out
    # Let the watchdog finish its TERM, grace, KILL of the stragglers.
    wait "$wpid"
elif [ -e "$d/cancelled" ]; then
    how=cancelled
    jt_kill_group "$pid"
fi
if [ -n "$wpid" ]; then
    # The watchdog and its sleep: nothing of ours outlives the run. This shell
    # leads its process group (the launcher started it with setsid) and stays.
    # Twice: a shell blocks signals while it forks, and a child does not inherit
    # the signals pending in its parent, so a `sleep` being started as the first
    # signal came would miss it; once the watchdog is gone, nothing starts any more.
    trap '' TERM
    kill -s TERM -- "-$$" 2>/dev/null
    wait "$wpid"
    kill -s TERM -- "-$$" 2>/dev/null
fi
jt_put rc "$rc $(date +%s) $how"

# Push: tell every console's watcher (if any) that a run ended. A read-write open
# of a FIFO never blocks, so with no watcher this costs nothing and waits for nobody.
for f in "${d%/jobs/*}"/watch/*.fifo; do
    [ -p "$f" ] || continue
    { printf 'e\n' >&3; } 3<>"$f" 2>/dev/null
done
