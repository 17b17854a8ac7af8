"""The auto-charge and the payment post-processing run as the scheduler runs
them (``ir.cron.method_direct_trigger``: a cursor of their own, their commits),
on committed fixtures (``common_concurrency.RealTransactionsCase``), with the
fake Stripe of ``common_stripe`` behind Odoo's request helper."""

import uuid
from datetime import timedelta
from unittest.mock import patch

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


class _StripeCallingBack(FakeStripe):
    """The fake Stripe, calling ``on_charge(n)`` during the n-th charge's call
    (the auto-charge's transaction open, waiting on Stripe)."""

    def __init__(self, on_charge):
        super().__init__()
        self.on_charge = on_charge
        self.calls = 0

    def _answer(self, method, endpoint, data):
        if method == "POST" and endpoint == "payment_intents":
            self.calls += 1
            self.on_charge(self.calls)
        return super()._answer(method, endpoint, data)


@tagged("post_install", "-at_install")
class TestAutoChargePipelined(RealTransactionsCase):
    """A run of the auto-charge triggers the post-processing with its first
    charge and each ``AUTO_CHARGE_TRIGGER_EVERY`` more, committed with them: a
    second cron worker books those while the run goes on, here while it waits
    on Stripe for its 4th charge (its transaction open, the request locked).
    Each request is charged and booked exactly once."""

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
            provider = env["payment.provider"].create(
                {
                    "name": f"Stripe pipelined {tag}",
                    "code": "stripe",
                    "state": "test",
                    "company_id": company.id,
                    "allow_tokenization": True,
                    "stripe_secret_key": "sk_test_pipe",
                    "stripe_publishable_key": "pk_test_pipe",
                    "payment_method_ids": [Command.set(pm_card.ids)],
                    "journal_id": bank.id,
                }
            )
            pm_card.write({"active": True, "support_tokenization": True})
            clients = env["res.partner"].create(
                [
                    {
                        "name": f"Pipe client {i} {tag}",
                        "email": f"p{i}-{tag}@example.com",
                    }
                    for i in range(5)
                ]
            )
            for client in clients:
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
            requests = env["account.credit.request"].create(
                [
                    {"partner_id": client.id, "amount": 10.0 * (i + 1)}
                    for i, client in enumerate(clients)
                ]
            )
            requests.write(
                {
                    "state": "sent",
                    "is_sent": True,
                    "auto_charge_next_date": fields.Datetime.now()
                    - timedelta(minutes=1),
                }
            )
            cls.provider_id = provider.id
            cls.request_ids = requests.ids

    @classmethod
    def tearDownClass(cls):
        with cls._env() as env:
            env["account.credit.request"].browse(cls.request_ids).write(
                {"auto_charge_next_date": False}
            )
            env["payment.provider"].browse(cls.provider_id).state = "disabled"
        super().tearDownClass()

    def _run(self, xmlid):
        with self._env() as env:
            env.ref(xmlid).method_direct_trigger()

    def _states(self):
        with self._env() as env:
            return (
                env["account.credit.request"].browse(self.request_ids).mapped("state")
            )

    def _new_triggers(self, since_id):
        with self._env() as env:
            cron = env.ref("payment.cron_post_process_payment_tx")
            return env["ir.cron.trigger"].search_count(
                [("cron_id", "=", cron.id), ("id", ">", since_id)]
            )

    def test_second_worker_books_batches_while_the_run_charges(self):
        with self._env() as env:
            env.cr.execute("SELECT COALESCE(max(id), 0) FROM ir_cron_trigger")
            since_id = env.cr.fetchone()[0]
        seen = {}

        def on_charge(number):
            if number != 4:
                return
            # Committed by now: the 1st charge's trigger, the 3rd's (a batch).
            seen["triggers"] = self._new_triggers(since_id)
            self._run("payment.cron_post_process_payment_tx")  # The 2nd worker.
            seen["states"] = self._states()

        fake = _StripeCallingBack(on_charge)
        with (
            patch_send_api_request(fake),
            patch(
                "odoo.addons.invoice_client_pay.models.account_credit_request."
                "AUTO_CHARGE_TRIGGER_EVERY",
                2,
            ),
        ):
            self._run("invoice_client_pay.ir_cron_auto_charge_credit_requests")
            self.assertEqual(seen["triggers"], 2)
            # The first three booked while the 4th charge was on its way.
            self.assertEqual(seen["states"], ["paid"] * 3 + ["sent"] * 2)
            # The 2nd worker's run used up those two triggers; the 5th charge
            # (the last) triggered it again.
            self.assertEqual(self._new_triggers(since_id), 1)
            self._run("payment.cron_post_process_payment_tx")
            # Again: nothing more.
            self._run("invoice_client_pay.ir_cron_auto_charge_credit_requests")
            self._run("payment.cron_post_process_payment_tx")

        self.assertEqual(len(fake.charges), 5, "Each charged once.")
        with self._env() as env:
            requests = env["account.credit.request"].browse(self.request_ids)
            self.assertEqual(requests.mapped("state"), ["paid"] * 5)
            for request in requests:
                tx = request.transaction_ids
                self.assertEqual(len(tx), 1)
                self.assertTrue(tx.is_post_processed)
                self.assertEqual(tx.payment_id, request.payment_ids)
                self.assertEqual(request.payment_ids.amount, request.amount)
                self.assertEqual(
                    request.partner_id.client_credit_balance, request.amount
                )
