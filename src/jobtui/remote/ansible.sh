# jobtui remote side, Ansible's own async jobs (sent after wrapper.sh, same shell).
#
# Ansible's async_wrapper writes one file per job in the async dir, named by its
# jid `j<digits>.<pid>` (older Ansible: no `j`), atomically through `<jid>.tmp`:
# `{"started": true, "finished": false, "ansible_job_id": ...}` while it runs, the
# module's result once done. Its two processes (a watcher, and the module runner,
# leader of the job's process group) carry the jid without its `.<pid>` in argv.
# Status only reads; cancel and cleanup change only files this user owns, in an
# async dir this user owns.

JT_AMAX=1048576

jt_adir() { # DIR: resolve the async dir (~ expands to $HOME, as jt_root's)
    jt_home "$1"
    JT_ADIR=$JT_PATH
}

jt_avalid() { # NAME: Ansible's jid pattern, ^j?[0-9]{1,15}\.[0-9]{1,10}$
    jt_v=${1#j}
    case $jt_v in
    *[!0-9.]* | *.*.* | .* | *.) return 1 ;;
    *.*) ;;
    *) return 1 ;;
    esac
    jt_v1=${jt_v%%.*}
    jt_v2=${jt_v#*.}
    [ "${#jt_v1}" -le 15 ] && [ "${#jt_v2}" -le 10 ]
}

# jt_aknown NAME:MTIME:SIZE...: the finished files the console holds, for this
# request only (one variable each, found without a scan: JT_K_<jid with _ for .>).
jt_aknown() {
    for k in ${JT_KNAMES:-}; do unset "$k"; done
    JT_KNAMES=''
    for e in "$@"; do
        a=${e%%:*}
        jt_avalid "$a" || continue
        case ${e#*:} in *[!0-9:]*) continue ;; esac
        k=JT_K_${a%.*}_${a#*.}
        eval "$k=\${e#*:}"
        JT_KNAMES="$JT_KNAMES $k"
    done
}

jt_arunning() { # CONTENT: does it say running (what async_wrapper writes first)?
    [ "${#1}" -le 200 ] || return 1
    case $1 in *'"started": true'* | *'"started": 1'*) ;; *) return 1 ;; esac
    case $1 in *'"finished": false'* | *'"finished": 0'*) return 0 ;; esac
    return 1
}

# jt_astatus [NAME...]: every job file of the async dir (the given ones only when
# names are given): an `ajob NAME file` record holding `MTIME SIZE` then the
# content (at most JT_AMAX bytes; larger is refused unread), `ajob NAME same` for
# one given to jt_aknown with its time and size (the console has it), `ajob NAME
# bad` with a reason, or `ajob NAME missing`. Then, only if one says running, one `aproc`
# record with the async_wrapper processes' facts. Writes nothing.
jt_astatus() {
    [ -d "$JT_ADIR" ] || {
        for a in "$@"; do jt_avalid "$a" && jt_rec ajob "$a" missing; done
        return 0
    }
    if [ "$#" -eq 0 ]; then
        for f in "$JT_ADIR"/*; do
            a=${f##*/}
            case $a in *.tmp) continue ;; esac
            jt_avalid "$a" || continue
            [ -h "$f" ] || [ -e "$f" ] || continue
            set -- "$@" "$a"
        done
    fi
    files=''
    for a in "$@"; do
        jt_avalid "$a" || continue
        f=$JT_ADIR/$a
        if [ -h "$f" ]; then
            jt_rec ajob "$a" bad
            printf '%s\n' "a symbolic link (not followed)"
        elif [ ! -e "$f" ]; then
            jt_rec ajob "$a" missing
        elif [ ! -O "$f" ]; then
            # Another user's (a shared async dir): that user's shell reports it.
            jt_rec ajob "$a" missing
        elif [ ! -f "$f" ]; then
            jt_rec ajob "$a" bad
            printf '%s\n' "not a regular file"
        else
            files="$files $a"
        fi
    done
    [ -n "$files" ] || return 0
    # One `stat` for every file: its time and size (GNU and busybox both take -c).
    st=$(cd "$JT_ADIR" 2>/dev/null && stat -c '%Y %s %n' -- $files 2>/dev/null)
    [ -n "$st" ] || st=$(for a in $files; do printf -- '- - %s\n' "$a"; done)
    JT_ARUN=''
    set -- $st
    while [ "$#" -ge 3 ]; do
        mt=$1 sz=$2 a=$3
        shift 3
        jt_avalid "$a" || continue
        if [ "$sz" != - ] && [ "$sz" -gt "$JT_AMAX" ] 2>/dev/null; then
            jt_rec ajob "$a" bad
            printf '%s\n' "too large ($sz bytes)"
            continue
        fi
        # A finished file the console already holds (same name, time and size:
        # a result is never rewritten) is not read again.
        eval "k=\${JT_K_${a%.*}_${a#*.}:-}"
        if [ "$k" = "$mt:$sz" ]; then
            jt_rec ajob "$a" same
            continue
        fi
        c=$(head -c "$((JT_AMAX + 1))" -- "$JT_ADIR/$a" 2>/dev/null) || {
            jt_rec ajob "$a" bad
            printf '%s\n' "cannot be read"
            continue
        }
        jt_rec ajob "$a" file
        printf '%s %s\n%s\n' "$mt" "$sz" "$c"
        jt_arunning "$c" && JT_ARUN="$JT_ARUN ${a%.*}"
    done
    [ -n "$JT_ARUN" ] || return 0
    jt_aprocs
}

# jt_aprocs: the async_wrapper processes' facts, for the console to read: their
# cmdline and stat, and the cmdline of the module runner's child and grandchild
# (the command an operator knows: `sh -c ...`). One grep finds them, children come
# from /proc's children files (read by builtins), one grep prints them all
# (NULs turned to \001: argv's separators survive the shell).
jt_aprocs() {
    found=$(grep -l -s 'async_wrappe[r]' /proc/[0-9]*/cmdline 2>/dev/null)
    [ -n "$found" ] || return 0
    want=''
    for f in $found; do
        p=${f#/proc/}
        p=${p%/cmdline}
        want="$want /proc/$p/cmdline /proc/$p/stat"
        jt_kids "$p"
        for k in $JT_KIDS; do
            want="$want /proc/$k/cmdline /proc/$k/stat"
            jt_kids "$k"
            for g in $JT_KIDS; do want="$want /proc/$g/cmdline /proc/$g/stat"; done
        done
    done
    jt_rec aproc
    jt_gz
    if [ "$JT_GZ" = yes ]; then
        grep -H -a -s -z '' $want 2>/dev/null | tr '\000' '\001'
    else
        # busybox grep has no -z: one `tr` per file.
        for f in $want; do
            printf '%s:' "$f"
            tr '\000' '\001' <"$f" 2>/dev/null
            printf '\001'
        done
    fi
    printf '\n'
}

jt_gz() { # JT_GZ: does grep take -z (GNU's does)? Asked once per shell.
    [ -n "${JT_GZ:-}" ] && return 0
    JT_GZ=no
    printf 'a\000' | grep -q -z -x a 2>/dev/null && JT_GZ=yes
}

jt_hasarg() { # ARG FILE...: the files (cmdlines) with ARG as a whole argument
    arg=$1
    shift
    if [ "$JT_GZ" = yes ]; then
        grep -l -s -a -z -x -F -e "$arg" "$@" 2>/dev/null
        return 0
    fi
    for f in "$@"; do
        tr '\000' '\n' <"$f" 2>/dev/null | grep -q -x -F -e "$arg" && printf '%s\n' "$f"
    done
}

jt_kids() { # PID: JT_KIDS, its children (Linux's /proc/PID/task/PID/children)
    JT_KIDS=''
    [ -r "/proc/$1/task/$1/children" ] || return 0
    IFS= read -r JT_KIDS <"/proc/$1/task/$1/children" || :
}

# jt_atmp PREFIX PID...: JT_ATMP, the temporary dir of the job's module, as its
# wrapper's argv names it (PREFIX TIMELIMIT MODULE ARGS [-preserve_tmp]), where the
# wrapper itself would remove it: an `ansible-tmp-*` dir of this user, not kept.
jt_atmp() {
    JT_ATMP=''
    want=$1
    shift
    for p in "$@"; do
        mod=''
        n=-1
        keep=no
        args=$(tr '\000' '\n' <"/proc/$p/cmdline" 2>/dev/null)
        while IFS= read -r arg; do
            if [ "$arg" = "$want" ] && [ "$n" -lt 0 ]; then
                n=0
                continue
            fi
            [ "$n" -ge 0 ] && n=$((n + 1))
            [ "$n" -eq 2 ] && mod=$arg
            [ "$arg" = -preserve_tmp ] && keep=yes
        done <<EOF
$args
EOF
        [ -n "$mod" ] && [ "$keep" = no ] || continue
        d=${mod%/*}
        case ${d##*/} in ansible-tmp-[0-9]*) ;; *) continue ;; esac
        [ -d "$d" ] && [ ! -h "$d" ] && [ -O "$d" ] || continue
        JT_ATMP=$d
        return 0
    done
}

jt_astat() { # PID: JT_PPID and JT_PGID from /proc/PID/stat ('' if gone)
    JT_PPID=''
    JT_PGID=''
    l=''
    { IFS= read -r l <"/proc/$1/stat"; } 2>/dev/null || [ -n "$l" ] || return 1
    # Past the command's name, which may hold spaces and parentheses.
    set -- ${l##*) }
    JT_PPID=${2:-}
    JT_PGID=${3:-}
}

# jt_awrappers PREFIX: JT_LEADERS (process groups led by a wrapper process of
# this jid: the module runner's), JT_WATCHERS (the wrapper processes of the jid
# that are a leader's parent) and
# JT_TREE (every descendant of a leader). A process is the jid's when its argv has
# an async_wrapper argument and the jid as an argument of its own.
jt_awrappers() {
    JT_LEADERS=''
    JT_WATCHERS=''
    JT_TREE=''
    jt_astat $$
    own=$JT_PGID
    cand=$(grep -l -s 'async_wrappe[r]' /proc/[0-9]*/cmdline 2>/dev/null)
    [ -n "$cand" ] || return 0
    jt_gz
    others=''
    parents=''
    for f in $(jt_hasarg "$1" $cand); do
        p=${f#/proc/}
        p=${p%/cmdline}
        [ "$p" -gt 1 ] 2>/dev/null && [ "$p" != "$$" ] || continue
        # Ansible ran it as this user (its file is this user's): another user's
        # process that names the jid is none of ours to signal.
        [ -O "/proc/$p" ] || continue
        jt_astat "$p" || continue
        if [ "$JT_PGID" = "$p" ] && [ "$p" != "$own" ]; then
            JT_LEADERS="$JT_LEADERS $p"
            parents="$parents $JT_PPID "
        else
            others="$others $p"
        fi
    done
    # A watcher is the parent of the module runner (a process that merely has the
    # jid in its argv is no watcher).
    for p in $others; do
        case $parents in *" $p "*) JT_WATCHERS="$JT_WATCHERS $p" ;; esac
    done
    todo=$JT_LEADERS
    n=0
    while [ -n "$todo" ] && [ "$n" -lt 4096 ]; do
        next=''
        for p in $todo; do
            jt_kids "$p"
            for k in $JT_KIDS; do
                [ "$k" -gt 1 ] 2>/dev/null && [ "$k" != "$$" ] || continue
                JT_TREE="$JT_TREE $k"
                next="$next $k"
                n=$((n + 1))
            done
        done
        todo=$next
    done
}

jt_aread() { # NAME: JT_AC, the content of a job file of this user ('' if none)
    JT_AC=''
    jt_f=$JT_ADIR/$1
    [ -f "$jt_f" ] && [ ! -h "$jt_f" ] && [ -O "$jt_f" ] || return 1
    JT_AC=$(head -c "$((JT_AMAX + 1))" -- "$jt_f" 2>/dev/null)
}

jt_aowned() { # the async dir is ours alone to write in
    [ -d "$JT_ADIR" ] && [ ! -h "$JT_ADIR" ] && [ -O "$JT_ADIR" ] &&
        [ -z "$(find "$JT_ADIR" -prune \( -perm -0020 -o -perm -0002 \) -print 2>/dev/null)" ]
}

# jt_acancel GRACE NAME...: stop the job's watcher and module runner, TERM its
# process group and every descendant of the runner, KILL all of it after GRACE
# seconds (or as soon as the descendants are gone), then
# replace the file (atomically) by a finished, failed result, so `async_status`
# stops waiting. A job whose file says it has finished is left untouched.
jt_acancel() {
    grace=$1
    shift
    for a in "$@"; do
        jt_avalid "$a" || continue
        if ! jt_aread "$a"; then
            jt_rec cancel "$a" missing
            continue
        fi
        if ! jt_arunning "$JT_AC"; then
            jt_rec cancel "$a" finished
            continue
        fi
        if ! jt_aowned; then
            jt_rec cancel "$a" error
            printf '%s\n' "refusing to write in $JT_ADIR: not owned by $(id -un 2>/dev/null) alone"
            continue
        fi
        # When it started (its file was written then), kept in the result.
        began=$(stat -c %Y -- "$JT_ADIR/$a" 2>/dev/null)
        case $began in "" | *[!0-9]*) began=null ;; esac
        jt_awrappers "${a%.*}"
        jt_atmp "${a%.*}" $JT_LEADERS $JT_WATCHERS
        if [ -n "$JT_WATCHERS$JT_LEADERS" ]; then
            # Stopped first, the runner cannot write the failure of its dying module
            # over our result, nor the watcher "Timeout exceeded"; KILL ends them.
            kill -STOP $JT_LEADERS $JT_WATCHERS 2>/dev/null
            for g in $JT_LEADERS; do kill -TERM -"$g" 2>/dev/null; done
            kill -TERM $JT_TREE 2>/dev/null
            jt_nap
            i=0
            while [ "$i" -lt "$grace" ]; do
                alive=''
                for p in $JT_TREE; do [ -d "/proc/$p/cwd" ] && alive=yes; done
                [ -n "$alive" ] || break
                sleep 1
                i=$((i + 1))
            done
            for g in $JT_LEADERS; do kill -KILL -"$g" 2>/dev/null; done
            kill -KILL $JT_LEADERS $JT_WATCHERS $JT_TREE 2>/dev/null
        fi
        # The watcher would have removed Ansible's temporary dir of the module at
        # the end: it is gone, so the cancel does.
        [ -n "$JT_ATMP" ] && rm -rf -- "$JT_ATMP" 2>/dev/null
        # It may have finished on its own meanwhile: its result stays.
        if jt_aread "$a" && ! jt_arunning "$JT_AC"; then
            jt_rec cancel "$a" finished
            continue
        fi
        f=$JT_ADIR/$a
        t=$f.jt$$.tmp
        rm -f -- "$t"
        err=$( (set -C && printf '{"failed": true, "finished": 1, "msg": "cancelled by jobtui", "rc": 143, "ansible_job_id": "%s", "stdout": "", "stderr": "", "jobtui_started": %s, "jobtui_cancelled": %s}\n' \
            "$a" "$began" "${JT_NOW:-0}" >"$t") 2>&1 && mv -f -- "$t" "$f" 2>&1)
        if [ -n "$err" ]; then
            rm -f -- "$t"
            jt_rec cancel "$a" error
            printf '%s\n' "$err"
        else
            jt_rec cancel "$a" ok
        fi
    done
}

# jt_acleanup NAME...: remove finished job files; one that says running while a
# wrapper process of its jid is alive is refused.
jt_acleanup() {
    for a in "$@"; do
        jt_avalid "$a" || continue
        f=$JT_ADIR/$a
        if [ ! -h "$f" ] && { [ ! -e "$f" ] || [ ! -O "$f" ]; }; then
            jt_rec cleanup "$a" missing
            continue
        fi
        if jt_aread "$a" && jt_arunning "$JT_AC"; then
            jt_awrappers "${a%.*}"
            if [ -n "$JT_WATCHERS$JT_LEADERS" ]; then
                jt_rec cleanup "$a" running
                continue
            fi
        fi
        if ! jt_aowned; then
            jt_rec cleanup "$a" error
            printf '%s\n' "refusing to change $JT_ADIR: not owned by $(id -un 2>/dev/null) alone"
        elif err=$(rm -f -- "$f" 2>&1); then
            jt_rec cleanup "$a" ok
        else
            jt_rec cleanup "$a" error
            printf '%s\n' "$err"
        fi
    done
}
