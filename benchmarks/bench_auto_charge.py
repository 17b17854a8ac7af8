"""Auto-charge of due credit requests against localstripe, versus a bare loop
of the stripe library.

Starts localstripe on 127.0.0.1 (two instances, one per run, each holding the
same N customers and cards made with the official stripe library), then:

1. Odoo: N due credit requests, charged by the auto-charge scheduled action
   run as the scheduler runs it (``ir.cron.method_direct_trigger``: its own
   cursor, one commit per charge): lock, re-read, transaction, Stripe call
   through Odoo's request helper, state. The run triggers Odoo's payment
   post-processing (``payment.cron_post_process_payment_tx``: payments,
   postings, credit application, chatter, in batches; receipts left to their
   own scheduled action) with its first charge and each 25 more, and a second
   cron worker runs it meanwhile, as a multi-worker Odoo server does
   (``--workers`` > 0, ``--max-cron-threads`` 2 by default: each cron worker
   is a process of its own). That worker is a process started by this script
   that does what Odoo's cron worker does for this one scheduled action: take
   it when it is ready (triggered), with ``ir.cron._acquire_one_job``, and run
   it with ``_process_job``, woken by the trigger's notification and niced as
   Odoo's cron workers are. The charge run stays in this process, at the
   priority of the bare loop it is compared with.
   "Charges" times the charge run alone; "end to end" times from its start
   until every request is paid (its last charge booked).
2. Bare loop: the same N charges (same amounts, on the other instance) made with
   ``stripe.StripeClient.v1.payment_intents.create`` in a plain loop.

Prints charges per second of both and their ratio (target: >= 0.70), and the
end-to-end rate (charge and accounting; target: >= 0.60).

    ODOO_PYTHON benchmarks/bench_auto_charge.py -d DB [-c odoo.conf]
        [--addons-path P] [-n 500]

localstripe runs with ICP_LOCALSTRIPE_PYTHON (a python that imports localstripe;
default: this one). ``scripts/bench auto_charge`` provides both.

The database must have invoice_client_pay installed. The scheduled actions
commit, as they do in production: run it on a scratch database (scripts/bench
makes one and drops it).
"""

import os
import tempfile
import time

from bench_common import bench_line, database_argument_parser, load_odoo_config

import odoo
from odoo import SUPERUSER_ID, Command, api, fields
from odoo.modules.registry import Registry


def build_fixtures(env, base, size, tag):
    from odoo.addons.invoice_client_pay.tests.localstripe_common import (  # noqa: PLC0415
        CARD_OK,
        create_customer_with_method,
    )

    company = env.company
    journal = env["account.journal"].search(
        [("type", "=", "bank"), ("company_id", "=", company.id)], limit=1
    )
    pm_card = env.ref("payment.payment_method_card")
    provider = env["payment.provider"].create(
        {
            "name": f"Stripe bench {tag}",
            "code": "stripe",
            "state": "test",
            "company_id": company.id,
            "allow_tokenization": True,
            "stripe_secret_key": "sk_test_bench",
            "stripe_publishable_key": "pk_test_bench",
            "payment_method_ids": [Command.set(pm_card.ids)],
            "journal_id": journal.id,
        }
    )
    pm_card.write({"active": True, "support_tokenization": True})
    # Other providers of the company out of the way.
    env["payment.provider"].search(
        [
            ("company_id", "=", company.id),
            ("id", "!=", provider.id),
            ("code", "=", "stripe"),
        ]
    ).write({"state": "disabled"})
    partners = env["res.partner"].create(
        [
            {"name": f"Bench {tag} client {i}", "email": f"b{i}@example.com"}
            for i in range(size)
        ]
    )
    cards = []
    for partner in partners:
        customer, pm_id = create_customer_with_method(base, "sk_test_bench", CARD_OK)
        token = env["payment.token"].create(
            {
                "provider_id": provider.id,
                "payment_method_id": pm_card.id,
                "partner_id": partner.id,
                "provider_ref": customer,
                "payment_details": "4242",
                "stripe_payment_method": pm_id,
            }
        )
        partner.write(
            {"auto_charge_credit_requests": True, "auto_charge_token_id": token.id}
        )
        cards.append((customer, pm_id))
    requests = env["account.credit.request"].create(
        [
            {"partner_id": partner.id, "amount": 100.0 + i % 50}
            for i, partner in enumerate(partners)
        ]
    )
    requests.write(
        {
            "state": "sent",
            "is_sent": True,
            "auto_charge_next_date": fields.Datetime.now(),
        }
    )
    env.flush_all()
    return requests, cards


def run_scheduled_action(registry, xmlid):
    """Run a scheduled action as the scheduler does (a cursor of its own, the
    action's commits); return the seconds it took."""
    with registry.cursor() as cr:
        cron = api.Environment(cr, SUPERUSER_ID, {}).ref(xmlid)
        start = time.perf_counter()
        cron.method_direct_trigger()
        return time.perf_counter() - start


POST_PROCESSING = "payment.cron_post_process_payment_tx"
POLL_S = 0.02


def run_cron_worker(registry, xmlid, report):
    """A second cron worker (``--cron-worker REPORT``), as Odoo's
    ``WorkerCron``: niced (``os.nice(10)``), it sleeps until notified on the
    ``cron_trigger`` channel (what a trigger's commit sends) and then runs the
    scheduled action ``xmlid`` if it is ready, as ``IrCron._process_jobs``
    does (``_acquire_one_job``, ``_process_job`` on the same cursor, commit),
    until stdin closes. Writes ``READY``, then ``JOB <start> <seconds>`` per
    run (wall clock) to the file ``report``."""
    import select  # noqa: PLC0415
    import sys  # noqa: PLC0415

    from odoo import sql_db  # noqa: PLC0415

    os.nice(10)
    with registry.cursor() as cr:
        cron_id = api.Environment(cr, SUPERUSER_ID, {}).ref(xmlid).id
    IrCron = registry["ir.cron"]
    listener = sql_db.db_connect("postgres").cursor()
    listener.execute("LISTEN cron_trigger")
    listener.commit()
    connection = listener._cnx
    with open(report, "w", encoding="utf-8") as out:
        print("READY", file=out, flush=True)
        while True:
            ready = select.select([sys.stdin, connection], [], [], 1.0)[0]
            if sys.stdin in ready:
                break
            connection.poll()
            connection.notifies.clear()
            with registry.cursor() as cr:
                job = IrCron._acquire_one_job(cr, cron_id)
                if not job:
                    continue
                start_wall, start = time.time(), time.perf_counter()
                IrCron._process_job(cr, job)
                cr.commit()
                seconds = time.perf_counter() - start
                print(f"JOB {start_wall} {seconds}", file=out, flush=True)
    listener.close()


def start_cron_worker(args, report):
    import subprocess  # noqa: PLC0415
    import sys  # noqa: PLC0415

    command = [sys.executable, __file__, "--cron-worker", report]
    command += ["-d", args.database]
    if args.config:
        command += ["-c", args.config]
    if args.addons_path:
        command.append(f"--addons-path={args.addons_path}")
    worker = subprocess.Popen(command, stdin=subprocess.PIPE)  # noqa: S603
    deadline = time.perf_counter() + 120
    while time.perf_counter() < deadline and worker.poll() is None:
        with open(report, encoding="utf-8") as lines:
            if lines.readline().strip() == "READY":
                return worker
        time.sleep(0.1)
    worker.kill()
    raise RuntimeError("the second cron worker did not start")


def stop_cron_worker(worker, report, since):
    """Stop the worker; return its runs started after ``since`` (wall clock):
    how many, and their seconds."""
    worker.stdin.close()
    worker.wait(timeout=120)
    with open(report, encoding="utf-8") as lines:
        runs = [
            float(words[2])
            for words in (line.split() for line in lines)
            if words[0] == "JOB" and float(words[1]) >= since
        ]
    return len(runs), sum(runs)


def count_paid(registry, request_ids):
    with registry.cursor() as cr:
        cr.execute(
            "SELECT count(*) FROM account_credit_request WHERE id IN %s "
            "AND state = 'paid'",
            [tuple(request_ids)],
        )
        return cr.fetchone()[0]


def run_odoo(registry, request_ids):
    """The auto-charge scheduled action on the due requests, while the second
    cron worker post-processes what it triggers (payments, postings, credit
    application, chatter; receipts are left to their own scheduled action).

    :return: seconds of the charge run, charged, seconds from its start until
        every request is paid, paid.
    """
    start = time.perf_counter()
    charge_s = run_scheduled_action(
        registry, "invoice_client_pay.ir_cron_auto_charge_credit_requests"
    )
    deadline = time.perf_counter() + 300
    while (
        count_paid(registry, request_ids) < len(request_ids)
        and time.perf_counter() < deadline
    ):
        time.sleep(POLL_S)
    end_to_end_s = time.perf_counter() - start
    with registry.cursor() as cr:
        requests = api.Environment(cr, SUPERUSER_ID, {})[
            "account.credit.request"
        ].browse(request_ids)
        charged = sum(
            1
            for request in requests
            if "done" in request.transaction_ids.mapped("state")
        )
        paid = sum(1 for request in requests if request.state == "paid")
    return charge_s, charged, end_to_end_s, paid


def run_bare(base, cards, amounts, currency):
    import stripe  # noqa: PLC0415

    client = stripe.StripeClient(
        "sk_test_bench", base_addresses={"api": base.rstrip("/").removesuffix("/v1")}
    )
    start = time.perf_counter()
    succeeded = 0
    for i, ((customer, pm_id), amount) in enumerate(zip(cards, amounts, strict=True)):
        intent = client.v1.payment_intents.create(
            params={
                "amount": int(round(amount * 100)),
                "currency": currency,
                "customer": customer,
                "payment_method": pm_id,
                "payment_method_types": ["card"],
                "confirm": True,
                "off_session": True,
            },
            options={"idempotency_key": f"bench-{i}"},
        )
        succeeded += intent.status == "succeeded"
    return time.perf_counter() - start, succeeded


def main():
    parser = database_argument_parser(__doc__.splitlines()[0])
    parser.add_argument("-n", "--size", type=int, default=500)
    parser.add_argument("--cron-worker", help="internal: be the second cron worker")
    args = parser.parse_args()
    load_odoo_config(args)
    registry = Registry(args.database)
    if args.cron_worker:
        run_cron_worker(registry, POST_PROCESSING, args.cron_worker)
        return

    from odoo.addons.invoice_client_pay.tests.localstripe_common import (  # noqa: PLC0415
        CARD_OK,
        create_customer_with_method,
        localstripe_adapter,
        start_localstripe,
        stop_localstripe,
    )

    # Two localstripe instances, each with the same N customers and cards:
    # localstripe slows down as its store grows, so each run starts from the
    # same store size.
    process, base = start_localstripe()
    bare_process, bare_base = start_localstripe()
    worker = report = None
    try:
        bare_cards = [
            create_customer_with_method(bare_base, "sk_test_bench", CARD_OK)
            for __ in range(args.size)
        ]
        warm_up = 5
        with registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            requests, __ = build_fixtures(
                env, base, args.size + warm_up, tag=int(time.time())
            )
            # Due later: the warm-up charges only its own.
            requests[warm_up:].auto_charge_next_date = fields.Datetime.add(
                fields.Datetime.now(), days=1
            )
            request_ids = requests[warm_up:].ids
            amounts = requests[warm_up:].mapped("amount")
            currency = requests[:1].currency_id.name.lower()
        fd, report = tempfile.mkstemp(prefix="icp_bench_cron_worker_")
        os.close(fd)
        worker = start_cron_worker(args, report)
        with localstripe_adapter(base):
            # Warm up (caches, first HTTP connection) out of the measurement.
            run_odoo(registry, requests[:warm_up].ids)
            with registry.cursor() as cr:
                env = api.Environment(cr, SUPERUSER_ID, {})
                env["account.credit.request"].browse(request_ids).write(
                    {"auto_charge_next_date": fields.Datetime.now()}
                )
            since = time.time()
            charge_s, charged, end_to_end_s, paid = run_odoo(registry, request_ids)
        post_runs, post_s = stop_cron_worker(worker, report, since)
        worker = None
        bare_s, succeeded = run_bare(bare_base, bare_cards, amounts, currency)
    finally:
        if worker:
            worker.kill()
        if report:
            os.unlink(report)
        stop_localstripe(process)
        stop_localstripe(bare_process)
    odoo_rate = charged / charge_s
    bare_rate = succeeded / bare_s
    total_rate = paid / end_to_end_s
    print(f"Odoo {odoo.release.version}, localstripe at {base}, N={args.size}")
    rows = (
        ("Odoo scheduled action: charges", charged, charge_s),
        (f"post-processing ({post_runs} runs, busy)", paid, post_s),
        ("after the last charge", paid, end_to_end_s - charge_s),
        ("end to end: paid", paid, end_to_end_s),
        ("bare stripe loop: charges", succeeded, bare_s),
    )
    print(f"{'':>34} {'count':>6} {'seconds':>8} {'per s':>7}")
    for label, count, seconds in rows:
        print(f"{label:>34} {count:>6} {seconds:>8.2f} {count / seconds:>7.1f}")
    ratio = odoo_rate / bare_rate
    print(
        f"charges/s ratio: {ratio:.2f} (target >= 0.70) "
        f"{'OK' if ratio >= 0.70 else 'BELOW TARGET'}; "
        f"end-to-end ratio: {total_rate / bare_rate:.2f}"
    )
    bench_line(
        "auto_charge.charges",
        ratio,
        0.7,
        f"charges/s of the scheduled action / bare stripe loop (N={args.size})",
        compare=">=",
    )
    bench_line(
        "auto_charge.end_to_end",
        total_rate / bare_rate,
        0.6,
        "paid/s, charge + payment + posting + credit application (2 cron "
        f"workers) / bare stripe loop (N={args.size})",
        compare=">=",
    )
    assert charged == paid == args.size, (
        f"{charged} charged, {paid} paid of {args.size}"
    )


if __name__ == "__main__":
    main()
