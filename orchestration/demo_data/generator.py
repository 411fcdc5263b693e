"""Synthetic Segment-Spec calls for a business that runs a shop and a SaaS product.

`generate()` simulates customers one at a time and streams their calls to one JSON
Lines file per UTC day, so memory does not grow with the number of customers. Output
is a pure function of (customers, days, seed, end, plant): every customer draws from its
own `random.Random(f"{seed}:{index}")`, and nothing that reaches the files depends on
`hash()`, set order or the wall clock (except the default `end`, today's UTC midnight).
Planted effects (`plant`, see PlantedEffect) are off by default.

The event vocabulary and personas are documented in docs/event-catalog.md; keep the
two in step.
"""

from __future__ import annotations

import hashlib
import importlib.resources
import random
import time
import unicodedata
import zlib
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo

try:  # orjson is a project dependency; the fallback only keeps the module importable.
    import orjson

    def _dumps_line(obj: dict) -> bytes:
        return orjson.dumps(obj, option=orjson.OPT_APPEND_NEWLINE)

except ImportError:  # pragma: no cover
    import json

    def _dumps_line(obj: dict) -> bytes:
        return (json.dumps(obj, ensure_ascii=False, separators=(",", ":")) + "\n").encode()


DAY_MS = 86_400_000
HOUR_MS = 3_600_000
MINUTE_MS = 60_000

# Every track event name the generator can emit: the documented contract.
TRACK_EVENTS = (
    "session_started",
    "pricing_page_viewed",
    "signup_started",
    "signup_completed",
    "product_viewed",
    "search_performed",
    "cart_added",
    "checkout_started",
    "purchase_made",
    "subscription_started",
    "subscription_upgraded",
    "subscription_renewed",
    "cancel_initiated",
    "onboarding_step_completed",
    "feature_used",
    "integration_connected",
    "invite_sent",
    "help_article_viewed",
    "email_consent_given",
    "email_consent_withdrawn",
    "sms_consent_given",
    "sms_consent_withdrawn",
    "push_consent_given",
    "push_consent_withdrawn",
    "newsletter_subscribed",
)

# Persona mix, in percent of customers (weights are drawn per customer, so a run's
# shares match these up to sampling noise; junk accounts override the draw).
PERSONA_MIX = (
    ("window_shopper", 18),
    ("newsletter_lead", 8),
    ("cart_abandoner", 14),
    ("repeat_buyer", 16),
    ("saas_trialist", 22),
    ("lapsed", 10),
    ("shop_and_saas", 12),
)

# Country mix, exact over every 100 consecutive customers (see _country_slot).
COUNTRY_MIX = (("US", 42), ("GB", 14), ("IN", 12), ("DE", 10), ("BR", 8), ("AU", 8), ("JP", 6))

_COUNTRY_PROFILE = {
    # country: (time zones, locale, currency)
    "US": (("America/New_York", "America/New_York", "America/New_York", "America/Los_Angeles", "America/Los_Angeles"), "en-US", "USD"),
    "GB": (("Europe/London",), "en-GB", "GBP"),
    "DE": (("Europe/Berlin",), "de-DE", "EUR"),
    "IN": (("Asia/Kolkata",), "en-IN", "USD"),
    "BR": (("America/Sao_Paulo",), "pt-BR", "USD"),
    "AU": (("Australia/Sydney",), "en-AU", "USD"),
    "JP": (("Asia/Tokyo",), "ja-JP", "USD"),
}

_NAMES = {
    "US": (("James", "Mary", "Michael", "Jennifer", "David", "Emily", "Chris", "Sarah", "Daniel", "Jessica", "Kevin", "Ashley", "José", "María"),
           ("Smith", "Johnson", "Williams", "Brown", "Garcia", "Miller", "Davis", "Rodriguez", "Martinez", "Lee", "Walker", "O'Brien")),
    "GB": (("Oliver", "Amelia", "Harry", "Isla", "George", "Ava", "Jack", "Sophie", "Charlie", "Freya"),
           ("Taylor", "Evans", "Thomas", "Roberts", "Wright", "Hughes", "Wood", "Clarke", "O'Neill")),
    "DE": (("Lukas", "Anna", "Jürgen", "Lea", "Felix", "Sophie", "Maximilian", "Marie", "Jonas", "Hannah"),
           ("Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Becker", "Schäfer", "Strauß")),
    "IN": (("Aarav", "Priya", "Rohan", "Ananya", "Vivaan", "Diya", "Arjun", "Isha"),
           ("Sharma", "Patel", "Gupta", "Iyer", "Reddy", "Nair", "Singh", "Das")),
    "BR": (("João", "Maria", "Gabriel", "Ana", "Lucas", "Júlia", "Pedro", "Beatriz"),
           ("Silva", "Santos", "Oliveira", "Souza", "Pereira", "Lima", "Gonçalves", "Araújo")),
    "AU": (("Jack", "Charlotte", "William", "Olivia", "Noah", "Mia", "Thomas", "Chloe"),
           ("Smith", "Jones", "Wilson", "Taylor", "Nguyen", "Kelly", "Ryan", "Walsh")),
    "JP": (("Haruto", "Yui", "Sota", "Hina", "Yuto", "Sakura", "Ren", "Aoi"),
           ("Sato", "Suzuki", "Takahashi", "Tanaka", "Watanabe", "Ito", "Yamamoto", "Nakamura")),
}

_PERSONAL_DOMAINS = ("example.com", "example.com", "example.org", "example.net", "mail.example", "inbox.example")
_COMPANY_FIRST = ("Blue", "North", "Bright", "Iron", "Silver", "Quiet", "Rapid", "Golden", "Clear", "Red")
_COMPANY_SECOND = ("peak", "field", "stone", "wave", "leaf", "gate", "bridge", "light")
_COMPANY_KIND = ("Analytics", "Labs", "Works", "Systems", "Studio", "Logistics", "Health", "Partners")

# Fictional phone numbers, as (national-trunk-less prefix groups, first digits, size).
# US: 555-0100..0199 is fictional in every area code. GB: Ofcom's drama ranges.
# AU: ACMA's fictional ranges. DE: placeholder blocks (Germany has no single
# documented drama range). A country's numbers are unique up to its capacity.
_US_AREA_CODES = tuple(a for a in range(201, 990) if a % 100 not in (0, 11) and a != 555)
_GB_BLOCKS = (("20", "7946 0"), ("7700", "900"), ("113", "496 0"), ("114", "496 0"), ("115", "496 0"),
              ("116", "496 0"), ("117", "496 0"), ("118", "496 0"), ("121", "496 0"), ("131", "496 0"),
              ("141", "496 0"), ("151", "496 0"), ("161", "496 0"), ("191", "498 0"), ("1632", "960"))
_DE_BLOCKS = (("30", "1234"), ("40", "1234"), ("69", "1234"), ("89", "1234"))
_AU_BLOCKS = (("2", "5550"), ("3", "7010"), ("7", "5550"), ("8", "7010"))
_PHONE_CAPACITY = {"US": len(_US_AREA_CODES) * 100, "GB": len(_GB_BLOCKS) * 1000,
                   "DE": len(_DE_BLOCKS) * 10000, "AU": len(_AU_BLOCKS) * 10000}
_PHONE_SCRAMBLE = 7919  # prime multiplier: permutes slots so neighbours don't get adjacent numbers

# Junk that real pipelines see, on a fixed fraction of customers (by index, so even a
# few hundred customers contain some): QA sign-ups, a buggy SDK integration writing a
# literal placeholder as anonymousId, and a phone field filled with zeros.
_TEST_EMAIL_EVERY, _TEST_EMAIL_AT = 101, 17
_JUNK_ANON_EVERY, _JUNK_ANON_AT = 97, 41
_ZERO_PHONE_EVERY, _ZERO_PHONE_AT = 89, 23
_JUNK_ANONYMOUS_IDS = ("null", "-1", "anonymous")

SITE = "https://www.fernway.example"
APP = "https://app.fernway.example"

# (category, sku prefix, [(name, USD price in cents)])
_CATALOGUE_SPEC = (
    ("notebooks", "NTB", (("Dot Grid Notebook A5", 1799), ("Sketchbook A4", 2399), ("Weekly Planner", 2199),
                          ("Sticky Notes Set", 899), ("Recycled Legal Pads", 1199), ("Notebook Refill Pack", 1399),
                          ("Index Card Box", 1099), ("Bullet Journal", 2599))),
    ("pens", "PEN", (("Fineliner Set", 1599), ("Fountain Pen", 4799), ("Gel Pen 5-Pack", 1199), ("Brush Pen Set", 2099),
                     ("Mechanical Pencil", 1499), ("Highlighter Set", 999), ("Ink Bottle", 1799), ("Pen Roll Case", 3399))),
    ("desk", "DSK", (("Bamboo Desk Organizer", 3899), ("Monitor Stand", 7899), ("Felt Desk Mat", 2899), ("Cable Tray", 2399),
                     ("Desk Lamp", 8899), ("Laptop Sleeve", 4499), ("Letter Tray", 2699), ("Wireless Charger", 3899))),
    ("bags", "BAG", (("Canvas Tote", 2799), ("Everyday Backpack", 11899), ("Sling Bag", 6399), ("Tech Pouch", 3199),
                     ("Messenger Bag", 9799), ("Weekender", 14899), ("Pencil Case", 1399), ("Travel Organizer", 3799))),
    ("apparel", "APP", (("Logo Tee", 2499), ("Hoodie", 5799), ("Cap", 2199), ("Beanie", 1899), ("Socks 3-Pack", 1599),
                        ("Crewneck", 4899), ("Enamel Pin Set", 1199), ("Apron", 3399))),
)
_FX = {"USD": 1.0, "EUR": 0.93, "GBP": 0.79}


def _local_price(usd_cents: int, currency: str) -> int:
    """Price in the currency's cents, rounded to a .99 ending like a real price list."""
    if currency == "USD":
        return usd_cents
    return max(99, round(usd_cents * _FX[currency] / 100) * 100 - 1)


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in text.lower()).strip("-")


@dataclass(frozen=True, slots=True)
class _Product:
    product_id: str
    sku: str
    name: str
    category: str
    slug: str
    prices: dict  # currency -> cents


_CATALOGUE = tuple(
    _Product(
        product_id=f"prod_{ci * 8 + pi + 1:04d}",
        sku=f"{prefix}-{pi + 1:03d}",
        name=name,
        category=category,
        slug=_slug(name),
        prices={cur: _local_price(usd, cur) for cur in _FX},
    )
    for ci, (category, prefix, items) in enumerate(_CATALOGUE_SPEC)
    for pi, (name, usd) in enumerate(items)
)

_COUPONS = (("WELCOME10", 10), ("SPRING15", 15), ("LOYAL20", 20))
_SEARCHES = (("notebook", 8), ("fountain pen", 2), ("backpack", 3), ("desk lamp", 1), ("gift", 12), ("hoodie", 2),
             ("a5 dot grid", 1), ("pen case", 2), ("noteboook", 0), ("usb c hub", 0), ("tote", 1), ("planner 2026", 1))

# SaaS plans: monthly price in whole currency units; yearly billing is 20% cheaper.
_PLANS = {"starter": {"USD": 29, "EUR": 27, "GBP": 24},
          "pro": {"USD": 79, "EUR": 73, "GBP": 65},
          "business": {"USD": 249, "EUR": 229, "GBP": 199}}
_NEXT_PLAN = {"starter": "pro", "pro": "business"}
_ONBOARDING = ("create_project", "invite_team", "connect_integration", "import_data", "create_report")
_FEATURES = ("dashboards", "report_builder", "scheduled_exports", "journey_canvas", "audience_builder",
             "api_access", "comments", "templates", "alerts")
_INTEGRATIONS = ("slack", "salesforce", "hubspot", "shopify", "stripe", "google_sheets", "snowflake", "zapier")
_CANCEL_REASONS = ("too_expensive", "missing_feature", "switched_competitor", "not_using", "project_ended", "other")
_HELP_ARTICLES = (("kb-101", "Create your first project"), ("kb-114", "Invite your team"),
                  ("kb-132", "Connect an integration"), ("kb-140", "Import a CSV"), ("kb-155", "Build a report"),
                  ("kb-203", "Change your plan"), ("kb-219", "Billing and invoices"), ("kb-301", "API keys"))
_SIGNUP_METHODS = ("email", "email", "google", "github", "microsoft")

_MARKETING_PAGES = (
    ("Home", "/", "Fernway — tools for people who make things"),
    ("Features", "/features", "Features | Fernway"),
    ("Integrations", "/integrations", "Integrations | Fernway"),
    ("Customers", "/customers", "Customer stories | Fernway"),
    ("Blog", "/blog", "Blog | Fernway"),
    ("Blog Post", "/blog/weekly-planning-that-sticks", "Weekly planning that sticks | Fernway Blog"),
    ("Blog Post", "/blog/reports-your-team-reads", "Reports your team actually reads | Fernway Blog"),
    ("Blog Post", "/blog/desk-setup-2026", "Our 2026 desk setup | Fernway Blog"),
    ("Docs", "/docs", "Documentation | Fernway"),
    ("Docs", "/docs/getting-started", "Getting started | Fernway Docs"),
    ("About", "/about", "About us | Fernway"),
)
_APP_PAGES = (("Dashboard", "/dashboard", "Dashboard"), ("Projects", "/projects", "Projects"),
              ("Reports", "/reports", "Reports"), ("Integrations", "/settings/integrations", "Integrations"),
              ("Team", "/settings/team", "Team"))
_REFERRERS = ("", "", "", "https://www.google.com/", "https://www.google.com/", "https://www.bing.com/",
              "https://duckduckgo.com/", "https://t.co/", "https://www.linkedin.com/", "https://newsletter.example/issue-42")

# Relative chance of a session starting in each local hour (people sleep).
_HOUR_CUM_WEIGHTS = tuple(
    sum((1, 0.5, 0.3, 0.2, 0.2, 0.4, 1, 2, 4, 6, 7, 7, 6, 6, 7, 7, 7, 6, 6, 7, 8, 7, 5, 3)[: h + 1]) for h in range(24)
)

_DEVICE_MIX = (("desktop", 45), ("ios", 25), ("android", 20), ("tablet", 10))
_LIBRARIES = {
    "web": {"name": "analytics.js", "version": "next-1.70.0"},
    "ios": {"name": "analytics-ios", "version": "4.1.8"},
    "android": {"name": "analytics-android", "version": "4.11.3"},
}
_USER_AGENTS = {
    "desktop": ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
                "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15",
                "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0",
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36 Edg/124.0.0.0"),
    "ios": ("Fernway/3.4.1 (iPhone; iOS 17.4.1; Scale/3.00)", "Fernway/3.3.0 (iPhone; iOS 16.7.7; Scale/2.00)"),
    "android": ("Dalvik/2.1.0 (Linux; U; Android 14; Pixel 8 Build/UQ1A.240205.004)",
                "Dalvik/2.1.0 (Linux; U; Android 13; SM-S911B Build/TP1A.220624.014)"),
    "tablet": ("Mozilla/5.0 (iPad; CPU OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",),
}
_IP_PREFIXES = ("192.0.2", "198.51.100", "203.0.113")  # RFC 5737 documentation ranges


# --- time -------------------------------------------------------------------------

# Offsets come from the pinned `tzdata` package rather than the machine's tz database,
# so the output is byte-identical on any machine.
@lru_cache(maxsize=None)
def _zone(tz: str) -> ZoneInfo:
    with importlib.resources.files("tzdata.zoneinfo").joinpath(tz).open("rb") as data:
        return ZoneInfo.from_file(data, key=tz)


@lru_cache(maxsize=1 << 16)
def _offset_minutes(tz: str, hour_index: int) -> int:
    """UTC offset of `tz` during the UTC hour `hour_index` (zones here switch on whole
    UTC hours, so caching per hour is exact)."""
    instant = datetime.fromtimestamp(hour_index * 3600, timezone.utc)
    return int(instant.astimezone(_zone(tz)).utcoffset().total_seconds()) // 60


@lru_cache(maxsize=1 << 14)
def _date_text(epoch_day: int) -> str:
    return date.fromordinal(719163 + epoch_day).isoformat()  # 719163 = ordinal of 1970-01-01


@lru_cache(maxsize=64)
def _offset_suffix(minutes: int) -> str:
    sign = "+" if minutes >= 0 else "-"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def _iso_z(ms: int) -> str:
    day, rem = divmod(ms, DAY_MS)
    return f"{_date_text(day)}T{rem // HOUR_MS:02d}:{rem // MINUTE_MS % 60:02d}:{rem // 1000 % 60:02d}.{rem % 1000:03d}Z"


def _iso_local(ms: int, tz: str) -> str:
    """The same instant written in the zone's local time with its offset, as mobile SDKs do."""
    minutes = _offset_minutes(tz, ms // HOUR_MS)
    day, rem = divmod(ms + minutes * MINUTE_MS, DAY_MS)
    return (f"{_date_text(day)}T{rem // HOUR_MS:02d}:{rem // MINUTE_MS % 60:02d}:{rem // 1000 % 60:02d}"
            f".{rem % 1000:03d}{_offset_suffix(minutes)}")


def _uuid(rng: random.Random) -> str:
    """A random (version 4 shaped) UUID drawn from the customer's RNG, so it is reproducible."""
    h = "%032x" % rng.getrandbits(128)
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[int(h[16], 16) & 3]}{h[17:20]}-{h[20:]}"


# --- identities --------------------------------------------------------------------

def _build_country_table() -> tuple[tuple[str, ...], tuple[int, ...]]:
    """Interleave COUNTRY_MIX over 100 slots (smooth weighted round robin) and record each
    slot's rank within its country, so a customer's per-country ordinal is arithmetic."""
    current = {c: 0 for c, _ in COUNTRY_MIX}
    table, ranks, seen = [], [], {c: 0 for c, _ in COUNTRY_MIX}
    for _ in range(100):
        for c, w in COUNTRY_MIX:
            current[c] += w
        pick = max(COUNTRY_MIX, key=lambda cw: current[cw[0]])[0]  # ties: first in COUNTRY_MIX
        current[pick] -= 100
        table.append(pick)
        ranks.append(seen[pick])
        seen[pick] += 1
    return tuple(table), tuple(ranks)


_COUNTRY_TABLE, _COUNTRY_RANK = _build_country_table()
_COUNTRY_WEIGHT = dict(COUNTRY_MIX)


def _country_slot(index: int, seed: int | str) -> tuple[str, int]:
    """Country and the customer's ordinal among that country's customers. Using the
    ordinal as the phone slot keeps phone numbers unique up to the country's capacity."""
    shifted = index + zlib.crc32(str(seed).encode()) % 100
    block, pos = divmod(shifted, 100)
    country = _COUNTRY_TABLE[pos]
    return country, block * _COUNTRY_WEIGHT[country] + _COUNTRY_RANK[pos]


def _phone_parts(country: str, ordinal: int) -> tuple[str, str, str] | None:
    """(country code, national number without trunk prefix, grouped national) or None."""
    capacity = _PHONE_CAPACITY.get(country)
    if capacity is None:
        return None
    slot = ordinal * _PHONE_SCRAMBLE % capacity
    if country == "US":
        area, line = _US_AREA_CODES[slot // 100], 100 + slot % 100
        return "1", f"{area}5550{line}", f"{area} 555 0{line}"
    if country == "GB":
        prefix, head = _GB_BLOCKS[slot // 1000]
        grouped = f"{prefix} {head}{slot % 1000:03d}"
        return "44", grouped.replace(" ", ""), grouped
    if country == "DE":
        area, head = _DE_BLOCKS[slot // 10000]
        return "49", f"{area}{head}{slot % 10000:04d}", f"{area} {head}{slot % 10000:04d}"
    area, head = _AU_BLOCKS[slot // 10000]
    return "61", f"{area}{head}{slot % 10000:04d}", f"{area} {head} {slot % 10000:04d}"


def _messy_phone(rng: random.Random, country: str, parts: tuple[str, str, str]) -> str:
    """One of the ways people and forms actually write a number."""
    cc, digits, grouped = parts
    if country == "US":
        a, b, c = digits[:3], digits[3:6], digits[6:]
        forms = (f"({a}) {b}-{c}", f"+1 {a}-{b}-{c}", f"{a}.{b}.{c}", f"{a}-{b}-{c}", f"+1{digits}", f"1 ({a}) {b}-{c}", digits)
    else:
        forms = (f"0{grouped}", f"+{cc} {grouped}", f"00{cc} {grouped}", f"0{digits}", f"+{cc}{digits}", f"+{cc} (0){grouped}")
    phone = forms[rng.randrange(len(forms))]
    return f" {phone}" if rng.random() < 0.05 else phone


def _ascii_fold(text: str) -> str:
    text = text.replace("ß", "ss").replace("'", "")
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()


def _messy_email(rng: random.Random, email: str) -> str:
    """Case and whitespace noise on top of the canonical lowercase address."""
    r = rng.random()
    if r < 0.55:
        return email
    if r < 0.72:
        local, domain = email.split("@")
        return ".".join(p.capitalize() for p in local.split(".")) + "@" + domain.capitalize()
    if r < 0.82:
        return email.upper()
    if r < 0.93:
        return f" {email} " if r < 0.88 else f"{email} "
    return "\t" + email.capitalize()


# --- planted effects ----------------------------------------------------------------

def stable_bucket(text: str, buckets: int) -> int:
    """The journey models' `stable_bucket` macro in Python: the first 7 hex digits of the
    md5 of `text`, modulo `buckets` (dbt_project/macros/journey_helpers.sql)."""
    return int(hashlib.md5(text.encode()).hexdigest()[:7], 16) % buckets


def holdout_arm(journey: str, customer_id: str, holdout_percent: float) -> str:
    """The arm the journey model gives a customer (orchestration/journeys/journey_model.sql.j2)."""
    return "control" if stable_bucket(f"{journey}:{customer_id}", 10000) < int(holdout_percent * 100) else "treatment"


def customer_id_of(anchor: str) -> str:
    """The warehouse's customer id of a component anchored at `anchor` (int_identity__customer_map)."""
    return "cus_" + hashlib.md5(anchor.encode()).hexdigest()[:16]


# The behaviour that reaches each journey's goal, as the generator plays it. A journey
# whose goal is not listed here can't have an effect planted (win_back's goal is any
# session: thinning visits would change far more than conversion).
PLANTABLE = {"abandoned_cart": "purchase", "trial_onboarding": "subscribe"}


@dataclass(frozen=True)
class PlantedEffect:
    """Treated customers of `journey` convert (1 + relative_lift) times as often as its
    holdout. Played by thinning: with a lift L >= 0 each goal action of a holdout customer
    is dropped with probability L / (1 + L); with -1 < L < 0 each goal action of a
    treated customer is dropped with probability -L. Either way the ratio of the arms'
    conversion rates is 1 + L, whatever each customer's own chance of converting."""

    journey: str
    relative_lift: float
    holdout_percent: float

    def __post_init__(self) -> None:
        if self.journey not in PLANTABLE:
            raise ValueError(f"can't plant an effect on {self.journey!r}: the generator knows the goal behaviour of "
                             f"{', '.join(sorted(PLANTABLE))} only")
        if not self.relative_lift > -1:
            raise ValueError(f"relative lift must be above -1 (-100%), not {self.relative_lift}")

    def drops(self, customer_id: str, rng: random.Random) -> bool:
        """Whether this customer's next goal action is dropped."""
        arm = holdout_arm(self.journey, customer_id, self.holdout_percent)
        if self.relative_lift >= 0:
            return arm == "control" and rng.random() < self.relative_lift / (1 + self.relative_lift)
        return arm == "treatment" and rng.random() < -self.relative_lift


def planted_effects(lifts: dict[str, float]) -> tuple[PlantedEffect, ...]:
    """{journey: relative lift} with each journey's holdout read from its declaration."""
    if not lifts:
        return ()
    from orchestration.journeys.compiler import load_project

    holdouts = {journey.name: journey.holdout_percent for journey in load_project()[0]}
    effects = []
    for journey, lift in lifts.items():
        if journey not in holdouts:
            raise ValueError(f"no journey named {journey!r}; journeys: {', '.join(sorted(holdouts))}")
        if not holdouts[journey]:
            raise ValueError(f"{journey} has no holdout, so it has no lift to plant")
        effects.append(PlantedEffect(journey, float(lift), holdouts[journey]))
    return tuple(effects)


# --- output ------------------------------------------------------------------------

@dataclass(frozen=True)
class GenerationSummary:
    out_dir: Path
    files: tuple[Path, ...]
    customers: int
    events: int
    window_start: datetime  # inclusive, UTC
    window_end: datetime  # exclusive, UTC
    seed: int | str
    by_event: dict[str, int] = field(default_factory=dict)  # track names, plus "page"/"identify"/"alias"
    seconds: float = 0.0
    # With planted effects, per generated customer, the id the warehouse will give them
    # (None: nothing in the window), as identity resolution derives it.
    customer_ids: tuple[str | None, ...] = ()
    planted: tuple[PlantedEffect, ...] = ()

    @property
    def events_per_second(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0


class _Sink:
    """The open day files, and the window that decides whether a call is written. Days
    before `write_from_ms` are simulated but not written (nor counted)."""

    def __init__(self, out_dir: Path, start_ms: int, end_ms: int, write_from_ms: int | None = None):
        self.start_ms, self.end_ms = start_ms, end_ms
        self.first_day = start_ms // DAY_MS
        last_day = (end_ms - 1) // DAY_MS
        first_written = max(self.first_day, (write_from_ms or start_ms) // DAY_MS)
        self.skipped_days = first_written - self.first_day
        self.paths = tuple(out_dir / f"events_{_date_text(d)}.jsonl" for d in range(first_written, last_day + 1))
        self.files = []
        try:
            for path in self.paths:
                self.files.append(open(path, "wb", buffering=1 << 16))
        except BaseException:
            self.close()
            raise
        self.writers = (len,) * self.skipped_days + tuple(f.write for f in self.files)  # len(): takes a line, keeps nothing
        self.counts: dict[str, int] = {}

    def close(self) -> None:
        for f in self.files:
            f.close()


class _DrySink(_Sink):
    """The same window, nothing written: a rehearsal of a customer."""

    def __init__(self, start_ms: int, end_ms: int):
        self.start_ms, self.end_ms = start_ms, end_ms
        self.first_day = start_ms // DAY_MS
        self.files, self.paths, self.skipped_days = [], (), 0
        self.writers = tuple(len for _ in range(self.first_day, (end_ms - 1) // DAY_MS + 1))  # len(): takes a line, keeps nothing
        self.counts = {}


# --- customers ---------------------------------------------------------------------

class _Device:
    __slots__ = ("anonymous_id", "context", "local_timestamps", "logged_in", "seen", "kind")

    def __init__(self, rng: random.Random, kind: str, tz: str, locale: str):
        self.kind = kind
        self.anonymous_id = _uuid(rng)
        device_id = _uuid(rng)
        if kind == "ios":
            device_id = device_id.upper()  # IDFV style
        elif kind == "android":
            device_id = device_id.replace("-", "")[:16]  # ANDROID_ID style
        library = _LIBRARIES["web" if kind == "desktop" else "ios" if kind == "tablet" else kind]
        agents = _USER_AGENTS[kind]
        # One dict per device, shared by all its calls: serialised each time, built once.
        self.context = {
            "timezone": tz,
            "locale": locale,
            "device": {"id": device_id, "type": kind},
            "library": library,
            "ip": f"{_IP_PREFIXES[rng.randrange(3)]}.{rng.randint(1, 254)}",
            "userAgent": agents[rng.randrange(len(agents))],
        }
        # Mobile SDKs tend to send local time with an offset; browsers send UTC.
        self.local_timestamps = rng.random() < (0.6 if kind in ("ios", "android") else 0.1)
        self.logged_in = False
        self.seen = False


def _push_token(device_id: str) -> str:
    """An FCM registration token's shape (instance id, ':APA91b', opaque base64url), derived
    from the device id, so the random stream (and every other generated value) is unchanged."""
    digest = hashlib.sha512(device_id.encode()).hexdigest()
    return f"{digest[:11]}:APA91b{digest[11:130]}"


def _pick(rng: random.Random, weighted: tuple) -> str:
    r = rng.random() * sum(w for _, w in weighted)
    for name, w in weighted:
        r -= w
        if r < 0:
            return name
    return weighted[-1][0]


class _Customer:
    """One person: identity, devices, a plan of sessions, and the state they mutate."""

    def __init__(self, index: int, seed: int | str, sink: _Sink, effects: tuple[PlantedEffect, ...] = (),
                 customer_id: str | None = None):
        self.rng = rng = random.Random(f"{seed}:{index}")
        # Planted effects draw from their own stream, so everything else a customer does
        # is the same with and without them; `customer_id` is the warehouse id they act on.
        self.effects, self.effect_rng, self.customer_id = effects, random.Random(f"{seed}:{index}:effect"), customer_id
        self.identifiers: dict[str, str] = {}  # identifier -> its parent in the identity graph (union-find)
        self.first_seen: dict[str, int] = {}  # identifier -> the rank of the first call that carried it
        self.sink = sink
        self.start_ms, self.end_ms = sink.start_ms, sink.end_ms
        span = self.end_ms - self.start_ms

        self.country, ordinal = _country_slot(index, seed)
        zones, self.locale, self.currency = _COUNTRY_PROFILE[self.country]
        self.tz = zones[rng.randrange(len(zones))]
        firsts, lasts = _NAMES[self.country]
        self.first_name, self.last_name = firsts[rng.randrange(len(firsts))], lasts[rng.randrange(len(lasts))]
        self.persona = _pick(rng, PERSONA_MIX)
        # Multiplying by an odd constant mod 2**32 is a bijection: user ids are unique.
        self.user_id = f"usr_{(index + 1) * 2654435761 % (1 << 32):08x}"
        self.company = None
        company_domain = None
        if self.persona in ("saas_trialist", "shop_and_saas", "lapsed"):
            self.company = f"{_COMPANY_FIRST[rng.randrange(10)]}{_COMPANY_SECOND[rng.randrange(8)]} {_COMPANY_KIND[rng.randrange(8)]}"
            company_domain = _slug(self.company) + ".example"
        # The index in the local part keeps every address unique across customers.
        first, last = _ascii_fold(self.first_name), _ascii_fold(self.last_name)
        local = (f"{first}.{last}{index}", f"{first[0]}{last}{index}", f"{first}{index}", f"{last}.{first}{index}")[rng.randrange(4)]
        domain = company_domain if company_domain and rng.random() < 0.7 else _PERSONAL_DOMAINS[rng.randrange(len(_PERSONAL_DOMAINS))]
        self.email = f"{local}@{domain}"
        parts = _phone_parts(self.country, ordinal)
        self.phone_parts = parts if parts and rng.random() < 0.6 else None
        self.zero_phone = False

        self.t0 = self.start_ms + int(rng.uniform(-0.25, 0.85) * span)  # first visit
        self.stop_ms = self.end_ms
        junk_anonymous = None
        if index % _TEST_EMAIL_EVERY == _TEST_EMAIL_AT:
            self.email, self.persona = "test@test.com", "saas_trialist"
        if index % _JUNK_ANON_EVERY == _JUNK_ANON_AT:
            junk_anonymous, self.persona = _JUNK_ANONYMOUS_IDS[index // _JUNK_ANON_EVERY % 3], "repeat_buyer"
        if index % _ZERO_PHONE_EVERY == _ZERO_PHONE_AT:
            self.zero_phone, self.persona = True, "repeat_buyer"
        if junk_anonymous or self.zero_phone or self.email == "test@test.com":
            self.t0 = self.start_ms + int(rng.uniform(0.0, 0.5) * span)  # junk must land inside the window

        saas_first = self.persona in ("saas_trialist", "shop_and_saas")
        self.devices = []
        for n in range(1 + (rng.random() < 0.45) + (rng.random() < 0.2)):
            kind = "desktop" if saas_first and n == 0 else _pick(rng, _DEVICE_MIX)
            self.devices.append(_Device(rng, kind, self.tz, self.locale))
        if junk_anonymous:
            self.devices[0].anonymous_id = junk_anonymous

        self.t = 0  # the session clock, in epoch ms; set by each planned visit
        self.device = self.devices[0]
        self.account_created = False
        self.consent = {"email": False, "sms": False, "push": False}
        self.cart: list[list] = []  # [product, quantity]
        self.cart_id = None
        self.onboarding_step = 0
        self.onboarding_cap = 5
        self.subscription = None
        self.plan: list[tuple[int, int, str, int]] = []

    # -- emission: every call passes through here --------------------------------

    def _emit(self, name: str, call: dict, t: int) -> None:
        if self.effects:  # identity is only followed when an effect needs the customer's id
            self._link(call)
        sink = self.sink
        day = t // DAY_MS - sink.first_day
        sink.writers[day](_dumps_line(call))
        if day >= sink.skipped_days:
            counts = sink.counts
            counts[name] = counts.get(name, 0) + 1

    # -- identity, as the warehouse will resolve it ------------------------------------

    def _link(self, call: dict) -> None:
        """Record the call's linkable identifiers and link them, as identity resolution
        does. Identifiers it excludes never link: placeholder anonymous ids, zero phones,
        and test@test.com (shared by more than 5 people, as it is from 523 customers on;
        below that its few users merge into one customer, whose id this can't predict)."""
        found = []
        for field_name, kind in (("anonymousId", "anonymous_id"), ("previousId", "anonymous_id"), ("userId", "user_id")):
            value = call.get(field_name)
            if value and value not in _JUNK_ANONYMOUS_IDS:
                found.append(f"{kind}:{value}")
        traits = call.get("traits", {})
        email = traits.get("email", "").strip().lower()
        if email and email != "test@test.com":
            found.append("email:" + email)
        if "phone" in traits and self.phone_parts and not self.zero_phone:
            found.append(f"phone:+{self.phone_parts[0]}{self.phone_parts[1]}")
        # One rank for a call's new identifiers, a higher one for any later call's.
        parents, rank = self.identifiers, len(self.first_seen)
        for identifier in found:
            if identifier not in parents:
                parents[identifier] = identifier
                self.first_seen[identifier] = rank
        for identifier in found[1:]:
            parents[self._root(identifier)] = self._root(found[0])

    def _root(self, identifier: str) -> str:
        parents = self.identifiers
        while parents[identifier] != identifier:
            identifier = parents[identifier]
        return identifier

    def warehouse_customer_id(self) -> str | None:
        """The id of the customer who buys and subscribes (the component holding the user
        id, else the first identifier's): md5 of its anchor, the identifier seen first
        (ties by name). Only known once every call is written."""
        if not self.identifiers:
            return None
        user = f"user_id:{self.user_id}"
        root = self._root(user if user in self.identifiers else next(iter(self.identifiers)))
        # Calls are written in time order, so the first call is the earliest; ties by name.
        members = [i for i in self.identifiers if self._root(i) == root]
        return customer_id_of(min(members, key=lambda i: (self.first_seen[i], i)))

    def _drops(self, behaviour: str) -> bool:
        """Whether a planted effect takes away this goal action (see PlantedEffect)."""
        if not self.effects or self.customer_id is None:
            return False
        return any(effect.drops(self.customer_id, self.effect_rng) for effect in self.effects
                   if PLANTABLE[effect.journey] == behaviour)

    def _tick(self) -> int | None:
        """Claim the current instant for a call and move the clock on; None if the call
        falls outside the window (state still changes, nothing is written)."""
        t = self.t
        self.t = t + self.rng.randint(2_000, 75_000)
        return t if self.start_ms <= t < self.end_ms else None

    def _base(self, call_type: str, t: int, with_user: bool) -> dict:
        device = self.device
        call = {
            "type": call_type,
            "messageId": _uuid(self.rng),
            "timestamp": _iso_local(t, self.tz) if device.local_timestamps else _iso_z(t),
            "anonymousId": device.anonymous_id,
        }
        if with_user:
            call["userId"] = self.user_id
        return call

    def track(self, event: str, properties: dict) -> None:
        t = self._tick()
        if t is None:
            return
        call = self._base("track", t, self.device.logged_in)
        call["event"] = event
        call["context"] = self.device.context
        call["properties"] = properties
        self._emit(event, call, t)

    def page(self, name: str, path: str, title: str, referrer: str, host: str = SITE) -> str:
        url = host + path
        t = self._tick()
        if t is not None:
            page = {"url": url, "path": path, "title": title, "referrer": referrer}
            call = self._base("page", t, self.device.logged_in)
            call["name"] = name
            call["context"] = {**self.device.context, "page": page}
            call["properties"] = page
            self._emit("page", call, t)
        return url

    def identify(self, traits: dict, with_user: bool = True) -> None:
        t = self._tick()
        if with_user:
            self.device.logged_in = True  # the SDK remembers the userId from now on
        if t is None:
            return
        call = self._base("identify", t, with_user)
        call["context"] = self.device.context
        call["traits"] = traits
        self._emit("identify", call, t)

    def alias(self) -> None:
        t = self._tick()
        if t is None:
            return
        self._emit("alias", {
            "type": "alias",
            "messageId": _uuid(self.rng),
            "timestamp": _iso_z(t),
            "previousId": self.device.anonymous_id,
            "userId": self.user_id,
            "context": self.device.context,
        }, t)

    # -- traits ------------------------------------------------------------------

    def _phone_text(self) -> str | None:
        if self.zero_phone:
            return "0000000000"
        return _messy_phone(self.rng, self.country, self.phone_parts) if self.phone_parts else None

    def _full_traits(self) -> dict:
        traits = {"email": _messy_email(self.rng, self.email), "first_name": self.first_name,
                  "last_name": self.last_name, "country": self.country}
        phone = self._phone_text()
        if phone:
            traits["phone"] = phone
        if self.company:
            traits["company"] = self.company
        traits["created_at"] = _iso_z(self.t)
        return traits

    def _login(self) -> None:
        """Make sure the current device is tied to the account, creating it if needed."""
        if self.device.logged_in:
            return
        if not self.account_created:
            self.account_created = True
            self.identify(self._full_traits())
            return
        traits = {"email": _messy_email(self.rng, self.email)}
        if self.rng.random() < 0.3:
            phone = self._phone_text()
            if phone:  # a national-format number is only parseable with its country
                traits["phone"], traits["country"] = phone, self.country
        self.identify(traits)

    def _give_consent(self, channel: str, source: str) -> None:
        if not self.consent[channel]:
            self.consent[channel] = True
            self.track(f"{channel}_consent_given", {"source": source})

    # -- planning ------------------------------------------------------------------

    def _add(self, t: float, kind: str, device: int | None = None) -> None:
        """Schedule a session near `t`, moved into a plausible local hour; half of weekend
        sessions move forward to Monday-Wednesday (forward only, so a sign-up still
        precedes the subscription planned days after it)."""
        rng = self.rng
        t = int(t)
        offset = _offset_minutes(self.tz, t // HOUR_MS) * MINUTE_MS
        local_day = (t + offset) // DAY_MS
        weekday = (local_day + 3) % 7  # 1970-01-01 was a Thursday; Monday = 0
        if weekday >= 5 and rng.random() < 0.5:
            local_day += 7 - weekday + rng.randrange(3)
        hour = rng.choices(range(24), cum_weights=_HOUR_CUM_WEIGHTS)[0]
        start = local_day * DAY_MS + hour * HOUR_MS + rng.randrange(HOUR_MS) - offset
        if device is None:
            device = 0 if rng.random() < 0.65 or len(self.devices) == 1 else rng.randrange(1, len(self.devices))
        self.plan.append((start, len(self.plan), kind, device))

    def _days(self, mean: float) -> float:
        return self.rng.expovariate(1.0 / mean) * DAY_MS

    def _plan_browsing(self, t: float, sessions: int, mean_gap_days: float, shop_share: float = 0.6) -> float:
        for _ in range(sessions):
            self._add(t, "shop" if self.rng.random() < shop_share else "browse")
            t += self._days(mean_gap_days)
        return t

    def _plan_orders(self, t: float, orders: int) -> float:
        rng = self.rng
        gap = rng.uniform(5, 25)  # this customer's typical days between orders
        for _ in range(orders):
            t = self._plan_browsing(t, rng.choice((0, 1, 1, 2)), 1.5)
            self._add(t, "buy")
            t += self._days(gap)
        return t

    def _plan_saas(self, t: float, outcome: str) -> float:
        """Trial sign-up, then usage whose shape depends on the outcome."""
        rng = self.rng
        t = self._plan_browsing(t, rng.randint(0, 2), 1.0, shop_share=0.0)
        for _ in range(rng.randint(1, 2)):
            self._add(t, "pricing")
            t += self._days(1.0)
        self._add(t, "signup", 0)
        signup = t
        if outcome == "stuck":
            self.onboarding_cap = rng.choice((0, 1, 1, 2))
            for _ in range(rng.randint(1, 4)):
                t += self._days(2.0)
                self._add(t, "app", 0)
            return t
        self.onboarding_cap = 5
        subscribed = signup + rng.uniform(5, 14) * DAY_MS
        t = signup + self._days(1.0)
        while t < subscribed:
            self._add(t, "app", 0)
            t += self._days(1.8)
        self._add(subscribed, "subscribe", 0)
        interval_month = rng.random() < 0.8
        horizon = subscribed + 240 * DAY_MS
        if outcome == "churn":
            cancel = subscribed + rng.uniform(20, 75) * DAY_MS
            self._add(cancel, "cancel", 0)
            horizon = cancel + rng.uniform(0, 5) * DAY_MS
        elif rng.random() < 0.35:
            self._add(subscribed + rng.uniform(15, 60) * DAY_MS, "upgrade", 0)
        if interval_month:
            renewal = subscribed + 30 * DAY_MS
            while renewal < horizon:
                self.plan.append((int(renewal), len(self.plan), "renew", 0))  # billing runs at any hour
                renewal += 30 * DAY_MS
        t = subscribed + self._days(3.0)
        gap = rng.uniform(3, 7)
        while t < horizon and t < self.stop_ms:
            self._add(t, "app")
            t += self._days(gap)
        return t

    def _plan_consent_changes(self) -> None:
        """Some people later take back consent (from a link, a STOP reply, the OS)."""
        rng = self.rng
        for kind, chance in (("withdraw_email", 0.15), ("withdraw_sms", 0.25), ("withdraw_push", 0.2)):
            if rng.random() < chance:
                self.plan.append((int(self.t0 + rng.uniform(0.2, 1.0) * (self.end_ms - self.t0)), len(self.plan), kind, 0))

    def _make_plan(self) -> None:
        rng, persona, t = self.rng, self.persona, self.t0
        if persona == "window_shopper":
            self._plan_browsing(t, 1 + min(int(rng.expovariate(1 / 2.5)), 15), 6.0)
        elif persona == "newsletter_lead":
            t = self._plan_browsing(t, rng.randint(0, 1), 3.0, shop_share=0.3)
            self._add(t, "newsletter")
            self._plan_browsing(t + self._days(5.0), int(rng.expovariate(1 / 3)), 8.0, shop_share=0.4)
        elif persona == "cart_abandoner":
            t = self._plan_browsing(t, rng.randint(0, 2), 2.0)
            self._add(t, "cart")
            if rng.random() < 0.45:  # comes back to finish the order
                self._add(t + rng.uniform(0.5, 10) * DAY_MS, "return_buy")
            else:
                self._plan_browsing(t + self._days(6.0), rng.randint(0, 2), 6.0)
        elif persona == "repeat_buyer":
            self.t0 = t = self.t0 - int(rng.uniform(0, 0.3) * (self.end_ms - self.start_ms))  # some started earlier
            self._plan_orders(t, min(1 + int(rng.paretovariate(1.3)), 30))  # heavy tail of frequent buyers
        elif persona == "saas_trialist":
            self._plan_saas(t, _pick(rng, (("stuck", 35), ("convert", 40), ("churn", 25))))
        elif persona == "lapsed":
            span = self.end_ms - self.start_ms
            self.t0 = t = self.start_ms + int(rng.uniform(-0.5, 0.2) * span)
            self.stop_ms = self.end_ms - int(rng.uniform(21, 60) * DAY_MS)  # silent for the last 3-8 weeks
            if rng.random() < 0.5:
                self._plan_orders(t, rng.randint(1, 4))
            else:
                self._plan_saas(t, _pick(rng, (("stuck", 40), ("churn", 60))))
        else:  # shop_and_saas
            self._plan_saas(t, _pick(rng, (("stuck", 25), ("convert", 60), ("churn", 15))))
            self._plan_orders(t + self._days(10.0), min(1 + int(rng.paretovariate(1.6)), 12))
        self._plan_consent_changes()
        self.plan.sort()

    # -- sessions ------------------------------------------------------------------

    def run(self) -> None:
        self._make_plan()
        handlers = {
            "browse": self._s_browse, "shop": self._s_shop, "cart": self._s_cart, "buy": self._s_buy,
            "return_buy": self._s_return_buy, "newsletter": self._s_newsletter, "pricing": self._s_pricing,
            "signup": self._s_signup, "app": self._s_app, "subscribe": self._s_subscribe,
            "upgrade": self._s_upgrade, "cancel": self._s_cancel, "renew": self._s_renew,
            "withdraw_email": self._s_withdraw, "withdraw_sms": self._s_withdraw, "withdraw_push": self._s_withdraw,
        }
        rng = self.rng
        self.t = 0  # planning may move t0 earlier; the clock must not lag behind the plan
        for start, _, kind, device in self.plan:
            if start >= self.end_ms or start >= self.stop_ms:
                break
            # Sessions never overlap: a visit planned inside the previous one waits for it.
            self.t = start if start > self.t else self.t + rng.randint(10, 180) * MINUTE_MS
            if self.t >= self.end_ms:
                break
            self.device = self.devices[device]
            handlers[kind](kind)

    def _visit(self) -> None:
        """Every visit opens with session_started (and, on a phone's first run, a push prompt)."""
        self.track("session_started", {"session_id": "%016x" % self.rng.getrandbits(64)})
        device = self.device
        if not device.seen:
            device.seen = True
            if device.kind in ("ios", "android") and self.rng.random() < 0.5:
                self._give_consent("push", "app_prompt")
                # The app registers for push: its SDK sends the FCM token in context.device.token from now on.
                device.context["device"]["token"] = _push_token(device.context["device"]["id"])

    def _marketing_pages(self, count: int) -> str:
        rng = self.rng
        referrer = _REFERRERS[rng.randrange(len(_REFERRERS))]
        for _ in range(count):
            name, path, title = _MARKETING_PAGES[rng.randrange(len(_MARKETING_PAGES))]
            referrer = self.page(name, path, title, referrer)
            if path.startswith("/docs") and rng.random() < 0.5:
                self._help_article()
        return referrer

    def _help_article(self) -> None:
        article_id, title = _HELP_ARTICLES[self.rng.randrange(len(_HELP_ARTICLES))]
        self.track("help_article_viewed", {"article_id": article_id, "title": title})

    def _s_browse(self, _kind: str) -> None:
        self._visit()
        self._marketing_pages(self.rng.randint(1, 4))
        if self.account_created and self.rng.random() < 0.2:
            self._login()

    def _browse_products(self, views: int) -> tuple[list[_Product], str]:
        rng, currency = self.rng, self.currency
        referrer = self.page("Shop", "/shop", "Shop | Fernway", _REFERRERS[rng.randrange(len(_REFERRERS))])
        if rng.random() < 0.35:
            query, hits = _SEARCHES[rng.randrange(len(_SEARCHES))]
            self.track("search_performed", {"query": query, "results_count": hits})
        category = _CATALOGUE[rng.randrange(len(_CATALOGUE))].category  # browsing clusters in one category
        viewed = []
        for _ in range(views):
            pool = [p for p in _CATALOGUE if p.category == category] if rng.random() < 0.7 else _CATALOGUE
            product = pool[rng.randrange(len(pool))]
            referrer = self.page("Product", f"/shop/p/{product.slug}", f"{product.name} | Fernway Shop", referrer)
            self.track("product_viewed", {
                "product_id": product.product_id, "sku": product.sku, "name": product.name,
                "category": product.category, "price": product.prices[currency] / 100, "currency": currency,
            })
            viewed.append(product)
        return viewed, referrer

    def _s_shop(self, _kind: str) -> None:
        self._visit()
        self._browse_products(self.rng.randint(1, 4))

    def _add_to_cart(self, viewed: list[_Product]) -> None:
        rng, currency = self.rng, self.currency
        if self.cart_id is None:
            self.cart_id = "cart_" + "%012x" % rng.getrandbits(48)
        for product in viewed[: rng.randint(1, 2)]:
            quantity = 1 if rng.random() < 0.8 else rng.randint(2, 4)
            self.cart.append([product, quantity])
            self.track("cart_added", {
                "cart_id": self.cart_id, "product_id": product.product_id, "sku": product.sku, "name": product.name,
                "category": product.category, "price": product.prices[currency] / 100, "quantity": quantity,
                "currency": currency,
            })

    def _cart_lines(self) -> tuple[list[dict], int]:
        currency, lines, subtotal = self.currency, [], 0
        for product, quantity in self.cart:
            cents = product.prices[currency]
            subtotal += cents * quantity
            lines.append({"product_id": product.product_id, "sku": product.sku, "name": product.name,
                          "category": product.category, "price": cents / 100, "quantity": quantity})
        return lines, subtotal

    def _checkout_started(self) -> None:
        self.page("Checkout", "/checkout", "Checkout | Fernway Shop", SITE + "/cart")
        lines, subtotal = self._cart_lines()
        self.track("checkout_started", {"cart_id": self.cart_id, "revenue": subtotal / 100,
                                        "currency": self.currency, "products": lines})

    def _s_cart(self, _kind: str) -> None:
        self._visit()
        viewed, _ = self._browse_products(self.rng.randint(1, 3))
        self._add_to_cart(viewed)
        self.page("Cart", "/cart", "Your cart | Fernway Shop", SITE + f"/shop/p/{viewed[-1].slug}")
        if self.rng.random() < 0.5:
            self._checkout_started()  # then leaves: an abandoned checkout

    def _purchase(self) -> None:
        """Log in (or create the account), check out and pay for the whole cart."""
        rng = self.rng
        self._login()
        if not self.consent["email"] and rng.random() < 0.5:
            self._give_consent("email", "checkout")
        if (self.phone_parts or self.zero_phone) and not self.consent["sms"] and rng.random() < 0.4:
            self._give_consent("sms", "checkout")
        self._checkout_started()
        if self._drops("purchase"):  # gives up at payment: the cart is forgotten
            self.cart, self.cart_id = [], None
            return
        lines, subtotal = self._cart_lines()
        properties = {"order_id": "ord_" + "%012x" % rng.getrandbits(48), "cart_id": self.cart_id}
        discount = 0
        if rng.random() < 0.2:
            code, percent = _COUPONS[rng.randrange(len(_COUPONS))]
            discount = subtotal * percent // 100  # whole cents, rounded down
            properties["coupon"] = code
            properties["discount"] = discount / 100
        properties.update(revenue=(subtotal - discount) / 100, currency=self.currency, products=lines)
        self.track("purchase_made", properties)
        self.cart, self.cart_id = [], None

    def _s_buy(self, _kind: str) -> None:
        self._visit()
        viewed, _ = self._browse_products(self.rng.randint(1, 3))
        self._add_to_cart(viewed)
        self._purchase()

    def _s_return_buy(self, _kind: str) -> None:
        self._visit()
        self.page("Cart", "/cart", "Your cart | Fernway Shop", "https://newsletter.example/cart-reminder")
        if not self.cart:  # the cart was only in another device's browser
            viewed, _ = self._browse_products(1)
            self._add_to_cart(viewed)
        self._purchase()

    def _s_newsletter(self, _kind: str) -> None:
        rng = self.rng
        self._visit()
        self._marketing_pages(rng.randint(1, 3))
        source = ("footer_form", "blog_popup", "exit_intent")[rng.randrange(3)]
        self.track("newsletter_subscribed", {"source": source,
                                             "list": ("weekly_digest", "product_updates", "deals")[rng.randrange(3)]})
        # An email but no account: identify carries only the anonymousId.
        self.identify({"email": _messy_email(rng, self.email)}, with_user=False)
        self._give_consent("email", "newsletter_form")

    def _pricing_views(self) -> None:
        rng = self.rng
        self.page("Pricing", "/pricing", "Pricing | Fernway", _REFERRERS[rng.randrange(len(_REFERRERS))])
        for _ in range(rng.randint(1, 3)):
            self.track("pricing_page_viewed", {"plan_viewed": ("starter", "pro", "business")[rng.randrange(3)]})

    def _s_pricing(self, _kind: str) -> None:
        self._visit()
        self._pricing_views()
        if self.rng.random() < 0.5:
            self._marketing_pages(1)

    def _s_signup(self, _kind: str) -> None:
        rng = self.rng
        self._visit()
        self._pricing_views()
        self.page("Sign up", "/signup", "Start your free trial | Fernway", SITE + "/pricing")
        method = _SIGNUP_METHODS[rng.randrange(len(_SIGNUP_METHODS))]
        self.track("signup_started", {"method": method})
        if self.account_created:  # already a shop customer: the trial hangs off the same account
            self._login()
        self.track("signup_completed", {"method": method, "plan": "trial"})
        if not self.account_created:
            self.account_created = True
            self.identify(self._full_traits())
        if rng.random() < 0.1:  # older integrations still send an explicit alias
            self.alias()
        if rng.random() < 0.6:
            self._give_consent("email", "signup_form")
        self._onboarding_step()

    def _onboarding_step(self) -> None:
        if self.onboarding_step >= min(self.onboarding_cap, 5):
            return
        rng = self.rng
        step = _ONBOARDING[self.onboarding_step]
        self.onboarding_step += 1
        if step == "invite_team":
            self.track("invite_sent", {"invite_count": rng.randint(1, 6)})
        elif step == "connect_integration":
            self.track("integration_connected", {"integration": _INTEGRATIONS[rng.randrange(len(_INTEGRATIONS))]})
        self.track("onboarding_step_completed", {"step": step, "step_number": self.onboarding_step})

    def _app_session(self) -> None:
        rng = self.rng
        self._visit()
        self._login()
        referrer = self.page("Dashboard", "/dashboard", "Dashboard", "", APP)
        if rng.random() < 0.7:
            self._onboarding_step()
        for _ in range(rng.randint(1, 4)):
            if rng.random() < 0.4:
                name, path, title = _APP_PAGES[rng.randrange(len(_APP_PAGES))]
                referrer = self.page(name, path, title, referrer, APP)
            self.track("feature_used", {"feature": _FEATURES[rng.randrange(len(_FEATURES))]})
        if rng.random() < 0.1:
            self._help_article()
        if self.onboarding_step >= 2 and rng.random() < 0.05:
            self.track("invite_sent", {"invite_count": rng.randint(1, 3)})
        if self.onboarding_step >= 3 and rng.random() < 0.04:
            self.track("integration_connected", {"integration": _INTEGRATIONS[rng.randrange(len(_INTEGRATIONS))]})

    def _s_app(self, _kind: str) -> None:
        self._app_session()

    def _mrr(self, plan: str, interval: str) -> float:
        monthly = _PLANS[plan][self.currency]
        return monthly * 1.0 if interval == "month" else round(monthly * 0.8, 2)

    def _s_subscribe(self, _kind: str) -> None:
        rng = self.rng
        self._app_session()
        while self.onboarding_step < 3:  # converters have connected an integration first
            self._onboarding_step()
        if self._drops("subscribe"):  # the trial ends without a subscription
            return
        self.page("Billing", "/settings/billing", "Billing", APP + "/dashboard", APP)
        plan = _pick(rng, (("starter", 45), ("pro", 40), ("business", 15)))
        interval = "month" if rng.random() < 0.8 else "year"
        self.subscription = {"subscription_id": "sub_" + "%012x" % rng.getrandbits(48), "plan": plan,
                             "interval": interval, "active": True}
        self.track("subscription_started", {"subscription_id": self.subscription["subscription_id"], "plan": plan,
                                            "interval": interval, "mrr": self._mrr(plan, interval),
                                            "currency": self.currency})

    def _s_upgrade(self, _kind: str) -> None:
        sub = self.subscription
        if not sub or not sub["active"] or sub["plan"] not in _NEXT_PLAN:
            return
        self._app_session()
        self.page("Billing", "/settings/billing", "Billing", APP + "/dashboard", APP)
        old, new = sub["plan"], _NEXT_PLAN[sub["plan"]]
        sub["plan"] = new
        self.track("subscription_upgraded", {"subscription_id": sub["subscription_id"], "from_plan": old,
                                             "to_plan": new, "mrr": self._mrr(new, sub["interval"]),
                                             "currency": self.currency})

    def _s_cancel(self, _kind: str) -> None:
        sub = self.subscription
        if not sub or not sub["active"]:
            return
        self._visit()
        self._login()
        self.page("Billing", "/settings/billing", "Billing", "", APP)
        sub["active"] = False
        self.track("cancel_initiated", {"subscription_id": sub["subscription_id"],
                                        "reason": _CANCEL_REASONS[self.rng.randrange(len(_CANCEL_REASONS))]})

    def _s_renew(self, _kind: str) -> None:
        sub = self.subscription
        if not sub or not sub["active"] or sub["interval"] != "month":
            return
        # Sent by the billing backend on the primary device's identity: no visit.
        self.device = self.devices[0]
        logged_in = self.device.logged_in
        self.device.logged_in = True
        self.track("subscription_renewed", {"subscription_id": sub["subscription_id"], "plan": sub["plan"],
                                            "mrr": self._mrr(sub["plan"], sub["interval"]), "currency": self.currency})
        self.device.logged_in = logged_in

    def _s_withdraw(self, kind: str) -> None:
        channel = kind.removeprefix("withdraw_")
        if not self.consent[channel]:
            return
        self.consent[channel] = False
        source = {"email": ("unsubscribe_link", "preference_center"), "sms": ("stop_reply", "preference_center"),
                  "push": ("os_settings", "preference_center")}[channel][self.rng.randrange(2)]
        self.track(f"{channel}_consent_withdrawn", {"source": source})


# --- entry point -------------------------------------------------------------------

def _window_end(end: datetime | date | None) -> datetime:
    """`end` as an aware UTC datetime; None means today's midnight UTC. Naive datetimes
    are read as UTC, a bare date as its midnight UTC."""
    if end is None:
        now = datetime.now(timezone.utc)
        return datetime(now.year, now.month, now.day, tzinfo=timezone.utc)
    if not isinstance(end, datetime):
        return datetime(end.year, end.month, end.day, tzinfo=timezone.utc)
    if end.tzinfo is None:
        return end.replace(tzinfo=timezone.utc)
    return end.astimezone(timezone.utc)


def _rehearse(index: int, seed: int | str, sink: _DrySink, effects: tuple[PlantedEffect, ...]) -> str | None:
    """A planted effect acts on the warehouse's customer id, which depends on every call
    the customer will make, and the effect can change those calls: rehearse without
    writing until the id is stable (a dropped purchase rarely changes which device was
    seen first), so the written run acts on the id the warehouse will give."""
    customer_id = None
    for _ in range(4):
        rehearsal = _Customer(index, seed, sink, effects, customer_id)
        rehearsal.run()
        if rehearsal.warehouse_customer_id() == customer_id:
            break
        customer_id = rehearsal.warehouse_customer_id()
    return customer_id


def generate(customers: int, days: int, seed: int | str, out_dir: Path, end: datetime | date | None = None,
             plant: dict[str, float] | None = None, write_from: date | None = None) -> GenerationSummary:
    """Write Segment-Spec calls for `customers` people over the `days` before `end`.

    The window is [end - days, end); `end` defaults to today's midnight UTC, so pass it
    explicitly for reproducible output. Files are `events_YYYY-MM-DD.jsonl`, one per UTC
    day of the window (existing files of those names are overwritten; others are left
    alone). Same arguments give byte-identical files.

    `plant` ({journey: relative lift}, e.g. {"abandoned_cart": 0.2}) makes that journey's
    treated customers convert 1 + lift times as often as its holdout (PlantedEffect), so
    the measured lift can be checked against a known truth. Off by default.

    `write_from` (a UTC date) writes only the window's days from that one on, byte for
    byte as the whole run writes them: the later days of a longer window without the
    disk for the rest (a longer window is another simulation, not an extension, because
    customers' plans scale with the window, so its first days differ from a shorter
    run's). The summary counts the written calls.
    """
    if customers < 0:
        raise ValueError("customers must be >= 0")
    if days < 1:
        raise ValueError("days must be >= 1")
    window_end = _window_end(end)
    end_ms = int(window_end.timestamp() * 1000)
    start_ms = end_ms - days * DAY_MS
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)

    effects = planted_effects(plant or {})
    began = time.perf_counter()
    write_from_ms = int(_window_end(write_from).timestamp() * 1000) if write_from else None
    sink = _Sink(out_dir, start_ms, end_ms, write_from_ms)
    customer_ids = []
    try:
        for index in range(customers):
            customer_id = _rehearse(index, seed, _DrySink(start_ms, end_ms), effects) if effects else None
            customer = _Customer(index, seed, sink, effects, customer_id)
            customer.run()
            if effects:
                customer_ids.append(customer.warehouse_customer_id())
    finally:
        sink.close()
    counts = dict(sorted(sink.counts.items()))
    return GenerationSummary(
        out_dir=out_dir,
        files=sink.paths,
        customers=customers,
        events=sum(counts.values()),
        window_start=datetime.fromtimestamp(start_ms / 1000, timezone.utc),
        window_end=window_end,
        seed=seed,
        by_event=counts,
        seconds=time.perf_counter() - began,
        customer_ids=tuple(customer_ids),
        planted=effects,
    )
