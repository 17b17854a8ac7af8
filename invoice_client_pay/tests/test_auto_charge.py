from datetime import timedelta
from unittest.mock import patch

from psycopg2 import errors as pg_errors

from odoo import Command, fields
from odoo.tests import tagged
from odoo.tools import mute_logger

from .common_stripe import (
    PM_CARD_AUTH,
    PM_CARD_DECLINED,
    PM_CARD_NO_FUNDS,
    PM_CARD_OK,
    StripeClientCommon,
)


@tagged("post_install", "-at_install")
class TestAutoCharge(StripeClientCommon):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.client.write(
            {
                "auto_charge_credit_requests": True,
                "auto_charge_token_id": cls.card_token.id,
            }
        )
        cls.company.write(
            {"auto_charge_max_attempts": 3, "auto_charge_retry_delay_hours": 24}
        )

    def _use_card(self, pm_ref, details="0000"):
        token = self._make_token(self.client, pm_ref, self.pm_card, details)
        self.client.auto_charge_token_id = token
        return token

    def _failure_mails(self, request):
        return request.message_ids.filtered(
            lambda m: "could not charge" in (m.subject or "")
        )

    # ------------------------------------------------------------
    # On send
    # ------------------------------------------------------------

    def test_send_charges_off_session(self):
        request = self._credit_request(150.0)
        request.action_send()
        tx = request.transaction_ids
        self.assertEqual(tx.state, "done")
        self.assertEqual(tx.operation, "offline")
        self.assertEqual(tx.token_id, self.card_token)
        self.assertEqual(request.state, "paid")
        self.assertEqual(self._balance(), 150.0, "The credit is there.")
        self.assertFalse(request.auto_charge_next_date)
        self.assertEqual(len(self.fake_stripe.charges), 1)
        self.assertEqual(self._idempotency_keys(), [self._expected_key(tx)])
        self.assertTrue(
            request.message_ids.filtered(
                lambda m: "charged automatically" in str(m.body)
            )
        )
        # The receipt is left to its own scheduled action.
        payment = request.payment_ids
        self.assertTrue(payment.icp_receipt_pending)
        messages = payment.message_ids
        self.env["payment.transaction"]._cron_send_payment_receipts()
        self.assertFalse(payment.icp_receipt_pending)
        self.assertTrue(payment.message_ids - messages, "The receipt was sent.")
        self.assertLedgerConsistent()

    def test_send_charge_pays_open_invoice_from_new_credit(self):
        invoice = self._invoice(90.0)
        request = self._credit_request(100.0)
        request.action_send()
        self.assertEqual(request.state, "paid")
        self.assertIn(invoice.payment_state, ("paid", "in_payment"))
        self.assertEqual(self._balance(), 10.0)
        self.assertLedgerConsistent()

    def test_no_auto_charge_without_setting(self):
        request = self._credit_request(40.0, partner=self.other_client)
        request.action_send()
        self.assertEqual(request.state, "sent")
        self.assertFalse(request.transaction_ids)
        self.assertFalse(self.fake_stripe.requests)

    # ------------------------------------------------------------
    # Failures and retries
    # ------------------------------------------------------------

    def test_failures_declined_funds_authentication(self):
        for pm_ref, words in (
            (PM_CARD_DECLINED, "declined"),
            (PM_CARD_NO_FUNDS, "insufficient funds"),
            (PM_CARD_AUTH, "requires authentication"),
        ):
            with self.subTest(pm_ref=pm_ref):
                self._use_card(pm_ref)
                request = self._credit_request(60.0)
                before = fields.Datetime.now()
                request.action_send()
                self.assertEqual(request.state, "sent", "The request stays open.")
                self.assertEqual(request.transaction_ids.state, "error")
                self.assertEqual(request.auto_charge_attempt_count, 1)
                self.assertIn(words, request.auto_charge_last_error)
                self.assertGreaterEqual(
                    request.auto_charge_next_date, before + timedelta(hours=24)
                )
                self.assertTrue(
                    request.message_ids.filtered(
                        lambda m, w=words: (
                            "Automatic charge 1" in str(m.body) and w in str(m.body)
                        )
                    ),
                    "The chatter says what happened.",
                )
                mail = self._failure_mails(request)
                self.assertEqual(len(mail), 1, "The client is emailed.")
                self.assertIn(
                    "/my/credit_requests/", mail.body, "With the payment link."
                )
                self.assertIn("access_token=", mail.body)
                self.assertEqual(mail.partner_ids, request.partner_id)

    def test_detached_method(self):
        self.card_token.active = False
        request = self._credit_request(60.0)
        request.action_send()
        self.assertEqual(request.state, "sent")
        self.assertFalse(request.transaction_ids)
        self.assertIn("no usable saved payment method", request.auto_charge_last_error)
        self.assertEqual(len(self._failure_mails(request)), 1)

    def test_cron_retries_on_capped_schedule(self):
        self._use_card(PM_CARD_DECLINED)
        request = self._credit_request(70.0)
        request.action_send()
        # Not due yet: the cron leaves it alone.
        self._run_auto_charge_cron()
        self.assertEqual(request.auto_charge_attempt_count, 1)
        # Second try, due: fails again, the next wait doubles.
        request.auto_charge_next_date = fields.Datetime.now() - timedelta(minutes=1)
        before = fields.Datetime.now()
        self._run_auto_charge_cron()
        self.assertEqual(request.auto_charge_attempt_count, 2)
        self.assertGreaterEqual(
            request.auto_charge_next_date, before + timedelta(hours=48)
        )
        # Third and last try (the company allows 3): no more schedule.
        request.auto_charge_next_date = fields.Datetime.now() - timedelta(minutes=1)
        self._run_auto_charge_cron()
        self.assertEqual(request.auto_charge_attempt_count, 3)
        self.assertFalse(request.auto_charge_next_date)
        self.assertTrue(
            request.message_ids.filtered(
                lambda m: "No more automatic tries" in str(m.body)
            )
        )
        self._run_auto_charge_cron()
        self.assertEqual(len(request.transaction_ids), 3, "Capped: never a 4th charge.")
        self.assertEqual(len(self._failure_mails(request)), 3)
        # Three attempts, three references, three distinct idempotency keys.
        self.assertEqual(len(set(self._idempotency_keys())), 3)

    def test_cron_charges_due_after_client_fixes_card(self):
        self._use_card(PM_CARD_DECLINED)
        request = self._credit_request(70.0)
        request.action_send()
        self.client.auto_charge_token_id = self.card_token
        request.auto_charge_next_date = fields.Datetime.now() - timedelta(minutes=1)
        self._run_auto_charge_cron()
        self.assertEqual(request.state, "paid")
        self.assertEqual(self._balance(), 70.0)
        self.assertEqual(
            len(self.fake_stripe.charges), 1, "Only the good card charged."
        )

    def test_cron_skips_paid_and_pending(self):
        paid = self._credit_request(50.0)
        paid.action_send()  # Charged.
        self.assertEqual(paid.state, "paid")
        self.client.auto_charge_token_id = self.sepa_token
        pending = self._credit_request(50.0)
        pending.action_send()  # SEPA: processing.
        self.assertEqual(pending.transaction_ids.state, "pending")
        self.assertEqual(pending.state, "pending")
        (paid + pending).auto_charge_next_date = fields.Datetime.now()
        self._run_auto_charge_cron()
        self.assertEqual(len(self.fake_stripe.charges), 2, "No charge twice.")
        # Even a direct call charges nothing more: the money is on its way.
        pending.write({"state": "sent", "auto_charge_next_date": fields.Datetime.now()})
        pending._auto_charge()
        self.assertEqual(len(self.fake_stripe.charges), 2)

    def test_cron_leaves_accounting_to_post_processing_never_charging_twice(self):
        self.client.auto_charge_credit_requests = False
        request = self._credit_request(45.0)
        request.action_send()
        self.client.auto_charge_credit_requests = True
        request.auto_charge_next_date = fields.Datetime.now()
        self.env["account.credit.request"]._cron_auto_charge()
        tx = request.transaction_ids
        self.assertEqual(tx.state, "done")
        self.assertFalse(tx.is_post_processed, "Accounting left to post-processing.")
        self.assertEqual(request.state, "sent")
        # Run again before the post-processing: the charge is money on its way.
        request.auto_charge_next_date = fields.Datetime.now()
        self.env["account.credit.request"]._cron_auto_charge()
        self.assertEqual(len(self.fake_stripe.charges), 1)
        tx._post_process()
        self.assertEqual(request.state, "paid")
        self.assertEqual(self._balance(), 45.0)

    def test_manual_payment_meanwhile(self):
        self._use_card(PM_CARD_DECLINED)
        request = self._credit_request(80.0)
        request.action_send()
        self._pay_request(request, amount=80.0)
        self.assertEqual(request.state, "paid")
        request.auto_charge_next_date = fields.Datetime.now()
        self.client.auto_charge_token_id = self.card_token
        self._run_auto_charge_cron()
        self.assertFalse(self.fake_stripe.charges, "Paid meanwhile: not charged.")

    # ------------------------------------------------------------
    # Idempotency across Odoo's automatic retries
    # ------------------------------------------------------------

    def test_serialization_failure_after_stripe_call_yields_one_charge(self):
        """Odoo retries a request that hit a serialization failure from the
        start, everything rolled back. Here the failure is injected right after
        Stripe answered; the retry makes the same transaction reference, hence
        sends the same Idempotency-Key, and Stripe answers with the first
        charge: one charge, one payment, one credit."""
        request = self._credit_request(95.0)
        Tx = type(self.env["payment.transaction"])
        original = Tx._charge_with_token
        failures = []

        def charge_then_fail(tx):
            original(tx)
            if not failures:
                failures.append(tx.reference)
                raise pg_errors.SerializationFailure("injected after the Stripe call")

        with patch.object(Tx, "_charge_with_token", charge_then_fail):
            for attempt in range(3):  # As odoo.service.model.retrying does.
                try:
                    with self.env.cr.savepoint():
                        request.action_send()
                    break
                except pg_errors.SerializationFailure:
                    self.env.invalidate_all()
                    self.assertEqual(attempt, 0)
        self.assertEqual(request.state, "paid")
        self.assertEqual(request.transaction_ids.reference, failures[0])
        keys = self._idempotency_keys()
        self.assertEqual(len(keys), 2, "Stripe was called twice...")
        self.assertEqual(len(set(keys)), 1, "...with the same Idempotency-Key...")
        self.assertEqual(len(self.fake_stripe.charges), 1, "...and charged once.")
        self.assertEqual(len(request.payment_ids), 1)
        self.assertEqual(self._balance(), 95.0)
        self.assertLedgerConsistent()


@tagged("post_install", "-at_install")
class TestAutoChargeBatchPostProcessing(StripeClientCommon):
    """The post-processing of an auto-charge run, as the scheduled action does
    it (``payment.cron_post_process_payment_tx``, which the run triggers): the
    run's done transactions get their payments together, each exactly once."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.third_client = cls.env["res.partner"].create(
            {"name": "Third Client", "email": "third@example.com"}
        )
        cls.declined_client = cls.env["res.partner"].create(
            {"name": "Declined Client", "email": "declined@example.com"}
        )
        for partner, pm_ref in (
            (cls.client, PM_CARD_OK),
            (cls.third_client, PM_CARD_OK),
            (cls.declined_client, PM_CARD_DECLINED),
        ):
            token = cls._make_token(partner, pm_ref, cls.pm_card, "4242")
            partner.write(
                {"auto_charge_credit_requests": True, "auto_charge_token_id": token.id}
            )
        # A client auto-charged in another company, with that company's provider.
        cls.company_2 = cls.setup_other_company()["company"]
        journal_2 = cls.env["account.journal"].search(
            [("company_id", "=", cls.company_2.id), ("type", "=", "bank")], limit=1
        )
        cls.provider_2 = (
            cls.env["payment.provider"]
            .sudo()
            .create(
                {
                    "name": "Stripe (ICP tests, company 2)",
                    "code": "stripe",
                    "state": "test",
                    "company_id": cls.company_2.id,
                    "allow_tokenization": True,
                    "stripe_secret_key": "sk_test_icp_2",
                    "stripe_publishable_key": "pk_test_icp_2",
                    "payment_method_ids": [Command.set(cls.pm_card.ids)],
                    "journal_id": journal_2.id,
                }
            )
        )
        token_2 = (
            cls.env["payment.token"]
            .sudo()
            .create(
                {
                    "provider_id": cls.provider_2.id,
                    "payment_method_id": cls.pm_card.id,
                    "partner_id": cls.other_client.id,
                    "provider_ref": f"cus_{cls.other_client.id}",
                    "payment_details": "4242",
                    "stripe_payment_method": PM_CARD_OK,
                }
            )
        )
        cls.other_client.with_company(cls.company_2).write(
            {"auto_charge_credit_requests": True, "auto_charge_token_id": token_2.id}
        )

    def _due_request(self, amount, partner, company=None):
        request = self._credit_request(
            amount, partner=partner, company_id=(company or self.company).id
        )
        request.write(
            {
                "state": "sent",
                "is_sent": True,
                "auto_charge_next_date": fields.Datetime.now() - timedelta(minutes=1),
            }
        )
        return request

    def _run_post_processing_cron(self, transactions=None):
        """Odoo's post-processing scheduled action (on all transactions to
        post-process, or on ``transactions``), its commits made flushes (a test
        cannot commit)."""
        self.env.flush_all()
        with patch.object(self.env.cr, "commit", self.env.flush_all):
            (transactions or self.env["payment.transaction"])._cron_post_process()
        self.env.invalidate_all()

    def _count_calls(self, model, method):
        """Patch ``model``'s ``method`` to count its calls and their records."""
        calls = []
        cls = type(self.env[model])
        original = getattr(cls, method)

        def counting(records, *args, **kwargs):
            calls.append(
                len(args[0]) if args and isinstance(args[0], list) else records
            )
            return original(records, *args, **kwargs)

        patcher = patch.object(cls, method, counting)
        patcher.start()
        self.addCleanup(patcher.stop)
        return calls

    def test_run_paid_in_one_batch_each_request_once(self):
        # Paid and post-processed before the run: left alone.
        before = self._due_request(50.0, self.client)
        before._auto_charge()
        self.assertEqual(before.state, "paid")
        before_tx = before.transaction_ids
        self.assertTrue(before_tx.is_post_processed)

        first = self._due_request(100.0, self.client)
        second = self._due_request(110.0, self.client)
        third = self._due_request(120.0, self.third_client)
        declined = self._due_request(130.0, self.declined_client)
        elsewhere = self._due_request(140.0, self.other_client, company=self.company_2)
        self.env["account.credit.request"]._cron_auto_charge()
        paid = first + second + third + elsewhere
        for request in paid:
            self.assertEqual(request.transaction_ids.state, "done")
            self.assertFalse(request.transaction_ids.is_post_processed)
            self.assertEqual(request.state, "sent", "Accounting is left to the cron.")
        self.assertEqual(declined.transaction_ids.state, "error")
        self.assertEqual(len(self.fake_stripe.charges), 5)

        # One transaction's post-processing breaks: the others are not held back.
        Tx = type(self.env["payment.transaction"])
        original = Tx._prepare_credit_request_payment_values
        broken = second.transaction_ids

        def prepare(tx, request, amount):
            if tx == broken:
                raise ValueError("Injected failure")
            return original(tx, request, amount)

        with (
            patch.object(Tx, "_prepare_credit_request_payment_values", prepare),
            mute_logger("odoo.addons.invoice_client_pay.models.payment_transaction"),
        ):
            self._run_post_processing_cron()
        for request in first + third + elsewhere:
            self.assertEqual(request.state, "paid", request.name)
            self.assertTrue(request.transaction_ids.is_post_processed)
        self.assertEqual(second.state, "sent")
        self.assertFalse(second.payment_ids)
        self.assertFalse(broken.is_post_processed, "Left for the next run.")
        # Still money on its way: never charged again meanwhile.
        second.auto_charge_next_date = fields.Datetime.now()
        self.env["account.credit.request"]._cron_auto_charge()
        self.assertEqual(len(self.fake_stripe.charges), 5)

        # The next run pays it; nothing else is paid twice.
        self._run_post_processing_cron()
        self._run_post_processing_cron()
        for request in paid + before:
            tx = request.transaction_ids
            payment = request.payment_ids
            self.assertEqual(request.state, "paid", request.name)
            self.assertEqual(len(payment), 1, f"{request.name} paid exactly once")
            self.assertTrue(tx.is_post_processed)
            self.assertEqual(tx.payment_id, payment)
            self.assertEqual(payment.payment_transaction_id, tx)
            self.assertEqual(payment.amount, request.amount)
            self.assertEqual(payment.currency_id, request.currency_id)
            self.assertEqual(payment.company_id, request.company_id)
            self.assertEqual(payment.journal_id, tx.provider_id.journal_id)
            self.assertEqual(payment.partner_id, request.commercial_partner_id)
            self.assertIn(payment.state, ("in_process", "paid"))
            self.assertTrue(payment.icp_receipt_pending, "Receipt queued.")
        for request in paid:
            tx = request.transaction_ids
            self.assertTrue(
                request.message_ids.filtered(
                    lambda m, t=tx: (
                        t.reference in str(m.body) and "has been posted" in str(m.body)
                    )
                ),
                "The request's chatter says the payment was posted.",
            )
        self.assertEqual(elsewhere.payment_ids.company_id, self.company_2)
        self.assertEqual(declined.state, "sent")
        self.assertFalse(declined.payment_ids)
        self.assertEqual(self._balance(), 260.0)
        self.assertEqual(self._balance(self.third_client), 120.0)
        self.assertEqual(
            self.other_client.with_company(self.company_2).client_credit_balance,
            140.0,
        )
        for partner in (self.client, self.third_client, self.declined_client):
            self.assertLedgerConsistent(partner)

    def test_payments_created_and_posted_together(self):
        requests = (
            self._due_request(60.0, self.client)
            | self._due_request(70.0, self.client)
            | self._due_request(80.0, self.third_client)
        )
        self.env["account.credit.request"]._cron_auto_charge()
        creates = self._count_calls("account.payment", "create")
        posts = self._count_calls("account.payment", "action_post")
        self._run_post_processing_cron()
        self.assertEqual(creates, [3], "One create for the run's three payments.")
        self.assertEqual(len(posts), 1, "One posting for all of them.")
        self.assertEqual(len(posts[0]), 3)
        self.assertEqual(set(requests.mapped("state")), {"paid"})
        self.assertEqual(self._balance(), 130.0)
        self.assertLedgerConsistent()

    def test_same_transaction_post_processed_twice_pays_once(self):
        request = self._due_request(90.0, self.client)
        self.env["account.credit.request"]._cron_auto_charge()
        tx = request.transaction_ids
        # The cron, then the client's status page and the cron again.
        self._run_post_processing_cron()
        tx._post_process()
        self._run_post_processing_cron(tx)
        self._run_post_processing_cron()
        self.assertEqual(len(request.payment_ids), 1)
        self.assertEqual(
            self.env["account.payment"].search_count(
                [("payment_transaction_id", "=", tx.id)]
            ),
            1,
        )
        self.assertEqual(request.state, "paid")
        self.assertEqual(self._balance(), 90.0)
        self.assertLedgerConsistent()

    def test_run_triggers_post_processing_per_batch(self):
        """With the run's first charge, then with each
        ``AUTO_CHARGE_TRIGGER_EVERY`` more (declined charges not counted), and
        with its last one."""
        for amount, partner in (
            (10.0, self.client),
            (20.0, self.declined_client),
            (30.0, self.client),
            (40.0, self.third_client),
            (50.0, self.client),
        ):
            self._due_request(amount, partner)
        cron = self.env.ref("payment.cron_post_process_payment_tx")
        Trigger = self.env["ir.cron.trigger"]
        triggered_at = []
        original = type(cron)._trigger

        def _trigger(crons, at=None):
            if crons == cron:
                triggered_at.append(len(self.fake_stripe.charges))
            return original(crons, at)

        with (
            patch.object(type(cron), "_trigger", _trigger),
            patch(
                "odoo.addons.invoice_client_pay.models.account_credit_request."
                "AUTO_CHARGE_TRIGGER_EVERY",
                2,
            ),
        ):
            before = Trigger.search_count([("cron_id", "=", cron.id)])
            self.env["account.credit.request"]._cron_auto_charge()
        # Told after the 1st charge, after the 3rd (two more make a batch; the
        # declined one does not count) and after the 4th (the run's last).
        self.assertEqual(triggered_at, [1, 3, 4])
        self.assertEqual(Trigger.search_count([("cron_id", "=", cron.id)]), before + 3)

    def test_new_credit_pays_open_invoice_and_says_so(self):
        """A charged credit request whose client has an open invoice pays it
        (the company marks invoices paid automatically): the payment shows the
        invoice it paid; a payment that paid nothing shows none."""
        invoice = self._invoice(50.0, partner=self.third_client)
        requests = self._due_request(60.0, self.client) | self._due_request(
            70.0, self.third_client
        )
        self.env["account.credit.request"]._cron_auto_charge()
        self._run_post_processing_cron()
        self.assertEqual(set(requests.mapped("state")), {"paid"})
        matched = requests[1].payment_ids
        self.assertEqual(matched.reconciled_invoice_ids, invoice)
        self.assertEqual(matched.reconciled_invoices_count, 1)
        self.assertEqual(invoice.payment_state, "paid")
        self.assertFalse(requests[0].payment_ids.reconciled_invoice_ids)
