from ast import literal_eval

from odoo import Command
from odoo.tests import tagged

from .common_portal import ClientPayHttpCommon


@tagged("post_install", "-at_install")
class TestCreditStatement(ClientPayHttpCommon):
    """The client's credit statement: /my/credit (paged, running balance), its
    PDF, and who may read what, through real HTTP."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.Line = cls.env["account.move.line"]

    # ------------------------------------------------------------
    # Helpers
    # ------------------------------------------------------------

    def _statement(self, partner=None, **kw):
        return self.Line._read_client_credit_statement(
            (partner or self.client).commercial_partner_id, self.company, **kw
        )

    def _credit_entry(self, amounts, partner=None):
        """One posted journal entry giving the client one credit item per
        amount (as many unmatched payments would): a movement each."""
        partner = partner or self.client
        move = self.env["account.move"].create(
            {
                "move_type": "entry",
                "journal_id": self.bank_journal.id,
                "line_ids": [
                    Command.create(
                        {
                            "name": f"Advance {i}",
                            "account_id": self.receivable.id,
                            "partner_id": partner.id,
                            "credit": amount,
                        }
                    )
                    for i, amount in enumerate(amounts)
                ]
                + [
                    Command.create(
                        {
                            "name": "Bank",
                            "account_id": self.bank_journal.default_account_id.id,
                            "debit": sum(amounts),
                        }
                    )
                ],
            }
        )
        move.action_post()
        return move

    def _history(self):
        """Top-up 100 (a paid credit request), an invoice of 40 paid from it,
        a credit note of 30."""
        request = self._add_credit(100.0)
        invoice = self._invoice(40.0)
        self.assertEqual(invoice.payment_state, "paid")
        refund = self._invoice(30.0, move_type="out_refund")
        return request, invoice, refund

    def _get_statement_page(self, url="/my/credit"):
        response = self._get(url)
        self.assertEqual(response.status_code, 200, url)
        return response.text

    # ------------------------------------------------------------
    # Tests
    # ------------------------------------------------------------

    def test_movements_and_running_balance_from_the_ledger(self):
        request, invoice, refund = self._history()
        rows = self._statement()
        self.assertEqual(
            [(row["kind"], row["amount"], row["balance"]) for row in rows],
            [("line", 100.0, 100.0), ("line", 30.0, 130.0), ("partial", -40.0, 90.0)],
        )
        self.assertIn(request.name, rows[0]["label"])
        self.assertIn(refund.name, rows[1]["label"])
        self.assertIn(invoice.name, rows[2]["label"])
        self.assertTrue(rows[2]["record"].client_credit_applied)
        self.assertEqual(rows[-1]["balance"], self._balance())
        # The same client seen from its contact; nothing of another client.
        self.assertEqual(len(self._statement(self.client_contact)), 3)
        self.assertFalse(self._statement(self.other_client))
        self.assertEqual(
            self.Line._count_client_credit_movements(self.client, self.company), 3
        )

    def test_unmatching_and_reversal_show_and_balance(self):
        self._add_credit(100.0)
        # A payment reversed: the reversal uses the whole of its credit.
        payment = self._add_credit(25.0).payment_ids
        payment.move_id._reverse_moves(cancel=True)
        rows = self._statement()
        self.assertEqual([row["amount"] for row in rows], [100.0, 25.0, -25.0])
        self.assertIn("Reversal", rows[-1]["label"])
        self.assertEqual(rows[-1]["balance"], self._balance())
        # An invoice paid from credit, then unmatched by the accountant: the
        # movement goes with the match.
        invoice = self._invoice(40.0)
        self.assertEqual(self._statement()[-1]["amount"], -40.0)
        invoice.line_ids.remove_move_reconcile()
        rows = self._statement()
        self.assertEqual([row["amount"] for row in rows], [100.0, 25.0, -25.0])
        self.assertEqual(rows[-1]["balance"], 100.0)
        self.assertEqual(self._balance(), 100.0)

    def test_portal_page_shows_own_movements(self):
        request, invoice, refund = self._history()
        self.authenticate(self.portal_user.login, self.portal_user.login)
        text = self._get_statement_page()
        for name in (request.name, invoice.name, refund.name):
            self.assertIn(name, text)
        self.assertEqual(text.count("o_icp_credit_movement"), 3)
        self.assertIn("90.00", text)
        # Linked from the portal home: the panel and a docs entry.
        home = self._get_statement_page("/my")
        self.assertIn('href="/my/credit"', home)

    def test_other_client_never_sees_the_movements(self):
        request, invoice, refund = self._history()
        self.authenticate(self.other_portal_user.login, self.other_portal_user.login)
        for url in (
            "/my/credit",
            f"/my/credit?partner_id={self.client.id}",
            f"/my/credit?report_type=html&partner_id={self.client.id}",
        ):
            text = self._get_statement_page(url)
            for name in (request.name, invoice.name, refund.name, self.client.name):
                self.assertNotIn(name, text, url)
        # Odoo's generic report route refuses another client's statement.
        response = self._get(
            "/report/html/invoice_client_pay.report_client_credit_statement/"
            f"{self.client.id}"
        )
        self.assertNotEqual(response.status_code, 200)
        self.assertNotIn(request.name, response.text)
        # ... and serves one's own.
        own = self._get(
            "/report/html/invoice_client_pay.report_client_credit_statement/"
            f"{self.other_client.id}"
        )
        self.assertEqual(own.status_code, 200)

    def test_anonymous_is_sent_to_login(self):
        self._history()
        for url in ("/my/credit", "/my/credit?report_type=pdf", "/my/credit/page/2"):
            response = self._get(url)
            self.assertEqual(response.status_code, 303, url)
            self.assertIn("/web/login", response.headers["Location"], url)

    def test_statement_document_is_the_users_own(self):
        request, __, __ = self._history()
        self.authenticate(self.portal_user.login, self.portal_user.login)
        text = self._get_statement_page("/my/credit?report_type=html")
        self.assertIn("Credit Statement", text)
        self.assertIn(request.name, text)
        self.assertIn(self.client.name, text)

    def test_pages_keep_the_running_balance(self):
        amounts = [float(i) for i in range(1, 26)]  # 25 movements, 20 a page
        self._credit_entry(amounts)
        first = self._statement(limit=20)
        second = self._statement(offset=20, limit=20)
        self.assertEqual(len(first), 20)
        self.assertEqual(len(second), 5)
        self.assertEqual(first[-1]["balance"], sum(amounts[:20]))
        self.assertEqual(second[0]["balance"], sum(amounts[:21]))
        self.assertEqual(second[-1]["balance"], self._balance())
        self.authenticate(self.portal_user.login, self.portal_user.login)
        page_2 = self._get_statement_page("/my/credit/page/2")
        self.assertEqual(page_2.count("o_icp_credit_movement"), 5)
        self.assertIn("325.00", page_2)
        self.assertIn('href="/my/credit"', page_2)  # the pager's first page

    def test_first_page_queries_do_not_grow_with_movements(self):
        self._credit_entry([10.0] * 5)
        self.authenticate(self.portal_user.login, self.portal_user.login)

        def count_queries():
            self._get_statement_page()  # warm caches
            before = self.cr.sql_log_count
            text = self._get_statement_page()
            return self.cr.sql_log_count - before, text.count("o_icp_credit_movement")

        small_queries, small_rows = count_queries()
        self._credit_entry([10.0] * 55)
        large_queries, large_rows = count_queries()
        self.assertEqual((small_rows, large_rows), (5, 20))
        self.assertEqual(large_queries, small_queries)


@tagged("post_install", "-at_install")
class TestCreditBackOffice(ClientPayHttpCommon):
    """The back office: clients by credit balance, the contact's statement
    button, the credit request views and menus."""

    def test_search_clients_by_credit_balance(self):
        self._add_credit(50.0)
        Partner = self.env["res.partner"]
        with_credit = Partner.search([("client_credit_balance", ">", 0)])
        self.assertIn(self.client, with_credit)
        self.assertIn(self.client_contact, with_credit)
        self.assertNotIn(self.other_client, with_credit)
        self.assertEqual(
            Partner.search([("client_credit_balance", "=", 50.0)]),
            self.client + self.client_contact,
        )
        no_credit = Partner.search([("client_credit_balance", "=", 0)])
        self.assertIn(self.other_client, no_credit)
        self.assertNotIn(self.client, no_credit)
        self.assertNotIn(
            self.client, Partner.search([("client_credit_balance", "<", 50.0)])
        )
        action = self.env.ref("invoice_client_pay.action_partner_client_credit")
        menu_clients = Partner.search(literal_eval(action.domain))
        self.assertIn(self.client, menu_clients)
        self.assertNotIn(self.client_contact, menu_clients)
        self.assertNotIn(self.other_client, menu_clients)

    def test_credit_button_opens_the_statement(self):
        request = self._add_credit(80.0)
        action = self.client_contact.action_view_client_credit_statement()
        self.assertEqual(action["type"], "ir.actions.report")
        self.assertEqual(action["report_type"], "qweb-html")
        self.assertEqual(action["context"]["active_ids"], self.client.ids)
        html = (
            self.env["ir.actions.report"]
            ._render_qweb_html(action["report_name"], self.client.ids)[0]
            .decode()
        )
        self.assertIn(request.name, html)

    def test_auto_charge_failures_menu(self):
        failed = self._make_sent_request(70.0)
        failed.write({"auto_charge_last_error": "Card declined"})
        action = self.env.ref(
            "invoice_client_pay.action_account_credit_request_auto_charge_failed"
        )
        found = self.env["account.credit.request"].search(literal_eval(action.domain))
        self.assertEqual(found, failed)

    def test_credit_request_views_load(self):
        action = self.env.ref("invoice_client_pay.action_account_credit_request")
        modes = action.view_mode.split(",")
        self.assertEqual(
            set(modes), {"list", "kanban", "form", "pivot", "graph"}, action.view_mode
        )
        views = self.env["account.credit.request"].get_views(
            [(False, mode) for mode in modes] + [(False, "search")]
        )
        search = views["views"]["search"]["arch"]
        for name in ("overdue", "auto_charged", "auto_charge_failed", "group_date_due"):
            self.assertIn(f'name="{name}"', search)
        # The filters' domains run.
        Request = self.env["account.credit.request"]
        for domain in (
            [("auto_charge_last_error", "!=", False)],
            [("transaction_ids", "any", [("operation", "=", "offline")])],
        ):
            Request.search(domain)
