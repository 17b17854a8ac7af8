from unittest.mock import patch

from odoo import Command
from odoo.tests import Form, tagged

from .common import ClientCreditCommon


@tagged("post_install", "-at_install")
class TestClientCreditBalance(ClientCreditCommon):
    def test_no_credit(self):
        self.assertEqual(self._balance(), 0.0)
        self._invoice(100.0)
        self.assertEqual(self._balance(), 0.0)

    def test_paid_request_is_credit_of_commercial_entity(self):
        self._add_credit(250.0, partner=self.client_contact)
        self.assertEqual(self._balance(self.client), 250.0)
        self.assertEqual(self._balance(self.client_contact), 250.0)
        self.assertEqual(self._balance(self.other_client), 0.0)
        self.assertLedgerConsistent()

    def test_overpayment_is_credit(self):
        self.company.auto_mark_invoices_paid = False
        invoice = self._invoice(100.0)
        self.env["account.payment.register"].with_context(
            active_model="account.move", active_ids=invoice.ids
        ).create(
            {"amount": 130.0, "payment_difference_handling": "open"}
        )._create_payments()
        self.assertEqual(
            invoice.payment_state,
            self.env["account.move"]._get_invoice_in_payment_state(),
        )
        self.assertEqual(self._balance(), 30.0)
        self.assertLedgerConsistent()

    def test_open_credit_note_is_credit(self):
        self._invoice(80.0, move_type="out_refund")
        self.assertEqual(self._balance(), 80.0)

    def test_draft_and_cancelled_entries_are_not_credit(self):
        self._invoice(80.0, move_type="out_refund", post=False)
        request = self._credit_request(60.0)
        self.assertEqual(self._balance(), 0.0)
        payment = self._pay_request(request)
        self.assertEqual(self._balance(), 60.0)
        payment.move_id.button_cancel()
        self.assertEqual(self._balance(), 0.0)

    def test_balance_is_per_company(self):
        self._add_credit(100.0)
        other_company = self.setup_other_company()["company"]
        self.assertEqual(
            self.client.with_company(other_company).client_credit_balance, 0.0
        )
        self.assertEqual(
            self.client.with_company(self.company).client_credit_balance, 100.0
        )

    def test_balance_of_many_clients_is_one_query(self):
        partners = self.env["res.partner"].create(
            [{"name": f"Bulk client {i}"} for i in range(6)]
        )
        for partner in partners[:3]:
            self._add_credit(10.0, partner=partner)
        partners.invalidate_recordset(["client_credit_balance"])
        self.env.flush_all()
        with self.assertQueryCount(1):
            balances = partners.with_company(self.company).mapped(
                "client_credit_balance"
            )
        self.assertEqual(balances, [10.0, 10.0, 10.0, 0.0, 0.0, 0.0])

    def test_balance_is_the_sum_of_the_credit_items(self):
        """One definition of credit: the balance of each commercial entity is
        what the credit items found by ``_get_client_credit_domain`` add up to,
        for a company client, its contacts, and a company filed under it (a
        commercial entity of its own)."""
        subsidiary = self.env["res.partner"].create(
            {
                "name": "Client Subsidiary",
                "is_company": True,
                "parent_id": self.client.id,
            }
        )
        self.assertEqual(subsidiary.commercial_partner_id, subsidiary)
        self._add_credit(100.0)
        self._add_credit(30.0, partner=self.client_contact)
        self._add_credit(25.0, partner=subsidiary)
        self._invoice(80.0, move_type="out_refund", partner=self.client_contact)
        self._invoice(40.0)  # Paid from the credit.
        Line = self.env["account.move.line"]
        clients = self.client + subsidiary + self.other_client
        balances = Line._read_client_credit_balances(clients, self.company)
        for client, expected in (
            (self.client, 170.0),
            (subsidiary, 25.0),
            (self.other_client, 0.0),
        ):
            with self.subTest(client=client.name):
                items = Line.search(
                    Line._get_client_credit_domain(client, self.company)
                )
                self.assertAlmostEqual(-sum(items.mapped("amount_residual")), expected)
                self.assertAlmostEqual(balances.get(client.id, 0.0), expected)
                self.assertAlmostEqual(self._balance(client), expected)

    def test_credit_whatever_the_journal_outstanding_setup(self):
        """With full accounting, Odoo books no entry for a payment whose method
        has no outstanding account; a credit request payment still is credit."""
        method_lines = self.bank_journal.inbound_payment_method_line_ids
        method_lines.payment_account_id = False
        AccountMove = type(self.env["account.move"])
        with patch.object(
            AccountMove, "_get_invoice_in_payment_state", lambda self: "in_payment"
        ):
            # The plain Odoo behaviour we guard against: no entry, no ledger.
            plain = self.env["account.payment"].create(
                {
                    "payment_type": "inbound",
                    "partner_type": "customer",
                    "partner_id": self.other_client.id,
                    "amount": 10.0,
                    "journal_id": self.bank_journal.id,
                }
            )
            self.assertFalse(plain.move_id)
            payment = self._pay_request(self._credit_request(70.0))
        self.assertTrue(payment.move_id)
        self.assertEqual(payment.move_id.state, "posted")
        self.assertEqual(self._balance(), 70.0)
        self.assertLedgerConsistent()

    def test_credit_movements_action(self):
        request = self._add_credit(90.0, partner=self.client_contact)
        invoice = self._invoice(40.0)
        self._invoice(10.0, partner=self.other_client)
        action = self.client_contact.action_view_client_credit_moves()
        lines = self.env["account.move.line"].search(action["domain"])
        self.assertEqual(lines.move_id, request.payment_ids.move_id + invoice)
        self.assertEqual(sum(lines.mapped("credit")), 90.0)
        self.assertEqual(sum(lines.mapped("debit")), 40.0)
        credit_line = lines.filtered("credit")
        self.assertEqual(credit_line.amount_residual, -50.0)

    def test_contact_form_shows_balance(self):
        self._add_credit(42.0)
        self.assertEqual(Form(self.client).client_credit_balance, 42.0)
        self.assertEqual(Form(self.client_contact).client_credit_balance, 42.0)
        self.assertEqual(Form(self.other_client).client_credit_balance, 0.0)

    def test_vendor_side_is_ignored(self):
        self._invoice(55.0, move_type="in_invoice")
        self.assertEqual(self._balance(), 0.0)
        self.env["account.payment"].create(
            {
                "payment_type": "outbound",
                "partner_type": "supplier",
                "partner_id": self.client.id,
                "amount": 20.0,
                "journal_id": self.bank_journal.id,
                "invoice_ids": [Command.set([])],
            }
        ).action_post()
        self.assertEqual(self._balance(), 0.0)
