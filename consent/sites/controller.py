"""The controller a site names (PIPL's personal information handler): how its configuration is checked, and what
a receipt states about it (piiControllers[0]). README, "Configure a site", documents the fields.

Each way to reach someone has its own field: `email`, `url` (a contact page) and `phone`. The older `contact`
is an email: files that use it import and export unchanged, and readers take it as the email.
"""
import re

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from consent.schemas import NO_CONTROL_CHARACTERS, Localized, StrictBoolean, StrictInteger

REACH = ("email", "url", "phone")
# Written as people write them ("+86 10 8456-4234", "(010) 84564234", "400-808-9176 转 1"): digits, spaces,
# + - ( ), then perhaps an extension; 3 to 20 digits in all.
PHONE_PATTERN = re.compile(r"\A\+?(?=[0-9(])[0-9 ()-]*[0-9](?:\s*(?:ext\.?|x|#|转|分机)\s*[0-9]{1,6})?\Z",
                           re.IGNORECASE)
PHONE_ERROR = ("A phone number: digits, spaces, + - ( ) and perhaps an extension (ext. 12, 转 1); "
               "3 to 20 digits, at most 40 characters.")
URL_ERROR = "An http:// or https:// address, at most 2048 characters."
MAX_DEADLINE_DAYS = 90


def _phone_number(value):
    digits = sum(character.isdigit() for character in value)
    if not PHONE_PATTERN.fullmatch(value) or not 3 <= digits <= 20:
        raise ValidationError(PHONE_ERROR)


def email_field():
    return fields.Email(validate=validate.Length(3, 254))


def url_field():
    return fields.URL(schemes={"http", "https"}, error_messages={"invalid": URL_ERROR},
                      validate=validate.And(validate.Length(max=2048, error=URL_ERROR), NO_CONTROL_CHARACTERS))


def phone_field():
    return fields.String(validate=validate.And(validate.Length(1, 40, error=PHONE_ERROR), _phone_number))


class ReachableSchema(Schema):
    """Ways to reach someone (each subclass declares its email, url, phone fields, in the order it exports
    them), at least one of them (or of REACHED_BY), else MISSING."""

    REACHED_BY = REACH
    MISSING = "Give their email, url or phone: at least one of them."

    @validates_schema
    def reachable(self, data, **_kwargs):
        if not any(data.get(key) for key in self.REACHED_BY):
            raise ValidationError(self.MISSING, self.REACHED_BY[0])


class PrivacyOfficerSchema(ReachableSchema):
    """个人信息保护负责人 (PIPL art. 52): a person or a department, and how to reach them."""

    MISSING = "Give the privacy officer's email, url or phone: at least one of them."
    name = Localized(max_length=200)
    email, url, phone = email_field(), url_field(), phone_field()


class ComplaintsSchema(ReachableSchema):
    """Where a visitor complains: an address, and/or a text such as the regulator to turn to."""

    REACHED_BY = (*REACH, "text")
    MISSING = "Say how to complain: an email, url or phone, or a text (at least one of them)."
    text = Localized(max_length=1000)
    email, url, phone = email_field(), url_field(), phone_field()


class DeadlineSchema(Schema):
    """Within how long a request to exercise one's rights is answered: 15 working days, 30 days."""

    days = StrictInteger(required=True, validate=validate.Range(
        1, MAX_DEADLINE_DAYS, error=f"A whole number of days from 1 to {MAX_DEADLINE_DAYS}."))
    working_days = StrictBoolean(required=True)


class ControllerSchema(ReachableSchema):
    """site.controller. A site's controller is stored and exported in this order of keys: name, contact, address
    and phone keep theirs of before the others existed, so an older file exports as it was."""

    MISSING = "Give the controller's email, url or phone: at least one of them."

    name = Localized(max_length=200, required=True)
    contact = email_field()  # the older name of `email`
    email = email_field()
    url = url_field()
    address = Localized(max_length=500)
    phone = phone_field()
    privacy_officer = fields.Nested(PrivacyOfficerSchema)
    complaints = fields.Nested(ComplaintsSchema)
    rights_request_deadline = fields.Nested(DeadlineSchema)

    @validates_schema
    def reachable(self, data, **_kwargs):
        if "contact" in data and "email" in data:
            raise ValidationError("contact is the older name of email: give one of them, not both.", "contact")
        if not data.get("contact"):
            super().reachable(data)


def email(controller):
    """The controller's email, under its own key or its older name `contact`; "" without one."""
    return controller.get("email") or controller.get("contact") or ""


def _reach(given):
    return {key: given[key] for key in REACH if given.get(key)}


def for_receipt(controller, language):
    """piiControllers[0] of a receipt but piiControllerUrl, from a site's stored controller.

    email, url and phone each come from their own field only. Kantara's `contact` is the first of them given;
    email, address and phone are always there (empty when not given), as in receipts before url existed.
    """
    reach = {"email": email(controller), "url": controller.get("url", ""), "phone": controller.get("phone", "")}
    stated = {
        "piiController": controller["name"][language],
        "contact": next((reach[key] for key in REACH if reach[key]), ""),
        "email": reach["email"],
        "address": controller.get("address", {}).get(language, ""),
        "phone": reach["phone"],
        **({"url": reach["url"]} if reach["url"] else {}),
    }
    officer = controller.get("privacy_officer")
    if officer:
        stated["privacyOfficer"] = {**({"name": officer["name"][language]} if "name" in officer else {}),
                                    **_reach(officer)}
    complaints = controller.get("complaints")
    if complaints:
        stated["complaints"] = {**({"text": complaints["text"][language]} if "text" in complaints else {}),
                                **_reach(complaints)}
    deadline = controller.get("rights_request_deadline")
    if deadline:
        stated["rightsRequestDeadline"] = {"days": deadline["days"], "workingDays": deadline["working_days"]}
    return stated
