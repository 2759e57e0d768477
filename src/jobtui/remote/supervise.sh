# jobtui supervisor: one per run, detached in its own session by the launcher.
# POSIX sh (dash, busybox ash). Usage: sh supervise.sh JOBDIR TIMEOUT GRACE [STARTED]
# with the run's secrets (`export NAME=VALUE` lines, maybe none) on its stdin.
#
# It starts the job in a session and process group of its own, records the pid,
# enforces the time limit itself (TERM to every process of the run, a grace
# period, then KILL) so the limit holds with no console connected, and records the
# exit status atomically. Every file it writes is 0600 (umask), written to a temp
# name first and renamed, so a reader never sees half a file.
#
# Every process of the run carries its marker, JOBTUI_RUN=<jid>, in its
# environment: a child that left the job's process group (`setsid cmd &`) is still
# found (through /proc/*/environ) and ended. One that also scrubs its environment
# escapes on a host without cgroups: the limit of what a shell can track.
#
# A fleet launches hundreds of these at once, on hosts that have work of their
# own: every process start here counts. Builtins where they do (read, not cat).
umask 077
# No trace (an exported SHELLOPTS may ask for one): it would write the secrets
# into the job's stderr file.
set +xv
IFS=' 	
'
d=$1
jid=${d##*/}
limit=$2
grace=$3
started=${4:-} # the host clock when the launch began (epoch seconds)

jt_put() { # FILE CONTENT: atomic write
    printf '%s\n' "$2" >"$d/$1.tmp" && mv -f "$d/$1.tmp" "$d/$1"
}

# jt_signal SIG: the job's process group ($pid is our own child: provably the run's)
# and every process that carries the run's marker, wherever it went. `kill -SIG`:
# dash, bash and busybox all take it (busybox refuses `--`, and fails with it).
jt_signal() {
    kill -"$1" -"$pid" 2>/dev/null
    jt_marked
    [ -n "$JT_PIDS" ] && kill -"$1" $JT_PIDS 2>/dev/null
}

jt_marked() { # JT_PIDS: the live processes with the run's marker (never pid 1)
    JT_PIDS=''
    for f in $(grep -lsxz -e "JOBTUI_RUN=$jid" /proc/[0-9]*/environ 2>/dev/null); do
        p=${f#/proc/}
        p=${p%/environ}
        [ "$p" -gt 1 ] 2>/dev/null && JT_PIDS="$JT_PIDS $p"
    done
}

# End the run: TERM, wait up to GRACE seconds for all of it to go, then KILL.
jt_end() {
    jt_signal TERM
    # Most jobs end at once on TERM: look again after a tenth of a second (where
    # `sleep` takes fractions, as GNU's and busybox's do), then every second.
    sleep 0.1 2>/dev/null
    i=0
    while [ "$i" -lt "$grace" ]; do
        if ! kill -0 -"$pid" 2>/dev/null; then
            jt_marked
            [ -n "$JT_PIDS" ] || break
        fi
        sleep 1
        i=$((i + 1))
    done
    jt_signal KILL
    return 0
}

# PID was just started as `setsid ...`: wait (busily, it takes microseconds) until
# it leads its own process group, or is gone, so a signal to the group cannot
# miss it. Bounded, in case setsid misbehaves.
jt_await_group() {
    i=0
    while [ "$i" -lt 100000 ] && ! kill -0 -"$1" 2>/dev/null &&
        kill -0 "$1" 2>/dev/null; do
        i=$((i + 1))
    done
}

# jt_uptime: whole seconds since boot, without a process start ('' where there is no
# /proc/uptime): the end's time is the start's plus the seconds since, no `date`.
jt_uptime() {
    up=''
    [ -r /proc/uptime ] && read -r up _ </proc/uptime 2>/dev/null
    up=${up%%.*}
    case $up in *[!0-9]* | "") up='' ;; esac
}

boot=''
[ -r /proc/sys/kernel/random/boot_id ] && IFS= read -r boot </proc/sys/kernel/random/boot_id
case $started in *[!0-9]* | "") started=$(date +%s) ;; esac
jt_uptime
up0=$up

# The secrets: kept in this shell's memory and given to the job's environment only.
sec=''
while IFS= read -r l; do
    sec="$sec$l
"
done
sec="$sec$l"
exec </dev/null

if [ ! -O "$d" ] || [ ! -O "$d/cmd" ] || [ -h "$d/cmd" ]; then
    # The launch made both a moment ago (mkdir, umask 077): not ours means planted.
    printf 'refusing %s: not written by this user\n' "$d/cmd" >"$d/stderr"
    jt_put rc "126 $(date +%s) exited"
    exit 0
fi

JOBTUI_PROGRESS="$d/progress"
JOBTUI_JOB_DIR=$d
export JOBTUI_PROGRESS JOBTUI_JOB_DIR
# setsid: the job gets its own session and process group (pgid = its pid), so a
# signal to the group reaches every child it starts, and nothing of the SSH
# session that launched us is attached to it. The subshell (a fork, no process
# start) exports the secrets and the run's marker for the job alone, then becomes it.
(
    [ -z "$sec" ] || eval "$sec"
    JOBTUI_RUN=$jid
    export JOBTUI_RUN
    exec setsid sh "$d/cmd"
) >"$d/stdout" 2>"$d/stderr" &
pid=$!
sec=''
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
        jt_end
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
    jt_end
fi
if [ -n "$wpid" ]; then
    # The watchdog and its sleep: nothing of ours outlives the run. This shell
    # leads its process group (the launcher started it with setsid) and stays.
    # Twice: a shell blocks signals while it forks, and a child does not inherit
    # the signals pending in its parent, so a `sleep` being started as the first
    # signal came would miss it; once the watchdog is gone, nothing starts any more.
    trap '' TERM
    kill -TERM -$$ 2>/dev/null
    wait "$wpid"
    kill -TERM -$$ 2>/dev/null
fi
jt_uptime
case $started in *[!0-9]* | "") up='' ;; esac # `date` failed: no arithmetic on it
if [ -n "$up" ] && [ -n "$up0" ]; then
    ended=$((started + up - up0))
else
    ended=$(date +%s)
fi
jt_put rc "$rc $ended $how"

# Push: tell every console's watcher (if any) that a run ended. A read-write open
# of a FIFO never blocks, so with no watcher this costs nothing and waits for nobody.
for f in "${d%/jobs/*}"/watch/*.fifo; do
    [ -p "$f" ] || continue
    { printf 'e\n' >&3; } 3<>"$f" 2>/dev/null
done
