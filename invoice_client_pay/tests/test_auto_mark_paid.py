from lxml import html

from odoo.tests import Form, tagged

from .common import ClientCreditCommon


@tagged("post_install", "-at_install")
class TestAutoMarkInvoicesPaid(ClientCreditCommon):
    def _paid_state(self):
        return self.env["account.move"]._get_invoice_in_payment_state()

    def test_setting_in_accounting_settings(self):
        """An administrator turns the setting off in the settings form."""
        with Form(self.env["res.config.settings"]) as settings:
            self.assertTrue(settings.auto_mark_invoices_paid)
            settings.auto_mark_invoices_paid = False
        settings.record.execute()
        self.assertFalse(self.company.auto_mark_invoices_paid)

    def test_credit_covers_invoice_and_rest_stays(self):
        self._add_credit(500.0)
        invoice = self._invoice(300.0)
        self.assertEqual(invoice.payment_state, self._paid_state())
        self.assertEqual(invoice.amount_paid_from_credit, 300.0)
        self.assertEqual(invoice.amount_residual, 0.0)
        self.assertEqual(self._balance(), 200.0)
        self.assertLedgerConsistent()

    def test_short_credit_is_a_partial_payment(self):
        self._add_credit(120.0)
        invoice = self._invoice(300.0)
        self.assertEqual(invoice.payment_state, "partial")
        self.assertEqual(invoice.amount_paid_from_credit, 120.0)
        self.assertEqual(invoice.amount_residual, 180.0)
        self.assertEqual(self._balance(), 0.0)
        self.assertLedgerConsistent()

    def test_exact_credit(self):
        self._add_credit(300.0)
        invoice = self._invoice(300.0)
        self.assertEqual(invoice.payment_state, self._paid_state())
        self.assertEqual(self._balance(), 0.0)

    def test_oldest_credit_first(self):
        new_payment = self._pay_request(self._credit_request(100.0), date="2026-02-01")
        old_payment = self._pay_request(self._credit_request(100.0), date="2026-01-01")
        self._invoice(150.0)
        old_line = old_payment.move_id.line_ids.filtered(
            lambda line: line.account_type == "asset_receivable"
        )
        new_line = new_payment.move_id.line_ids.filtered(
            lambda line: line.account_type == "asset_receivable"
        )
        self.assertTrue(old_line.reconciled)
        self.assertEqual(new_line.amount_residual, -50.0)
        self.assertLedgerConsistent()

    def test_setting_off_does_nothing(self):
        self.company.auto_mark_invoices_paid = False
        self._add_credit(500.0)
        invoice = self._invoice(300.0)
        self.assertEqual(invoice.payment_state, "not_paid")
        self.assertEqual(invoice.amount_paid_from_credit, 0.0)
        self.assertEqual(self._balance(), 500.0)
        invoice.invalidate_recordset(["show_pay_from_credit"])
        self.assertFalse(invoice.show_pay_from_credit)

    def test_credit_arriving_later_pays_open_invoices_oldest_first(self):
        old = self._invoice(100.0, invoice_date="2026-01-10")
        new = self._invoice(100.0, invoice_date="2026-03-10")
        other = self._invoice(100.0, partner=self.other_client)
        self._add_credit(150.0)
        self.assertEqual(old.payment_state, self._paid_state())
        self.assertEqual(new.payment_state, "partial")
        self.assertEqual(new.amount_residual, 50.0)
        self.assertEqual(other.payment_state, "not_paid")
        self.assertEqual(self._balance(), 0.0)
        self.assertLedgerConsistent()

    def test_overpayment_pays_next_open_invoice(self):
        first = self._invoice(100.0, invoice_date="2026-01-10")
        second = self._invoice(100.0, invoice_date="2026-02-10")
        self.env["account.payment.register"].with_context(
            active_model="account.move", active_ids=second.ids
        ).create(
            {"amount": 130.0, "payment_difference_handling": "open"}
        )._create_payments()
        # The chosen invoice is paid first; only the 30 left over is credit.
        self.assertEqual(second.payment_state, self._paid_state())
        self.assertEqual(first.amount_residual, 70.0)
        self.assertEqual(self._balance(), 0.0)
        self.assertLedgerConsistent()

    def test_reset_to_draft_and_repost_applies_once(self):
        self._add_credit(500.0)
        invoice = self._invoice(300.0)
        invoice.button_draft()
        invoice.action_post()
        self.assertEqual(invoice.amount_residual, 0.0)
        self.assertEqual(invoice.amount_paid_from_credit, 300.0)
        self.assertEqual(self._balance(), 200.0)
        self.assertLedgerConsistent()

    def test_unreconcile_gives_credit_back(self):
        self._add_credit(500.0)
        invoice = self._invoice(300.0)
        partial = invoice.line_ids.matched_credit_ids
        self.assertTrue(partial.client_credit_applied)
        invoice.js_remove_outstanding_partial(partial.id)
        self.assertEqual(invoice.amount_residual, 300.0)
        self.assertEqual(invoice.amount_paid_from_credit, 0.0)
        self.assertEqual(self._balance(), 500.0)
        self.assertLedgerConsistent()

    def test_batch_posting_shares_credit_without_overdrawing(self):
        self._add_credit(250.0)
        invoices = (
            self._invoice(100.0, post=False)
            + self._invoice(100.0, post=False)
            + self._invoice(100.0, post=False)
        )
        invoices.action_post()
        self.assertEqual(sum(invoices.mapped("amount_paid_from_credit")), 250.0)
        self.assertEqual(sum(invoices.mapped("amount_residual")), 50.0)
        self.assertEqual(self._balance(), 0.0)
        self.assertLedgerConsistent()

    def test_credit_note_is_not_spent_on_vendor_bills_or_other_clients(self):
        self._invoice(80.0, move_type="out_refund")
        bill = self._invoice(50.0, move_type="in_invoice")
        other = self._invoice(50.0, partner=self.other_client)
        self.assertEqual(bill.payment_state, "not_paid")
        self.assertEqual(other.payment_state, "not_paid")
        self.assertEqual(self._balance(), 80.0)

    def test_invoice_report_shows_credit_and_still_to_pay(self):
        self._add_credit(120.0)
        invoice = self._invoice(300.0)
        page = html.fromstring(
            self.env["ir.actions.report"]._render_qweb_html(
                "account.report_invoice", invoice.ids
            )[0]
        )
        rows = {
            " ".join(cells[0].text_content().split()): " ".join(
                cells[-1].text_content().split()
            )
            for row in page.iter("tr")
            if len(cells := row.findall("td")) >= 2
        }
        self.assertIn("120.00", rows["Paid from credit"])
        self.assertIn("180.00", rows["Still to pay"])
