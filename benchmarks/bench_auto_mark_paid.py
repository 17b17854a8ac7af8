"""Posting invoices with "Automatically mark Invoices paid" on, against native posting.

For N clients that each have credit, post one invoice per client twice on the same
data: once with the setting off (plain Odoo posting) and once with it on (posting
plus paying from credit). Both runs start from the same savepoint, in one process,
so the ratio is what the feature costs on this machine today.

    python benchmarks/bench_auto_mark_paid.py -d DB [--addons-path P] [--sizes 100,500]

The database must have invoice_client_pay installed. The fixtures (clients, their
credit, draft invoices) are committed and the tables analyzed, as a live database's
autovacuum would, so use a scratch database; the postings measured are rolled back.
"""

import argparse
import time

import odoo
from odoo import SUPERUSER_ID, Command, api
from odoo.modules.registry import Registry
from odoo.tools import config


def build_fixtures(env, size, tag, lines):
    """N clients, each with credit and one draft invoice of ``lines`` lines (with
    the company's default sales tax) that the credit covers."""
    company = env.company
    company.auto_mark_invoices_paid = False
    journal = env["account.journal"].search(
        [("type", "=", "bank"), ("company_id", "=", company.id)], limit=1
    )
    tax = company.account_sale_tax_id
    partners = env["res.partner"].create(
        [{"name": f"Bench {tag} client {i}"} for i in range(size)]
    )
    payments = env["account.payment"].create(
        [
            {
                "payment_type": "inbound",
                "partner_type": "customer",
                "partner_id": partner.id,
                "amount": 150.0 * lines,
                "journal_id": journal.id,
            }
            for partner in partners
        ]
    )
    payments.action_post()
    invoices = env["account.move"].create(
        [
            {
                "move_type": "out_invoice",
                "partner_id": partner.id,
                "invoice_line_ids": [
                    Command.create(
                        {
                            "name": f"Service {line}",
                            "price_unit": 100.0,
                            "tax_ids": tax.ids,
                        }
                    )
                    for line in range(lines)
                ],
            }
            for partner in partners
        ]
    )
    env.flush_all()
    env.cr.commit()
    # Fresh rows without statistics make PostgreSQL pick nested loops for Odoo's
    # own payment queries; a live database's autovacuum would have analyzed them.
    env.cr.execute(
        "ANALYZE account_move, account_move_line, account_partial_reconcile, "
        "account_payment, res_partner"
    )
    return invoices


def post(env, invoices, auto_mark_paid, batch):
    env.company.auto_mark_invoices_paid = auto_mark_paid
    env.flush_all()
    cr = env.cr
    queries_before = cr.sql_log_count
    start = time.perf_counter()
    if batch:
        invoices.action_post()
    else:
        for invoice in invoices:
            invoice.action_post()
    env.flush_all()
    elapsed = time.perf_counter() - start
    return elapsed, cr.sql_log_count - queries_before


def measure(env, invoices, auto_mark_paid, repeat, batch):
    """Best of ``repeat`` runs, each from the same savepoint."""
    cr = env.cr
    best = None
    for _ in range(repeat):
        cr.execute("SAVEPOINT bench_post")
        elapsed, queries = post(env, invoices, auto_mark_paid, batch)
        if auto_mark_paid:
            paid = sum(1 for inv in invoices if inv.amount_paid_from_credit)
            assert paid == len(invoices), f"only {paid} invoices paid from credit"
        cr.execute("ROLLBACK TO SAVEPOINT bench_post")
        env.invalidate_all()
        if best is None or elapsed < best[0]:
            best = (elapsed, queries)
    return best


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-d", "--database", required=True)
    parser.add_argument("--addons-path")
    parser.add_argument("--sizes", default="100,500")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--mode",
        choices=("batch", "single", "both"),
        default="single",
        help="single: one action_post() per invoice, as accountants post them; "
        "batch: one action_post() on all (at N=500, Odoo's own payment-state "
        "query then takes minutes, with or without this module)",
    )
    parser.add_argument(
        "--lines",
        type=int,
        default=3,
        help="invoice lines per invoice (each with the default sales tax)",
    )
    args = parser.parse_args()
    odoo_args = ["-d", args.database, "--log-level=warn"]
    if args.addons_path:
        odoo_args.append(f"--addons-path={args.addons_path}")
    config.parse_config(odoo_args)
    registry = Registry(args.database)
    print(f"Odoo {odoo.release.version}, {args.lines} line(s) per invoice")
    print(
        f"{'mode':>6} {'N':>5} {'native s':>9} {'auto s':>8} {'ratio':>6} "
        f"{'native q/inv':>12} {'auto q/inv':>10}"
    )
    modes = ("batch", "single") if args.mode == "both" else (args.mode,)
    with registry.cursor() as cr:
        env = api.Environment(cr, SUPERUSER_ID, {})
        for size in (int(s) for s in args.sizes.split(",")):
            invoices = build_fixtures(env, size, tag=size, lines=args.lines)
            # Warm caches (views, sequences, prefetch) outside the measurement.
            measure(env, invoices[:5], True, 1, batch=True)
            for mode in modes:
                batch = mode == "batch"
                native = measure(env, invoices, False, args.repeat, batch)
                auto = measure(env, invoices, True, args.repeat, batch)
                print(
                    f"{mode:>6} {size:>5} {native[0]:>9.2f} {auto[0]:>8.2f} "
                    f"{auto[0] / native[0]:>6.2f} "
                    f"{native[1] / size:>12.1f} {auto[1] / size:>10.1f}",
                    flush=True,
                )
    print("target: ratio <= 1.3 at N=500, queries per invoice flat in N")


if __name__ == "__main__":
    main()
