"""The auto-charge and the payment post-processing run as the scheduler runs
them (``ir.cron.method_direct_trigger``: a cursor of their own, their commits),
on committed fixtures (``common_concurrency.RealTransactionsCase``), with the
fake Stripe of ``common_stripe`` behind Odoo's request helper."""

import uuid
from datetime import timedelta

from odoo import Command, fields
from odoo.tests import tagged
from odoo.tools import mute_logger

from .common_concurrency import RealTransactionsCase
from .common_stripe import PM_CARD_OK, FakeStripe, patch_send_api_request


@tagged("post_install", "-at_install")
class TestAutoChargeScheduledActions(RealTransactionsCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        tag = uuid.uuid4().hex[:8]
        with cls._env() as env:
            company = env.ref("base.main_company")
            bank = env["account.journal"].search(
                [("company_id", "=", company.id), ("type", "=", "bank")], limit=1
            )
            pm_card = env.ref("payment.payment_method_card")
            providers = env["payment.provider"].create(
                [
                    {
                        "name": f"Stripe cron {name} {tag}",
                        "code": "stripe",
                        "state": "test",
                        "company_id": company.id,
                        "allow_tokenization": True,
                        "stripe_secret_key": "sk_test_cron",
                        "stripe_publishable_key": "pk_test_cron",
                        "payment_method_ids": [Command.set(pm_card.ids)],
                        "journal_id": bank.id,
                    }
                    for name in ("on", "off")
                ]
            )
            pm_card.write({"active": True, "support_tokenization": True})
            clients = env["res.partner"].create(
                [
                    {
                        "name": f"Cron client {i} {tag}",
                        "email": f"c{i}-{tag}@example.com",
                    }
                    for i in range(3)
                ]
            )
            requests = env["account.credit.request"]
            for client, provider, amount in zip(
                clients,
                (providers[0], providers[1], providers[0]),
                (70.0, 40.0, 55.0),
                strict=True,
            ):
                token = env["payment.token"].create(
                    {
                        "provider_id": provider.id,
                        "payment_method_id": pm_card.id,
                        "partner_id": client.id,
                        "provider_ref": f"cus_{client.id}",
                        "payment_details": "4242",
                        "stripe_payment_method": PM_CARD_OK,
                    }
                )
                client.with_company(company).write(
                    {
                        "auto_charge_credit_requests": True,
                        "auto_charge_token_id": token.id,
                    }
                )
                requests |= env["account.credit.request"].create(
                    {"partner_id": client.id, "amount": amount}
                )
            requests.write(
                {
                    "state": "sent",
                    "is_sent": True,
                    "auto_charge_next_date": fields.Datetime.now()
                    - timedelta(minutes=1),
                }
            )
            # A provider disabled since: charging raises (UserError).
            providers[1].state = "disabled"
            cls.provider_ids = providers.ids
            cls.request_ids = requests.ids

    @classmethod
    def tearDownClass(cls):
        with cls._env() as env:
            env["account.credit.request"].browse(cls.request_ids).write(
                {"auto_charge_next_date": False}
            )
            env["payment.provider"].browse(cls.provider_ids).state = "disabled"
        super().tearDownClass()

    def _run(self, xmlid):
        with self._env() as env:
            env.ref(xmlid).method_direct_trigger()

    @mute_logger("odoo.addons.invoice_client_pay.models.account_credit_request")
    def test_run_charges_commits_each_then_post_processes_in_batch(self):
        fake = FakeStripe()
        with patch_send_api_request(fake):
            self._run("invoice_client_pay.ir_cron_auto_charge_credit_requests")
            with self._env() as env:
                first, disabled, third = env["account.credit.request"].browse(
                    self.request_ids
                )
                for request in (first, third):
                    tx = request.transaction_ids
                    self.assertEqual(tx.state, "done")
                    self.assertFalse(tx.is_post_processed)
                    self.assertEqual(request.state, "sent")
                # The charge that raised is rolled back alone; it stays due.
                self.assertFalse(disabled.transaction_ids)
                self.assertTrue(disabled.auto_charge_next_date)
                cron = env.ref("payment.cron_post_process_payment_tx")
                self.assertTrue(
                    env["ir.cron.trigger"].search([("cron_id", "=", cron.id)]),
                    "The run triggered the post-processing.",
                )
            self._run("payment.cron_post_process_payment_tx")
            # Again: nothing more.
            self._run("invoice_client_pay.ir_cron_auto_charge_credit_requests")
            self._run("payment.cron_post_process_payment_tx")

        with self._env() as env:
            first, disabled, third = env["account.credit.request"].browse(
                self.request_ids
            )
            for request in (first, third):
                tx = request.transaction_ids
                self.assertEqual(request.state, "paid")
                self.assertEqual(len(tx), 1)
                self.assertTrue(tx.is_post_processed)
                self.assertEqual(len(request.payment_ids), 1)
                self.assertEqual(tx.payment_id, request.payment_ids)
                self.assertEqual(request.payment_ids.amount, request.amount)
                self.assertEqual(
                    request.partner_id.client_credit_balance, request.amount
                )
            self.assertEqual(disabled.state, "sent")
            self.assertFalse(disabled.transaction_ids)
        self.assertEqual(len(fake.charges), 2, "Each charged once.")
