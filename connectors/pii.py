"""Normalise and SHA-256 hash personal identifiers per ad platform, before they
leave the machine.

The platforms agree on the core (trim, lower-case, hex SHA-256 of UTF-8) and
differ at the edges, so each rule below names the platform that needs it:
  email  all: trim, lower-case, Unicode NFC.
         Google and TikTok: also remove inner whitespace; Google, for gmail.com/googlemail.com,
         drops dots and any "+tag" from the local part.
         LinkedIn and Pinterest take the common rule as it is.
  phone  parsed with libphonenumber to E.164. Google and TikTok keep the "+";
         Meta and Snap want digits only.
  name   all: trim, lower-case, NFC. Meta and Snap: no punctuation.
  mobile_ad_id (idfa, gaid)  all: trim, lower-case, hyphens kept (Snap, TikTok).
A value that already is a SHA-256 hex digest passes through (lower-cased), so
a warehouse may hash upstream without being hashed twice.
"""

from __future__ import annotations

import enum
import hashlib
import re
import string
import time
import unicodedata
from collections.abc import Sequence

import phonenumbers


class Platform(enum.StrEnum):
    META = "meta"
    GOOGLE = "google"
    SNAP = "snap"
    TIKTOK = "tiktok"
    LINKEDIN = "linkedin"  # DMP segment users: SHA256_EMAIL; names are sent in clear
    PINTEREST = "pinterest"  # customer lists: emails only, lower-cased, SHA-256


class InvalidIdentifier(ValueError):
    """The value cannot be normalised (not an address, not a phone number)."""


_HEX_DIGITS = string.hexdigits
_NANP_E164 = re.compile(r"\+1[2-9][0-9]{9}\Z")  # an area code never starts with 0 or 1 (the trunk prefix)
_GMAIL_DOMAINS = frozenset({"gmail.com", "googlemail.com"})
_PLUS_PHONE = frozenset({Platform.GOOGLE, Platform.TIKTOK})  # E.164 with its "+"
_NO_INNER_SPACE = frozenset({Platform.GOOGLE, Platform.TIKTOK})
_MAID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\Z")
_PUNCTUATION_CATEGORIES = ("P", "S")  # Unicode punctuation and symbols
_ASCII_PUNCTUATION = str.maketrans("", "", string.punctuation)  # exactly the ASCII members of P and S


def is_sha256_hex(value: str) -> bool:
    value = value.strip()
    return len(value) == 64 and not value.strip(_HEX_DIGITS)  # stripping every hex digit leaves nothing


def sha256_hex(normalized: str) -> str:
    return hashlib.sha256(normalized.encode("utf-8")).hexdigest()


def _nfc_lower(value: str) -> str:
    if value.isascii():  # NFC leaves ASCII unchanged; most identifiers are ASCII
        return value.strip().lower()
    return unicodedata.normalize("NFC", value).strip().lower()


def normalize_email(value: str, platform: Platform) -> str:
    email = _nfc_lower(value)
    if platform in _NO_INNER_SPACE:
        email = "".join(email.split())  # every whitespace run, as re.sub(r"\s+", "") but in C
    local, at, domain = email.rpartition("@")
    if not at or not local or "." not in domain:
        raise InvalidIdentifier("not an email address")
    if platform is Platform.GOOGLE and domain in _GMAIL_DOMAINS:
        local = local.split("+", 1)[0].replace(".", "")
    return f"{local}@{domain}"


def normalize_phone(value: str, platform: Platform, default_region: str = "US") -> str:
    text = value.strip()
    if _NANP_E164.match(text):
        # Already E.164 for North America, the commonest shape in a warehouse: for these,
        # libphonenumber's answer is the input itself (test_pii checks it), at 1/20 the cost.
        return text if platform in _PLUS_PHONE else text[1:]
    if text.startswith("00"):
        # "00" is the international prefix in most of the world; libphonenumber
        # only reads it as such when the default region uses it.
        text = "+" + text[2:]
    try:
        number = phonenumbers.parse(text, default_region)
    except phonenumbers.NumberParseException:
        raise InvalidIdentifier("not a phone number") from None
    if not phonenumbers.is_possible_number(number):
        raise InvalidIdentifier("not a possible phone number")
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return e164 if platform in _PLUS_PHONE else e164.lstrip("+")


def normalize_name(value: str, platform: Platform) -> str:
    name = _nfc_lower(value)
    if platform in (Platform.META, Platform.SNAP) and name.isascii():
        name = name.translate(_ASCII_PUNCTUATION)  # the ASCII characters in categories P and S
    elif platform in (Platform.META, Platform.SNAP):
        name = "".join(ch for ch in name if not unicodedata.category(ch).startswith(_PUNCTUATION_CATEGORIES))
    return name.strip()


def normalize_mobile_ad_id(value: str, platform: Platform) -> str:
    """IDFA or GAID: a UUID, lower-cased with its hyphens (Snap: lower-case; TikTok: one case)."""
    maid = value.strip().lower()
    if not _MAID.match(maid):
        raise InvalidIdentifier("not a mobile advertising id")
    return maid


_NORMALIZERS = {
    "email": normalize_email,
    "first_name": normalize_name,
    "last_name": normalize_name,
    "mobile_ad_id": normalize_mobile_ad_id,
    "idfa": normalize_mobile_ad_id,
    "gaid": normalize_mobile_ad_id,
}


def hash_identifier(kind: str, value: str, platform: Platform, default_region: str = "US") -> str:
    """Normalised SHA-256 hex of one identifier (``kind``: email, phone, first_name,
    last_name, mobile_ad_id, idfa or gaid) as ``platform`` matches it."""
    digest = value.strip()
    if len(digest) == 64 and not digest.strip(_HEX_DIGITS):  # is_sha256_hex, without stripping twice
        return digest.lower()
    if kind == "phone":
        return sha256_hex(normalize_phone(value, platform, default_region))
    try:
        normalizer = _NORMALIZERS[kind]
    except KeyError:
        raise InvalidIdentifier(f"no normalisation rule for {kind!r}") from None
    return sha256_hex(normalizer(value, platform))


def hash_column(kind: str, values: Sequence[object], platform: Platform,
                default_region: str = "US") -> tuple[list[str], list[int], dict[int, str]]:
    """``hash_identifier`` over a column of values: the digests, the index of each hashed value,
    and for each value that cannot be normalised why not. Empty values (None, "") are skipped:
    what a missing identifier means is the caller's rule."""
    digests: list[str] = []
    problems: dict[int, str] = {}
    skipped: list[int] = []  # empty or refused: the hashed indexes are every other one, made once at the end
    # An ASCII email is, on every platform but Google (gmail dots and tags), trimmed and
    # lower-cased (TikTok: inner whitespace dropped), and cannot be a digest (it has an "@"):
    # hashed here without the per-value calls, as it is the commonest value of an audience.
    fast_email = kind == "email" and platform is not Platform.GOOGLE
    no_inner_space = platform in _NO_INNER_SPACE
    sha256, append = hashlib.sha256, digests.append
    for index, value in enumerate(values):
        if not index & 1023:
            # A destination hashes its next batch while a sender thread waits for the previous answer
            # (Destination._stream). Woken by the network, that thread gets the GIL from a busy one only
            # after the switch interval (5 ms), several times a request: a sleep(0) hands it over now.
            time.sleep(0)
        if fast_email and type(value) is str and value.isascii():
            email = value.strip().lower()
            # ASCII whitespace is " " or a control character: a printable value without " " has none inside
            if no_inner_space and not (email.isprintable() and " " not in email):
                email = "".join(email.split())
            at = email.rfind("@")  # rpartition's rule (a local part, a dot after the last "@"), without its tuple
            if at > 0 and email.find(".", at) != -1:
                append(sha256(email.encode()).hexdigest())
                continue
        if not value:
            skipped.append(index)
            continue
        try:
            append(hash_identifier(kind, str(value), platform, default_region))
        except InvalidIdentifier as invalid:
            problems[index] = str(invalid)
            skipped.append(index)
    if not skipped:
        return digests, list(range(len(values))), problems
    left_out = set(skipped)
    return digests, [index for index in range(len(values)) if index not in left_out], problems


def e164(value: str, default_region: str = "US") -> str:
    """E.164 with "+", for APIs that take plain phone numbers (SMS, ESP profiles)."""
    return normalize_phone(value, Platform.GOOGLE, default_region)


# The same rules in DuckDB SQL, for the shapes where they are plain string functions:
# a warehouse hashes these rows itself (fast, and the raw values never reach Python) and
# the connector passes the digests through. Any other value is left as it is, for the
# Python rules above (tests/connectors/test_pii.py checks both give the same digests).
_SQL_EMAIL = r"[!-~]+@[!-?A-~]*\.[!-?A-~]*"  # printable ASCII, no space; a dot after the last @
_SQL_NANP_E164 = r"\+1[2-9][0-9]{9}"
_SQL_PUNCTUATION = r"[!-/:-@\[-`{-~]"  # string.punctuation as ranges
_SQL_MAID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
_EMAIL_ONLY = (Platform.LINKEDIN, Platform.PINTEREST)  # platforms whose audience APIs take only hashed emails


def sql_prehash(kind: str, column: str, platform: Platform) -> str | None:
    """A DuckDB expression over the VARCHAR ``column``: its ``hash_identifier`` digest
    where the rule is the identity or ASCII lower-casing, else the value unchanged. None
    when this platform's rule for ``kind`` has no such shortcut (Google's email rules)."""
    if platform in _EMAIL_ONLY:  # Meta's email rule; LinkedIn sends names in clear, neither hashes phones
        return sql_prehash(kind, column, Platform.META) if kind == "email" else None
    if platform not in (Platform.META, Platform.SNAP, Platform.TIKTOK):
        return None
    if kind == "email":
        return f"case when regexp_full_match({column}, '{_SQL_EMAIL}') then sha256(lower({column})) else {column} end"
    if kind == "phone":
        e164 = column if platform in _PLUS_PHONE else f"substr({column}, 2)"
        return f"case when regexp_full_match({column}, '{_SQL_NANP_E164}') then sha256({e164}) else {column} end"
    if kind in ("mobile_ad_id", "idfa", "gaid"):
        return f"case when regexp_full_match({column}, '{_SQL_MAID}') then sha256(lower({column})) else {column} end"
    if kind in ("first_name", "last_name") and platform is not Platform.TIKTOK:
        # printable ASCII (Python's strip() then only strips spaces, as trim() does), not a digest already
        return (f"case when regexp_full_match({column}, '[ -~]+') and not regexp_full_match(trim({column}), '[0-9a-fA-F]{{64}}') "
                f"then sha256(trim(regexp_replace(lower(trim({column})), '{_SQL_PUNCTUATION}', '', 'g'))) else {column} end")
    return None
