"""The simulated data's vocabulary: the workflow catalog and the JSON nodes emit.

``CATALOG`` holds realistic automations as templates; ``person``, ``money`` and ``record``
make plausible payloads (people, amounts, orders, leads, invoices) from a seeded ``Random``.
Used by ``generate``; nothing here keeps state.
"""

from __future__ import annotations

import random
import string
from dataclasses import dataclass
from typing import Any

ALNUM = string.ascii_letters + string.digits

# The workflow catalog. A template is a header line "Name | payload domain" followed by its nodes
# as "Node = kind < Parent, Parent@output" separated by ";" (the trigger first). A parent listed
# after its child makes a loop back edge (pagination).
CATALOG_TEXT = """
Order Processing | order
  Order Webhook = webhook; Normalize Order = set < Order Webhook;
  Validate Order = if < Normalize Order; Charge Payment = http < Validate Order@0;
  Save Order = db < Charge Payment; Flag Invalid Order = transform < Validate Order@1;
  Merge Paths = merge < Save Order, Flag Invalid Order; Send Status Email = email < Merge Paths
Nightly CRM Sync | contact
  Every Night = schedule; Fetch Contacts Page = http < Every Night, More Pages?@0;
  More Pages? = if < Fetch Contacts Page; Map Contacts = transform < More Pages?@1;
  Upsert Contacts = db < Map Contacts; Post Sync Summary = slack < Upsert Contacts
Invoice Reminder | invoice
  Daily 9am = schedule; Load Open Invoices = db < Daily 9am; Overdue? = if < Load Open Invoices;
  Build Reminder = code < Overdue?@0; Send Reminder Email = email < Build Reminder;
  Log Reminder = http < Send Reminder Email; Skip Not Due = set < Overdue?@1
Lead Enrichment | lead
  Lead Webhook = webhook; Clean Lead = set < Lead Webhook; Enrich Company = http < Clean Lead;
  Score Lead = code < Enrich Company; Route by Score = switch < Score Lead;
  Create Deal = http < Route by Score@0; Notify Sales = slack < Create Deal;
  Add to Nurture = http < Route by Score@1; Discard Lead = set < Route by Score@2
Slack Incident Bridge | incident
  Alert Webhook = webhook; Parse Alert = code < Alert Webhook; Severity = switch < Parse Alert;
  Page On-Call = http < Severity@0; Post to #incidents = slack < Page On-Call, Severity@1;
  Ignore Alert = set < Severity@2
Customer Onboarding | signup
  Signup Webhook = webhook; Create Account = db < Signup Webhook;
  Send Welcome Email = email < Create Account; Wait Before Follow-up = wait < Send Welcome Email;
  Activated? = if < Wait Before Follow-up; Tag Active User = http < Activated?@0;
  Send Nudge Email = email < Activated?@1
Stripe Payout Reconciliation | payout
  Every Hour = schedule; Fetch Payouts = http < Every Hour; Fetch Ledger = db < Fetch Payouts;
  Reconcile = code < Fetch Ledger; Mismatch? = if < Reconcile;
  Alert Finance = slack < Mismatch?@0; Mark Reconciled = db < Mismatch?@1
Support Ticket Triage | ticket
  Ticket Webhook = webhook; Classify Ticket = code < Ticket Webhook;
  Priority = switch < Classify Ticket; Create Jira Issue = http < Priority@0;
  Notify Support Lead = slack < Create Jira Issue; Assign Agent = http < Priority@1;
  Auto Reply = email < Priority@2
Weekly KPI Report | report
  Every Monday = schedule; Query Orders = db < Every Monday; Query Signups = db < Query Orders;
  Build Report = transform < Query Signups; Has Data? = if < Build Report;
  Email Report = email < Has Data?@0; Warn Empty Report = slack < Has Data?@1
Inventory Sync | stock
  Every 15 Minutes = schedule; Fetch Stock Page = http < Every 15 Minutes, Next Page?@0;
  Transform Items = transform < Fetch Stock Page; Next Page? = if < Transform Items;
  Update Inventory = db < Next Page?@1; Low Stock? = if < Update Inventory;
  Notify Purchasing = slack < Low Stock?@0; Stock OK = set < Low Stock?@1
Manual Data Backfill | batch
  Manual Trigger = manual; Load Batch = db < Manual Trigger; Transform Rows = code < Load Batch;
  Write Rows = db < Transform Rows; Any Errors? = if < Write Rows;
  Report Errors = email < Any Errors?@0; Log Success = set < Any Errors?@1
Abandoned Cart Recovery | cart
  Hourly Check = schedule; Find Abandoned Carts = db < Hourly Check;
  Any Carts? = if < Find Abandoned Carts; Rate Limit Pause = wait < Any Carts?@0;
  Send Recovery Email = email < Rate Limit Pause; Log Campaign = http < Send Recovery Email;
  Nothing To Do = set < Any Carts?@1
GitHub Release Notifier | release
  GitHub Webhook = webhook; Is Release? = if < GitHub Webhook;
  Format Notes = transform < Is Release?@0; Post to #releases = slack < Format Notes;
  Update Changelog = http < Post to #releases; Ignore Event = set < Is Release?@1
Payment Failure Handler | charge
  Stripe Webhook = webhook; Extract Charge = set < Stripe Webhook;
  Lookup Customer = db < Extract Charge; Retryable? = if < Lookup Customer;
  Retry Charge = http < Retryable?@0; Email Customer = email < Retryable?@1;
  Merge Outcome = merge < Retry Charge, Email Customer; Update CRM = http < Merge Outcome
"""
SUFFIXES = ("", " (EU)", " (US)", " (APAC)", " v2")

# fmt: off
DURATION_MS = {
    "webhook": (1, 12), "schedule": (1, 4), "manual": (0, 2), "set": (1, 5), "if": (1, 4),
    "switch": (1, 5), "code": (2, 120), "http": (80, 900), "wait": (2000, 20000),
    "merge": (1, 6), "slack": (150, 700), "email": (200, 1500), "db": (5, 250),
    "transform": (1, 20),
}
FAIL_WEIGHT = {"http": 6.0, "code": 3.0, "db": 2.0, "email": 1.5, "slack": 1.5, "transform": 0.5}
ERRORS = {
    "http": ("Request failed with status code 502", "Request failed with status code 500",
             "Request failed with status code 429", "timeout of 30000ms exceeded",
             "getaddrinfo ENOTFOUND api.partner-crm.com",
             "The service refused the connection - perhaps it is offline"),
    "code": ("Cannot read properties of undefined (reading 'email')",
             "items is not iterable [line 4]", "amount.toFixed is not a function [line 7]",
             "Unexpected token } in JSON at position 112"),
    "db": ('duplicate key value violates unique constraint "orders_pkey"',
           "Connection terminated unexpectedly", "deadlock detected"),
    "email": ("Invalid login: 535 Authentication failed",
              "Mailbox unavailable: 550 5.1.1 User unknown"),
    "slack": ("An API error occurred: channel_not_found", "An API error occurred: ratelimited"),
    "": ("Cannot read properties of undefined (reading 'email')",
         'The value "amount" is not a number'),
}
FIRST_NAMES = ("Anna", "Ben", "Carla", "David", "Elif", "Farid", "Grace", "Hiro", "Ines", "Jonas",
          "Kavya", "Liam", "Maya", "Noah", "Olga", "Priya", "Rafael", "Sara", "Tomas", "Yuki")
LAST_NAMES = ("Berg", "Costa", "Dubois", "Eriksen", "Fischer", "Garcia", "Hansen", "Ito", "Jensen",
         "Kowalski", "Lopez", "Meyer", "Novak", "Okafor", "Patel", "Rossi", "Weber")
COMPANIES = (("Acme Corp", "acme.com"), ("Globex", "globex.io"), ("Initech", "initech.com"),
              ("Umbrella Health", "umbrella-health.com"), ("Stark Logistics", "starklog.com"),
              ("Wayne Retail", "wayneretail.com"), ("Hooli", "hooli.xyz"),
              ("Vandelay Imports", "vandelay.com"), ("Tyrell Systems", "tyrell.ai"))
AGENTS = ("Stripe/1.0 (+https://stripe.com/docs/webhooks)", "axios/1.7.2", "GitHub-Hookshot/9a1c")
# fmt: on


@dataclass(frozen=True)
class Template:
    name: str
    domain: str
    nodes: tuple[tuple[str, str, tuple[tuple[str, int], ...]], ...]
    """(name, kind, parents as (parent, output)) in definition order, the trigger first."""

    @property
    def has_loop(self) -> bool:
        names = [n for n, _, _ in self.nodes]
        return any(names.index(p) >= i for i, (_, _, ps) in enumerate(self.nodes) for p, _ in ps)

    @property
    def has_wait(self) -> bool:
        return any(kind == "wait" for _, kind, _ in self.nodes)


def parse_catalog(text: str) -> tuple[Template, ...]:
    templates: list[Template] = []
    blocks: list[tuple[str, list[str]]] = []
    for line in text.strip().splitlines():
        if line.startswith(" "):
            blocks[-1][1].append(line.strip())
        else:
            blocks.append((line, []))
    for header, lines in blocks:
        name, domain = (part.strip() for part in header.split("|"))
        nodes = []
        for item in " ".join(lines).split(";"):
            node, _, parents = item.partition("<")
            node_name, kind = (part.strip() for part in node.split("="))
            edges = tuple(
                (parent.strip(), int(output or 0))
                for parent, _, output in (p.partition("@") for p in parents.split(",") if p.strip())
            )
            nodes.append((node_name, kind, edges))
        templates.append(Template(name, domain, tuple(nodes)))
    return tuple(templates)


CATALOG = parse_catalog(CATALOG_TEXT)


def make_token(rng: random.Random, size: int) -> str:
    return "".join(rng.choices(ALNUM, k=size))


def make_person(rng: random.Random) -> dict[str, Any]:
    first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
    company, domain = rng.choice(COMPANIES)
    email = f"{first.lower()}.{last.lower()}@{domain}"
    return {"name": f"{first} {last}", "email": email, "company": company}


def make_money(rng: random.Random, low: int, high: int) -> float:
    return rng.randint(low * 100, high * 100) / 100


def make_record(domain: str, rng: random.Random) -> dict[str, Any]:
    """The business object one execution is about (an order, a lead, an invoice, ...)."""
    p = make_person(rng)
    person = {"customer": p["company"], "email": p["email"]}
    currency = rng.choice(("EUR", "USD", "GBP"))
    if domain == "order":
        items = [
            {"sku": f"SKU-{rng.randint(1000, 9999)}", "qty": rng.randint(1, 4)}
            for _ in range(rng.randint(1, 3))
        ]
        amount = make_money(rng, 15, 2500)
        order = {"orderId": rng.randint(10_000, 99_999), **person, "amount": amount}
        return {**order, "currency": currency, "items": items}
    if domain == "invoice":
        invoice = {"invoiceId": f"INV-{rng.randint(1000, 9999)}", **person}
        amount, overdue = make_money(rng, 90, 12_000), rng.randint(-5, 40)
        return {**invoice, "amount": amount, "currency": currency, "daysOverdue": overdue}
    if domain in ("payout", "charge"):
        prefix = "po" if domain == "payout" else "ch"
        charge = {f"{domain}Id": f"{prefix}_{make_token(rng, 14)}", **person}
        charge |= {"amount": make_money(rng, 20, 9000), "currency": currency}
        if domain == "charge":
            charge["failureCode"] = rng.choice(("card_declined", "insufficient_funds"))
        return charge
    if domain == "incident":
        service = rng.choice(("checkout-api", "payments-worker", "search", "auth"))
        summary = rng.choice(("p95 latency above 2s", "error rate above 5%", "disk above 90%"))
        severity = rng.choice(("critical", "warning", "info"))
        alert = {"alertId": f"al_{make_token(rng, 10)}", "service": service, "severity": severity}
        return {**alert, "summary": summary, "reporter": p["email"]}
    if domain == "report":
        orders, signups = rng.randint(40, 900), rng.randint(5, 300)
        report = {"period": "last_7_days", "orders": orders, "signups": signups}
        return {**report, "revenue": make_money(rng, 2000, 90_000), "owner": p["email"]}
    if domain == "release":
        tag = f"v{rng.randint(1, 4)}.{rng.randint(0, 20)}.{rng.randint(0, 9)}"
        repository = rng.choice(("acme/storefront", "acme/api", "acme/mobile"))
        return {"repository": repository, "tag": tag, "author": p["email"], "draft": False}
    if domain in ("stock", "batch"):
        warehouse, rows = rng.choice(("BER-1", "AMS-2", "NYC-1")), rng.randint(20, 5000)
        batch = {"batchId": rng.randint(1000, 9999), "warehouse": warehouse, "rows": rows}
        return {**batch, "requestedBy": p["email"]}
    extra: dict[str, dict[str, Any]] = {
        "lead": {
            "leadId": f"ld_{make_token(rng, 8)}",
            "source": rng.choice(("website", "webinar")),
        },
        "ticket": {"ticketId": rng.randint(1000, 99_999), "priority": rng.choice(("P1", "P2"))},
        "cart": {"cartId": f"cart_{make_token(rng, 10)}", "value": make_money(rng, 20, 600)},
        "signup": {"userId": rng.randint(1, 500_000), "plan": rng.choice(("free", "pro"))},
        "contact": {"contactId": rng.randint(1, 900_000), "lifecycleStage": "customer"},
    }
    return {**extra.get(domain, {}), **p}
