"""The auto-charge and the payment post-processing run as the scheduler runs
them (``ir.cron.method_direct_trigger``: a cursor of their own, their commits),
on committed fixtures (``common_concurrency.RealTransactionsCase``), with the
fake Stripe of ``common_stripe`` behind Odoo's request helper."""

import uuid
from datetime import timedelta
from unittest.mock import patch

from odoo import fields
from odoo.tests import tagged
from odoo.tools import mute_logger

from .common_concurrency import RealTransactionsCase
from .common_stripe import (
    FakeStripe,
    create_card_provider,
    patch_send_api_request,
    save_auto_charge_card,
)


class AutoChargeCronCase(RealTransactionsCase):
    """Committed fixtures: clients who chose automatic charges with a saved
    card, and their credit requests, sent and due. The requests are taken off
    the schedule and the providers disabled afterwards."""

    @classmethod
    def _setup_due_requests(cls, env, tag, providers, amounts):
        """One client per amount, charged through the provider given for it
        (``providers``, cycled), each with a due request of that amount."""
        clients = env["res.partner"].create(
            [
                {"name": f"Cron client {i} {tag}", "email": f"c{i}-{tag}@example.com"}
                for i in range(len(amounts))
            ]
        )
        requests = env["account.credit.request"]
        for i, (client, amount) in enumerate(zip(clients, amounts, strict=True)):
            provider = providers[i % len(providers)]
            save_auto_charge_card(provider, client, f"cus_{client.id}")
            requests |= requests.create({"partner_id": client.id, "amount": amount})
        requests.write(
            {
                "state": "sent",
                "is_sent": True,
                "auto_charge_next_date": fields.Datetime.now() - timedelta(minutes=1),
            }
        )
        cls.provider_ids = providers.ids
        cls.request_ids = requests.ids
        return requests

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


@tagged("post_install", "-at_install")
class TestAutoChargeScheduledActions(AutoChargeCronCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        tag = uuid.uuid4().hex[:8]
        with cls._env() as env:
            company, bank = cls._company_and_bank(env)
            providers = create_card_provider(
                company, f"Stripe cron on {tag}", "cron", bank
            ) + create_card_provider(company, f"Stripe cron off {tag}", "cron", bank)
            # The 2nd client's provider is disabled since: charging raises
            # (UserError).
            cls._setup_due_requests(
                env, tag, providers[0] + providers[1] + providers[0], (70.0, 40.0, 55.0)
            )
            providers[1].state = "disabled"

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
class TestAutoChargePipelined(AutoChargeCronCase):
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
            company, bank = cls._company_and_bank(env)
            provider = create_card_provider(
                company, f"Stripe pipelined {tag}", "pipe", bank
            )
            cls._setup_due_requests(
                env, tag, provider, [10.0 * (i + 1) for i in range(5)]
            )

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
