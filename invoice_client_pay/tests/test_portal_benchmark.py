"""Benchmark of the portal panel and the pay-several checkout (not a unit test).

Tagged ``-standard``: it runs only when asked, through
``benchmarks/bench_portal.py`` (``--test-tags icp_portal_benchmark``).

A client with 200 unpaid invoices and 50 open credit requests: ``/my`` (with the
"Unpaid Invoices & Credit Requests" panel) and the checkout of all 250 items,
against Odoo's own ``/my/invoices``, best of N runs on the same warm server.
"""

import logging
import time

from odoo import Command
from odoo.tests import tagged

from .common_portal import ClientPayHttpCommon

_logger = logging.getLogger(__name__)

INVOICES = 200
REQUESTS = 50
RUNS = 15


@tagged("post_install", "-at_install", "-standard", "icp_portal_benchmark")
class BenchPortalPanel(ClientPayHttpCommon):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.company.auto_mark_invoices_paid = False

    def _make_documents(self, invoices, requests):
        moves = self.env["account.move"].create(
            [
                {
                    "move_type": "out_invoice",
                    "partner_id": self.client.id,
                    "invoice_date": "2026-01-01",
                    "invoice_line_ids": [
                        Command.create(
                            {"name": "Service", "price_unit": 10.0 + i, "tax_ids": []}
                        )
                    ],
                }
                for i in range(invoices)
            ]
        )
        moves.action_post()
        # Odoo's /my/invoices shows a portal client the invoices they follow.
        moves.message_subscribe(self.client_contact.ids)
        requests_ = self.env["account.credit.request"].create(
            [
                {"partner_id": self.client.id, "amount": 50.0 + i}
                for i in range(requests)
            ]
        )
        requests_.write({"state": "sent"})
        self.env.flush_all()
        return moves, requests_

    def _measure(self, *urls):
        """Best time and the queries of one request of each of ``urls``, over
        RUNS rounds. The URLs take turns within each round, so that the load of
        the machine (other processes) weighs on all of them alike."""
        for url in urls:  # warm up
            self.assertEqual(self.url_open(url).status_code, 200, url)
        best = dict.fromkeys(urls)
        queries = {}
        for __ in range(RUNS):
            for url in urls:
                before = self.cr.sql_log_count
                start = time.perf_counter()
                response = self.url_open(url)
                elapsed = time.perf_counter() - start
                self.assertEqual(response.status_code, 200, url)
                queries[url] = self.cr.sql_log_count - before
                if best[url] is None or elapsed < best[url]:
                    best[url] = elapsed
        return [(best[url], queries[url]) for url in urls]

    def test_bench_portal_panel(self):
        self.authenticate(self.portal_user.login, self.portal_user.login)
        moves, requests_ = self._make_documents(10, 5)
        [(small_time, small_queries)] = self._measure("/my")
        more_moves, more_requests = self._make_documents(
            INVOICES - 10, REQUESTS - 5 - 1
        )
        moves |= more_moves
        requests_ |= more_requests | self.credit_request
        self.assertEqual(len(moves), INVOICES)
        self.assertEqual(len(requests_), REQUESTS)
        items = ",".join(
            [f"inv-{i}" for i in moves.ids] + [f"cr-{r}" for r in requests_.ids]
        )
        (
            (home_time, home_queries),
            (pay_time, pay_queries),
            (invoices_time, invoices_queries),
        ) = self._measure("/my", f"/my/unpaid/pay?items={items}", "/my/invoices")
        lines = [
            f"{INVOICES} unpaid invoices + {REQUESTS} open credit requests, "
            f"best of {RUNS} interleaved warm requests:",
            f"  /my (15 documents)       {small_time * 1000:8.1f} ms "
            f"queries={small_queries}",
            f"  /my (250 documents)      {home_time * 1000:8.1f} ms "
            f"queries={home_queries}",
            f"  /my/unpaid/pay (250)     {pay_time * 1000:8.1f} ms "
            f"queries={pay_queries}",
            f"  /my/invoices (Odoo)      {invoices_time * 1000:8.1f} ms "
            f"queries={invoices_queries}",
            f"  ratio /my / /my/invoices = {home_time / invoices_time:.2f}",
            f"  ratio checkout / /my/invoices = {pay_time / invoices_time:.2f}",
            # Read by scripts/bench: name, ratio (three decimals, so that rounding
            # never turns a miss into a hit), goal, label.
            f"BENCH portal.home_250_vs_15 {home_time / small_time:.3f} <= 1.2 "
            "/my with 250 unpaid documents / with 15",
            f"BENCH portal.home_vs_invoices {home_time / invoices_time:.3f} <= 1.2 "
            "/my with 250 unpaid documents / Odoo's /my/invoices",
            f"BENCH portal.checkout_vs_invoices {pay_time / invoices_time:.3f} <= 1.2 "
            "pay-several checkout of 250 / Odoo's /my/invoices",
        ]
        _logger.info("ICP BENCHMARK\n%s", "\n".join(lines))
        self.assertEqual(home_queries, small_queries, "panel queries grew")
        self.assertLessEqual(home_time, 1.2 * invoices_time)
        self.assertLessEqual(pay_time, 1.2 * invoices_time)
