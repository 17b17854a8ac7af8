from odoo import Command
from odoo.exceptions import AccessError, UserError
from odoo.tests import Form, tagged

from .common_portal import ClientPayCommon


@tagged("post_install", "-at_install")
class TestClientPayTransaction(ClientPayCommon):
    """Post-processing of online payments of credit requests and invoices."""

    def test_done_creates_one_credit_payment(self):
        request = self.credit_request
        tx = self._new_tx(request)
        self.assertTrue(tx.reference.startswith(request.name))
        balance = self._balance()
        tx._set_done()
        tx._post_process()
        payment = tx.payment_id
        self.assertTrue(payment)
        self.assertEqual(payment.credit_request_id, request)
        self.assertEqual(payment.partner_id, self.client)
        self.assertEqual(payment.amount, 300.0)
        self.assertIn(payment.state, ("in_process", "paid"))
        self.assertEqual(request.state, "paid")
        self.assertEqual(request.amount_residual, 0.0)
        # Unreconciled: the money is the client's credit.
        self.assertFalse(payment.move_id.line_ids.filtered("reconciled"))
        self.assertAlmostEqual(self._balance(), balance + 300.0)
        self.assertLedgerConsistent()

    def test_post_processing_twice_creates_no_second_payment(self):
        tx = self._new_tx(self.credit_request)
        tx._set_done()
        tx._post_process()
        payment = tx.payment_id
        # A replayed webhook, the redirect and the cron all post-process again.
        tx._set_done()
        tx.is_post_processed = False
        tx._post_process()
        tx._post_process()
        # Even a direct call: the transaction already has its payment.
        self.assertEqual(tx._create_payment(), payment)
        self.assertEqual(self._tx_payments(tx), payment)
        self.assertEqual(self.credit_request.payment_ids, payment)
        self.assertAlmostEqual(self._balance(), 300.0)

    def test_pending_then_done(self):
        request = self.credit_request
        tx = self._new_tx(request)
        tx._set_pending()
        self.assertEqual(request.state, "pending")
        tx._post_process()
        self.assertEqual(request.state, "pending")
        self.assertFalse(tx.payment_id)
        # Pending money is not credit yet.
        self.assertAlmostEqual(self._balance(), 0.0)
        tx._set_done()
        tx._post_process()
        self.assertEqual(request.state, "paid")
        self.assertAlmostEqual(self._balance(), 300.0)

    def test_pending_then_cancelled_reopens(self):
        request = self.credit_request
        tx = self._new_tx(request)
        tx._set_pending()
        self.assertEqual(request.state, "pending")
        tx._set_canceled()
        self.assertEqual(request.state, "sent")
        tx._post_process()
        self.assertEqual(request.state, "sent")
        self.assertFalse(self._tx_payments(tx))

    def test_error_reopens(self):
        request = self.credit_request
        tx = self._new_tx(request)
        tx._set_pending()
        tx._set_error("Card declined")
        tx._post_process()
        self.assertEqual(request.state, "sent")
        self.assertFalse(self._tx_payments(tx))

    def test_partial_payment_leaves_rest_to_pay(self):
        request = self.credit_request
        tx = self._new_tx(request, amount=100.0)
        tx._set_done()
        tx._post_process()
        self.assertEqual(tx.payment_id.amount, 100.0)
        self.assertEqual(request.amount_residual, 200.0)
        self.assertEqual(request.state, "sent")

    def test_done_applies_credit_to_open_invoices(self):
        """With "Automatically mark Invoices paid", the new credit pays the
        client's open invoice (the foundation's application)."""
        invoice = self._invoice(200.0)
        self.assertEqual(invoice.payment_state, "not_paid")
        tx = self._new_tx(self.credit_request)
        tx._set_done()
        tx._post_process()
        self.assertIn(invoice.payment_state, ("paid", "in_payment"))
        self.assertAlmostEqual(self._balance(), 100.0)
        self.assertLedgerConsistent()

    def test_request_and_invoices_in_one_transaction(self):
        """Paying several at once: one payment reconciled with the invoices,
        one credit payment per request."""
        self.company.auto_mark_invoices_paid = False
        invoice_1 = self._invoice(100.0)
        invoice_2 = self._invoice(50.0)
        request_2 = self._make_sent_request(70.0)
        documents = invoice_1 + invoice_2
        tx = self._new_tx(self.credit_request + request_2, documents)
        self.assertEqual(tx.amount, 520.0)
        tx._set_done()
        tx._post_process()
        payments = self._tx_payments(tx)
        self.assertEqual(len(payments), 3)
        self.assertEqual(invoice_1.payment_state, "paid")
        self.assertEqual(invoice_2.payment_state, "paid")
        self.assertEqual(self.credit_request.state, "paid")
        self.assertEqual(request_2.state, "paid")
        invoice_payment = payments.filtered(lambda p: not p.credit_request_id)
        self.assertEqual(invoice_payment.amount, 150.0)
        self.assertEqual(
            sorted(payments.filtered("credit_request_id").mapped("amount")),
            [70.0, 300.0],
        )
        self.assertAlmostEqual(self._balance(), 370.0)
        # Replayed: nothing new.
        tx.is_post_processed = False
        tx._post_process()
        self.assertEqual(self._tx_payments(tx), payments)
        self.assertLedgerConsistent()

    def test_money_for_a_request_paid_meanwhile_stays_credit(self):
        request = self.credit_request
        tx = self._new_tx(request)
        tx._set_pending()
        # Back office refuses to take money already on its way...
        with self.assertRaisesRegex(UserError, "must be positive"):
            self._pay_request(request)
        # ...but the client may still pay another way while the transfer clears.
        card_tx = self._new_tx(request)
        card_tx._set_done()
        card_tx._post_process()
        self.assertEqual(request.state, "paid")
        tx._set_done()
        tx._post_process()
        self.assertEqual(tx.payment_id.amount, 300.0)
        self.assertEqual(tx.payment_id.credit_request_id, request)
        self.assertAlmostEqual(self._balance(), 600.0)

    def test_wire_transfer_communication_is_the_reference(self):
        tx = self._new_tx(self.credit_request)
        self.assertEqual(tx._get_communication(), tx.reference)
        self.assertIn(self.credit_request.name, tx._get_communication())

    def test_messages_logged_on_request(self):
        tx = self._new_tx(self.credit_request)
        tx._set_done()
        tx._post_process()
        bodies = " ".join(self.credit_request.message_ids.mapped("body"))
        self.assertIn(tx.reference, bodies)

    def test_partial_capture_pays_the_request(self):
        """A manual capture split in parts: each captured part is a payment of
        the source transaction's request (as Odoo does for invoices)."""
        self.provider.support_manual_capture = "partial"
        request = self.credit_request
        source = self._new_tx(request)
        source._set_authorized()
        self.assertFalse(self._tx_payments(source))
        child = source._create_child_transaction(100.0)
        child._set_done()
        child._post_process()
        self.assertEqual(child.payment_id.credit_request_id, request)
        self.assertEqual(child.payment_id.amount, 100.0)
        self.assertEqual(request.amount_residual, 200.0)
        self.assertEqual(request.state, "sent")

    def test_settings_and_revocation_rights(self):
        with Form(self.env["res.config.settings"]) as settings:
            settings.payment_link_validity_days = 5
            settings.allow_partial_online_payment = True
            settings.auto_charge_max_attempts = 2
            settings.auto_charge_retry_delay_hours = 12
        settings.record.execute()
        company = self.env.company
        self.assertEqual(company.payment_link_validity_days, 5)
        self.assertTrue(company.allow_partial_online_payment)
        self.assertEqual(company.auto_charge_max_attempts, 2)
        self.assertEqual(company.auto_charge_retry_delay_hours, 12)
        portal_user = self.env["res.users"].create(
            {
                "name": "Portal Revoker",
                "login": "icp_portal_revoker",
                "group_ids": [Command.set([self.env.ref("base.group_portal").id])],
                "partner_id": self.client_contact.id,
            }
        )
        token = self.credit_request.access_token
        with self.assertRaises(AccessError):
            self.credit_request.with_user(portal_user).action_revoke_payment_link()
        self.assertEqual(self.credit_request.access_token, token)
