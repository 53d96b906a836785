"""What a decision may choose: its choices checked against the site's policy, and the kind of decision.

The rules of PIPL and GB/T 35273 that a request can break on its own: no unknown purpose, required
purposes granted, no tracking with Do-Not-Track, sensitive purposes only in their separate step,
nothing optional for a visitor under 14.
"""
from consent.errors import InvalidRequest


def _refusal(detail, purpose_ids, message):
    return InvalidRequest(detail, {"choices": {purpose_id: [message] for purpose_id in purpose_ids}})


def checked_choices(purposes, data):
    """Every purpose of the policy with its decision, or InvalidRequest naming what is wrong.

    Refuses unknown purposes, required purposes missing or refused, tracking granted together with
    Do-Not-Track, sensitive purposes granted without their separate step, and optional purposes
    granted by someone who said they are under 14.
    """
    by_id = {purpose["id"]: purpose for purpose in purposes}
    choices = data["choices"]
    unknown = sorted(set(choices) - set(by_id))
    if unknown:
        raise _refusal("Unknown purposes for this site's policy.", unknown, "Unknown purpose.")
    refused_required = [p["id"] for p in purposes if p["required"] and choices.get(p["id"]) is not True]
    if refused_required:
        raise _refusal(
            "Required purposes must be present and true: the site cannot work without them.",
            refused_required,
            "Required purpose missing or refused.",
        )
    # An optional purpose left out was not agreed to: silence is never consent.
    complete = {purpose["id"]: choices.get(purpose["id"], False) for purpose in purposes}
    granted = [purpose_id for purpose_id, given in complete.items() if given and not by_id[purpose_id]["required"]]

    tracking = [purpose_id for purpose_id in granted if by_id[purpose_id]["tracking"]]
    if data["do_not_track"] and tracking:
        raise _refusal(
            "Do-Not-Track was chosen, yet tracking purposes are granted.",
            tracking,
            "Contradicts do_not_track.",
        )
    separate = set(data["separate_consents"])
    misplaced = sorted(separate - {pid for pid in granted if by_id[pid]["sensitive"]})
    if misplaced:
        raise _refusal(
            "separate_consents may only list sensitive purposes that are granted.",
            misplaced,
            "Not a granted sensitive purpose.",
        )
    bundled = [pid for pid in granted if by_id[pid]["sensitive"] and pid not in separate]
    if bundled:
        raise _refusal(
            "Sensitive purposes need their own, separate consent and cannot be granted with the others.",
            bundled,
            "Granted without separate consent.",
        )
    if data["age_statement"] == "under_14" and granted:
        raise _refusal(
            "A visitor under 14 needs a guardian's consent: no optional purpose can be granted yet.",
            granted,
            "Needs guardian consent.",
        )
    return complete


def classify(purposes, choices, age_statement):
    """The kind of decision, for queries and reports; the choices themselves are the record.

    Sensitive purposes are decided in their own step, so they do not count towards "all".
    """
    if age_statement == "under_14":
        return "pending_guardian"
    optional = [purpose["id"] for purpose in purposes if not purpose["required"] and not purpose["sensitive"]]
    granted = [purpose_id for purpose_id in optional if choices[purpose_id]]
    if optional and len(granted) == len(optional):
        return "accept_all"
    return "reject_all" if not granted else "custom"
