from odoo.exceptions import AccessError, UserError, ValidationError
from odoo.tests import new_test_user, tagged

from .common import ClientCreditCommon


@tagged("post_install", "-at_install")
class TestCreditRequest(ClientCreditCommon):
    def test_sequence_and_defaults(self):
        request = self._credit_request(100.0)
        self.assertRegex(request.name, r"^CR/\d{4}/\d{5}$")
        self.assertEqual(request.state, "draft")
        self.assertEqual(request.company_id, self.company)
        self.assertEqual(request.currency_id, self.currency)
        self.assertEqual(request.amount_residual, 100.0)
        self.assertEqual(request.access_url, f"/my/credit_requests/{request.id}")

    def test_nothing_booked_before_money_arrives(self):
        moves_before = self.env["account.move"].search_count([])
        request = self._credit_request(100.0)
        request.action_send()
        self.assertEqual(self.env["account.move"].search_count([]), moves_before)
        self.assertEqual(self._balance(), 0.0)

    def test_send_emails_the_secure_link(self):
        request = self._credit_request(100.0, partner=self.client_contact)
        request.action_send()
        self.assertEqual(request.state, "sent")
        self.assertTrue(request.access_token)
        # The email carries the signed payment link, never the raw token.
        link = f"/my/credit_requests/{request.id}?access_token="
        message = request.message_ids.filtered(lambda m: link in str(m.body))
        self.assertNotIn(request.access_token, str(message.body))
        token = str(message.body).split(link)[1].split('"')[0]
        self.assertTrue(request._check_payment_link_token(token))
        self.assertTrue(message)
        self.assertIn(self.client_contact, message.partner_ids)
        self.assertEqual(len(message), 1)
        self.assertIn(request.name, message.subject)

    def test_send_refused_without_email_or_when_paid(self):
        request = self._credit_request(
            10.0, partner=self.env["res.partner"].create({"name": "No Mail"})
        )
        with self.assertRaisesRegex(UserError, "no email address"):
            request.action_send()
        paid = self._add_credit(10.0)
        with self.assertRaisesRegex(UserError, "only draft or sent"):
            paid.action_send()

    def test_offline_payment_makes_request_paid_and_credit(self):
        request = self._credit_request(300.0)
        request.action_send()
        payment = self._pay_request(request)
        self.assertEqual(request.state, "paid")
        self.assertEqual(request.amount_paid, 300.0)
        self.assertEqual(request.amount_residual, 0.0)
        self.assertEqual(payment.partner_id, self.client)
        self.assertEqual(payment.payment_type, "inbound")
        self.assertIn(payment.state, ("in_process", "paid"))
        self.assertEqual(payment.move_id.state, "posted")
        receivable = payment.move_id.line_ids.filtered(
            lambda line: line.account_type == "asset_receivable"
        )
        self.assertFalse(receivable.reconciled)
        self.assertEqual(self._balance(), 300.0)
        self.assertLedgerConsistent()

    def test_partial_offline_payments(self):
        request = self._credit_request(300.0)
        self._pay_request(request, amount=100.0)
        self.assertEqual(request.state, "draft")
        self.assertEqual(request.amount_residual, 200.0)
        self._pay_request(request, amount=200.0)
        self.assertEqual(request.state, "paid")
        self.assertEqual(self._balance(), 300.0)

    def test_offline_payment_refusals(self):
        request = self._credit_request(100.0)
        for amount, message in (
            (0.0, "must be positive"),
            (-5.0, "must be positive"),
            (100.01, "only .* is still to pay"),
        ):
            with (
                self.subTest(amount=amount),
                self.assertRaisesRegex(UserError, message),
            ):
                self._pay_request(request, amount=amount)
        self._pay_request(request)
        with self.assertRaisesRegex(UserError, "cannot be paid"):
            request.action_register_payment()
        self.assertEqual(len(request.payment_ids), 1)

    def test_cancel_and_reset(self):
        request = self._credit_request(100.0)
        request.action_cancel()
        self.assertEqual(request.state, "cancel")
        with self.assertRaisesRegex(UserError, "cannot be paid"):
            request.action_register_payment()
        request.action_draft()
        self.assertEqual(request.state, "draft")
        with self.assertRaisesRegex(UserError, "Only cancelled"):
            request.action_draft()

    def test_paid_request_cannot_be_cancelled_before_reversing_payment(self):
        request = self._add_credit(100.0)
        with self.assertRaisesRegex(UserError, "reverse or cancel the payment first"):
            request.action_cancel()
        payment = request.payment_ids
        payment.action_draft()
        payment.action_cancel()
        self.assertEqual(request.state, "draft")
        self.assertEqual(self._balance(), 0.0)
        request.action_cancel()
        self.assertEqual(request.state, "cancel")

    def test_amount_must_be_positive(self):
        for amount in (0.0, -10.0):
            with (
                self.subTest(amount=amount),
                self.assertRaisesRegex(ValidationError, "must be positive"),
            ):
                self._credit_request(amount)

    def test_delete_only_drafts_without_payments(self):
        request = self._add_credit(10.0)
        with self.assertRaisesRegex(UserError, "Only draft or cancelled"):
            request.unlink()
        draft = self._credit_request(10.0)
        draft.unlink()
        self.assertFalse(draft.exists())


@tagged("post_install", "-at_install")
class TestCreditRequestSecurity(ClientCreditCommon):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.billing_user = new_test_user(
            cls.env, login="billing_user", groups="account.group_account_invoice"
        )
        cls.portal_user = cls.env["res.users"].create(
            {
                "name": "Client Portal",
                "login": "client_portal",
                "partner_id": cls.client_contact.id,
                "group_ids": [(6, 0, [cls.env.ref("base.group_portal").id])],
            }
        )
        cls.own_request = cls.env["account.credit.request"].create(
            {"partner_id": cls.client.id, "amount": 10.0}
        )
        cls.foreign_request = cls.env["account.credit.request"].create(
            {"partner_id": cls.other_client.id, "amount": 10.0}
        )

    def test_billing_user_reads_only(self):
        requests = self.env["account.credit.request"].with_user(self.billing_user)
        self.assertEqual(
            len(
                requests.search(
                    [("id", "in", (self.own_request + self.foreign_request).ids)]
                )
            ),
            2,
        )
        with self.assertRaises(AccessError):
            requests.create({"partner_id": self.client.id, "amount": 5.0})
        with self.assertRaises(AccessError):
            self.own_request.with_user(self.billing_user).write({"amount": 5.0})

    def test_portal_user_sees_own_commercial_entity_only(self):
        requests = self.env["account.credit.request"].with_user(self.portal_user)
        self.assertEqual(requests.search([]), self.own_request)
        with self.assertRaises(AccessError):
            self.foreign_request.with_user(self.portal_user).read(["amount"])
        with self.assertRaises(AccessError):
            self.own_request.with_user(self.portal_user).write({"amount": 1.0})

    def test_multi_company_rule(self):
        other_company = self.setup_other_company()["company"]
        request = (
            self.env["account.credit.request"]
            .with_company(other_company)
            .create(
                {
                    "partner_id": self.client.id,
                    "amount": 10.0,
                    "company_id": other_company.id,
                }
            )
        )
        accountant = new_test_user(
            self.env,
            login="single_company_accountant",
            groups="account.group_account_user",
            company_id=self.company.id,
            company_ids=[(6, 0, self.company.ids)],
        )
        visible = self.env["account.credit.request"].with_user(accountant).search([])
        self.assertIn(self.own_request, visible)
        self.assertNotIn(request, visible)
