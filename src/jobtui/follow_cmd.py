"""Following a batch: the engine over the hosts' transports, with the store
recording every event, a reporter (headless: human lines or JSON lines) or the
console, and `--notify`'s notifier. `jobtui run`, `demo` and `attach` end here.
"""

from __future__ import annotations

import argparse
import sys
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from jobtui import notify
from jobtui.batches_cmd import attach_command, is_demo, status_command
from jobtui.defaults import EXIT_INTERRUPTED
from jobtui.engine import Engine
from jobtui.events import BatchFinished, Event, Notice
from jobtui.fleet import transports_for
from jobtui.headless import follow as follow_headless
from jobtui.model import NoticeLevel, attempt_jid
from jobtui.report import HumanReporter, JsonReporter, recap
from jobtui.runs import Run
from jobtui.store import Store
from jobtui.text import one_line

if TYPE_CHECKING:
    from jobtui.transport.become import BecomeSetup
    from jobtui.transport.keys import KeyRing

FOLLOWED: list[bool] = []
"""Set when a batch was followed headless (`follow`): the program may exit at once
(`cli.exit_now`)."""


def follow(
    store: Store,
    batch: str,
    runs: list[Run],
    args: argparse.Namespace,
    source: dict[str, str],
    title: str,
    keyring: KeyRing | None,
    notices: Sequence[str] = (),
    become: BecomeSetup | None = None,
    notify_cmd: str | None = None,
) -> int:
    """Launch what is pending and follow every run to the end: in the console, or
    headless (asked for, or when stdout is not a terminal). The store is this
    console's: it follows the batch (`Store.follow`). `notify_cmd`: the `--notify`
    command (`notify.Notifier`)."""
    headless = args.headless
    if not headless and not sys.stdout.isatty():
        print("jobtui: stdout is not a terminal: running headless", file=sys.stderr)
        headless = True
    record = store.listener(batch)
    secret = store.batch_secret(batch)
    report: Callable[[Event], None] | None = None
    if headless and args.json:
        report = JsonReporter(batch_fields=source)
    elif headless:
        # The demo's simulated hosts are no inventory's: `status` is not offered.
        listing = None if is_demo(args) else status_command(source.get("inventory", "").split())
        report = HumanReporter(attach=attach_command(batch, args), status=listing)

    # After a Ctrl-C, what the engine still says is its own shutdown (the terminal's
    # SIGINT also ended the hosts' ProxyCommands: "unreachable", EOFError): recorded,
    # not reported, but for --json's last line, the summary.
    stopping = threading.Event()
    notifier = None
    if notify_cmd:
        by_key = {r.spec.key: r for r in runs}
        notifier = notify.Notifier(
            notify_cmd,
            batch,
            ended=lambda key: not by_key[key].open,
            report=warn_stderr,
            timeout=args.notify_timeout,
        )

    def on_event(ev: Event) -> None:
        record(ev)
        if report is not None and (
            not stopping.is_set() or (args.json and isinstance(ev, BatchFinished))
        ):
            report(ev)
        if notifier is not None and (not stopping.is_set() or isinstance(ev, BatchFinished)):
            notifier(ev)

    hosts = {r.spec.host.name: r.spec.host for r in runs}
    transports = {
        t.host.name: t
        for t in transports_for(
            hosts.values(), args.accept_new_host_keys, keyring=keyring, become=become
        )
    }
    engine = Engine(
        runs,
        transports,
        batch=batch,
        forks=args.forks,
        on_event=on_event,
        before_launch=lambda rs: store.before_launch(batch, rs),
        push=True,
        new_attempt_jid=lambda key, attempt: attempt_jid(secret, key, attempt),
        notices=() if headless else notices,  # headless: already on stderr
    )
    try:
        if headless:
            FOLLOWED.append(True)
            return follow_headless(engine, batch, attach_command(batch, args), stopping)
        from jobtui.ui.app import make_app  # the core never imports Textual

        app = make_app(engine, batch=batch, title=title, bell=not args.no_bell)
        if notifier is not None:  # a toast: the app's inbox is thread-safe
            notifier.report = lambda text: app.buffer.push(Notice(text, NoticeLevel.WARNING))
        code = app.run()
        # Leaving the console leaves a recap on the terminal, as Ansible's PLAY RECAP.
        print(recap(batch, [r.view for r in runs], attach_command(batch, args)), flush=True)
        return EXIT_INTERRUPTED if code is None else code
    finally:
        for t in transports.values():
            t.close()
        if notifier is not None:  # last: it may wait for a slow command (bounded)
            notifier.report = warn_stderr  # the console is gone
            notifier.close()


def warn_stderr(text: str) -> None:
    print(f"jobtui: warning: {one_line(text)}", file=sys.stderr, flush=True)
