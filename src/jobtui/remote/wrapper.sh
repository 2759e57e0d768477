# jobtui remote side: functions the console calls over a long-lived `sh -s`.
# POSIX sh (dash, busybox ash); no Python needed on the target.
#
# The console sends this file once when it opens the shell, then one request per
# round trip: calls such as `jt_launch ...`, all arguments shell-quoted, ending
# with `jt_rec end`. Every record it prints starts on a new line with the
# random token $JT_TOK (chosen by the console for this round trip), so nothing a
# job writes into its output can forge a record.
umask 077
# Whatever options a login script or an exported SHELLOPTS turned on: not ours.
set +euxv
unset CDPATH
# Field splitting (of pid lines, of grep's output) by blanks, whatever IFS came in.
IFS=' 	
'

jt_rec() { # KIND ARGS...: start a record
    printf '\n%s %s\n' "$JT_TOK" "$*"
}

jt_home() { # PATH: JT_PATH, PATH with a leading ~ expanded to $HOME
    JT_PATH=$1
    case $JT_PATH in
    "~" | "~/"*)
        # No HOME (a stripped environment): the path is still somewhere sane.
        [ -n "${HOME:-}" ] || HOME=$(cd ~ 2>/dev/null && pwd) || HOME=/tmp
        JT_PATH=$HOME${JT_PATH#"~"}
        ;;
    esac
}

jt_root() { # DIR: resolve the job root
    jt_home "$1"
    JT_ROOT=$JT_PATH
    JT_JOBS=$JT_ROOT/jobs
}

jt_valid() { # JID: the design's pattern, checked here too before any path is built
    case $1 in
    *[!A-Za-z0-9_-]* | "") return 1 ;;
    esac
    [ "${#1}" -ge 8 ] && [ "${#1}" -le 64 ]
}

jt_uptime() { # JT_UP: whole seconds since boot, read without a process start ('' if not Linux)
    JT_UP=''
    [ -r /proc/uptime ] && read -r JT_UP _ </proc/uptime 2>/dev/null
    JT_UP=${JT_UP%%.*}
    case $JT_UP in *[!0-9]* | "") JT_UP='' ;; esac
}

# jt_epoch: JT_EPOCH, the host's clock at boot, from one `date` per shell (called
# by each request in the shell itself, before its answer's capture). After that the
# clock is that plus /proc/uptime: a poll every half second started a `date` each
# time on every host. (A clock stepped later, by NTP, is seen by the next shell: the
# skew the console warns about is minutes, start and end times keep their distance.)
jt_epoch() {
    [ -z "${JT_EPOCH:-}" ] || return 0
    jt_uptime
    [ -n "$JT_UP" ] || return 0
    jt_n=$(date +%s)
    case $jt_n in *[!0-9]* | "") return 0 ;; esac
    JT_EPOCH=$((jt_n - JT_UP))
}

jt_hello() { # print what the console needs to know about the host
    jt_rec hello
    JT_BOOT=''
    [ -r /proc/sys/kernel/random/boot_id ] && IFS= read -r JT_BOOT </proc/sys/kernel/random/boot_id
    # The host's clock, once per round trip: launches in it use it as their start
    # time (a supervisor need not start `date` for it).
    jt_uptime
    if [ -n "$JT_UP" ] && [ -n "${JT_EPOCH:-}" ]; then
        JT_NOW=$((JT_EPOCH + JT_UP))
    else
        JT_NOW=$(date +%s)
    fi
    printf '%s %s\n' "$JT_NOW" "$JT_BOOT"
}

# jt_trusted PATH...: each is owned by this user and writable by nobody else (as
# sshd's StrictModes asks of ~/.ssh): jobtui runs nothing that another user could
# have written or replaced. In a shared directory the supervisor's name, a public
# hash, could otherwise be planted first. Symlinks are followed: their targets count.
jt_trusted() {
    for p in "$@"; do
        [ -O "$p" ] && continue
        jt_rec install error
        printf 'refusing %s: it is not owned by %s but by %s; jobtui runs nothing from a directory or file another user controls\n' \
            "$p" "$(id -un 2>/dev/null)" "$(ls -ldL -- "$p" 2>/dev/null | awk '{ print $3 }')"
        return 1
    done
    # One `find` for all: it prints the paths whose group or others may write.
    bad=$(find -L "$@" -prune \( -perm -0020 -o -perm -0002 \) -print 2>/dev/null)
    [ -z "$bad" ] && return 0
    jt_rec install error
    printf 'refusing %s: it is writable by its group or by others (%s); make it writable by you only (chmod go-w)\n' \
        "$bad" "$(ls -ldL -- "$bad" 2>/dev/null | awk '{ print $1 }')"
    return 1
}

jt_install() { # NAME: write the supervisor ($JT_SUP) once, content-addressed
    JT_SUPERVISOR=$JT_ROOT/$1
    if ! command -v setsid >/dev/null 2>&1; then
        jt_rec install error
        printf '%s\n' "setsid not found on this host (util-linux or busybox provides it)"
        return 1
    fi
    if [ -h "$JT_SUPERVISOR" ]; then
        # Ours to write, so never a link: its target would be someone's choice.
        jt_rec install error
        printf 'refusing %s: it is a symbolic link\n' "$JT_SUPERVISOR"
        return 1
    elif [ -f "$JT_SUPERVISOR" ]; then
        jt_trusted "$JT_ROOT" "$JT_JOBS" "$JT_SUPERVISOR"
        return
    fi
    if [ ! -d "$JT_JOBS" ]; then
        # Nothing is made in another user's root (root's shell beside a become
        # user's, with one `jobtui_dir` for both): refused before any mkdir.
        if [ -e "$JT_ROOT" ] && [ ! -O "$JT_ROOT" ]; then
            jt_trusted "$JT_ROOT"
            return 1
        fi
        # Setting the root up: it becomes ours alone (a fresh mount may be 1777).
        # Whatever another user could have put there before is checked below.
        err=$(mkdir -p "$JT_JOBS" 2>&1 && { [ ! -O "$JT_ROOT" ] ||
            chmod 700 "$JT_ROOT" "$JT_JOBS" 2>&1; }) || {
            jt_rec install error
            printf '%s\n' "cannot set up $JT_ROOT: $err"
            return 1
        }
    fi
    # A root set up before and opened to others since is refused, not chmod-ed:
    # what they wrote meanwhile would be run.
    jt_trusted "$JT_ROOT" "$JT_JOBS" || return 1
    err=$(printf '%s' "$JT_SUP" >"$JT_SUPERVISOR.$$" 2>&1 &&
        mv -f "$JT_SUPERVISOR.$$" "$JT_SUPERVISOR" 2>&1)
    if [ -n "$err" ] || [ ! -f "$JT_SUPERVISOR" ]; then
        jt_rec install error
        printf '%s\n' "cannot set up $JT_ROOT: $err"
        rm -f "$JT_SUPERVISOR.$$"
        return 1
    fi
}

# jt_launch JID TIMEOUT GRACE META CMD [SECRETS]
# Creates jobs/JID with mkdir (never -p): if it exists, the run was launched
# before and is NOT started again. That is what makes a relaunch after a crash
# safe: a jid is recorded by the console before its launch is sent. The mkdir is
# the only test, so a console that made the dir a moment before us wins cleanly.
# SECRETS (`export NAME=VALUE` lines) go to the supervisor on its stdin, never
# into a file or an argv.
jt_launch() {
    jid=$1
    if ! jt_valid "$jid"; then
        jt_rec launch invalid
        return 0
    fi
    d=$JT_JOBS/$jid
    err=$(mkdir "$d" 2>&1) || {
        if [ -e "$d" ]; then
            jt_rec launch "$jid" exists
        else
            jt_rec launch "$jid" error
            printf '%s\n' "$err"
        fi
        return 0
    }
    # meta is read by status requests, so it appears whole (rename); cmd is read
    # only by the supervisor started below, after it is written.
    err=$({ printf '%s\n' "$4" >"$d/meta.tmp" && mv -f "$d/meta.tmp" "$d/meta" &&
        printf '%s\n' "$5" >"$d/cmd"; } 2>&1)
    if [ -n "$err" ] || [ ! -f "$d/cmd" ]; then
        # Nothing was started: remove the half-made dir so the failure is clean.
        rm -rf -- "$d"
        # Some shells say "I/O error" for a full disk: say how much room is left.
        free=$(df -Pk "$JT_JOBS" 2>/dev/null | awk 'NR == 2 { print $4 }')
        jt_rec launch "$jid" error
        printf 'cannot write the job files in %s: %s (%s KB free there%s)\n' \
            "$JT_JOBS" "${err:-unknown error}" "${free:-?}" \
            "$([ "${free:-1}" = 0 ] && echo ': the disk is full')"
        return 0
    fi
    # Detach: own session, no stdin, no ties to this SSH session. The subshell
    # exits at once (and is reaped), so the supervisor is nobody's zombie here.
    (printf '%s' "${6:-}" | setsid sh "$JT_SUPERVISOR" "$d" "$2" "$3" "${JT_NOW:-}" \
        >/dev/null 2>&1 &)
    jt_rec launch "$jid" ok
}

jt_nap() { # a tenth of a second where `sleep` takes fractions; else no pause
    sleep 0.1 2>/dev/null || :
}

jt_line() { # FILE: the first line of a small file, read without a process start
    JT_LINE=''
    [ -f "$1" ] && IFS= read -r JT_LINE <"$1"
    return 0
}

jt_alive() { # PIDLINE [job]: is the supervisor (or the job) of this run alive, same boot?
    jt_who=$2
    set -- $1
    [ "$#" -ge 2 ] || return 1
    if [ "$#" -ge 4 ] && [ -n "$JT_BOOT" ]; then
        [ "$4" = "$JT_BOOT" ] || return 1
    fi
    [ "$jt_who" = job ] && set -- "$2" "$1" # the pid line is: job, supervisor, ...
    if [ -d "/proc/$2" ]; then
        # A zombie is dead (where no init reaps orphans, kill -0 would say alive),
        # and a zombie has no working directory: one stat. (Its state in
        # /proc/PID/stat, read with `read`, took one system call per byte: a third
        # of a millisecond per run, every poll.)
        [ -d "/proc/$2/cwd" ]
        return
    fi
    kill -s 0 "$2" 2>/dev/null
}

# jt_status TAILBYTES [JID | +JID ...]: the state of the given runs (every run when
# no jid is given) in one round trip, with builtins only: no process is started per
# run. A `+` before a jid, or no jid at all, also asks for the run's metadata and
# output tails (one `tail` each); a finished run always gets them. Writes nothing.
jt_status() {
    n=$1
    shift
    if [ "$#" -eq 0 ]; then
        [ -d "$JT_JOBS" ] || return 0
        for d in "$JT_JOBS"/*; do
            [ -d "$d" ] && [ -O "$d" ] || continue
            jt_status_one "$n" "+${d##*/}"
        done
    else
        for jid in "$@"; do
            jt_status_one "$n" "$jid"
        done
    fi
}

jt_status_one() {
    full=no
    jid=$2
    case $jid in "+"*)
        full=yes
        jid=${jid#+}
        ;;
    esac
    jt_valid "$jid" || return 0
    d=$JT_JOBS/$jid
    # A job dir this user did not make is not its run (root's shell reads a become
    # user's root too: the run is that user's shell's to report).
    if [ ! -d "$d" ] || [ ! -O "$d" ]; then
        jt_rec run "$jid" missing
        return 0
    fi
    # The pid line is read once, then liveness, then rc: the supervisor writes rc
    # before it exits, so an rc missing after a dead supervisor is really missing.
    jt_line "$d/pid"
    pidline=$JT_LINE
    alive=no
    jt_alive "$pidline" && alive=yes
    jt_line "$d/rc"
    rcline=$JT_LINE
    # A dead supervisor and no rc: lost, unless the job itself still runs (only
    # its supervisor was killed). A retry must not start the same work again then.
    if [ "$alive" = no ] && [ -z "$rcline" ] && jt_alive "$pidline" job; then
        alive=orphan
    fi
    [ -n "$rcline" ] && full=yes
    last=''
    if [ -f "$d/progress" ]; then
        # The last non-empty line; jobs are expected to overwrite, not append.
        while IFS= read -r l || [ -n "$l" ]; do
            [ -n "$l" ] && last=$l
        done <"$d/progress"
    fi
    # One record per run: its pid line, rc line and progress line (each maybe empty).
    jt_rec run "$jid" "$alive"
    printf '%s\n%s\n%s\n' "$pidline" "$rcline" "$last"
    [ "$full" = yes ] || return 0
    jt_line "$d/meta"
    [ -n "$JT_LINE" ] && jt_rec file meta && printf '%s\n' "$JT_LINE"
    for f in stdout stderr; do
        # An empty file's tail is empty: no `tail` started for it (a quiet job's
        # every full status cost two).
        [ -s "$d/$f" ] || continue
        jt_rec tail "$f"
        tail -c "$n" "$d/$f" 2>/dev/null
    done
}

# jt_marked JID...: JT_PIDS, the live processes that carry the marker of any of
# these runs (JOBTUI_RUN=<jid> in their environment, set by the supervisor for the
# job and inherited by all it starts, in its process group or not). The only
# processes a cancel signals: a pid file is the job's to write, so it is never
# believed. One `grep` for all of them; never pid 1, never this shell.
jt_marked() {
    JT_PIDS=''
    [ "$#" -gt 0 ] || return 0
    n=$#
    while [ "$n" -gt 0 ]; do
        set -- "$@" -e "JOBTUI_RUN=$1"
        shift
        n=$((n - 1))
    done
    for f in $(grep -lsxz "$@" /proc/[0-9]*/environ 2>/dev/null); do
        p=${f#/proc/}
        p=${p%/environ}
        [ "$p" -gt 1 ] 2>/dev/null && [ "$p" != "$$" ] && JT_PIDS="$JT_PIDS $p"
    done
}

# jt_signal SIG JID...: every marked process of these runs; and the process group
# of a run's job whose leader is one of them (the pid file names it, and is
# believed only when that pid carries the run's marker).
jt_signal() {
    sig=$1
    shift
    jt_marked "$@"
    [ -n "$JT_PIDS" ] || return 1
    # `kill -SIG PID`: dash, bash and busybox all take it; busybox refuses `--`.
    kill -"$sig" $JT_PIDS 2>/dev/null
    for jt_j in "$@"; do
        jt_line "$JT_JOBS/$jt_j/pid"
        p=${JT_LINE%% *}
        case " $JT_PIDS " in *" $p "*) kill -"$sig" -"$p" 2>/dev/null ;; esac
    done
    return 0
}

# jt_cancel GRACE JID...: TERM every process of each run, then KILL what is left
# after the grace period. The supervisor sees the marker file and records
# `cancelled` (and ends its job's process group itself).
jt_cancel() {
    grace=$1
    shift
    cancelled=''
    orphans=''
    for jid in "$@"; do
        jt_valid "$jid" || continue
        d=$JT_JOBS/$jid
        if [ ! -d "$d" ] || [ ! -O "$d" ]; then
            jt_rec cancel "$jid" missing
            continue
        fi
        i=0
        # Launched a moment ago: give its supervisor time to write its pid.
        while [ ! -f "$d/pid" ] && [ ! -f "$d/rc" ] && [ "$i" -lt 3 ]; do
            sleep 1
            i=$((i + 1))
        done
        jt_line "$d/pid"
        pidline=$JT_LINE
        if [ -f "$d/rc" ]; then
            jt_rec cancel "$jid" finished
            continue
        elif ! jt_alive "$pidline"; then
            # No supervisor: ended (lost), or a job whose supervisor was killed,
            # which nobody will record: then it is killed and recorded here.
            jt_marked "$jid"
            [ -n "$JT_PIDS" ] || {
                jt_rec cancel "$jid" finished
                continue
            }
            orphans="$orphans $jid"
        fi
        : >"$d/cancelled.tmp" && mv -f "$d/cancelled.tmp" "$d/cancelled"
        cancelled="$cancelled $jid"
        jt_rec cancel "$jid" ok
    done
    [ -n "$cancelled" ] || return 0
    jt_signal TERM $cancelled
    # Most jobs end at once on TERM: look again after a tenth of a second (where
    # `sleep` takes fractions, as GNU's and busybox's do), then every second.
    jt_nap
    i=0
    while [ "$i" -lt "$grace" ] && jt_marked $cancelled && [ -n "$JT_PIDS" ]; do
        sleep 1
        i=$((i + 1))
    done
    jt_signal KILL $cancelled
    for jid in $orphans; do
        # Its exit status is not ours to know: 143, as for a run ended by TERM.
        f=$JT_JOBS/$jid/rc
        printf '143 %s cancelled\n' "$(date +%s)" >"$f.tmp" && mv -f "$f.tmp" "$f"
    done
    # Return once each supervisor has recorded the end, so what follows (a cleanup,
    # a status) sees `cancelled`, not a run still finishing.
    for jid in $cancelled; do
        i=0
        [ -f "$JT_JOBS/$jid/rc" ] || jt_nap
        while [ ! -f "$JT_JOBS/$jid/rc" ] && [ "$i" -lt 5 ]; do
            sleep 1
            i=$((i + 1))
        done
    done
    return 0
}

# jt_cleanup JID...: remove finished runs' directories; a running run is refused.
# One `rm` for all of them; each run then says whether its directory is gone.
jt_cleanup() {
    gone=''
    for jid in "$@"; do
        jt_valid "$jid" || continue
        d=$JT_JOBS/$jid
        if [ ! -d "$d" ] || [ ! -O "$d" ]; then
            jt_rec cleanup "$jid" missing
        elif jt_line "$d/pid" && [ ! -f "$d/rc" ] &&
            { [ -z "$JT_LINE" ] || jt_alive "$JT_LINE" || jt_alive "$JT_LINE" job; }; then
            # Alive (the job, or at least its supervisor), or so new that its
            # supervisor has not written its pid yet.
            jt_rec cleanup "$jid" running
        else
            gone="$gone $jid"
        fi
    done
    [ -n "$gone" ] || return 0
    set --
    for jid in $gone; do
        set -- "$@" "$JT_JOBS/$jid"
    done
    err=$(rm -rf -- "$@" 2>&1)
    for jid in $gone; do
        if [ -e "$JT_JOBS/$jid" ] || [ -h "$JT_JOBS/$jid" ]; then
            jt_rec cleanup "$jid" error
            printf '%s\n' "${err:-cannot remove $JT_JOBS/$jid}"
        else
            jt_rec cleanup "$jid" ok
        fi
    done
}

# jt_watch: push, with no polling on the host. Makes a FIFO watch/<pid>.fifo that
# every supervisor writes a line to when its run ends, and prints `ended` for each
# line: the console hears of an end as it happens. The FIFO is opened read-write,
# so a writer never blocks and the reader never sees end-of-file.
# The watcher ends with its console: a reader in the background waits for the end
# of this shell's stdin (the SSH channel or pipe closes when the console closes it,
# exits or is killed) and then wakes the loop with this round trip's token, which
# no job knows. The next watcher removes FIFOs whose shell is dead.
# Used by the operator console only (it writes).
jt_watch() {
    w=$JT_ROOT/watch
    mkdir -p "$w" 2>/dev/null || return 0
    for f in "$w"/*.fifo; do
        [ -p "$f" ] || continue
        p=${f##*/}
        kill -s 0 "${p%.fifo}" 2>/dev/null || rm -f "$f"
    done
    fifo=$w/$$.fifo
    rm -f "$fifo"
    mkfifo -m 600 "$fifo" 2>/dev/null || return 0
    trap 'rm -f "$fifo"' EXIT
    exec 3<>"$fifo"
    # An asynchronous list's stdin is /dev/null unless redirected: hand it ours
    # through fd 4.
    exec 4<&0
    {
        while IFS= read -r _; do :; done
        printf '%s\n' "$JT_TOK" >&3
    } <&4 4<&- &
    reader=$!
    exec 4<&-
    jt_rec ended start
    while IFS= read -r l <&3; do
        [ "$l" = "$JT_TOK" ] && break
        jt_rec ended || break
    done
    kill "$reader" 2>/dev/null
    exit 0
}

# jt_read JID STREAM OFFSET SIZE: SIZE bytes of a run's stdout or stderr from
# OFFSET (`jobtui logs`), raw, in a `read JID done|running|empty [BYTES]` record
# (BYTES: the file's size before the read, for the console's pager).
jt_read() {
    jt_valid "$1" || return 0
    d=$JT_JOBS/$1
    if [ ! -d "$d" ] || [ ! -O "$d" ]; then
        jt_rec read "$1" missing
        return 0
    fi
    how=running
    [ -f "$d/rc" ] && how=done
    f=$d/$2
    if [ ! -f "$f" ] || [ -h "$f" ]; then
        jt_rec read "$1" "$how"
        return 0
    fi
    jt_rec read "$1" "$how" "$(ls -ln -- "$f" 2>/dev/null | awk '{ print $5 }')"
    tail -c +"$(($3 + 1))" -- "$f" 2>/dev/null | head -c "$4"
}
