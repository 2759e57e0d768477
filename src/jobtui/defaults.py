"""Every default of jobtui, once: what the code, the CLI and the docs read.

Nothing here depends on anything else in the package, so every module may import it
(as ClusterShell's `Defaults.py`). A value that a test needs shorter (a grace period,
a backoff) is a parameter where it is used, with its default from here.
"""

from __future__ import annotations

# -- jobs ------------------------------------------------------------------------------
TIMEOUT = 3600
"""Seconds a run may take (`timeout:` / `async:`) before it is killed."""
POLL = 5.0
"""Seconds between status checks of a followed run (`poll:`)."""
RETRY_DELAY = 10.0
"""Seconds between a failed attempt and the next (`retry_delay:`)."""
GRACE = 5
"""Seconds between TERM and KILL, on timeout and on cancel."""

# -- fleet -----------------------------------------------------------------------------
FORKS = 50
"""Followed runs in flight at once, and hosts contacted in parallel (`--forks`)."""
CONNECT_TIMEOUT = 10.0
"""Seconds for an SSH connect, banner and auth (`ansible_ssh_timeout`)."""
KEEPALIVE = 15
"""Seconds between SSH keepalives."""
JOBTUI_DIR = "~/.jobtui"
"""The remote directory that holds `jobs/<jid>/` (`jobtui_dir`)."""
KNOWN_HOSTS = "~/.ssh/known_hosts"
"""Where host keys are checked (`jobtui_known_hosts`)."""
WATCH_INTERVAL = 2.0
"""Seconds between looks of `jobtui watch` (`--interval`)."""
NOTIFY_TIMEOUT = 30.0
"""Seconds a `--notify` command may take for one event before it is killed."""

# -- the engine's patience ---------------------------------------------------------------
LAUNCH_ATTEMPTS = 3
"""Round trips tried before a run that could not be launched is given up as unreachable."""
BACKOFF = 1.0
"""Seconds before the first retry of a host that failed; doubled each failure."""
MAX_BACKOFF = 30.0
"""The longest wait between two tries of a failing host."""
UNREACHABLE_MARGIN = 120.0
"""How long past its time limit a launched run on an unreachable host is still awaited."""
STARTING_LIMIT = 60.0
"""A run launched this long ago whose supervisor never wrote its pid is lost."""
REOPEN_WATCH = 10.0
"""Seconds before an end watcher that failed or closed is opened again."""

# -- the remote protocol ----------------------------------------------------------------
TAIL_BYTES = 4096
"""How much of each output file a status round trip brings back."""
ROUND_TRIP_TIMEOUT = 60.0
"""Seconds a host has to answer one round trip."""

# -- exit codes (the design's) -------------------------------------------------------------
EXIT_OK = 0
"""Every run succeeded (or, with `poll: 0`, was launched)."""
EXIT_FAILED = 1
"""A run failed, timed out, was cancelled, lost or unreachable."""
EXIT_USAGE = 2
"""Bad usage or configuration: nothing was launched."""
EXIT_INTERRUPTED = 130
"""The console stopped following before the end: the jobs go on on their hosts."""
