from odoo.exceptions import ValidationError
from odoo.tests import tagged

from .common_stripe import StripeClientCommon


@tagged("post_install", "-at_install")
class TestAutoTopup(StripeClientCommon):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.client.write(
            {
                "auto_charge_credit_requests": True,
                "auto_charge_token_id": cls.card_token.id,
                "auto_topup": True,
                "auto_topup_threshold": 50.0,
                "auto_topup_amount": 100.0,
                "auto_topup_monthly_cap": 250.0,
            }
        )

    def _topups(self):
        return self.env["account.credit.request"].search(
            [("partner_id", "=", self.client.id), ("is_auto_topup", "=", True)],
            order="id",
        )

    def _invoice(self, amount, **kwargs):
        """Post the invoice, then run the top-up it triggers (its scheduled
        action, in its own transaction in production)."""
        invoice = super()._invoice(amount, **kwargs)
        self.env["res.partner"]._cron_auto_topup()
        return invoice

    def _charge_due(self):
        self._run_auto_charge_cron()

    def test_topup_when_credit_falls_below_threshold(self):
        self._add_credit(60.0)
        self.assertFalse(self._topups())
        self._invoice(30.0)  # Paid from credit: 30 left, below 50.
        topup = self._topups()
        self.assertEqual(len(topup), 1)
        self.assertEqual(topup.amount, 100.0)
        self.assertEqual(topup.state, "sent")
        self.assertFalse(self.fake_stripe.charges, "Charged by the scheduled action...")
        self._charge_due()
        self.assertEqual(topup.state, "paid", "...which charges it.")
        self.assertEqual(self._balance(), 130.0)
        self.assertLedgerConsistent()

    def test_one_open_topup_at_a_time(self):
        self.client.auto_charge_token_id = self.sepa_token  # Clears later.
        self._invoice(10.0)
        self._invoice(10.0)
        self.assertEqual(len(self._topups()), 1)
        self._charge_due()
        self.assertEqual(self._topups().state, "pending")
        self._invoice(10.0)
        self.assertEqual(len(self._topups()), 1, "Still clearing: no second top-up.")

    def test_monthly_cap(self):
        for __ in range(4):
            self._invoice(60.0 if self._balance() else 0.01)
            self._charge_due()
        topups = self._topups()
        self.assertEqual(topups.mapped("amount"), [100.0, 100.0, 50.0])
        self.assertEqual(sum(topups.mapped("amount")), 250.0, "Never beyond the cap.")
        self.assertEqual(len(self.fake_stripe.charges), 3)

    def test_posting_triggers_topup_only_where_credit_pays_invoices(self):
        """Posting concerns a client's credit only in a company that pays
        invoices from credit when they are posted: elsewhere it triggers no
        top-up."""
        cron = self.env.ref("invoice_client_pay.ir_cron_auto_topup")

        def triggers():
            return self.env["ir.cron.trigger"].search_count([("cron_id", "=", cron.id)])

        # Posted only: this class's helper also runs the top-up.
        post = StripeClientCommon._invoice
        before = triggers()
        self.company.auto_mark_invoices_paid = False
        post(self, 10.0)
        self.assertEqual(triggers(), before)
        self.company.auto_mark_invoices_paid = True
        post(self, 10.0)
        self.assertEqual(triggers(), before + 1)

    def test_topup_needs_auto_charge(self):
        with self.assertRaises(ValidationError):
            self.other_client.write(
                {
                    "auto_topup": True,
                    "auto_topup_threshold": 10.0,
                    "auto_topup_amount": 20.0,
                    "auto_topup_monthly_cap": 40.0,
                }
            )
