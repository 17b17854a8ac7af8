from unittest.mock import patch

from odoo.tests import tagged
from odoo.tools import mute_logger

from odoo.addons.base.models.ir_actions_report import IrActionsReport

from .common_portal import ClientPayCommon

RECEIPT_SUBJECT = "Payment Receipt"


def _broken_renderer(*args, **kwargs):
    raise RuntimeError("wkhtmltopdf: cannot connect to X server")


@tagged("post_install", "-at_install")
class TestPaymentReceipts(ClientPayCommon):
    """Booking a payment never depends on its receipt: the receipt (an email
    with a PDF) is sent after, by a scheduled action, and a failure to send it
    is written down and retried."""

    def _receipts(self, payment):
        return payment.message_ids.filtered(
            lambda m: RECEIPT_SUBJECT in (m.subject or "")
        )

    def test_credit_arrives_when_the_pdf_renderer_fails(self):
        request = self.credit_request
        tx = self._new_tx(request)
        tx._set_done()
        cron = self.env.ref("invoice_client_pay.ir_cron_send_payment_receipts")
        triggers = self.env["ir.cron.trigger"].search([("cron_id", "=", cron.id)])
        with patch.object(IrActionsReport, "_render_qweb_pdf", _broken_renderer):
            tx._post_process()  # Raises nothing.
            payment = tx.payment_id
            self.assertTrue(payment, "The payment is booked.")
            self.assertEqual(request.state, "paid")
            self.assertEqual(self._balance(), 300.0, "The credit is there.")
            self.assertTrue(payment.icp_receipt_pending)
            self.assertGreater(
                self.env["ir.cron.trigger"].search_count([("cron_id", "=", cron.id)]),
                len(triggers),
                "The receipt's scheduled action runs once this is committed.",
            )
            # The scheduled action runs while the renderer is still broken.
            with mute_logger(
                "odoo.addons.invoice_client_pay.models.payment_transaction"
            ):
                self.env["payment.transaction"]._cron_send_payment_receipts()
        self.assertFalse(self._receipts(payment))
        self.assertTrue(payment.icp_receipt_pending, "Retried at the next run.")
        for record in (payment, request):
            self.assertTrue(
                record.message_ids.filtered(
                    lambda m: (
                        "receipt could not be sent" in str(m.body)
                        and "wkhtmltopdf" in str(m.body)
                    )
                ),
                record,
            )
        self.assertEqual(self._balance(), 300.0)
        # The renderer works again: the next run sends it, once.
        self.env["payment.transaction"]._cron_send_payment_receipts()
        self.assertEqual(len(self._receipts(payment)), 1)
        self.assertFalse(payment.icp_receipt_pending)
        self.env["payment.transaction"]._cron_send_payment_receipts()
        self.assertEqual(len(self._receipts(payment)), 1)

    def test_receipt_given_up_after_the_last_attempt(self):
        tx = self._new_tx(self.credit_request)
        tx._set_done()
        tx._post_process()
        payment = tx.payment_id
        payment.icp_receipt_attempts = 23
        with (
            patch.object(IrActionsReport, "_render_qweb_pdf", _broken_renderer),
            mute_logger("odoo.addons.invoice_client_pay.models.payment_transaction"),
        ):
            self.env["payment.transaction"]._cron_send_payment_receipts()
        self.assertFalse(payment.icp_receipt_pending)
        self.assertTrue(
            payment.message_ids.filtered(lambda m: "will not be retried" in str(m.body))
        )
        self.assertEqual(self._balance(), 300.0)
