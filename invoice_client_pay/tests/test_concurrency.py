"""Races between two real database transactions.

Real cursors and committed fixtures (``common_concurrency.RealTransactionsCase``);
the second worker runs as ``odoo.service.model.retrying`` runs a request.

The fixtures stay in the test database (posted journal entries cannot be
deleted); they belong to a client and a Stripe provider of their own, and the
provider is disabled at the end so that no other test sees it.
"""

import uuid
from functools import partial
from unittest.mock import patch

from psycopg2 import errors as pg_errors

from odoo import Command, api
from odoo.exceptions import UserError
from odoo.tests import common, tagged
from odoo.tools import mute_logger

from .common_concurrency import RealTransactionsCase
from .common_stripe import (
    FakeStripe,
    create_card_provider,
    patch_send_api_request,
    save_auto_charge_card,
)


@tagged("post_install", "-at_install")
class TestConcurrency(RealTransactionsCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        tag = uuid.uuid4().hex[:8]
        with cls._env() as env:
            company = env.ref("base.main_company")
            cls.company_id = company.id
            cls.previous_auto_mark = company.auto_mark_invoices_paid
            company.auto_mark_invoices_paid = True
            bank = env["account.journal"].search(
                [("company_id", "=", company.id), ("type", "=", "bank")], limit=1
            )
            cls.bank_journal_id = bank.id
            partner = env["res.partner"].create(
                {"name": f"Race Client {tag}", "email": f"race-{tag}@example.com"}
            )
            cls.partner_id = partner.id
            provider = create_card_provider(company, f"Stripe race {tag}", "race", bank)
            cls.provider_id = provider.id
            token = save_auto_charge_card(provider, partner, f"cus_race_{tag}")
            cls.token_id = token.id

    @classmethod
    def tearDownClass(cls):
        with cls._env() as env:
            env["payment.provider"].browse(cls.provider_id).write(
                {"state": "disabled", "stripe_webhook_secret": False}
            )
            env["res.company"].browse(
                cls.company_id
            ).auto_mark_invoices_paid = cls.previous_auto_mark
        super().tearDownClass()

    def setUp(self):
        super().setUp()
        self.fake_stripe = FakeStripe()
        patcher = patch_send_api_request(self.fake_stripe)
        patcher.start()
        self.addCleanup(patcher.stop)

    # ------------------------------------------------------------
    # Helpers
    # ------------------------------------------------------------

    def _draft_invoice(self, env, partner_id, amount):
        return env["account.move"].create(
            {
                "move_type": "out_invoice",
                "partner_id": partner_id,
                "company_id": self.company_id,
                "invoice_line_ids": [
                    Command.create(
                        {"name": "Race", "price_unit": amount, "tax_ids": []}
                    )
                ],
            }
        )

    def _sent_request(self, amount):
        with self._env() as env:
            request = env["account.credit.request"].create(
                {"partner_id": self.partner_id, "amount": amount}
            )
            # Sent without charging it: the workers below charge it.
            request.write({"state": "sent", "is_sent": True})
            request._portal_ensure_token()
            return request.id

    # ------------------------------------------------------------
    # Tests
    # ------------------------------------------------------------

    @mute_logger("odoo.sql_db")  # The serialization failures are the point.
    def test_two_charges_of_one_request(self):
        """Two workers auto-charge one request at once: one charge."""
        request_id = self._sent_request(100.0)

        def charge(env):
            request = env["account.credit.request"].browse(request_id)
            request.auto_charge_next_date = "2000-01-01 00:00:00"
            return len(request._auto_charge())

        charged_first, charged_second = self._run_workers(charge, charge)
        self.assertEqual(charged_first, 1)
        self.assertEqual(charged_second, 0, "The 2nd worker re-read: paid, no charge.")
        self.assertEqual(len(self.fake_stripe.charges), 1)
        with self._env() as env:
            request = env["account.credit.request"].browse(request_id)
            self.assertEqual(request.state, "paid")
            self.assertEqual(len(request.payment_ids), 1)
            self.assertEqual(request.amount_paid, 100.0)

    @mute_logger("odoo.sql_db")  # The serialization failures are the point.
    def test_charge_racing_manual_payment(self):
        """The auto-charge and an accountant's Take Payment (offline, full) on
        one request at once: the money received is the amount owed, once."""
        request_id = self._sent_request(80.0)

        def manual(env):
            request = env["account.credit.request"].browse(request_id)
            action = request.action_take_payment()
            wizard = (
                env[action["res_model"]]
                .with_context(**action["context"])
                .create({"payment_mode": "offline", "journal_id": self.bank_journal_id})
            )
            return wizard.action_take_payment()

        def charge(env):
            request = env["account.credit.request"].browse(request_id)
            request.auto_charge_next_date = "2000-01-01 00:00:00"
            return len(request._auto_charge())

        __, charged = self._run_workers(manual, charge)
        self.assertEqual(charged, 0)
        self.assertFalse(self.fake_stripe.charges, "Paid by hand: never charged.")
        with self._env() as env:
            request = env["account.credit.request"].browse(request_id)
            self.assertEqual(request.state, "paid")
            self.assertEqual(request.amount_paid, 80.0)

        # The other way round: charged first, the accountant's wizard (opened
        # before) is refused once it re-reads the request.
        request_id = self._sent_request(60.0)
        __, error = self._run_workers(charge, manual)
        self.assertIsInstance(error, UserError)
        self.assertEqual(len(self.fake_stripe.charges), 1)
        with self._env() as env:
            request = env["account.credit.request"].browse(request_id)
            self.assertEqual(request.amount_paid, 60.0, "Never more than owed.")

    @mute_logger("odoo.sql_db")  # The serialization failures are the point.
    def test_two_pay_from_credit_on_one_invoice(self):
        """Two accountants pay one invoice from the client's credit at once:
        the invoice is paid once, the credit used once."""
        with self._env() as env:
            # A client of its own: no credit left by the other tests.
            partner_id = env["res.partner"].create({"name": "Race Credit Client"}).id
            invoice = self._draft_invoice(env, partner_id, 100.0)
            invoice.action_post()
            invoice_id = invoice.id
            request = env["account.credit.request"].create(
                {"partner_id": partner_id, "amount": 150.0}
            )
            payment = (
                env["account.payment"]
                .with_context(skip_client_credit=True)
                .create(
                    {
                        "payment_type": "inbound",
                        "partner_type": "customer",
                        "partner_id": partner_id,
                        "journal_id": self.bank_journal_id,
                        "amount": 150.0,
                        "credit_request_id": request.id,
                    }
                )
            )
            payment.with_context(skip_client_credit=True).action_post()
            partner = env["res.partner"].browse(partner_id)
            credit_before = partner.with_company(self.company_id).client_credit_balance
            self.assertGreaterEqual(credit_before, 150.0)
            self.assertEqual(invoice.amount_residual, 100.0)

        def pay(env):
            env["account.move"].browse(invoice_id)._pay_from_client_credit(100.0)
            return True

        __, second = self._run_workers(pay, pay)
        self.assertIsInstance(second, UserError, "The 2nd finds nothing left to pay.")
        with self._env() as env:
            invoice = env["account.move"].browse(invoice_id)
            self.assertEqual(invoice.amount_residual, 0.0)
            partner = env["res.partner"].browse(partner_id)
            credit_after = partner.with_company(self.company_id).client_credit_balance
            self.assertAlmostEqual(credit_before - credit_after, 100.0)

    @mute_logger("odoo.sql_db")  # The serialization failures are the point.
    def test_two_invoices_posted_at_once_on_one_credit(self):
        """Two accountants post invoices of one client at once, with credit
        for one of them: the credit pays the first; the second waits for it,
        then finds none left and stays to pay. The credit is used once."""
        with self._env() as env:
            partner_id = env["res.partner"].create({"name": "Race Posting Client"}).id
            invoice_ids = [
                self._draft_invoice(env, partner_id, 100.0).id for _index in range(2)
            ]
            payment = env["account.payment"].create(
                {
                    "payment_type": "inbound",
                    "partner_type": "customer",
                    "partner_id": partner_id,
                    "journal_id": self.bank_journal_id,
                    "amount": 100.0,
                }
            )
            payment.action_post()
            partner = env["res.partner"].browse(partner_id)
            self.assertEqual(
                partner.with_company(self.company_id).client_credit_balance, 100.0
            )

        def post(invoice_id, env):
            invoice = env["account.move"].browse(invoice_id)
            invoice.action_post()
            return invoice.payment_state

        # Posting raises the client's rank after the commit, through a cursor
        # of a registry the test runner holds locked, which a thread waits for
        # forever; the rank is no concern here.
        with patch.object(
            self.registry["res.partner"], "_increase_rank", autospec=True
        ):
            first, second = self._run_workers(
                partial(post, invoice_ids[0]), partial(post, invoice_ids[1])
            )
        self.assertEqual((first, second), ("paid", "not_paid"))
        with self._env() as env:
            invoices = env["account.move"].browse(invoice_ids)
            self.assertEqual(invoices.mapped("amount_residual"), [0.0, 100.0])
            partner = env["res.partner"].browse(partner_id)
            self.assertEqual(
                partner.with_company(self.company_id).client_credit_balance, 0.0
            )

    @mute_logger("odoo.sql_db")
    def test_serialization_failure_after_stripe_call_yields_one_charge(self):
        """A serialization failure right after Stripe answered: the whole
        transaction is rolled back and run again, as Odoo retries a request.
        The retry makes the same transaction reference, hence sends the same
        Idempotency-Key, and Stripe answers with the first charge."""
        request_id = self._sent_request(90.0)
        tx_class = self.registry["payment.transaction"]
        original = tx_class._charge_with_token
        failed = []

        def charge_then_fail(tx):
            original(tx)
            if not failed:
                failed.append(tx.reference)
                raise pg_errors.SerializationFailure("injected after the Stripe call")

        def charge(env):
            request = env["account.credit.request"].browse(request_id)
            request.auto_charge_next_date = "2000-01-01 00:00:00"
            return request._auto_charge()

        with (
            patch.object(tx_class, "_charge_with_token", charge_then_fail),
            self.registry.cursor() as cr,
        ):
            env = api.Environment(cr, common.ADMIN_USER_ID, {})
            txs = self._retrying(partial(charge, env), env)
            self.assertEqual(txs.reference, failed[0], "Same reference on retry.")
        keys = [
            key
            for method, endpoint, __, key in self.fake_stripe.requests
            if method == "POST" and endpoint == "payment_intents"
        ]
        self.assertEqual(len(keys), 2, "Stripe was called twice...")
        self.assertEqual(len(set(keys)), 1, "...with the same Idempotency-Key...")
        self.assertEqual(len(self.fake_stripe.charges), 1, "...and charged once.")
        with self._env() as env:
            request = env["account.credit.request"].browse(request_id)
            self.assertEqual(request.state, "paid")
            self.assertEqual(len(request.transaction_ids), 1)
            self.assertEqual(len(request.payment_ids), 1)
            self.assertEqual(request.amount_paid, 90.0)
