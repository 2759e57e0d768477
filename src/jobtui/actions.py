"""What an operator's cancel, cleanup or retry does to a run, decided on the engine's
loop thread. Pure decisions: each returns a `Step` (what to send to the host, what to
tell the operator); the engine queues the host's part for its next round trip.
"""

from __future__ import annotations

from dataclasses import dataclass

from jobtui.events import Notice
from jobtui.model import Action, NoticeLevel, Outcome, RunState
from jobtui.runs import Phase, Run


@dataclass(frozen=True)
class Step:
    """The outcome of an operator's request for one run."""

    send: Action | None = None
    """CANCEL or CLEANUP of the run's jid in its host's next round trip."""
    notice: Notice | None = None


def _warn(text: str) -> Step:
    return Step(notice=Notice(text, NoticeLevel.WARNING))


def decide(action: Action, r: Run, now: float) -> Step:
    """Apply `action` to the run (it may change phase and state) and say what follows."""
    if action is Action.CANCEL:
        return cancel(r)
    if action is Action.CLEANUP:
        return cleanup(r)
    return retry(r, now)


def cancel(r: Run) -> Step:
    if r.phase is Phase.RETRY and r.state.finished:
        # Its attempt has ended and another was due: that one is called off.
        r.cancel_retry()
        return Step(notice=Notice(f"{r.view.label}: retry cancelled (it stays {r.state.value})"))
    if r.state.finished or (not r.open and not r.launched):
        return _warn(f"{r.view.label} has already ended ({r.state.value})")
    if r.phase is Phase.QUEUED and not r.launched:
        if r.first_sent is None:
            r.cancel_unlaunched("cancelled before launch")
            return Step()
        # A launch went out unanswered: the host may have it. It is not sent again,
        # and the host is told to cancel it in case it did start.
        r.cancel_unlaunched("cancelled before its launch was confirmed")
        return Step(send=Action.CANCEL)
    # Followed until the host reports it cancelled; never retried.
    r.watched, r.retry_at = True, None
    if r.phase is not Phase.SENDING:
        r.phase = Phase.FOLLOWED
    return Step(send=Action.CANCEL, notice=Notice(f"cancelling {r.view.label}"))


def cleanup(r: Run) -> Step:
    if not r.launched:
        return _warn(f"{r.view.label} was never launched: nothing to clean up")
    if not r.state.finished:
        return _warn(f"{r.view.label} is {r.state.value}: cleanup refused, cancel it first")
    if r.view.cleaned:
        return Step()
    return Step(send=Action.CLEANUP)


def retry(r: Run, now: float) -> Step:
    if not (r.state.finished or (not r.open and not r.launched)):
        # Running (or launched and unreachable): a second attempt would run beside it.
        return _warn(f"{r.view.label} is {r.state.value}: nothing to retry")
    notice = None
    if r.state is RunState.SUCCEEDED:
        notice = Notice(f"{r.view.label} succeeded: retrying it anyway")
    r.phase, r.retry_at = Phase.RETRY, now
    return Step(notice=notice)


def cleaned(r: Run, outcome: Outcome) -> Notice | None:
    """The host's answer to a cleanup of the run; None when it is now clean."""
    if outcome in (Outcome.OK, Outcome.MISSING):
        r.on_cleaned()
        return None
    if outcome is Outcome.RUNNING:
        return Notice(
            f"{r.view.label} is running: cleanup refused by the host", NoticeLevel.WARNING
        )
    return Notice(f"cleanup of {r.view.label} failed on the host", NoticeLevel.ERROR)
