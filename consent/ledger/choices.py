"""What a decision may choose: its choices checked against the site's policy, and the kind of decision.

The rules of PIPL and GB/T 35273 that a request can break on its own: no unknown purpose; purposes not
based on consent are not choices (left out, or true as older widgets send them); no tracking with
Do-Not-Track; purposes of a separate step (separate consent, asked in context) only in that step; no
purpose without what it requires; nothing optional for a visitor under the site's age threshold until a
guardian decides.
"""
from consent.errors import InvalidRequest
from consent.sites import purposes as meaning

# What a visitor under the site's age threshold states: "minor", or "under_14" as widgets older than
# thresholds send it (it counts as "minor" whatever the threshold).
MINOR_STATEMENTS = ("minor", "under_14")


def awaits_guardian(data):
    """Whether a decision is a minor's own: it grants nothing optional until a guardian decides
    (a guardian's decision, recorded by the site's backend, carries guardian_consent "given")."""
    return data["age_statement"] in MINOR_STATEMENTS and data.get("guardian_consent") != "given"


def _refusal(detail, purpose_ids, message):
    return InvalidRequest(detail, {"choices": {purpose_id: [message] for purpose_id in purpose_ids}})


def own_step_ids(purposes):
    """The ids of the purposes granted only in a step of their own (purposes.in_own_step)."""
    return frozenset(purpose["id"] for purpose in purposes if meaning.in_own_step(purpose))


def checked_choices(purposes, data, age_threshold=14, own_step=None):
    """Every purpose of the policy with its decision, or InvalidRequest naming what is wrong.

    Refuses unknown purposes, refusals of purposes not based on consent, tracking granted together with
    Do-Not-Track, purposes of a separate step granted without it, purposes granted without those they
    require, and optional purposes granted by someone who said they are under the site's
    `age_threshold`, unless a guardian decided. `own_step`: own_step_ids(purposes), if known already.
    """
    own_step = own_step_ids(purposes) if own_step is None else own_step
    by_id = {purpose["id"]: purpose for purpose in purposes}
    choices = data["choices"]
    unknown = sorted(set(choices) - set(by_id))
    if unknown:
        raise _refusal("Unknown purposes for this site's policy.", unknown, "Unknown purpose.")
    refused_required = [p["id"] for p in purposes if p["required"] and choices.get(p["id"]) is False]
    if refused_required:
        raise _refusal(
            "These purposes are not based on consent and cannot be refused; leave them out of choices.",
            refused_required,
            "Not a choice: leave it out, or send true.",
        )
    # A purpose not based on consent is processed on its own basis; an optional one left out was not agreed
    # to: silence is never consent.
    complete = {purpose["id"]: purpose["required"] or choices.get(purpose["id"], False) for purpose in purposes}
    granted = [purpose_id for purpose_id, given in complete.items() if given and not by_id[purpose_id]["required"]]

    tracking = [purpose_id for purpose_id in granted if by_id[purpose_id]["tracking"]]
    if data["do_not_track"] and tracking:
        raise _refusal(
            "Do-Not-Track was chosen, yet tracking purposes are granted.",
            tracking,
            "Contradicts do_not_track.",
        )
    separate = set(data["separate_consents"])
    misplaced = sorted(separate - {pid for pid in granted if pid in own_step})
    if misplaced:
        raise _refusal(
            "separate_consents may only list granted purposes that need a step of their own.",
            misplaced,
            "Not a granted purpose of a separate step.",
        )
    bundled = [pid for pid in granted if pid in own_step and pid not in separate]
    if bundled:
        raise _refusal(
            "These purposes need their own, separate consent and cannot be granted with the others.",
            bundled,
            "Granted without separate consent.",
        )
    unmet = [pid for pid in granted if any(not complete[needed] for needed in meaning.requirements(by_id[pid]))]
    if unmet:
        raise _refusal(
            "These purposes are granted without the purposes they require.",
            unmet,
            "Requires " + ", ".join(sorted({needed for pid in unmet for needed in meaning.requirements(by_id[pid])
                                            if not complete[needed]})) + ".",
        )
    if awaits_guardian(data) and granted:
        raise _refusal(
            f"A visitor under {age_threshold} needs a guardian's consent: no optional purpose can be granted yet.",
            granted,
            "Needs guardian consent.",
        )
    return complete


def classify(purposes, choices, age_statement, own_step=None):
    """The kind of decision, for queries and reports; the choices themselves are the record.

    Purposes of a separate step are decided there, so they do not count towards "all".
    """
    if age_statement in MINOR_STATEMENTS:
        return "pending_guardian"
    own_step = own_step_ids(purposes) if own_step is None else own_step
    optional = [purpose["id"] for purpose in purposes if not purpose["required"] and purpose["id"] not in own_step]
    granted = [purpose_id for purpose_id in optional if choices[purpose_id]]
    if optional and len(granted) == len(optional):
        return "accept_all"
    return "reject_all" if not granted else "custom"
