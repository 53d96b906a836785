"""The fixed words a site's configuration describes a purpose with, each with its zh-CN and English label.

Codes are what files, receipts and the API carry; labels come from the Babel catalogs like every UI
string. Sources: PIPL art. 13 (legal bases), art. 28 (sensitive personal information), art. 23, 25,
29 and 38-39 (separate consent), and GB/T 35273-2020 Annex A (categories of personal information).
The README's "Configure a site" prints these tables (tests/test_docs.py holds it to them).
"""
from flask_babel import lazy_gettext as _l

# PIPL art. 13: consent, (1) a contract with the individual or HR management, (2) a legal duty, (3) a
# public-health emergency, (4) news reporting in the public interest, (5) information already made public.
LEGAL_BASES = {
    "consent": _l("The individual's consent"),
    "contract": _l("Necessary for a contract the individual is party to"),
    "hr_management": _l("Necessary for human-resources management"),
    "legal_obligation": _l("Necessary to fulfil a legal duty or obligation"),
    "public_health": _l("Necessary in a public-health emergency or to protect life, health or property"),
    "public_interest": _l("News reporting or public-opinion supervision in the public interest"),
    "public_data": _l("Information the individual or the law already made public"),
}
CONSENT = "consent"

# GB/T 35273-2020 Annex A.
PI_CATEGORIES = {
    "basic_profile": _l("Basic profile (name, birthday, gender, address)"),
    "identity": _l("Identity documents"),
    "biometric": _l("Biometric information"),
    "online_identifiers": _l("Online identifiers (account, nickname)"),
    "health": _l("Health information"),
    "education_work": _l("Education and work"),
    "property": _l("Property and financial information"),
    "communications": _l("Communications and their content"),
    "contacts": _l("Contact lists"),
    "online_activity": _l("Online activity (browsing, search, usage records)"),
    "device": _l("Device information"),
    "location": _l("Location"),
    "transactions": _l("Transactions and orders"),
    "other": _l("Other personal information"),
}

# PIPL art. 28: processing them needs separate consent (art. 29), as does everything in SEPARATE_GROUNDS.
SENSITIVE_CATEGORIES = {
    "biometric": _l("Biometric features"),
    "religious_belief": _l("Religious beliefs"),
    "specific_identity": _l("Specific identity"),
    "medical_health": _l("Medical and health information"),
    "financial_account": _l("Financial accounts"),
    "whereabouts": _l("Whereabouts and location tracks"),
    "minor": _l("Personal information of a minor under 14"),
}

# Why a purpose needs the individual's separate consent (单独同意).
SEPARATE_GROUNDS = {
    "sensitive": _l("Sensitive personal information (PIPL art. 29)"),
    "provision": _l("Provided to another personal-information handler (PIPL art. 23)"),
    "publication": _l("Made public (PIPL art. 25)"),
    "overseas_transfer": _l("Transferred outside the country (PIPL art. 39)"),
}

# What a purpose is about; a purpose has one tag or several. "profiling" turns the site's personalized
# experience on (Consent.get().personalized); the others label it for people and receipts.
TAGS = {
    "cookie": _l("Cookies and similar technologies"),
    "analytics": _l("Analytics"),
    "personalization": _l("Personalization"),
    "advertising": _l("Advertising"),
    "profiling": _l("Profiling and personalized recommendation"),
    "marketing": _l("Marketing"),
    "sms": _l("Text messages"),
    "email": _l("Email"),
    "push": _l("Push notifications"),
    "location": _l("Location-based services"),
    "social_login": _l("Social sign-in"),
    "security": _l("Security and fraud prevention"),
    "payment": _l("Payment"),
    "customer_service": _l("Customer service"),
    "research": _l("Research and product improvement"),
    "other": _l("Other"),
}

# Who receives personal information from the site.
RECIPIENT_ROLES = {
    "processor": _l("Processes it on our behalf (entrusted processing)"),
    "handler": _l("Another personal-information handler"),
    "joint_handler": _l("Decides with us how it is processed (joint handler)"),
}

# Every table above by name, for the README's tables and the console's choices.
TABLES = {"legal_basis": LEGAL_BASES, "pi_categories": PI_CATEGORIES, "sensitive_categories": SENSITIVE_CATEGORIES,
          "separate_consent": SEPARATE_GROUNDS, "tags": TAGS, "role": RECIPIENT_ROLES}
