from unittest.mock import patch

from odoo import Command

from odoo.addons.account.tests.common import AccountTestInvoicingCommon


class ClientCreditCommon(AccountTestInvoicingCommon):
    """Fixtures built once: a company that marks invoices paid from credit, two
    clients (one a company with a contact), a bank journal, and helpers that
    check the ledger after every scenario."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.company = cls.company_data["company"]
        cls.company.auto_mark_invoices_paid = True
        cls.currency = cls.company.currency_id
        cls.bank_journal = cls.company_data["default_journal_bank"]
        cls.receivable = cls.company_data["default_account_receivable"]
        cls.client = cls.env["res.partner"].create(
            {"name": "Client Corp", "is_company": True, "email": "client@example.com"}
        )
        cls.client_contact = cls.env["res.partner"].create(
            {
                "name": "Client Contact",
                "parent_id": cls.client.id,
                "email": "contact@example.com",
            }
        )
        cls.other_client = cls.env["res.partner"].create(
            {"name": "Other Client", "email": "other@example.com"}
        )

    # ------------------------------------------------------------
    # Helpers
    # ------------------------------------------------------------

    def _invoice(self, amount, partner=None, post=True, move_type="out_invoice", **kw):
        return self._create_invoice(
            move_type=move_type,
            partner_id=(partner or self.client).id,
            invoice_line_ids=[
                Command.create({"name": "Service", "price_unit": amount, "tax_ids": []})
            ],
            post=post,
            **kw,
        )

    def _customer_payment(self, amount, payment_type="inbound", **values):
        """A posted customer payment (of the client unless ``values`` say
        otherwise) through the bank journal."""
        payment = self.env["account.payment"].create(
            {
                "payment_type": payment_type,
                "partner_type": "customer",
                "partner_id": self.client.id,
                "amount": amount,
                "journal_id": self.bank_journal.id,
                **values,
            }
        )
        payment.action_post()
        return payment

    def _credit_line(self, amount, partner, **payment_values):
        """A payment of ``partner`` not matched with anything: their credit
        (its receivable item)."""
        payment = self._customer_payment(
            amount, partner_id=partner.id, **payment_values
        )
        return payment.move_id.line_ids._filter_open_receivable("credit")

    def _credit_request(self, amount, partner=None, **values):
        return self.env["account.credit.request"].create(
            {"partner_id": (partner or self.client).id, "amount": amount, **values}
        )

    def _pay_request(self, request, amount=None, journal=None, date=None):
        """Register an offline payment through the wizard, as an accountant."""
        action = request.action_register_payment()
        wizard = (
            self.env[action["res_model"]]
            .with_context(**action["context"])
            .create({"journal_id": (journal or self.bank_journal).id})
        )
        self.assertEqual(wizard.payment_mode, "offline")
        if amount is not None:
            wizard.amount = amount
        if date is not None:
            wizard.payment_date = date
        wizard.action_take_payment()
        return request.payment_ids.sorted("id")[-1:]

    def _add_credit(self, amount, partner=None):
        """Give a client credit: a credit request paid in full."""
        request = self._credit_request(amount, partner=partner)
        self._pay_request(request)
        return request

    def _balance(self, partner=None):
        partner = partner or self.client
        partner.invalidate_recordset(["client_credit_balance"])
        return partner.with_company(self.company).client_credit_balance

    def _queries_run(self, func, *args):
        """``func(*args)``'s result, and the SQL queries it ran."""
        cursor_class = type(self.env.cr)
        with patch.object(
            cursor_class, "execute", side_effect=cursor_class.execute, autospec=True
        ) as execute:
            result = func(*args)
        return result, [str(call.args[1]) for call in execute.call_args_list]

    def assertLedgerConsistent(self, partner=None):
        """Credit added minus credit used equals the balance; no residual has
        gone negative (over-matched) on any receivable item of the client."""
        partner = (partner or self.client).commercial_partner_id
        self.env.flush_all()
        lines = self.env["account.move.line"].search(
            [
                ("company_id", "=", self.company.id),
                ("partner_id", "child_of", partner.id),
                ("account_type", "=", "asset_receivable"),
                ("parent_state", "=", "posted"),
            ]
        )
        credit_lines = lines.filtered(lambda line: line.balance < 0)
        added = sum(-line.balance for line in credit_lines)
        used = sum(partial.amount for partial in (credit_lines.matched_debit_ids))
        self.assertAlmostEqual(added - used, self._balance(partner), places=2)
        for line in lines:
            if line.balance > 0:
                self.assertGreaterEqual(
                    self.currency.round(line.amount_residual), 0.0, line.move_id.name
                )
            else:
                self.assertLessEqual(
                    self.currency.round(line.amount_residual), 0.0, line.move_id.name
                )
