from odoo import Command
from odoo.exceptions import AccessError, UserError
from odoo.tests import Form, new_test_user, tagged

from .common import ClientCreditCommon


@tagged("post_install", "-at_install")
class TestPayFromCredit(ClientCreditCommon):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.accountant = new_test_user(
            cls.env,
            login="icp_accountant",
            groups="account.group_account_user",
            company_id=cls.company.id,
            company_ids=[(6, 0, cls.company.ids)],
        )

    def _invoice_without_credit(self, amount):
        """A posted invoice left unpaid: credit arrives after, with the
        automatic application off, so the accountant decides."""
        invoice = self._invoice(amount)
        self.company.auto_mark_invoices_paid = False
        return invoice

    def _wizard(self, invoice, user=None):
        action = invoice.with_user(user or self.env.user).action_pay_from_credit()
        self.assertEqual(action["res_model"], "account.pay.from.credit")
        return Form(
            self.env["account.pay.from.credit"]
            .with_user(user or self.env.user)
            .with_context(**action["context"])
        )

    def _enable(self):
        self.company.auto_mark_invoices_paid = True

    def test_wizard_defaults_to_smaller_of_credit_and_due(self):
        invoice = self._invoice_without_credit(300.0)
        other = self._invoice(50.0)
        self._add_credit(120.0)
        self._enable()
        invoice.invalidate_recordset(
            ["show_pay_from_credit", "client_credit_available"]
        )
        self.assertTrue(invoice.with_user(self.accountant).show_pay_from_credit)
        with self._wizard(invoice) as wizard:
            self.assertEqual(wizard.available_credit, 120.0)
            self.assertEqual(wizard.amount_residual, 300.0)
            self.assertEqual(wizard.amount, 120.0)
        with self._wizard(other) as wizard:
            self.assertEqual(wizard.amount, 50.0)

    def test_full_payment(self):
        invoice = self._invoice_without_credit(100.0)
        self._add_credit(300.0)
        self._enable()
        wizard = self._wizard(invoice, self.accountant).save()
        wizard.action_confirm()
        self.assertEqual(invoice.amount_residual, 0.0)
        self.assertEqual(invoice.amount_paid_from_credit, 100.0)
        self.assertEqual(self._balance(), 200.0)
        self.assertLedgerConsistent()

    def test_partial_payment_of_exactly_the_amount(self):
        invoice = self._invoice_without_credit(300.0)
        self._add_credit(200.0)
        self._add_credit(50.0)
        self._enable()
        with self._wizard(invoice, self.accountant) as form:
            form.amount = 230.0
        form.record.action_confirm()
        self.assertEqual(invoice.payment_state, "partial")
        self.assertEqual(invoice.amount_residual, 70.0)
        self.assertEqual(invoice.amount_paid_from_credit, 230.0)
        self.assertEqual(self._balance(), 20.0)
        self.assertLedgerConsistent()
        # The rest, later.
        with self._wizard(invoice, self.accountant) as form:
            self.assertEqual(form.amount, 20.0)
        form.record.action_confirm()
        self.assertEqual(invoice.amount_residual, 50.0)
        self.assertEqual(self._balance(), 0.0)
        self.assertLedgerConsistent()

    def test_refusals(self):
        invoice = self._invoice_without_credit(100.0)
        self._add_credit(60.0)
        self._enable()
        for amount, message in (
            (0.0, "must be positive"),
            (-10.0, "must be positive"),
            (60.01, "only has"),
        ):
            with self.subTest(amount=amount):
                wizard = self._wizard(invoice).save()
                wizard.amount = amount
                with self.assertRaisesRegex(UserError, message):
                    wizard.action_confirm()
        self.company.auto_mark_invoices_paid = False
        self._add_credit(100.0)
        self._enable()
        wizard = self._wizard(invoice).save()
        wizard.amount = 100.01
        with self.assertRaisesRegex(UserError, "only .* is still to pay"):
            wizard.action_confirm()
        self.assertEqual(invoice.amount_residual, 100.0)
        self.assertLedgerConsistent()

    def test_refused_documents(self):
        self._add_credit(500.0)
        draft = self._invoice(50.0, post=False)
        with self.assertRaisesRegex(UserError, "must be posted"):
            draft.action_pay_from_credit()
        cancelled = self._invoice(50.0, post=False)
        cancelled.button_cancel()
        with self.assertRaisesRegex(UserError, "must be posted"):
            cancelled.action_pay_from_credit()
        bill = self._invoice(50.0, move_type="in_invoice")
        with self.assertRaisesRegex(UserError, "Only customer invoices"):
            bill.action_pay_from_credit()
        refund = self._invoice(50.0, move_type="out_refund")
        with self.assertRaisesRegex(UserError, "Only customer invoices"):
            refund.action_pay_from_credit()
        paid = self._invoice(50.0)
        self.assertEqual(paid.amount_residual, 0.0)
        with self.assertRaisesRegex(UserError, "nothing left to pay"):
            paid.action_pay_from_credit()

    def test_blocked_invoice_is_not_payable(self):
        """An invoice whose payment is blocked is paid neither from credit, nor
        through Take Payment, nor by credit arriving later."""
        invoice = self._invoice_without_credit(50.0)
        invoice.action_toggle_block_payment()
        self.assertEqual(invoice.payment_state, "blocked")
        self._enable()
        self._add_credit(100.0)
        self.assertEqual(invoice.amount_residual, 50.0)
        self.assertFalse(invoice.is_client_payable)
        with self.assertRaisesRegex(UserError, "nothing left to pay"):
            invoice.action_pay_from_credit()
        with self.assertRaisesRegex(UserError, "nothing left to pay"):
            invoice.action_take_payment()
        invoice.action_toggle_block_payment()
        self.assertTrue(invoice.is_client_payable)
        invoice._pay_from_client_credit(50.0)
        self.assertEqual(invoice.amount_residual, 0.0)

    def test_setting_off_refuses(self):
        invoice = self._invoice_without_credit(50.0)
        self._add_credit(100.0)
        with self.assertRaisesRegex(UserError, "Automatically mark Invoices paid"):
            invoice.action_pay_from_credit()

    def test_user_without_billing_rights(self):
        """Billing users may (tests/test_rights.py); other employees may not."""
        invoice = self._invoice_without_credit(50.0)
        self._add_credit(100.0)
        self._enable()
        employee = new_test_user(
            self.env, login="icp_employee_no_billing", groups="base.group_user"
        )
        with self.assertRaises(AccessError):
            invoice.with_user(employee).action_pay_from_credit()
        with self.assertRaises(AccessError):
            self.env["account.pay.from.credit"].with_user(employee).create(
                {"move_id": invoice.id, "amount": 10.0}
            )
        self.assertEqual(invoice.amount_residual, 50.0)

    def test_another_companys_credit_is_not_used(self):
        other_company = self.setup_other_company()["company"]
        other_company.auto_mark_invoices_paid = True
        self._add_credit(100.0)
        invoice = self._create_invoice(
            partner_id=self.client.id,
            company_id=other_company.id,
            invoice_line_ids=[
                Command.create({"name": "Service", "price_unit": 40.0, "tax_ids": []})
            ],
            post=True,
        )
        self.assertEqual(invoice.amount_residual, 40.0)
        wizard = (
            self.env["account.pay.from.credit"]
            .with_company(other_company)
            .create({"move_id": invoice.id})
        )
        self.assertEqual(wizard.available_credit, 0.0)
        wizard.amount = 10.0
        with self.assertRaisesRegex(UserError, "only has"):
            wizard.action_confirm()
        self.assertEqual(self._balance(), 100.0)
