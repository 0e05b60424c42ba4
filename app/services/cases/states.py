"""The case state machine: which action may move a case from which statuses to which.

Every action is applied as ONE conditional UPDATE (`... WHERE status IN (sources)`),
so two racing actions (two claims, a report against a cancel) cannot both pass:
the database decides, and the loser gets a 409 that says what happened instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from app.core.i18n import N_, Message
from app.models.cases import CaseStatus as S


class Action(StrEnum):
    slide_received = "slide_received"
    slides_ready = "slides_ready"
    claim = "claim"
    view = "view"
    report = "report"
    acknowledge = "acknowledge"
    amend = "amend"
    cancel = "cancel"
    update = "update"
    attach = "attach"
    ask_opinion = "ask_opinion"
    message = "message"
    cosign = "cosign"


@dataclass(frozen=True)
class Rule:
    sources: frozenset[S]
    #: None: the status stays as it is (a change of data, not of state).
    target: S | None


_BEFORE_CLAIM = frozenset({S.requested, S.slides_uploading, S.ready})
_SIGNED = frozenset({S.reported, S.acknowledged, S.amended})

RULES: dict[Action, Rule] = {
    Action.slide_received: Rule(frozenset({S.requested}), S.slides_uploading),
    Action.slides_ready: Rule(frozenset({S.requested, S.slides_uploading}), S.ready),
    Action.claim: Rule(frozenset({S.ready}), S.in_review),
    Action.view: Rule(frozenset({S.in_review}), None),
    Action.report: Rule(frozenset({S.in_review}), S.reported),
    Action.acknowledge: Rule(frozenset({S.reported, S.amended}), S.acknowledged),
    Action.amend: Rule(_SIGNED, S.amended),
    Action.cancel: Rule(_BEFORE_CLAIM | {S.in_review}, S.cancelled),
    # The request can be corrected until a pathologist starts reading it.
    Action.update: Rule(_BEFORE_CLAIM, None),
    # More slides may arrive while the pathologist reads (a deeper level, another block).
    Action.attach: Rule(_BEFORE_CLAIM | {S.in_review}, None),
    # A second opinion, and the case's thread, while the case is read and after it is
    # signed (a colleague may be asked to look at a signed case); not before a claim.
    Action.ask_opinion: Rule(_SIGNED | {S.in_review}, None),
    Action.message: Rule(_SIGNED | {S.in_review}, None),
    Action.cosign: Rule(_SIGNED, None),
}


def allowed(action: Action, status: S) -> bool:
    return status in RULES[action].sources


def refusal(action: Action, status: S | str) -> Message:
    """Why `action` cannot happen now, in words a clinician understands."""
    status = S(status)  # rows read back from the database hold the plain string
    if status == S.cancelled:
        return N_("the case was cancelled")
    if action == Action.claim and status == S.in_review:
        return N_("another pathologist has already claimed this case")
    if action in (Action.claim, Action.view, Action.report) and status in _SIGNED:
        return N_("the case is already reported")
    if action == Action.claim:
        return N_("the case's slides are not ready yet")
    if action in (Action.view, Action.report):
        return N_("claim the case before reporting it")
    if action == Action.acknowledge and status == S.acknowledged:
        return N_("the current report is already acknowledged")
    if action in (Action.acknowledge, Action.amend):
        return N_("the case has no signed report yet")
    if action == Action.cancel:
        return N_("a reported case cannot be cancelled; amend the report instead")
    if action in (Action.ask_opinion, Action.message):
        return N_("claim the case before discussing it")
    if action == Action.cosign:
        return N_("the case has no signed report to co-sign")
    if action in (Action.update, Action.attach):
        return N_("the case can no longer be changed (it is {status})", status=status.value)
    return N_("not possible while the case is {status}", status=status.value)
