# jobtui supervisor: one per run, detached in its own session by the launcher.
# POSIX sh (dash, busybox ash). Usage: sh supervise.sh JOBDIR TIMEOUT GRACE
#
# It starts the job in a session and process group of its own, records the pid,
# enforces the time limit itself (TERM to the whole group, a grace period, then
# KILL) so the limit holds with no console connected, and records the exit
# status atomically. Every file it writes is 0600 (umask), written to a temp
# name first and renamed, so a reader never sees half a file.
umask 077
d=$1
limit=$2
grace=$3

jt_put() { # FILE CONTENT: atomic write
    printf '%s\n' "$2" >"$d/$1.tmp" && mv -f "$d/$1.tmp" "$d/$1"
}

# Kill a process group: TERM, wait up to GRACE seconds for it to go, then KILL.
jt_kill_group() {
    kill -s TERM -- "-$1" 2>/dev/null || return 0
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
[ -r /proc/sys/kernel/random/boot_id ] && boot=$(cat /proc/sys/kernel/random/boot_id)
started=$(date +%s)

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
    # The watchdog runs in a group of its own too, so that killing it also
    # kills its `sleep`.
    setsid sh -c '
        sleep "$1" || exit 0
        : >"$3/timed_out.tmp" && mv -f "$3/timed_out.tmp" "$3/timed_out"
        kill -s TERM -- "-$2" 2>/dev/null || exit 0
        i=0
        while [ "$i" -lt "$4" ] && kill -s 0 -- "-$2" 2>/dev/null; do
            sleep 1
            i=$((i + 1))
        done
        kill -s KILL -- "-$2" 2>/dev/null
        exit 0' jobtui-watchdog "$limit" "$pid" "$d" "$grace" </dev/null >/dev/null 2>&1 &
    wpid=$!
    jt_await_group "$wpid"
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
    # The watchdog and its sleep: nothing of ours outlives the run.
    kill -s KILL -- "-$wpid" "$wpid" 2>/dev/null
fi
jt_put rc "$rc $(date +%s) $how"

# Push: tell every console's watcher (if any) that a run ended. A read-write open
# of a FIFO never blocks, so with no watcher this costs nothing and waits for nobody.
for f in "${d%/jobs/*}"/watch/*.fifo; do
    [ -p "$f" ] || continue
    { printf 'e\n' >&3; } 3<>"$f" 2>/dev/null
done
