"""The payment reminder cron: queries per client and time per 1,000 documents.

Builds C clients with D open documents each (one posted invoice, the rest sent
credit requests, all 7 days past due), then runs the scheduled action's method
(``res.partner._cron_send_payment_reminders``) for them: one digest per client
(rendered template, signed links, pay-all link, queued email), a reminder log
per document and a note in each document's chatter.

Run twice, with D documents per client and with 1, the queries per client must
not grow with the number of documents per client (goal: ratio <= 1.10).

    ODOO_PYTHON benchmarks/bench_reminders.py -d DB [-c odoo.conf]
        [--addons-path P] [--clients 1000] [--per-client 5]

Also run by ``scripts/bench reminders``, which prints the ``BENCH`` lines as a
table. The database must have invoice_client_pay installed; nothing is
committed (the run is rolled back).
"""

import time
from datetime import timedelta

from bench_common import bench_line, database_argument_parser, load_odoo_config

import odoo
from odoo import SUPERUSER_ID, Command, api
from odoo.modules.registry import Registry


def build_fixtures(env, clients, per_client, tag):
    """``clients`` clients with ``per_client`` documents each, 7 days late."""
    company = env.company
    today = env["invoice_client_pay.reminder.schedule"]._get_company_today(company)
    due = today - timedelta(days=7)
    partners = env["res.partner"].create(
        [
            {"name": f"Reminder bench {tag} {i}", "email": f"rb{tag}-{i}@example.com"}
            for i in range(clients)
        ]
    )
    invoices = env["account.move"].create(
        [
            {
                "move_type": "out_invoice",
                "partner_id": partner.id,
                "invoice_date": due,
                "invoice_date_due": due,
                "invoice_line_ids": [
                    Command.create(
                        {"name": "Service", "price_unit": 100.0, "tax_ids": []}
                    )
                ],
            }
            for partner in partners
        ]
    )
    invoices.action_post()
    requests = env["account.credit.request"].create(
        [
            {"partner_id": partner.id, "amount": 50.0 + i, "date_due": due}
            for partner in partners
            for i in range(per_client - 1)
        ]
    )
    requests.write({"state": "sent", "is_sent": True})
    env.flush_all()
    return partners


def measure(env, partners):
    env.invalidate_all()
    cr = env.cr
    queries_before = cr.sql_log_count
    start = time.perf_counter()
    env["res.partner"]._cron_send_payment_reminders(clients=partners)
    env.flush_all()
    elapsed = time.perf_counter() - start
    return elapsed, cr.sql_log_count - queries_before


def main():
    parser = database_argument_parser(__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--per-client", type=int, default=5)
    args = parser.parse_args()
    load_odoo_config(args)
    registry = Registry(args.database)
    print(f"Odoo {odoo.release.version}")
    print(
        f"{'clients':>8} {'docs':>6} {'seconds':>8} {'q/client':>9} {'s/1000 docs':>12}"
    )
    results = {}
    with registry.cursor() as cr:
        env = api.Environment(cr, SUPERUSER_ID, {})
        try:
            # Warm caches (templates, views, sequences) outside the measurement.
            measure(env, build_fixtures(env, 5, 2, "warm"))
            for per_client in (args.per_client, 1):
                partners = build_fixtures(
                    env, args.clients, per_client, f"d{per_client}"
                )
                seconds, queries = measure(env, partners)
                documents = args.clients * per_client
                logs = env["invoice_client_pay.reminder.log"].search_count(
                    [("partner_id", "in", partners.ids)]
                )
                assert logs == documents, (logs, documents)
                results[per_client] = queries / args.clients
                print(
                    f"{args.clients:>8} {documents:>6} {seconds:>8.2f} "
                    f"{queries / args.clients:>9.1f} "
                    f"{seconds * 1000 / documents:>12.2f}",
                    flush=True,
                )
        finally:
            cr.rollback()
    bench_line(
        f"reminders.queries_per_client.D{args.per_client}",
        results[args.per_client] / results[1],
        1.1,
        f"queries per client with {args.per_client} documents each / with 1",
    )


if __name__ == "__main__":
    main()
