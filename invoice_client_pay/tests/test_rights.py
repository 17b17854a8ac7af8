"""Who may make the system charge a client, who may take payments, and the
automatic top-up that never holds the client while an invoice is posted."""

import uuid

from psycopg2 import errors as pg_errors

from odoo import Command, api
from odoo.exceptions import AccessError
from odoo.tests import HttpCase, JsonRpcException, common, new_test_user, tagged

from .common_concurrency import RealTransactionsCase
from .common_stripe import (
    StripeClientCommon,
    create_card_provider,
    save_auto_charge_card,
)

CHARGE_SETTINGS = {
    "auto_charge_credit_requests": False,
    "auto_charge_token_id": False,
    "auto_topup": False,
    "auto_topup_threshold": 5.0,
    "auto_topup_amount": 10.0,
    "auto_topup_monthly_cap": 20.0,
}


@tagged("post_install", "-at_install")
class TestChargeSettingsRights(StripeClientCommon, HttpCase):
    """The settings that make the system charge a client's saved method are
    written by accounting users only, at field level: over RPC too."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        users = {
            "icp_employee": "base.group_user",
            # May create and change contacts, as a salesperson does.
            "icp_sales": "base.group_user,base.group_partner_manager",
            "icp_billing_contacts": "account.group_account_invoice,"
            "base.group_partner_manager",
            "icp_accountant": "account.group_account_user,base.group_partner_manager",
        }
        cls.employee, cls.sales_user, cls.billing_contacts, cls.accountant = (
            new_test_user(
                cls.env,
                login=login,
                password=login,
                groups=groups,
                company_id=cls.company.id,
                company_ids=[Command.set(cls.company.ids)],
            )
            for login, groups in users.items()
        )

    def _rpc_write(self, user, values):
        self.authenticate(user.login, user.login)
        return self.make_jsonrpc_request(
            "/web/dataset/call_kw/res.partner/write",
            {
                "model": "res.partner",
                "method": "write",
                "args": [self.client.ids, values],
                "kwargs": {},
            },
        )

    def test_employees_cannot_write_charge_settings_over_rpc(self):
        for user in (self.employee, self.sales_user, self.billing_contacts):
            if user != self.employee:
                # They may change the contact...
                self.assertTrue(self._rpc_write(user, {"phone": f"+32 {user.id}"}))
            # ...but none of what makes the system charge it.
            for field, value in {
                **CHARGE_SETTINGS,
                "auto_charge_credit_requests": True,
                "auto_charge_token_id": self.card_token.id,
            }.items():
                with self.subTest(user=user.login, field=field):
                    with self.assertRaisesRegex(JsonRpcException, "AccessError"):
                        self._rpc_write(user, {field: value})
        self.client.invalidate_recordset()
        self.assertFalse(self.client.auto_charge_credit_requests)
        self.assertFalse(self.client.auto_charge_token_id)

    def test_orm_refuses_too(self):
        with self.assertRaises(AccessError):
            self.client.with_user(self.sales_user).write(
                {"auto_charge_credit_requests": True}
            )
        with self.assertRaises(AccessError):
            self.client.with_user(self.employee).write({"auto_topup_amount": 1000.0})

    def test_accountant_writes_them_over_rpc(self):
        self._rpc_write(
            self.accountant,
            {
                "auto_charge_credit_requests": True,
                "auto_charge_token_id": self.card_token.id,
                "auto_topup": True,
                "auto_topup_threshold": 50.0,
                "auto_topup_amount": 100.0,
                "auto_topup_monthly_cap": 200.0,
            },
        )
        self.client.invalidate_recordset()
        self.assertTrue(self.client.auto_charge_credit_requests)
        self.assertEqual(self.client.auto_charge_token_id, self.card_token)
        self.assertEqual(self.client.auto_topup_monthly_cap, 200.0)

    def test_partner_form_for_each_user(self):
        """The form opens for everyone; the charge settings are in it only for
        accounting users."""
        for user, shown in (
            (self.employee, False),
            (self.sales_user, False),
            (self.billing_contacts, False),
            (self.accountant, True),
        ):
            arch = (
                self.env["res.partner"]
                .with_user(user)
                .get_views([(False, "form")])["views"]["form"]["arch"]
            )
            with self.subTest(user=user.login):
                self.assertEqual('name="auto_charge_credit_requests"' in arch, shown)
                self.assertEqual('name="auto_topup_amount"' in arch, shown)

    def test_clients_with_credit_list_for_each_user(self):
        view = self.env.ref("invoice_client_pay.view_partner_client_credit_list")
        for user, shown in ((self.billing_contacts, False), (self.accountant, True)):
            arch = (
                self.env["res.partner"]
                .with_user(user)
                .get_views([(view.id, "list")])["views"]["list"]["arch"]
            )
            with self.subTest(user=user.login):
                self.assertEqual('name="auto_charge_credit_requests"' in arch, shown)


@tagged("post_install", "-at_install")
class TestBillingUserPayments(StripeClientCommon):
    """Billing users, who may Register Payment and add outstanding credit in
    Odoo, may also Take Payment and Pay From Credit; other employees may not."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.employee = new_test_user(
            cls.env,
            login="icp_plain_employee",
            groups="base.group_user",
            company_id=cls.company.id,
            company_ids=[Command.set(cls.company.ids)],
        )

    def test_billing_user_takes_payment_offline_on_invoice_and_request(self):
        invoice = self._invoice(50.0)
        self._take_payment(
            invoice,
            user=self.billing_user,
            payment_mode="offline",
            journal_id=self.bank_journal.id,
        )
        self.assertTrue(invoice.currency_id.is_zero(invoice.amount_residual))
        request = self._credit_request(30.0)
        request.action_send()
        self._take_payment(
            request,
            user=self.billing_user,
            payment_mode="offline",
            journal_id=self.bank_journal.id,
        )
        self.assertEqual(request.state, "paid")
        self.assertAlmostEqual(self._balance(), 30.0)
        self.assertLedgerConsistent()

    def test_billing_user_charges_saved_method(self):
        invoice = self._invoice(40.0)
        __, result = self._take_payment(
            invoice, user=self.billing_user, token_id=self.card_token.id
        )
        self.assertEqual(result["params"]["type"], "success")
        self.assertEqual(self.fake_stripe.charges[0]["amount"], 4000)

    def test_billing_user_pays_from_credit(self):
        self.company.auto_mark_invoices_paid = False
        invoice = self._invoice(50.0)
        self._add_credit(80.0)
        self.company.auto_mark_invoices_paid = True
        invoice = invoice.with_user(self.billing_user)
        self.assertTrue(invoice.show_pay_from_credit)
        action = invoice.action_pay_from_credit()
        wizard = (
            self.env[action["res_model"]]
            .with_user(self.billing_user)
            .with_context(**action["context"])
            .create({})
        )
        self.assertAlmostEqual(wizard.amount, 50.0)
        wizard.action_confirm()
        self.assertTrue(invoice.currency_id.is_zero(invoice.amount_residual))
        self.assertAlmostEqual(self._balance(), 30.0)

    def test_buttons_for_billing_users(self):
        for model in ("account.move", "account.credit.request"):
            arch = (
                self.env[model]
                .with_user(self.billing_user)
                .get_views([(False, "form")])["views"]["form"]["arch"]
            )
            with self.subTest(model=model):
                self.assertIn('name="action_take_payment"', arch)
        arch = (
            self.env["account.move"]
            .with_user(self.billing_user)
            .get_views([(False, "form")])["views"]["form"]["arch"]
        )
        self.assertIn('name="action_pay_from_credit"', arch)

    def test_other_employees_refused(self):
        invoice = self._invoice(50.0)
        with self.assertRaises(AccessError):
            invoice.with_user(self.employee).action_take_payment()
        with self.assertRaises(AccessError):
            self.env["account.take.payment"].with_user(self.employee).create(
                {"move_id": invoice.id}
            )
        with self.assertRaises(AccessError):
            self.env["account.pay.from.credit"].with_user(self.employee).create(
                {"move_id": invoice.id}
            )

    def test_billing_user_posts_for_topup_client(self):
        """Posting does not need the rights on the client's top-up settings:
        the top-up is left to its scheduled action, triggered."""
        self.client.write(
            {
                "auto_charge_credit_requests": True,
                "auto_charge_token_id": self.card_token.id,
                "auto_topup": True,
                "auto_topup_threshold": 50.0,
                "auto_topup_amount": 100.0,
                "auto_topup_monthly_cap": 300.0,
            }
        )
        cron = self.env.ref("invoice_client_pay.ir_cron_auto_topup")
        triggers = self.env["ir.cron.trigger"].search([("cron_id", "=", cron.id)])
        invoice = self._invoice(20.0, post=False)
        invoice.with_user(self.billing_user).action_post()
        self.assertEqual(invoice.state, "posted")
        self.assertGreater(
            self.env["ir.cron.trigger"].search_count([("cron_id", "=", cron.id)]),
            len(triggers),
        )
        self.env["res.partner"]._cron_auto_topup()
        topup = self.env["account.credit.request"].search(
            [("partner_id", "=", self.client.id), ("is_auto_topup", "=", True)]
        )
        self.assertEqual(topup.amount, 100.0)


@tagged("post_install", "-at_install")
class TestPerCompanyChargeSettings(StripeClientCommon):
    """A client's auto-charge and top-up settings in one company never charge
    them in another."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.company_b = cls.setup_other_company(name="ICP Company B")["company"]
        cls.company_b.auto_mark_invoices_paid = True
        cls.client.write(
            {
                "auto_charge_credit_requests": True,
                "auto_charge_token_id": cls.card_token.id,
                "auto_topup": True,
                "auto_topup_threshold": 50.0,
                "auto_topup_amount": 100.0,
                "auto_topup_monthly_cap": 300.0,
            }
        )

    def test_settings_belong_to_their_company(self):
        client_b = self.client.with_company(self.company_b)
        self.assertTrue(
            self.client.with_company(self.company).auto_charge_credit_requests
        )
        self.assertFalse(client_b.auto_charge_credit_requests)
        self.assertFalse(client_b.auto_charge_token_id)
        self.assertFalse(client_b.auto_topup)

    def test_request_sent_in_other_company_is_not_charged(self):
        env_b = self.env(
            context=dict(
                self.env.context,
                allowed_company_ids=[self.company_b.id, self.company.id],
            )
        )
        request = env_b["account.credit.request"].create(
            {
                "partner_id": self.client.id,
                "amount": 70.0,
                "company_id": self.company_b.id,
            }
        )
        request.action_send()
        self.assertFalse(self.fake_stripe.requests)
        self.assertEqual(request.state, "sent")
        self.assertFalse(request.auto_charge_next_date)
        # The same in the client's own company is charged.
        own = self._credit_request(70.0)
        own.action_send()
        self.assertEqual(len(self.fake_stripe.charges), 1)
        self.assertEqual(own.state, "paid")

    def test_invoice_in_other_company_tops_up_nothing(self):
        self._add_credit(100.0)  # Enough in A: no top-up there.
        invoice_b = self._create_invoice(
            move_type="out_invoice",
            partner_id=self.client.id,
            company_id=self.company_b.id,
            invoice_line_ids=[
                Command.create({"name": "Service", "price_unit": 20.0, "tax_ids": []})
            ],
            post=True,
        )
        self.assertEqual(invoice_b.company_id, self.company_b)
        self.env["res.partner"]._cron_auto_topup()
        Request = self.env["account.credit.request"].sudo()
        self.assertFalse(
            Request.search(
                [("partner_id", "=", self.client.id), ("is_auto_topup", "=", True)]
            ),
            "Credit is low in both companies, but only A's settings exist.",
        )
        self.assertFalse(self.fake_stripe.requests)


@tagged("post_install", "-at_install")
class TestTopupDoesNotHoldTheClient(RealTransactionsCase):
    """Posting an invoice of a client with automatic top-up never locks the
    client for the rest of the posting transaction."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        tag = uuid.uuid4().hex[:8]
        with cls._env() as env:
            company = env.ref("base.main_company")
            cls.company_id = company.id
            # Posting triggers the top-up where credit pays invoices.
            cls.previous_auto_mark = company.auto_mark_invoices_paid
            company.auto_mark_invoices_paid = True
            provider = create_card_provider(company, f"Stripe top-up {tag}", "topup")
            cls.provider_id = provider.id
            partner = env["res.partner"].create(
                {
                    "name": f"Top-up Client {tag}",
                    "email": f"topup-{tag}@example.com",
                    # Not a first invoice: Odoo raises the rank after commit.
                    "customer_rank": 1,
                }
            )
            cls.partner_id = partner.id
            save_auto_charge_card(
                provider,
                partner,
                f"cus_topup_{tag}",
                auto_topup=True,
                auto_topup_threshold=50.0,
                auto_topup_amount=100.0,
                auto_topup_monthly_cap=100.0,
            )

    @classmethod
    def tearDownClass(cls):
        with cls._env() as env:
            env["res.partner"].browse(cls.partner_id).with_company(
                cls.company_id
            ).write({"auto_topup": False, "auto_charge_credit_requests": False})
            env["payment.provider"].browse(cls.provider_id).state = "disabled"
            env["res.company"].browse(
                cls.company_id
            ).auto_mark_invoices_paid = cls.previous_auto_mark
        super().tearDownClass()

    def test_client_free_while_invoice_posted_not_committed(self):
        with self._env() as env:
            cron = env.ref("invoice_client_pay.ir_cron_auto_topup")
            triggers = env["ir.cron.trigger"].search_count([("cron_id", "=", cron.id)])
        with self.registry.cursor() as cr1:
            env1 = api.Environment(cr1, common.ADMIN_USER_ID, {})
            invoice = env1["account.move"].create(
                {
                    "move_type": "out_invoice",
                    "partner_id": self.partner_id,
                    "company_id": self.company_id,
                    "invoice_line_ids": [
                        Command.create(
                            {"name": "Service", "price_unit": 20.0, "tax_ids": []}
                        )
                    ],
                }
            )
            invoice.action_post()
            env1.flush_all()
            # Transaction 1 has posted and not committed: another one changes
            # the client at once, without waiting.
            with self.registry.cursor() as cr2:
                cr2.execute("SET LOCAL lock_timeout = '3s'")
                env2 = api.Environment(cr2, common.ADMIN_USER_ID, {})
                try:
                    env2["res.partner"].browse(self.partner_id).write(
                        {"phone": "+32 2 555 00 00"}
                    )
                    env2.flush_all()
                except pg_errors.LockNotAvailable:
                    self.fail("Posting the invoice left the client locked.")
                cr2.rollback()
        # Committed: the top-up runs from its scheduled action, in a
        # transaction of its own.
        with self._env() as env:
            self.assertGreater(
                env["ir.cron.trigger"].search_count([("cron_id", "=", cron.id)]),
                triggers,
            )
            partner = env["res.partner"].browse(self.partner_id)
            env["res.partner"].with_context(
                icp_defer_auto_charge=True
            )._cron_auto_topup()
            topup = env["account.credit.request"].search(
                [("partner_id", "=", partner.id), ("is_auto_topup", "=", True)]
            )
            self.assertEqual(topup.amount, 100.0)
            self.assertEqual(topup.state, "sent")
            # No other test may charge it.
            topup.action_cancel()
