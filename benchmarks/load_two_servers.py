"""Two Odoo servers on one database, driven at once: nothing is paid twice.

Odoo scales out as several prefork servers behind a proxy on one PostgreSQL. This
starts two servers (``--workers 2`` each, ports of their own, loopback only) on a
fresh database holding invoice_client_pay and Odoo's payment_demo provider, and
for a fixed set of credit requests and invoices drives, all at once:

- portal clients paying their documents (the pay-several checkout, Odoo's Demo
  provider), the transaction made on one server and confirmed on the other;
- the same signed Stripe webhook event delivered to both servers together;
- the auto-charge scheduled action run on both servers together;
- two accountants taking the same invoices' payments offline, one per server.

Then it checks: every document paid exactly once, each client's credit equal to
what they topped up, the ledger invariant (the balance equals the unmatched credit
read straight from the journal items), no HTTP 5xx, no unexpected server error (a
serialization failure Odoo retried is fine; one it gave up on is not). It reports
throughput and p95 latency of /my and of the payment routes against Odoo's
/my/invoices under the same load. Every request has a timeout, the whole run a
time limit; it stops by itself and kills its servers.

    ODOO_PYTHON benchmarks/load_two_servers.py --odoo-bin BIN [--addons-path P]
        [-c odoo.conf] [--clients 20] [--docs 10] [--threads 8] [--keep-db]

``--clients`` portal clients with ``--docs`` invoices and ``--docs`` credit requests
each (20 x 10 = the 200 + 200 of the full run; scripts/test runs a short one), plus
as many again for the auto-charge, webhook and accountant parts.
"""

import argparse
import concurrent.futures
import hashlib
import hmac
import json
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time

import requests

import odoo
from odoo import SUPERUSER_ID, Command, api, fields
from odoo.modules.registry import Registry
from odoo.tools import config

HERE = os.path.dirname(os.path.abspath(__file__))
TIMEOUT = 60  # seconds, every interactive HTTP request
# A scheduled action triggered through HTTP runs its whole batch in the request,
# as a cron worker would: it may take as long as the servers allow a request
# (--limit-time-real below), and is reported apart ("cron").
SERVER_TIME_LIMIT = 300
CRON_TIMEOUT = SERVER_TIME_LIMIT + 30
EXPECTED_ERRORS = (
    "odoo.exceptions.UserError",
    "odoo.exceptions.ValidationError",
    "odoo.exceptions.AccessError",
)
WEBHOOK_SECRET = "whsec_load_test"


def is_retry(error):
    """Odoo's payment status poll asking the browser to poll again: the
    transaction's post-processing met a lock or a serialization failure (another
    worker is post-processing it), was rolled back, and will be tried again."""
    data = (error or {}).get("data", {})
    return data.get("name") == "builtins.Exception" and data.get("message") == "retry"


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Stats:
    """HTTP outcomes and latencies by route kind, shared by the threads."""

    def __init__(self):
        self.lock = threading.Lock()
        self.latency = {}
        self.server_errors = []
        self.unexpected = []

    def record(self, kind, seconds, response=None, error=None):
        with self.lock:
            self.latency.setdefault(kind, []).append(seconds)
            if response is not None and response.status_code >= 500:
                self.server_errors.append(f"{kind}: HTTP {response.status_code}")
            name = (error or {}).get("data", {}).get("name")
            if error and name not in EXPECTED_ERRORS and not is_retry(error):
                self.unexpected.append(f"{kind}: {name}")

    def report(self):
        rows = []
        for kind, values in sorted(self.latency.items()):
            values = sorted(values)
            p95 = values[max(0, int(len(values) * 0.95) - 1)]
            rows.append((kind, len(values), statistics.median(values), p95))
        return rows


class Client:
    """One browser session against one of the servers (sessions are shared)."""

    def __init__(self, stats, login=None, password=None, base=None):
        self.stats = stats
        self.session = requests.Session()
        if login:
            page = self.session.get(f"{base}/web/login", timeout=TIMEOUT)
            csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
            response = self.session.post(
                f"{base}/web/login",
                data={"login": login, "password": password, "csrf_token": csrf},
                timeout=TIMEOUT,
            )
            assert "/web/login" not in response.url, f"login failed for {login}"

    def get(self, kind, url):
        start = time.perf_counter()
        response = self.session.get(url, timeout=TIMEOUT)
        self.stats.record(kind, time.perf_counter() - start, response)
        return response

    def rpc(self, kind, url, params, timeout=TIMEOUT):
        start = time.perf_counter()
        response = self.session.post(
            url,
            json={"jsonrpc": "2.0", "method": "call", "id": 1, "params": params},
            timeout=timeout,
        )
        body = response.json() if response.status_code < 500 else {}
        self.stats.record(
            kind, time.perf_counter() - start, response, body.get("error")
        )
        return body

    def call_kw(
        self, base, model, method, args, kwargs=None, kind="back office", **options
    ):
        return self.rpc(
            kind,
            f"{base}/web/dataset/call_kw/{model}/{method}",
            {"model": model, "method": method, "args": args, "kwargs": kwargs or {}},
            **options,
        )


# === FIXTURES (in process, committed) === #


def build_fixtures(env, clients, docs):
    """Portal clients with invoices and requests to pay; auto-charge clients with
    a saved Demo card; clients whose requests a Stripe webhook confirms; and
    invoices for the accountants. Returns the ids the run needs."""
    company = env.company
    company.auto_mark_invoices_paid = False  # keeps "paid once" easy to read
    currency = company.currency_id
    demo = env.ref("payment.payment_provider_demo")
    demo.write({"state": "test", "is_published": True})
    portal_group = env.ref("base.group_portal")

    def make_partners(kind, count):
        return env["res.partner"].create(
            [
                {"name": f"Load {kind} {i}", "email": f"load-{kind}-{i}@example.com"}
                for i in range(count)
            ]
        )

    def make_invoices(partners):
        moves = env["account.move"].create(
            [
                {
                    "move_type": "out_invoice",
                    "partner_id": partner.id,
                    "invoice_line_ids": [
                        Command.create(
                            {"name": "Service", "price_unit": 10.0 + i, "tax_ids": []}
                        )
                    ],
                }
                for partner in partners
                for i in range(docs)
            ]
        )
        moves.action_post()
        return moves

    def make_requests(partners):
        reqs = env["account.credit.request"].create(
            [
                {"partner_id": partner.id, "amount": 20.0 + i}
                for partner in partners
                for i in range(docs)
            ]
        )
        reqs.write({"state": "sent"})
        return reqs

    portal = make_partners("portal", clients)
    env["res.users"].create(
        [
            {
                "name": partner.name,
                "login": f"load-portal-{i}",
                "password": f"load-portal-{i}",
                "partner_id": partner.id,
                "group_ids": [Command.set(portal_group.ids)],
            }
            for i, partner in enumerate(portal)
        ]
    )
    portal_invoices = make_invoices(portal)
    portal_requests = make_requests(portal)

    # Auto-charge: a saved Demo card each, requests due now.
    charged = make_partners("charged", clients)
    method = env.ref("payment_demo.payment_method_demo")
    for partner in charged:
        token = env["payment.token"].create(
            {
                "provider_id": demo.id,
                "payment_method_id": method.id,
                "partner_id": partner.id,
                "payment_details": "4242",
                "provider_ref": f"load-{partner.id}",
                "demo_simulated_state": "done",
            }
        )
        partner.write(
            {"auto_charge_token_id": token.id, "auto_charge_credit_requests": True}
        )
    charged_requests = make_requests(charged)
    charged_requests.write({"auto_charge_next_date": fields.Datetime.now()})

    # Webhooks: a Stripe provider and one transaction per request, waiting for
    # Stripe's payment_intent.succeeded.
    card = env.ref("payment.payment_method_card")
    stripe = env["payment.provider"].create(
        {
            "name": "Stripe (load test)",
            "code": "stripe",
            "state": "test",
            "company_id": company.id,
            "stripe_secret_key": "sk_test_load",
            "stripe_publishable_key": "pk_test_load",
            "stripe_webhook_secret": WEBHOOK_SECRET,
            "payment_method_ids": [Command.set(card.ids)],
        }
    )
    card.active = True
    hooked = make_partners("webhook", clients)
    hooked_requests = make_requests(hooked)
    txs = env["payment.transaction"].create(
        [
            {
                "provider_id": stripe.id,
                "payment_method_id": card.id,
                "reference": f"LOAD-WH-{req.id}",
                "amount": req.amount,
                "currency_id": currency.id,
                "partner_id": req.partner_id.id,
                "credit_request_ids": [Command.set(req.ids)],
            }
            for req in hooked_requests
        ]
    )
    txs._set_pending()

    # Accountants: invoices paid offline from the back office.
    office = make_partners("office", clients)
    office_invoices = make_invoices(office)

    # A live database has this year's sequence ranges already; a fresh one would
    # have two workers race to create them (Odoo's own race, not retried).
    for sequence in env["ir.sequence"].search([("use_date_range", "=", True)]):
        sequence._get_current_sequence()
    # Likewise a provider's payment method line on its journal: Odoo creates it
    # the first time the (not stored) journal is read, and two workers reading
    # it at once create two, which then breaks every payment of that provider.
    (demo | stripe).mapped("journal_id")
    env.flush_all()
    env.cr.commit()
    return {
        "portal": [
            (
                f"load-portal-{i}",
                [f"inv-{m.id}" for m in portal_invoices if m.partner_id == partner]
                + [f"cr-{r.id}" for r in portal_requests if r.partner_id == partner],
            )
            for i, partner in enumerate(portal)
        ],
        "demo_provider": demo.id,
        "demo_method": method.id,
        "stripe_txs": [(tx.reference, tx.amount) for tx in txs],
        "currency": currency.name.lower(),
        "office_invoices": office_invoices.ids,
        "crons": [
            env.ref("invoice_client_pay.ir_cron_auto_charge_credit_requests").id,
            env.ref("payment.cron_post_process_payment_tx").id,
        ],
        "partners": (portal | charged | hooked | office).ids,
    }


# === THE LOAD === #


def pay_portal_client(stats, bases, login, items, fixtures):
    """A client pays everything, two items a transaction; the transaction is made
    on one server and its status polled (so confirmed) on the other. /my and
    /my/invoices take turns in coming first: the first request of a round waits
    for a free worker, and that wait must weigh on both alike."""
    client = Client(stats, login, login, bases[0])
    for n in range(0, len(items), 2):
        make, poll = bases[n // 2 % 2], bases[(n // 2 + 1) % 2]
        pages = ["/my", "/my/invoices"]
        for page in pages if n // 2 % 2 else reversed(pages):
            client.get(page, f"{make}{page}")
        chunk = ",".join(items[n : n + 2])
        page = client.get("/my/unpaid/pay", f"{make}/my/unpaid/pay?items={chunk}")
        amount = float(re.search(r'data-amount="([0-9.]+)"', page.text).group(1))
        body = client.rpc(
            "payment routes",
            f"{make}/my/unpaid/transaction/{chunk}",
            {
                "provider_id": fixtures["demo_provider"],
                "payment_method_id": fixtures["demo_method"],
                "token_id": None,
                "amount": amount,
                "flow": "direct",
                "tokenization_requested": False,
                "landing_route": "/my",
                "is_validation": False,
            },
        )
        if "result" not in body:
            raise RuntimeError(f"{login} could not pay {chunk}: {body.get('error')}")
        reference = body["result"]["reference"]
        client.rpc(
            "payment routes",
            f"{make}/payment/demo/simulate_payment",
            {
                "reference": reference,
                "payment_details": "4242",
                "simulated_state": "done",
            },
        )
        for __ in range(20):  # the status page polls until post-processed
            body = client.rpc("payment routes", f"{poll}/payment/status/poll", {})
            done = body.get("result", {}).get("state") == "done"
            if done or ("error" in body and not is_retry(body["error"])):
                break
            time.sleep(0.5)


def deliver_webhook(stats, bases, reference, amount, currency):
    """The same signed event to both servers at once."""
    event = {
        "id": f"evt_{reference}",
        "object": "event",
        "type": "payment_intent.succeeded",
        "data": {
            "object": {
                "id": f"pi_{reference}",
                "object": "payment_intent",
                "description": reference,
                "status": "succeeded",
                "amount": round(amount * 100),
                "currency": currency,
                "payment_method": {
                    "id": f"pm_{reference}",
                    "type": "card",
                    "card": {"brand": "visa", "last4": "4242"},
                },
            }
        },
    }
    payload = json.dumps(event)
    stamp = int(time.time())
    signature = hmac.new(
        WEBHOOK_SECRET.encode(), f"{stamp}.{payload}".encode(), hashlib.sha256
    ).hexdigest()
    headers = {
        "Content-Type": "application/json",
        "Stripe-Signature": f"t={stamp},v1={signature}",
    }

    def post(base):
        start = time.perf_counter()
        response = requests.post(
            f"{base}/payment/stripe/webhook",
            data=payload,
            headers=headers,
            timeout=TIMEOUT,
        )
        stats.record("webhook", time.perf_counter() - start, response)

    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        list(pool.map(post, bases))


def run_crons(stats, bases, cron_ids, rounds=3):
    """The scheduled actions (auto-charge, then Odoo's payment post-processing
    that turns done transactions into payments), on both servers at once."""
    admins = [Client(stats, "admin", "admin", base) for base in bases]

    def trigger(pair, cron_id):
        pair[0].call_kw(
            pair[1],
            "ir.cron",
            "method_direct_trigger",
            [[cron_id]],
            kind="cron",
            timeout=CRON_TIMEOUT,
        )

    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        for __ in range(rounds):
            for cron_id in cron_ids:
                list(pool.map(trigger, zip(admins, bases), [cron_id, cron_id]))


def take_payments(stats, bases, invoice_ids):
    """Two accountants, one per server, take the same invoices' payments."""
    accountants = [Client(stats, "admin", "admin", base) for base in bases]

    def take(pair, invoice_id):
        client, base = pair
        body = client.call_kw(
            base,
            "account.take.payment",
            "create",
            [{"move_id": invoice_id, "payment_mode": "offline"}],
        )
        if "result" in body:
            client.call_kw(
                base, "account.take.payment", "action_take_payment", [[body["result"]]]
            )

    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        for invoice_id in invoice_ids:
            list(pool.map(take, zip(accountants, bases), [invoice_id, invoice_id]))


# === CHECKS === #


def check_ledger(env, fixtures):
    """Every document paid once; credit = what was topped up; the balance equals
    the unmatched credit read from the journal items."""
    problems = []
    partners = env["res.partner"].browse(fixtures["partners"])
    requests_ = env["account.credit.request"].search(
        [("partner_id", "in", partners.ids)]
    )
    for req in requests_:
        paid = sum(
            req.payment_ids.filtered(
                lambda p: p.state in ("paid", "in_process")
            ).mapped("amount")
        )
        if req.state != "paid" or req.currency_id.compare_amounts(paid, req.amount):
            problems.append(
                f"{req.name}: state {req.state}, payments {paid} for {req.amount}"
            )
    invoices = env["account.move"].search(
        [("partner_id", "in", partners.ids), ("move_type", "=", "out_invoice")]
    )
    for move in invoices:
        if move.payment_state not in ("paid", "in_payment"):
            problems.append(f"{move.name}: {move.payment_state}")
    for partner in partners:
        topped_up = sum(
            requests_.filtered(lambda r, p=partner: r.partner_id == p).mapped("amount")
        )
        env.cr.execute(
            """SELECT COALESCE(-SUM(l.amount_residual), 0)
                 FROM account_move_line l
                 JOIN account_account a ON a.id = l.account_id
                WHERE l.partner_id = %s AND l.parent_state = 'posted'
                  AND a.account_type = 'asset_receivable' AND l.amount_residual < 0""",
            [partner.id],
        )
        unmatched = env.cr.fetchone()[0]
        balance = partner.client_credit_balance
        if env.company.currency_id.compare_amounts(balance, unmatched):
            problems.append(
                f"{partner.name}: balance {balance} != unmatched {unmatched}"
            )
        if env.company.currency_id.compare_amounts(balance, topped_up):
            problems.append(f"{partner.name}: credit {balance}, topped up {topped_up}")
    return problems


def retry_traceback(lines, start):
    """Whether the traceback logged from line ``start`` on is the payment status
    poll's "retry" (see ``is_retry``)."""
    for line in lines[start:]:
        if re.match(r"^\S+ \S+ \d+ [A-Z]+ ", line):
            return False  # the next log record: the traceback ended
        if line.strip() == "Exception: retry":
            return True
    return False


def server_log_problems(paths):
    """ERROR lines of the servers' logs, except the failed queries that Odoo
    retries (serialization failures, deadlocks, locks not available: a retry
    given up on ends in an HTTP 500, counted apart) and the payment status
    poll's own "retry" (see ``is_retry``)."""
    problems = []
    for path in paths:
        with open(path, encoding="utf-8", errors="replace") as log:
            lines = log.readlines()
        for i, line in enumerate(lines):
            if not re.match(r"^\S+ \S+ \d+ (ERROR|CRITICAL) ", line):
                continue
            after = "".join(lines[i + 1 : i + 4])
            if " odoo.http: Exception during request handling" in line and (
                retry_traceback(lines, i + 1)
            ):
                continue
            if " odoo.sql_db: bad query" in line and re.search(
                r"could not serialize access|deadlock detected|SERIALIZATION_FAILURE"
                r"|could not obtain lock|LOCK_NOT_AVAILABLE",
                after,
            ):
                continue
            problems.append(f"{os.path.basename(path)}: {line.strip()[:200]}")
    return problems


def start_servers(args, odoo_common, ports, deadline):
    """Two prefork servers on the database, loopback only; returns their
    processes, base URLs and log files once both answer."""
    logs = [os.path.join(args.out, f"load-server-{i}.log") for i in (1, 2)]
    for log in logs:  # Odoo appends to its log file
        if os.path.exists(log):
            os.remove(log)
    servers = [
        subprocess.Popen(
            [args.odoo_bin, *odoo_common, "--workers=2", "--max-cron-threads=0"]
            + ["--http-interface=127.0.0.1", f"--http-port={port}"]
            + [f"--gevent-port={free_port()}", f"--logfile={log}"]
            + [f"--limit-time-real={SERVER_TIME_LIMIT}"]
            + [f"--limit-time-cpu={SERVER_TIME_LIMIT}"],
            # Their log goes to --logfile; stderr would only echo it.
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        for port, log in zip(ports, logs, strict=True)
    ]
    bases = [f"http://127.0.0.1:{port}" for port in ports]
    for base in bases:
        while True:
            if time.monotonic() > deadline:
                stop_servers(servers)
                raise TimeoutError("the servers did not start")
            try:
                if requests.get(f"{base}/web/health", timeout=5).ok:
                    break
            except requests.ConnectionError:
                pass
            time.sleep(0.5)
    return servers, bases, logs


def stop_servers(servers):
    for server in servers:
        os.killpg(server.pid, signal.SIGTERM)
    for server in servers:
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)


def drive(stats, bases, fixtures, threads, deadline):
    """Everything at once; then the scheduled actions once more, as the servers'
    cron would, to post-process what the load left done."""
    started = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(threads) as pool:
        jobs = [
            pool.submit(pay_portal_client, stats, bases, login, items, fixtures)
            for login, items in fixtures["portal"]
        ]
        jobs += [
            pool.submit(
                deliver_webhook, stats, bases, ref, amount, fixtures["currency"]
            )
            for ref, amount in fixtures["stripe_txs"]
        ]
        jobs.append(pool.submit(run_crons, stats, bases, fixtures["crons"]))
        jobs.append(
            pool.submit(take_payments, stats, bases, fixtures["office_invoices"])
        )
        try:
            for job in concurrent.futures.as_completed(
                jobs, timeout=max(1, deadline - time.monotonic())
            ):
                if job.exception():
                    stats.unexpected.append(f"a client gave up: {job.exception()!r}")
        except TimeoutError:
            stats.unexpected.append("the load did not finish within --time-limit")
            for job in jobs:
                job.cancel()
    elapsed = time.perf_counter() - started
    try:
        run_crons(stats, bases, fixtures["crons"], rounds=1)
    except requests.RequestException as error:
        stats.unexpected.append(f"the last scheduled actions failed: {error!r}")
    return elapsed


def print_report(stats, elapsed, threads):
    print(f"Odoo {odoo.release.version}: 2 servers x 2 workers, {threads} threads")
    print(f"{'route':<16} {'requests':>8} {'median ms':>10} {'p95 ms':>8} {'per s':>7}")
    rows = stats.report()
    for kind, count, median, p95 in rows:
        print(
            f"{kind:<16} {count:>8} {median * 1000:>10.1f} {p95 * 1000:>8.1f} "
            f"{count / elapsed:>7.1f}"
        )
    p95s = {kind: p95 for kind, __, __, p95 in rows}
    for kind in ("/my", "payment routes"):
        if kind in p95s and "/my/invoices" in p95s:
            name = kind.strip("/").replace(" ", "_")
            print(
                f"BENCH load.p95_{name}_vs_invoices "
                f"{p95s[kind] / p95s['/my/invoices']:.2f} <= 1.2 "
                f"p95 of {kind} / /my/invoices under the same load"
            )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--odoo-bin", default=os.environ.get("ODOO_BIN"))
    parser.add_argument("-c", "--config")
    parser.add_argument("--addons-path", default=os.path.dirname(HERE))
    parser.add_argument("-d", "--database", default=f"icp_load_{os.getpid()}")
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--docs", type=int, default=10)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--time-limit", type=int, default=1800)
    parser.add_argument("--out", default=os.path.join(HERE, "out"))
    parser.add_argument("--keep-db", action="store_true")
    args = parser.parse_args()
    if not args.odoo_bin:
        parser.error("no Odoo launcher: set ODOO_BIN or --odoo-bin (scripts/test does)")
    os.makedirs(args.out, exist_ok=True)
    deadline = time.monotonic() + args.time_limit
    odoo_common = [*(["--config", args.config] if args.config else [])]
    odoo_common += ["-d", args.database, f"--addons-path={args.addons_path}"]
    subprocess.run(["dropdb", "--if-exists", "--force", args.database], check=True)
    with open(os.path.join(args.out, "load-install.log"), "w") as log:
        subprocess.run(
            [args.odoo_bin, *odoo_common, "-i", "invoice_client_pay,payment_demo"]
            + ["--stop-after-init", "--no-http"],
            stdout=log,
            stderr=subprocess.STDOUT,
            check=True,
            timeout=args.time_limit,
        )
    config.parse_config(
        [*odoo_common, "--log-level=warn", "--http-interface=127.0.0.1"]
    )
    registry = Registry(args.database)
    ports = [free_port(), free_port()]
    with registry.cursor() as cr:
        env = api.Environment(cr, SUPERUSER_ID, {})
        # PDF receipts: wkhtmltopdf fetches its assets from a running server.
        env["ir.config_parameter"].set_param(
            "report.url", f"http://127.0.0.1:{ports[0]}"
        )
        fixtures = build_fixtures(env, args.clients, args.docs)
    stats = Stats()
    servers, bases, logs = start_servers(args, odoo_common, ports, deadline)
    try:
        elapsed = drive(stats, bases, fixtures, args.threads, deadline)
    finally:
        stop_servers(servers)
    with registry.cursor() as cr:
        problems = check_ledger(api.Environment(cr, SUPERUSER_ID, {}), fixtures)
    problems += stats.server_errors + stats.unexpected + server_log_problems(logs)
    print_report(stats, elapsed, args.threads)
    if not args.keep_db:
        Registry.delete(args.database)
        subprocess.run(["dropdb", "--if-exists", "--force", args.database], check=False)
    if problems:
        print(f"FAILED: {len(problems)} problem(s):")
        for problem in problems[:40]:
            print(f"  - {problem}")
        return 1
    print("every document paid exactly once; the ledger invariant holds; no 5xx")
    return 0


if __name__ == "__main__":
    sys.exit(main())
